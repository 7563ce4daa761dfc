"""Power of one GPU by what it is doing, and how a lower clock changes it.

An active GPU draws its idle power plus a share (the *activity*) of the dynamic range
up to TDP. During an inference iteration the activity is set by how the iteration's
time splits between the roofline's compute time, its memory time and the rest
(communication and fixed overheads, ``time_s - max(compute_s, memory_s)``):

    activity = min(1, (compute_weight * compute_s + memory_weight * memory_s
                       + overhead_weight * (time_s - max(compute_s, memory_s))) / time_s)
    power_w  = idle_w + (tdp_w - idle_w) * activity

so a compute-bound prefill runs at TDP and a small-batch decode, whose time is part
weight streaming and part launch and all-reduce gaps, well below it. The weights are
fitted to the request-average and peak power Splitwise measured on A100-80GB (Patel et
al., ISCA 2024; ``python -m dcsim.hardware.calibrate``, docs/calibration.md) and used
for every GPU: no other part's power was published. A compute weight above 1 says that
an iteration busy computing for about half its time already draws TDP.

A training step draws ``training_activity`` of the dynamic range: AcmeTrace's A100 LLM
clusters (Hu et al., NSDI 2024, gpu_power_*_cdf.csv) put busy GPUs at 389-413 W of
400 W between the 80th and 95th percentiles, i.e. (395 - 62) / (400 - 62) ~ 0.93.

**Clock.** A power cap lowers the SM clock to a fraction ``clock`` of its maximum. The
dynamic power of a given activity falls as ``clock ** clock_power_exponent`` (frequency
times the square of a voltage that falls with it); the HBM keeps its clock. How the
clock changes the iteration's time is the device's business (``device.py``); here,
:meth:`GpuPowerModel.power_at_clock_w` is the power of an activity at a clock. The
exponent is fitted to Splitwise's power-capped H100 (docs/calibration.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from dcsim.hardware.gpus import GpuSpec


@dataclass(frozen=True, slots=True)
class GpuPowerModel:
    """Phase-dependent power of one GPU."""

    gpu: GpuSpec
    # Activity weights, fitted to Splitwise A100 request-average and peak power (module docstring).
    compute_weight: float = 1.9
    memory_weight: float = 1.04
    overhead_weight: float = 0.08
    training_activity: float = 0.93
    # Dynamic power ~ clock ** exponent under a cap; fitted to Splitwise h100-80gb-pcap.
    clock_power_exponent: float = 1.04
    min_clock: float = 0.2  # lowest SM clock a cap can force, as a share of the maximum
    # Power of a GPU that is serving but whose iteration draws no activity (clocks up, memory
    # and caches powered); None: the idle power. Fitted per engine profile (vllm-0.11).
    static_w: float | None = None

    @classmethod
    def from_profile(cls, gpu: GpuSpec, power: Mapping[str, float | None]) -> GpuPowerModel:
        """The power model of ``gpu`` with an engine profile's fitted static power (None: the
        idle power) and activity weights (always present)."""

        def weight(key: str) -> float:
            value = power[key]
            if value is None:
                raise ValueError(f"engine profile of {gpu.name}: power weight {key} is missing")
            return float(value)

        return cls(gpu, compute_weight=weight("compute_weight"), memory_weight=weight("memory_weight"),
                   overhead_weight=weight("overhead_weight"), static_w=power["static_w"])

    def __post_init__(self) -> None:
        if self.static_w is not None and not self.gpu.idle_w <= self.static_w < self.gpu.tdp_w:
            raise ValueError(f"static_w must be in [idle_w={self.gpu.idle_w:g}, tdp_w={self.gpu.tdp_w:g}) W, "
                             f"got {self.static_w!r}")
        for name in ("compute_weight", "memory_weight", "overhead_weight"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)!r}")
        if not 0 < self.training_activity <= 1:
            raise ValueError(f"training_activity must be in (0, 1], got {self.training_activity!r}")
        if self.clock_power_exponent < 1:
            raise ValueError(f"clock_power_exponent must be >= 1, got {self.clock_power_exponent!r}")
        if not 0 < self.min_clock <= 1:
            raise ValueError(f"min_clock must be in (0, 1], got {self.min_clock!r}")

    @property
    def floor_w(self) -> float:
        """Power of a working GPU at zero activity: the static power, or the idle power."""
        return self.gpu.idle_w if self.static_w is None else self.static_w

    @property
    def dynamic_range_w(self) -> float:
        """TDP minus the working floor."""
        return self.gpu.tdp_w - self.floor_w

    def idle_w(self) -> float:
        """Power of an idle GPU."""
        return self.gpu.idle_w

    def activity(self, time_s, compute_s, memory_s):
        """Share of the dynamic range an iteration of these roofline parts draws at full clock."""
        rest_s = time_s - np.maximum(compute_s, memory_s)
        busy = self.compute_weight * compute_s + self.memory_weight * memory_s + self.overhead_weight * rest_s
        return np.minimum(1.0, busy / time_s)

    def iteration_w(self, time_s, compute_s, memory_s):
        """Power during an inference iteration of the given roofline parts, at full clock."""
        return self.floor_w + self.dynamic_range_w * self.activity(time_s, compute_s, memory_s)

    def power_at_clock_w(self, activity, clock):
        """Power of an activity (share of the dynamic range at full clock) at a relative SM clock."""
        return self.floor_w + self.dynamic_range_w * activity * np.power(clock, self.clock_power_exponent)

    def training_w(self) -> float:
        """Power during training (average over a step), at full clock (AcmeTrace's share of the
        range from idle to TDP, whatever the serving profile's floor)."""
        return self.gpu.idle_w + (self.gpu.tdp_w - self.gpu.idle_w) * self.training_activity
