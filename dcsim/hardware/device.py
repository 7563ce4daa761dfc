"""One GPU type as the workloads see it: time and power of work, under an optional power cap.

The engine asks a :class:`DeviceModel` for the time and per-GPU power of an
iteration; the roofline (``performance``), the power model (``power``) and the
power cap all meet here, so a cap slows the work through the same path whatever
imposed it (a static cap, a capping policy, a thermal limit).
"""

from __future__ import annotations

from dataclasses import dataclass

from dcsim.hardware.gpus import GpuSpec
from dcsim.hardware.models import LlmSpec
from dcsim.hardware.performance import InferencePerfParams, iteration_cost
from dcsim.hardware.power import GpuPowerModel


@dataclass(frozen=True)
class DeviceModel:
    """Performance and power of one GPU type, optionally power-capped."""

    gpu: GpuSpec
    perf: InferencePerfParams
    power: GpuPowerModel
    cap_w: float | None = None  # per-GPU power cap; None: TDP

    def iteration(self, model: LlmSpec, tp: int, new_tokens, attn_pairs, kv_read_tokens, decode_seqs):
        """(time_s, power_w per GPU) of an engine iteration; arrays in, arrays out."""
        cost = iteration_cost(model, self.gpu, tp, self.perf, new_tokens, attn_pairs, kv_read_tokens, decode_seqs)
        return cost.time_s, self.power.iteration_w(cost.time_s, cost.compute_s, cost.memory_s)

    def idle_w(self) -> float:
        """Power of an idle GPU."""
        return self.power.idle_w()

    def training_w(self) -> float:
        """Power of a GPU during training."""
        return self.power.training_w()
