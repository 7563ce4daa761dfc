"""Power of one GPU by what it is doing.

An active GPU draws its idle power plus a share of the dynamic range up to TDP.
The share is set by how busy its compute units and its memory system are during an
iteration (the roofline's compute and memory times over the iteration time):

    power_w = idle_w + (tdp_w - idle_w) * min(1, compute_weight * u_compute + memory_weight * u_memory)

so a compute-bound prefill runs near TDP and a memory-bound small-batch decode well
below it, as measured in Splitwise (Patel et al., ISCA 2024, Fig. 7). A training
step draws ``training_activity`` of the dynamic range: AcmeTrace's A100 LLM clusters
(Hu et al., NSDI 2024, gpu_power_*_cdf.csv) put busy GPUs at 389-413 W of 400 W
between the 80th and 95th percentiles, i.e. (395 - 62) / (400 - 62) ~ 0.93.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dcsim.hardware.gpus import GpuSpec


@dataclass(frozen=True, slots=True)
class GpuPowerModel:
    """Phase-dependent power of one GPU."""

    gpu: GpuSpec
    compute_weight: float = 1.0
    memory_weight: float = 0.6
    training_activity: float = 0.93

    def idle_w(self) -> float:
        """Power of an idle GPU."""
        return self.gpu.idle_w

    def iteration_w(self, time_s, compute_s, memory_s):
        """Power during an inference iteration of the given roofline parts."""
        activity = np.minimum(1.0, (self.compute_weight * compute_s + self.memory_weight * memory_s) / time_s)
        return self.gpu.idle_w + (self.gpu.tdp_w - self.gpu.idle_w) * activity

    def training_w(self) -> float:
        """Power during training (average over a step)."""
        return self.gpu.idle_w + (self.gpu.tdp_w - self.gpu.idle_w) * self.training_activity
