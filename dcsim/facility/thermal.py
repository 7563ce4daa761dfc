"""Rack thermal dynamics: inlet/coolant temperature, GPU temperature and thermal throttling.

One first-order model per rack. The GPU inlet air (air, rear door) or coolant (direct
liquid, immersion) temperature ``T`` relaxes toward a target with time constant
``tau_s``:

    dT/dt = (T_target - T) / tau_s,   T_target = T_nominal + full_shortfall_rise_k * shortfall

where ``T_nominal`` is the technology's supply temperature plus its inlet approach,
and ``shortfall`` is the share of the rack's heat the plant cannot remove
(``CoolingCoefficients.gpu_shortfall_share``). Over a step with a constant target the
solution is exact: ``T(t + dt) = T_target + (T(t) - T_target) exp(-dt / tau_s)``, so
the result does not depend on how the engine slices time.

``tau_s = C / G``: C is the heat capacity that buffers the rack, G the conductance of
what still removes heat, so the initial heat-up slope at full shortfall is
``full_shortfall_rise_k / tau_s = heat / C``. Reported heat-ups after a total chiller
loss: about 2 K per minute in an air-cooled hall (Hosting365, 2008, legacy density);
thermal shutdown within about 3 minutes for 5 kW racks losing all cooling (Opengate /
Active Power study, 2007). Per technology (``TECHNOLOGIES``), with a 40 K full-shortfall
rise: air 600 s (4 K/min, between those two reports), rear door 480 s, direct liquid
240 s (a 130 kW rack on ~200 L of loop water: 130 kW / 0.84 MJ/K = 9 K/min), immersion
700 s (~1,000 L of dielectric fluid, ~1.8 MJ/K, at 100 kW: 3.4 K/min).

The GPU itself follows its inlet in seconds (heat-sink time constants of tens of
seconds, short against the control interval), so it is quasi-static:

    T_gpu = T_inlet + R * P_gpu

with ``R`` the GPU-to-inlet thermal resistance (cold plates remove heat with a smaller
temperature difference than air heat sinks). A technology's ``R`` is its figure at a
700 W GPU (each technology file's operating point: a 700 W H100 at its inlet); a cold
plate or heat sink is sized for its GPU's TDP, so a GPU of another TDP gets
``R_gpu = R_tech x 700 W / TDP``: the rise at TDP is the technology's (a 1,000 W B200
at 24 C air runs at 73 C, as the 700 W H100 does; an assumption of equal design margin,
no vendor gives per-part resistances). Above the limit the GPU firmware lowers clocks;
here that becomes a power cap ``(T_limit - T_inlet_end) / R`` applied by the engine
through the device model like any other cap, where ``T_inlet_end`` is the inlet at the
end of the control interval the cap is for (the inlet relaxes monotonically toward its
target, so its highest value over the interval is at one end): the cap holds the limit
over the whole interval, not only at its start.

At its shutdown temperature a rack's GPUs stop (``Facility.power_off_racks`` with cause
``thermal``: the thermal model's granularity is the rack, its hottest GPU), at the moment
its inlet reaches ``T_shutdown - R x P`` with ``P`` its hottest GPU's power (under its cap)
at the interval's start, solved from the relaxation or the no-flow heat-up; a power rise
within the interval is caught at the next control tick. The rack
restarts at the first control tick at least ``restart_delay_s`` later at which its GPUs
could run at their lowest settable cap without throttling, ``T_inlet + R x min cap <=
T_limit``. A stopped rack adds no heat, so its inlet relaxes toward the nominal one.

A liquid loop whose CDUs have all failed has no flow: nothing removes the rack's heat,
and its coolant heats at the full-shortfall slope ``full_shortfall_rise_k / tau_s``
(heat over the loop's heat capacity, above: 10 K/min for direct liquid) without a
ceiling while the rack runs (:meth:`RackThermal.heat_up`), and holds its temperature
while the rack is stopped; once a CDU runs again it relaxes as above. The slope is the
design heat's; a rack at part load heats as fast (conservative).

The limit is the chosen GPU's throttle temperature and its shutdown
temperature is carried beside it, both from its catalogue file (``dcsim/data/gpus``, each
with its source; H100: 87 C where software slowdown begins and 92 C shutdown, NVIDIA H100
PCIe product brief and ``nvidia-smi -q`` on HGX H100). The config builder always passes
the GPU's own; the H100 default below serves callers that build a rack model by hand.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from dcsim.facility.cooling import CoolingTechnology
from dcsim.hardware.gpus import GPUS, GpuSpec

# The H100-SXM catalogue entry's limits (dcsim/data/gpus/h100-sxm.yaml), for hand-built rack models.
H100_MAX_OPERATING_C = GPUS.packaged["H100-SXM"].throttle_temp_c
H100_SHUTDOWN_C = GPUS.packaged["H100-SXM"].shutdown_temp_c
H100_MIN_CAP_W = GPUS.packaged["H100-SXM"].min_power_cap_w
# The GPU power at which every technology file's gpu_resistance_k_per_w is given (their
# provenance: "a 700 W H100 at 24 C inlet runs at ~73 C", "a 700 W GPU on 35 C coolant").
TECHNOLOGY_REFERENCE_GPU_W = 700.0
# Time from a thermal shutdown to the earliest restart: the GPUs' reset, the node's health
# checks and the work's relaunch. An assumption (no published figure); facility.cooling.gpu_restart_delay_s.
GPU_RESTART_DELAY_S = 300.0


def advance(temp_c: float, target_c: float, dt_s: float, tau_s: float) -> float:
    """Temperature after ``dt_s`` of first-order relaxation toward ``target_c`` (exact exponential)."""
    if dt_s < 0 or tau_s <= 0:
        raise ValueError(f"need dt_s >= 0 and tau_s > 0, got dt_s={dt_s}, tau_s={tau_s}")
    return target_c + (temp_c - target_c) * math.exp(-dt_s / tau_s)


@dataclass(frozen=True)
class RackThermal:
    """Thermal parameters of one rack under one cooling technology."""

    nominal_inlet_c: float  # inlet air / coolant temperature when the plant keeps up
    full_shortfall_rise_k: float  # target rise when none of the heat is removed
    tau_s: float  # time constant of the inlet / coolant temperature
    gpu_resistance_k_per_w: float  # GPU temperature above inlet per watt of GPU power
    gpu_limit_c: float = H100_MAX_OPERATING_C  # the GPU's throttle temperature
    gpu_shutdown_c: float = H100_SHUTDOWN_C  # the GPU's shutdown temperature: its rack stops past it
    gpu_min_cap_w: float = H100_MIN_CAP_W  # the GPU's lowest settable cap (the restart test)
    restart_delay_s: float = GPU_RESTART_DELAY_S  # from a thermal shutdown to the earliest restart

    def __post_init__(self) -> None:
        if self.tau_s <= 0 or self.gpu_resistance_k_per_w <= 0:
            raise ValueError("tau_s and gpu_resistance_k_per_w must be > 0")
        if self.restart_delay_s < 0 or self.gpu_min_cap_w < 0:
            raise ValueError("restart_delay_s and gpu_min_cap_w must be >= 0")
        if not self.gpu_limit_c < self.gpu_shutdown_c:
            raise ValueError(f"gpu_limit_c {self.gpu_limit_c} must be below gpu_shutdown_c {self.gpu_shutdown_c}")

    @classmethod
    def from_technology(cls, tech: CoolingTechnology, gpu_limit_c: float = H100_MAX_OPERATING_C,
                        gpu_shutdown_c: float = H100_SHUTDOWN_C) -> RackThermal:
        """The rack thermal model of a cooling technology (its numbers are in ``TECHNOLOGIES``)."""
        return cls(tech.rack_inlet_c, tech.full_shortfall_rise_k, tech.tau_s, tech.gpu_resistance_k_per_w, gpu_limit_c,
                   gpu_shutdown_c)

    @classmethod
    def for_gpu(cls, tech: CoolingTechnology, gpu: GpuSpec, gpu_limit_c: float | None = None,
                restart_delay_s: float = GPU_RESTART_DELAY_S, gpu_min_cap_w: float | None = None) -> RackThermal:
        """The rack model of a technology for ``gpu``: its resistance scaled to the GPU's TDP
        (``R_tech x 700 W / TDP``), its own throttle and shutdown temperatures and lowest cap;
        ``gpu_limit_c`` overrides the throttle temperature (it must stay below the shutdown)."""
        limit = gpu.throttle_temp_c if gpu_limit_c is None else gpu_limit_c
        min_cap = gpu.min_power_cap_w if gpu_min_cap_w is None else gpu_min_cap_w
        r = tech.gpu_resistance_k_per_w * TECHNOLOGY_REFERENCE_GPU_W / gpu.tdp_w
        return cls(tech.rack_inlet_c, tech.full_shortfall_rise_k, tech.tau_s, r, limit, gpu.shutdown_temp_c,
                   min_cap, restart_delay_s)

    def target_c(self, shortfall_share: float) -> float:
        """Inlet / coolant temperature the rack settles at with ``shortfall_share`` of its heat unremoved."""
        if not 0.0 <= shortfall_share <= 1.0:
            raise ValueError(f"shortfall_share {shortfall_share} is not in [0, 1]")
        return self.nominal_inlet_c + self.full_shortfall_rise_k * shortfall_share

    def advance(self, temp_c: float, shortfall_share: float, dt_s: float) -> float:
        """Inlet / coolant temperature after ``dt_s`` at a constant ``shortfall_share``."""
        return advance(temp_c, self.target_c(shortfall_share), dt_s, self.tau_s)

    @property
    def no_flow_k_per_s(self) -> float:
        """Heat-up rate of a rack's inlet / coolant with nothing removing its heat."""
        return self.full_shortfall_rise_k / self.tau_s

    def heat_up(self, temp_c: float, dt_s: float, running: bool = True) -> float:
        """Coolant temperature after ``dt_s`` without flow: rising at :attr:`no_flow_k_per_s`
        while the rack runs, unchanged while it is stopped (no heat in, none out)."""
        if dt_s < 0:
            raise ValueError(f"need dt_s >= 0, got {dt_s}")
        return temp_c + (self.no_flow_k_per_s * dt_s if running else 0.0)

    def can_restart(self, inlet_c: float) -> bool:
        """Whether a stopped rack's GPUs could run at their lowest cap without throttling."""
        return inlet_c + self.gpu_resistance_k_per_w * self.gpu_min_cap_w <= self.gpu_limit_c

    def gpu_temp_c(self, inlet_c: float, power_w: float) -> float:
        """GPU temperature at ``power_w`` with the inlet / coolant at ``inlet_c``."""
        return inlet_c + self.gpu_resistance_k_per_w * power_w

    def throttle_cap_w(self, inlet_c: float, power_w: float, limit_c: float | None = None) -> float | None:
        """Per-GPU power cap that brings the GPU back to ``limit_c``, or ``None`` if it is not above it.

        The cap is ``(limit - inlet) / R``, floored at 0 W; the engine clamps it to the
        device's lowest settable cap (a GPU whose inlet is at the limit cannot run).
        """
        limit = self.gpu_limit_c if limit_c is None else limit_c
        if self.gpu_temp_c(inlet_c, power_w) <= limit:
            return None
        return max(0.0, (limit - inlet_c) / self.gpu_resistance_k_per_w)
