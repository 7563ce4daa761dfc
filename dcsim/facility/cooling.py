"""Cooling: from IT heat and outdoor temperature to cooling power.

An air-cooled hall (CRAH units on a chilled-water loop) with an air-cooled chiller
and a water-side economiser:

- CRAH fans and chilled-water pumps draw ``fan_pump_fraction`` of the heat they move;
- the chiller's COP is a fraction of the Carnot COP between the evaporator
  (``chilled_water_supply_c - evaporator_approach_k``) and the condenser
  (``outdoor + condenser_approach_k``):

      cop = carnot_fraction * T_evap_K / (T_cond_K - T_evap_K)

- below ``economiser_full_c`` outdoors the chiller is off (free cooling); between that
  and ``economiser_full_c + economiser_band_k`` the economiser carries a linearly
  falling share of the load.

So PUE follows the weather: it is an output, never an input. Issue 4 adds other
technologies, cooling towers (wet bulb) and water use.
"""

from __future__ import annotations

from dataclasses import dataclass

from dcsim.core.units import ZERO_C_K


@dataclass(frozen=True, slots=True)
class CoolingPlant:
    """Chilled-water air cooling with economiser (defaults: ``facility.config.CoolingConfig``)."""

    chilled_water_supply_c: float
    evaporator_approach_k: float
    condenser_approach_k: float
    carnot_fraction: float
    economiser_full_c: float
    economiser_band_k: float
    fan_pump_fraction: float

    def chiller_cop(self, outdoor_c: float) -> float:
        """Coefficient of performance of the chiller at ``outdoor_c``."""
        t_evap_k = self.chilled_water_supply_c - self.evaporator_approach_k + ZERO_C_K
        t_cond_k = outdoor_c + self.condenser_approach_k + ZERO_C_K
        lift_k = max(t_cond_k - t_evap_k, 1.0)  # below 1 K of lift the economiser has taken over
        return self.carnot_fraction * t_evap_k / lift_k

    def economiser_share(self, outdoor_c: float) -> float:
        """Share of the heat removed without the chiller."""
        if outdoor_c <= self.economiser_full_c:
            return 1.0
        if self.economiser_band_k <= 0 or outdoor_c >= self.economiser_full_c + self.economiser_band_k:
            return 0.0
        return 1.0 - (outdoor_c - self.economiser_full_c) / self.economiser_band_k

    def power_w(self, heat_w: float, outdoor_c: float) -> float:
        """Electrical power to remove ``heat_w`` with ``outdoor_c`` outside."""
        chiller_w = heat_w * (1.0 - self.economiser_share(outdoor_c)) / self.chiller_cop(outdoor_c)
        return chiller_w + heat_w * self.fan_pump_fraction
