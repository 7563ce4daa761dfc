"""Liquid side: coolant flow and pump power from heat, loop temperature rise and head.

A liquid loop carrying ``heat_w`` with a supply-to-return rise ``delta_t_k`` moves

    flow_m3_per_s = heat_w / (rho * cp * delta_t_k)

and a pump lifting that flow through a head ``head_pa`` (pressure rise; ``rho * g *
head_m`` for a head in metres) draws

    hydraulic_w = flow_m3_per_s * head_pa
    electric_w  = hydraulic_w / (pump_efficiency * motor_efficiency)

(the wire-to-water efficiency is the product of the two: Evans, "Cost of pumping power",
Pumps & Systems). Per watt of heat that is ``head_pa / (rho * cp * delta_t_k * eta)``:
constant in the heat, so pump power per kW of IT does not change with rack density at a
fixed loop rise and head. Every figure below is cited in docs/cooling.md ("Air and
liquid movers"); :data:`LOOPS` holds the loop kinds with their head and efficiencies.

The share of a rack's heat that goes to liquid is the technology's ``liquid_fraction``
(``dcsim/data/cooling/*.yaml``); this module takes the liquid heat as given.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from dcsim.core.errors import require

STANDARD_GRAVITY_M_PER_S2 = 9.80665  # CGPM 1901 standard acceleration of gravity
PSI_PA = 6894.757  # one pound-force per square inch in pascals


@dataclass(frozen=True)
class Coolant:
    """A liquid's properties near its operating temperature."""

    name: str
    density_kg_per_m3: float
    cp_j_per_kg_k: float

    def __post_init__(self) -> None:
        require(self.density_kg_per_m3 > 0, "density_kg_per_m3", self.density_kg_per_m3, "> 0 kg/m3")
        require(self.cp_j_per_kg_k > 0, "cp_j_per_kg_k", self.cp_j_per_kg_k, "> 0 J/(kg K)")


# Liquid water at 25-30 C (steam tables / IAPWS: 997.0 kg/m3 and 4.18 kJ/(kg K) at 25 C).
# Cross-check: 1 kW at 10 K needs 1.44 L/min, the OCP cold-plate sizing rule's 1.5 L/min per kW at <= 10 K.
WATER = Coolant("water", 997.0, 4180.0)


def coolant_flow_m3_per_s(heat_w: float, delta_t_k: float, coolant: Coolant = WATER) -> float:
    """Volumetric flow that carries ``heat_w`` with a supply-to-return rise of ``delta_t_k``."""
    require(math.isfinite(heat_w) and heat_w >= 0, "heat_w", heat_w, "a finite number of watts >= 0")
    require(math.isfinite(delta_t_k) and delta_t_k > 0, "delta_t_k", delta_t_k, "kelvin > 0")
    return heat_w / (coolant.density_kg_per_m3 * coolant.cp_j_per_kg_k * delta_t_k)


def head_m_to_pa(head_m: float, coolant: Coolant = WATER) -> float:
    """A pump head in metres of the coolant as a pressure rise in pascals (rho * g * h)."""
    require(math.isfinite(head_m) and head_m >= 0, "head_m", head_m, "metres >= 0")
    return coolant.density_kg_per_m3 * STANDARD_GRAVITY_M_PER_S2 * head_m


def hydraulic_power_w(flow_m3_per_s: float, head_pa: float) -> float:
    """Power the pump gives the liquid: flow times pressure rise."""
    require(flow_m3_per_s >= 0, "flow_m3_per_s", flow_m3_per_s, "m3/s >= 0")
    require(head_pa >= 0, "head_pa", head_pa, "pascals >= 0")
    return flow_m3_per_s * head_pa


@dataclass(frozen=True)
class PumpLoop:
    """One pumped loop: its head at design flow and the efficiencies of its pump and motor."""

    kind: str
    head_pa: float  # pressure rise at design flow
    pump_efficiency: float  # hydraulic / shaft power
    motor_efficiency: float  # shaft / electric power
    coolant: Coolant = WATER

    def __post_init__(self) -> None:
        require(math.isfinite(self.head_pa) and self.head_pa >= 0, f"{self.kind}.head_pa", self.head_pa, "pascals >= 0")
        for name in ("pump_efficiency", "motor_efficiency"):
            value = getattr(self, name)
            require(0.0 < value <= 1.0, f"{self.kind}.{name}", value, "a share in (0, 1]")

    @property
    def wire_to_water_efficiency(self) -> float:
        """Hydraulic power out per electric power in."""
        return self.pump_efficiency * self.motor_efficiency

    def flow_m3_per_s(self, heat_w: float, delta_t_k: float) -> float:
        """Flow of this loop's coolant that carries ``heat_w`` at a rise of ``delta_t_k``."""
        return coolant_flow_m3_per_s(heat_w, delta_t_k, self.coolant)

    def hydraulic_power_w(self, heat_w: float, delta_t_k: float) -> float:
        """Flow times head for ``heat_w`` at a rise of ``delta_t_k``."""
        return hydraulic_power_w(self.flow_m3_per_s(heat_w, delta_t_k), self.head_pa)

    def electric_power_w(self, heat_w: float, delta_t_k: float) -> float:
        """Electric power of the pumps: hydraulic power over pump and motor efficiency."""
        return self.hydraulic_power_w(heat_w, delta_t_k) / self.wire_to_water_efficiency

    def power_per_w(self, delta_t_k: float) -> float:
        """Pump power per watt of heat carried (independent of the heat)."""
        return self.electric_power_w(1.0, delta_t_k)


# The loop kinds (docs/cooling.md, "Air and liquid movers", for every figure):
# - cdu_secondary: the technology cooling system between CDU and cold plates / tanks; head
#   40 psi, the top of the OCP reservoir-and-pumping-unit specifications (as quoted by
#   ProphetStor, secondary; no CDU datasheet with pump power was found); a small
#   centrifugal pump at 0.60 (smaller centrifugals 50-70 %, FFC Industries / Evans).
# - facility: the chilled / condenser (facility) water loop; head 25 m, an *assumption*
#   (no source found for a data-centre facility-water head); larger centrifugals 75-90 %:
#   0.75, the low end.
# Motors 0.90 (a 10 hp, 1800 rpm motor must meet 90.2 % under US federal rules, Evans).
LOOPS: dict[str, PumpLoop] = {
    "cdu_secondary": PumpLoop("cdu_secondary", 40.0 * PSI_PA, 0.60, 0.90),
    "facility": PumpLoop("facility", head_m_to_pa(25.0), 0.75, 0.90),
}


def loop(kind: str) -> PumpLoop:
    """The pump loop of a kind (``LOOPS``); an unknown kind is a one-line error naming the kinds."""
    require(kind in LOOPS, "loop", kind, f"one of {sorted(LOOPS)}")
    return LOOPS[kind]
