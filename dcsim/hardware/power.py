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

**Clock (DVFS).** A power cap lowers the SM clock to a share ``f`` of its maximum, and the
GPU lowers the voltage with it (the catalogue's curve ``v(f)``, :class:`GpuSpec`): the power
of the clock domain, the working floor above idle (clocks up, caches powered) and the
compute and overhead activity, falls as ``f v(f)^2`` (:meth:`GpuSpec.dvfs_power_share`).
Of the memory activity only the HBM's own power keeps its power per byte (the HBM keeps its
clock): its energy per bit times the bytes per second, at most ``Wh = min(Wm, e_bit x 8 x
hbm_bw / (tdp_w - floor_w))`` of the range at full streaming; the rest of what a memory-bound
iteration draws (the SMs issuing the loads, the L2 and the on-chip network) is in the clock
domain and falls as ``g(f)``:

    power_w(f) = idle_w + (floor_w - idle_w) g(f)
                 + (tdp_w - floor_w) (g(f) (Wc c_f + (Wm - Wh) m + Wo rest) + Wh m) / time_f / max(1, activity_f)

with ``c_f = compute_s / f`` and ``time_f`` the iteration's time at clock ``f`` (how the
clock stretches time is the device's business, ``device.py``). A training step draws
``idle_w + (tdp_w - idle_w) training_activity g(f)``. At ``f = 1`` both are the powers
above, so an uncapped GPU, or one whose cap does not bind, is unchanged. The energy of
compute-bound work at clock ``f`` is ``(idle_w + D g(f)) / f`` per unit of full-clock
time: it falls under moderate caps (``g(f) / f = v(f)^2`` falls faster than the idle part
grows) and rises again below the voltage floor, where only the clock falls.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from dcsim.hardware.gpus import GpuSpec

# Energy of moving one bit between an HBM stack and the GPU: about 3.9 pJ/bit for HBM2 (O'Connor
# et al., "Fine-Grained DRAM: Energy-Efficient DRAM for Extreme Bandwidth Systems", MICRO 2017,
# the HBM2 baseline FGDRAM halves); taken for every HBM generation (assumption: HBM2e, HBM3 and
# HBM3e are at or below it per bit). Only this share of a memory-bound iteration's power keeps
# its watts under a lower SM clock (module docstring); with the datasheet bandwidth it is an
# upper bound (the achieved streaming rate is 70-85 % of it, docs/calibration.md).
HBM_J_PER_BIT = 3.9e-12


@dataclass(frozen=True, slots=True)
class GpuPowerModel:
    """Phase-dependent power of one GPU."""

    gpu: GpuSpec
    # Activity weights, fitted to Splitwise A100 request-average and peak power (module docstring).
    compute_weight: float = 1.9
    memory_weight: float = 1.04
    overhead_weight: float = 0.08
    training_activity: float = 0.93
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

    @property
    def hbm_weight(self) -> float:
        """The share of the memory activity weight that is the HBM's own power, which a lower SM
        clock leaves as it is: ``min(memory_weight, HBM_J_PER_BIT x 8 x hbm_bw / dynamic range)``."""
        return min(self.memory_weight, HBM_J_PER_BIT * 8.0 * self.gpu.hbm_bw_bytes_per_s / self.dynamic_range_w)

    def power_at_clock_w(self, time_s, compute_s, memory_s, clock):
        """Power of an iteration at relative SM clock ``clock`` whose roofline parts take these
        times at that clock (``compute_s`` already stretched by the clock; module docstring)."""
        rest_s = time_s - np.maximum(compute_s, memory_s)
        hbm = self.hbm_weight
        clocked = self.compute_weight * compute_s + (self.memory_weight - hbm) * memory_s + self.overhead_weight * rest_s
        unclocked = hbm * memory_s
        saturation = np.maximum(1.0, (clocked + unclocked) / time_s)  # activity is at most 1
        share = self.gpu.dvfs_power_share(clock)
        return (self.gpu.idle_w + (self.floor_w - self.gpu.idle_w) * share
                + self.dynamic_range_w * (clocked * share + unclocked) / (time_s * saturation))

    def clock_at_share(self, share: float) -> float:
        """Relative SM clock whose clock-domain power share ``dvfs_power_share`` is ``share``
        (at least ``min_clock``; bisection, the share rises with the clock)."""
        lo, hi = self.min_clock, 1.0
        if share >= 1.0:
            return 1.0
        for _ in range(60):
            mid = 0.5 * (lo + hi)
            if self.gpu.dvfs_power_share(mid) <= share:
                lo = mid
            else:
                hi = mid
        return lo

    def training_w(self, clock: float = 1.0) -> float:
        """Power during training (average over a step) at a relative SM clock (AcmeTrace's share
        of the range from idle to TDP at full clock, whatever the serving profile's floor)."""
        return self.gpu.idle_w + ((self.gpu.tdp_w - self.gpu.idle_w) * self.training_activity
                                  * float(self.gpu.dvfs_power_share(clock)))
