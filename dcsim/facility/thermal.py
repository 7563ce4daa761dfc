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

with ``R`` the GPU-to-inlet thermal resistance of the technology (cold plates remove
heat with a smaller temperature difference than air heat sinks). Above the limit the
GPU firmware lowers clocks; here that becomes a power cap ``(T_limit - T_inlet) / R``
that brings the GPU back to the limit, applied by the engine through the device model
like any other cap. The limit is the chosen GPU's throttle temperature and its shutdown
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
    gpu_shutdown_c: float = H100_SHUTDOWN_C  # the GPU's shutdown temperature (recorded, not yet acted on)

    def __post_init__(self) -> None:
        if self.tau_s <= 0 or self.gpu_resistance_k_per_w <= 0:
            raise ValueError("tau_s and gpu_resistance_k_per_w must be > 0")
        if not self.gpu_limit_c < self.gpu_shutdown_c:
            raise ValueError(f"gpu_limit_c {self.gpu_limit_c} must be below gpu_shutdown_c {self.gpu_shutdown_c}")

    @classmethod
    def from_technology(cls, tech: CoolingTechnology, gpu_limit_c: float = H100_MAX_OPERATING_C,
                        gpu_shutdown_c: float = H100_SHUTDOWN_C) -> RackThermal:
        """The rack thermal model of a cooling technology (its numbers are in ``TECHNOLOGIES``)."""
        return cls(tech.rack_inlet_c, tech.full_shortfall_rise_k, tech.tau_s, tech.gpu_resistance_k_per_w, gpu_limit_c,
                   gpu_shutdown_c)

    @classmethod
    def for_gpu(cls, tech: CoolingTechnology, gpu: GpuSpec, gpu_limit_c: float | None = None) -> RackThermal:
        """The rack model of a technology with ``gpu``'s own throttle and shutdown temperatures;
        ``gpu_limit_c`` overrides the throttle temperature (it must stay below the shutdown)."""
        limit = gpu.throttle_temp_c if gpu_limit_c is None else gpu_limit_c
        return cls.from_technology(tech, limit, gpu.shutdown_temp_c)

    def target_c(self, shortfall_share: float) -> float:
        """Inlet / coolant temperature the rack settles at with ``shortfall_share`` of its heat unremoved."""
        if not 0.0 <= shortfall_share <= 1.0:
            raise ValueError(f"shortfall_share {shortfall_share} is not in [0, 1]")
        return self.nominal_inlet_c + self.full_shortfall_rise_k * shortfall_share

    def advance(self, temp_c: float, shortfall_share: float, dt_s: float) -> float:
        """Inlet / coolant temperature after ``dt_s`` at a constant ``shortfall_share``."""
        return advance(temp_c, self.target_c(shortfall_share), dt_s, self.tau_s)

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
