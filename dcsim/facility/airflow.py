"""Air side: the air that carries heat, server fans, room air handlers and recirculation.

Pure functions and frozen dataclasses, SI inside; every figure is cited in docs/cooling.md
("Air and liquid movers"). In a run, ``dcsim.facility.build`` gives the plant
:func:`rack_movers` at the racks' design heat (handlers and CDU pumps) and the facility
meters the server fans with :func:`server_fan_ratio` (IT power).

- **Air to carry heat.** ``V = Q / (rho * cp * dT)`` with the air density of the ideal gas
  law at the inlet temperature, ``rho = p / (R_air * T)``.
- **Fan affinity.** For one fan at speed N: flow ~ N, pressure ~ rho N^2, power ~ rho N^3,
  so ``P = P_ref * (rho / rho_ref) * (V / V_ref)^3``.
- **Server fans (IT power)** follow the heat the server puts into air and the air
  temperature rise it allows. Below ``ramp_start_c`` the fans hold the reference rise;
  above it the rise shrinks linearly to nothing at ``limit_c`` (the fans speed up to keep
  the components within their limits as the inlet warms):

      dT(T_in) = dT_ref * (T_limit - T_in) / (T_limit - T_ramp)     for T_in > T_ramp
      P_fan    = share * Q_air,rated * (rho_ref / rho)^2 * (Q_air / Q_air,rated)^3 * (dT_ref / dT)^3

  ``share`` is the fan power per watt of air-cooled heat at the reference point (rated
  heat, inlet at or below the ramp). A liquid-cooled server keeps fans only for its
  air-cooled share, sized for it: ``Q_air = (1 - liquid share) * Q``.
- **Room air handlers** (CRAH fans) move the room's air-cooled heat at the servers' rise:
  ``P = V * dp / eta``. The pressure rise is the unit's own (coil, filter) plus the
  delivery opening in front of each rack (floor tiles or grates, modelled as an orifice:
  ``dp = rho / 2 * (V_rack / (Cd * A))^2``, ASHRAE Fundamentals' Q = 2610 A sqrt(dp)), so
  the handlers' watts per kW grow with the square of the air flow per rack: with density.
- **Recirculation.** Share of exhaust air that returns to the inlets (OpenDCME):
  ``r = (T_in - T_supply) / (T_out - T_supply)``. To keep the hottest inlet at
  ``T_max`` the supply must be ``T_max - r / (1 - r) * dT``.
- **Open tiles: recirculation from density.** With contained aisles (the default) the
  handlers push each rack's air through its delivery opening whatever the drop. On an open
  raised floor the plenum holds a static pressure ``p_plenum`` (12-30 Pa in practice), so a
  rack's tiles deliver at most ``V_tile = Cd * A * sqrt(2 p_plenum / rho)`` (the orifice law
  above, inverted); a rack whose servers draw more, ``V_rack > V_tile``, takes the rest from
  its own exhaust: ``r = 1 - V_tile / V_rack`` (a mass balance at the inlets, the worst case
  of no mixing with the room). Recirculation therefore rises with density, and the supply
  that keeps the hottest inlet in limits falls with it (:func:`supply_for_hottest_inlet_c`).
- **Active rear doors.** The door's fans push the rack's whole exhaust through its coil,
  whose face is the rack's back whatever the density, so the face velocity grows with the
  rack's heat and the coil's drop with a power of it (a finned-tube coil's catalogue law,
  ``dp = dp_ref * (rho / rho_ref) * (v / v_ref)^n``, n = 1.59): ``P = V * dp / eta`` per
  watt rises as ``(rack heat)^n`` (:class:`DoorCoil`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from dcsim.core.errors import require
from dcsim.core.units import ZERO_C_K
from dcsim.facility.cooling import AIR_LOOP_DELTA_T_K, TECHNOLOGIES, CoolingTechnology
from dcsim.facility.pumps import LOOPS, PumpLoop

# Dry air (ideal gas): specific gas constant R / M_air = 8.314462618 / 0.0289647 kg/mol;
# cp 1.006 kJ/(kg K) near 300 K (engineering tables). Cross-check: rho * cp = 1.08 in the
# HVAC rule CFM = BTU/h / (1.08 dT_F) at 0.075 lb/ft3 (insideHPC, Dell; bearingsasia: 1.085).
AIR_GAS_CONSTANT_J_PER_KG_K = 287.05
AIR_CP_J_PER_KG_K = 1006.0
SEA_LEVEL_PA = 101325.0  # ISO 2533 standard atmosphere at sea level


def air_density_kg_per_m3(temp_c: float, pressure_pa: float = SEA_LEVEL_PA) -> float:
    """Density of dry air at ``temp_c`` and ``pressure_pa`` (ideal gas law)."""
    require(math.isfinite(temp_c) and temp_c > -ZERO_C_K, "temp_c", temp_c, "degrees C above absolute zero")
    require(math.isfinite(pressure_pa) and pressure_pa > 0, "pressure_pa", pressure_pa, "pascals > 0")
    return pressure_pa / (AIR_GAS_CONSTANT_J_PER_KG_K * (temp_c + ZERO_C_K))


def air_flow_m3_per_s(heat_w: float, delta_t_k: float, inlet_c: float, pressure_pa: float = SEA_LEVEL_PA) -> float:
    """Volumetric air flow at the inlet that carries ``heat_w`` with a rise of ``delta_t_k``."""
    require(math.isfinite(heat_w) and heat_w >= 0, "heat_w", heat_w, "a finite number of watts >= 0")
    require(math.isfinite(delta_t_k) and delta_t_k > 0, "delta_t_k", delta_t_k, "kelvin > 0")
    return heat_w / (air_density_kg_per_m3(inlet_c, pressure_pa) * AIR_CP_J_PER_KG_K * delta_t_k)


def affinity_power_w(reference_power_w: float, flow_ratio: float, density_ratio: float = 1.0) -> float:
    """Fan power at ``flow_ratio`` times the reference flow (same fan, speed ~ flow): P ~ rho V^3."""
    require(reference_power_w >= 0, "reference_power_w", reference_power_w, "watts >= 0")
    require(flow_ratio >= 0, "flow_ratio", flow_ratio, ">= 0")
    require(density_ratio > 0, "density_ratio", density_ratio, "> 0")
    return reference_power_w * density_ratio * flow_ratio**3


def affinity_pressure_pa(reference_pressure_pa: float, flow_ratio: float, density_ratio: float = 1.0) -> float:
    """Fan pressure rise at ``flow_ratio`` times the reference flow: dp ~ rho V^2."""
    require(reference_pressure_pa >= 0, "reference_pressure_pa", reference_pressure_pa, "pascals >= 0")
    require(flow_ratio >= 0, "flow_ratio", flow_ratio, ">= 0")
    return reference_pressure_pa * density_ratio * flow_ratio**2


@dataclass(frozen=True)
class ServerFans:
    """Fans of a server: IT power that follows its air-cooled heat and its inlet temperature.

    ``fan_share`` is fan power per watt of air-cooled heat at the reference point (rated
    heat, inlet at or below ``ramp_start_c``); defaults in docs/cooling.md.
    """

    fan_share: float
    reference_delta_t_k: float = 12.0  # air rise across the server at the reference point
    ramp_start_c: float = 23.0  # inlet above which the fans speed up
    limit_c: float = 85.0  # component limit the fans protect (DIMM 85 C spec): no rise left at this inlet

    def __post_init__(self) -> None:
        require(0.0 <= self.fan_share <= 1.0, "fan_share", self.fan_share, "W per W in [0, 1]")
        require(self.reference_delta_t_k > 0, "reference_delta_t_k", self.reference_delta_t_k, "kelvin > 0")
        require(self.limit_c > self.ramp_start_c, "limit_c", self.limit_c, f"above ramp_start_c={self.ramp_start_c}")

    def delta_t_k(self, inlet_c: float) -> float:
        """Air temperature rise across the server the fans hold at ``inlet_c``."""
        require(math.isfinite(inlet_c) and inlet_c < self.limit_c, "inlet_c", inlet_c,
                f"degrees C below the fans' limit_c={self.limit_c}")
        if inlet_c <= self.ramp_start_c:
            return self.reference_delta_t_k
        return self.reference_delta_t_k * (self.limit_c - inlet_c) / (self.limit_c - self.ramp_start_c)

    def flow_m3_per_s(self, air_heat_w: float, inlet_c: float, pressure_pa: float = SEA_LEVEL_PA) -> float:
        """Air the fans move for ``air_heat_w`` at ``inlet_c``."""
        return air_flow_m3_per_s(air_heat_w, self.delta_t_k(inlet_c), inlet_c, pressure_pa)

    def power_w(self, heat_w: float, inlet_c: float, rated_heat_w: float | None = None, air_share: float = 1.0,
                pressure_pa: float = SEA_LEVEL_PA) -> float:
        """Fan power of a server dissipating ``heat_w`` (``air_share`` of it into air) at ``inlet_c``.

        The fans are sized for the air-cooled share of ``rated_heat_w`` (default: ``heat_w``)
        at the reference point and follow the affinity law from there.
        """
        require(0.0 <= air_share <= 1.0, "air_share", air_share, "a share in [0, 1]")
        rated_w = heat_w if rated_heat_w is None else rated_heat_w
        require(math.isfinite(rated_w) and rated_w >= 0, "rated_heat_w", rated_w, "watts >= 0")
        air_w, rated_air_w = heat_w * air_share, rated_w * air_share
        if rated_air_w == 0.0:
            return 0.0
        flow = self.flow_m3_per_s(air_w, inlet_c, pressure_pa)
        reference_flow = self.flow_m3_per_s(rated_air_w, self.ramp_start_c, pressure_pa)
        density_ratio = air_density_kg_per_m3(inlet_c, pressure_pa) / air_density_kg_per_m3(self.ramp_start_c, pressure_pa)
        return affinity_power_w(self.fan_share * rated_air_w, flow / reference_flow, density_ratio)


@dataclass(frozen=True)
class AirHandler:
    """Room air handlers (CRAH fans): ``P = V * dp / eta`` with a delivery pressure drop per rack.

    Defaults (docs/cooling.md): the unit's own drop and the fan efficiency are assumptions;
    the delivery opening is one 600 mm floor tile per rack at 50 % open area.
    """

    unit_pressure_pa: float = 250.0  # coil, filter and casing at design flow (about 1 in. w.c.)
    fan_efficiency: float = 0.6  # EC fan, motor and electronics: air power / electric power
    delivery_area_m2: float = 0.18  # open area in front of one rack: a 0.6 m x 0.6 m tile, 50 % open
    discharge_coefficient: float = 0.65  # orifice discharge coefficient of a perforated tile (0.5-0.8)

    def __post_init__(self) -> None:
        require(self.unit_pressure_pa >= 0, "unit_pressure_pa", self.unit_pressure_pa, "pascals >= 0")
        require(0.0 < self.fan_efficiency <= 1.0, "fan_efficiency", self.fan_efficiency, "a share in (0, 1]")
        require(self.delivery_area_m2 > 0, "delivery_area_m2", self.delivery_area_m2, "m2 > 0")
        require(0.0 < self.discharge_coefficient <= 1.0, "discharge_coefficient", self.discharge_coefficient,
                "a share in (0, 1]")

    def delivery_pressure_pa(self, rack_flow_m3_per_s: float, supply_c: float, pressure_pa: float = SEA_LEVEL_PA) -> float:
        """Pressure drop of one rack's delivery opening at its air flow (orifice: ~ flow squared)."""
        require(rack_flow_m3_per_s >= 0, "rack_flow_m3_per_s", rack_flow_m3_per_s, "m3/s >= 0")
        velocity_m_per_s = rack_flow_m3_per_s / (self.discharge_coefficient * self.delivery_area_m2)
        return 0.5 * air_density_kg_per_m3(supply_c, pressure_pa) * velocity_m_per_s**2

    def pressure_pa(self, rack_flow_m3_per_s: float, supply_c: float, pressure_pa: float = SEA_LEVEL_PA) -> float:
        """Pressure rise the handler fans make: the unit's drop plus the rack delivery drop."""
        return self.unit_pressure_pa + self.delivery_pressure_pa(rack_flow_m3_per_s, supply_c, pressure_pa)

    def tile_flow_m3_per_s(self, plenum_pa: float, supply_c: float, pressure_pa: float = SEA_LEVEL_PA) -> float:
        """Air one rack's delivery opening passes at a plenum pressure of ``plenum_pa`` (the
        orifice law of :meth:`delivery_pressure_pa`, inverted)."""
        require(math.isfinite(plenum_pa) and plenum_pa > 0, "plenum_pa", plenum_pa, "pascals > 0")
        velocity_m_per_s = math.sqrt(2.0 * plenum_pa / air_density_kg_per_m3(supply_c, pressure_pa))
        return self.discharge_coefficient * self.delivery_area_m2 * velocity_m_per_s

    def power_w(self, air_heat_w: float, rack_air_heat_w: float, delta_t_k: float, supply_c: float,
                pressure_pa: float = SEA_LEVEL_PA, plenum_pa: float | None = None) -> float:
        """Fan power moving ``air_heat_w`` of room heat from racks of ``rack_air_heat_w`` each.

        ``plenum_pa`` (open tiles): the plenum pressure the handlers hold; a rack then gets at
        most its tiles' flow at that pressure and the fans push no more (the rest of its air
        is recirculated exhaust, :func:`open_tile_recirculation`). None: contained aisles,
        every rack's whole flow through its opening."""
        flow = air_flow_m3_per_s(air_heat_w, delta_t_k, supply_c, pressure_pa)
        rack_flow = air_flow_m3_per_s(rack_air_heat_w, delta_t_k, supply_c, pressure_pa)
        if plenum_pa is not None and rack_flow > 0:
            delivered = min(rack_flow, self.tile_flow_m3_per_s(plenum_pa, supply_c, pressure_pa))
            flow *= delivered / rack_flow
            rack_flow = delivered
        return flow * self.pressure_pa(rack_flow, supply_c, pressure_pa) / self.fan_efficiency


# Heatcraft Bulletin AH-TB (January 2011), p. 40, "Type A (1/2 in. O.D.) dry coil air pressure
# drop": one row, 10 fins per inch, 0.07 in. w.c. at 400 fpm and 0.17 in. at 700 fpm (standard air,
# 70 F): the exponent ln(0.17 / 0.07) / ln(700 / 400) = 1.586; 1 in. w.c. = 249.089 Pa, 1 fpm = 0.00508 m/s.
INCH_WATER_PA = 249.089
FPM_M_PER_S = 0.00508
COIL_ROW_DP_REF_PA = 0.07 * INCH_WATER_PA
COIL_V_REF_M_PER_S = 400 * FPM_M_PER_S
COIL_DP_EXPONENT = math.log(0.17 / 0.07) / math.log(700 / 400)
STANDARD_AIR_C = (70.0 - 32.0) / 1.8  # the catalogue's entering air, 70 F dry bulb
# EIA-310: a 42U rack's mounting height is 42 x 44.45 mm = 1.867 m, its 19-inch rails 482.6 mm apart:
# the coil of a door on the rack's back can be no larger (docs/cooling.md, "Active rear doors").
RACK_42U_FACE_M2 = 42 * 0.04445 * 0.4826


@dataclass(frozen=True)
class DoorCoil:
    """An active rear door: its fans push the rack's exhaust through a coil of fixed face area.

    ``dp = rows * dp_ref * (rho / rho_ref) * (v / v_ref)^n``, ``v = V / face``, ``P = V * dp / eta``.
    The row drop and the exponent are Heatcraft's catalogue figures (one row, 10 fins per inch);
    the face is the 42U rack's back; the shipped door's four rows and the fan efficiency are
    assumptions (docs/cooling.md, "Active rear doors").
    """

    rows: float  # a technology file's door_coil_rows (rear_door.yaml: 4)
    face_area_m2: float = RACK_42U_FACE_M2
    fan_efficiency: float = 0.6  # EC fans, as the room air handlers (AirHandler)

    def __post_init__(self) -> None:
        require(math.isfinite(self.rows) and self.rows > 0, "rows", self.rows, "coil rows > 0")
        require(math.isfinite(self.face_area_m2) and self.face_area_m2 > 0, "face_area_m2", self.face_area_m2,
                "m2 > 0")
        require(0.0 < self.fan_efficiency <= 1.0, "fan_efficiency", self.fan_efficiency, "a share in (0, 1]")

    def pressure_pa(self, flow_m3_per_s: float, air_c: float, pressure_pa: float = SEA_LEVEL_PA) -> float:
        """The coil's air-side drop at ``flow_m3_per_s`` of air at ``air_c``."""
        require(flow_m3_per_s >= 0, "flow_m3_per_s", flow_m3_per_s, "m3/s >= 0")
        density_ratio = air_density_kg_per_m3(air_c, pressure_pa) / air_density_kg_per_m3(STANDARD_AIR_C)
        velocity = flow_m3_per_s / self.face_area_m2
        return self.rows * COIL_ROW_DP_REF_PA * density_ratio * (velocity / COIL_V_REF_M_PER_S) ** COIL_DP_EXPONENT

    def power_w(self, rack_air_heat_w: float, delta_t_k: float, exhaust_c: float,
                pressure_pa: float = SEA_LEVEL_PA) -> float:
        """Door fan power for a rack putting ``rack_air_heat_w`` into air at a ``delta_t_k`` rise,
        the exhaust at ``exhaust_c`` reaching the coil."""
        flow = air_flow_m3_per_s(rack_air_heat_w, delta_t_k, exhaust_c, pressure_pa)
        return flow * self.pressure_pa(flow, exhaust_c, pressure_pa) / self.fan_efficiency


def open_tile_recirculation(rack_flow_m3_per_s: float, tile_flow_m3_per_s: float) -> float:
    """Share of a rack's inlet air that is its own exhaust when its tiles pass ``tile_flow``
    and its servers draw ``rack_flow``: ``max(0, 1 - V_tile / V_rack)`` (mass balance)."""
    require(rack_flow_m3_per_s >= 0, "rack_flow_m3_per_s", rack_flow_m3_per_s, "m3/s >= 0")
    require(tile_flow_m3_per_s > 0, "tile_flow_m3_per_s", tile_flow_m3_per_s, "m3/s > 0")
    return max(0.0, 1.0 - tile_flow_m3_per_s / rack_flow_m3_per_s) if rack_flow_m3_per_s > 0 else 0.0


def recirculation_share(inlet_c: float, supply_c: float, outlet_c: float) -> float:
    """Share of exhaust air reaching the inlets: (T_in - T_supply) / (T_out - T_supply) (OpenDCME)."""
    require(outlet_c > supply_c, "outlet_c", outlet_c, f"degrees C above supply_c={supply_c}")
    return (inlet_c - supply_c) / (outlet_c - supply_c)


def supply_for_hottest_inlet_c(max_inlet_c: float, server_delta_t_k: float, recirculation: float) -> float:
    """Supply air temperature that keeps an inlet with ``recirculation`` share of exhaust at ``max_inlet_c``."""
    require(0.0 <= recirculation < 1.0, "recirculation", recirculation, "a share in [0, 1)")
    require(server_delta_t_k > 0, "server_delta_t_k", server_delta_t_k, "kelvin > 0")
    return max_inlet_c - recirculation / (1.0 - recirculation) * server_delta_t_k


@dataclass(frozen=True)
class MoverPower:
    """Fan and pump power per watt of IT heat at one rack density (W/W)."""

    server_fans: float  # IT power
    air_handlers: float  # CRAH fans for the room's air-cooled heat
    cdu_pumps: float  # technology-cooling-system pumps for the liquid heat
    facility_pumps: float  # facility water for all of the heat
    # Open tiles: share of the racks' inlet air that is their own exhaust (0 when contained), and
    # how far the room-air supply must then sit below the hottest inlet's design value (K).
    recirculation: float = 0.0
    supply_depression_k: float = 0.0
    door_fans: float = 0.0  # an active rear door's fans pushing the rack's air through its coil

    @property
    def cooling(self) -> float:
        """Movers outside IT power: handlers, door fans and pumps."""
        return self.air_handlers + self.door_fans + self.cdu_pumps + self.facility_pumps

    @property
    def total(self) -> float:
        """Cooling movers plus the server fans."""
        return self.cooling + self.server_fans


def air_server_fans() -> ServerFans:
    """Server fans with the air-cooled server's fan share (``dcsim/data/cooling/air.yaml``)."""
    return ServerFans(TECHNOLOGIES.packaged["air"].server_fan_share)


# Above the ASHRAE A2 class's allowable inlet (35 C) the fans are taken at full speed: they
# saturate and the GPUs throttle instead (docs/cooling.md; an assumption on where they saturate).
FAN_MAX_INLET_C = 35.0


def server_air_inlet_c(tech: CoolingTechnology, rack_inlet_c: float) -> float:
    """Air temperature at the servers' fans: the rack inlet when it is air (air, rear door:
    every server air-cooled); else the room air of the residual air share, the technology's
    chilled air supply plus the air technology's inlet approach (24 C by default)."""
    if tech.server_air_cooled_share >= 1.0:
        return rack_inlet_c
    return tech.air_supply_temp_c + TECHNOLOGIES.packaged["air"].inlet_approach_k


def server_fan_ratio(tech: CoolingTechnology, air_inlet_c: float, fans: ServerFans | None = None,
                     pressure_pa: float = SEA_LEVEL_PA) -> float:
    """Server fan power per watt of the server's other power (GPUs and host without fans).

    The fans draw ``a = P_fan / Q`` of the server's heat Q, fans included, at its air
    share and ``air_inlet_c`` (capped at :data:`FAN_MAX_INLET_C`), sized for that heat:
    ``P_fan = a (P_other + P_fan)``, so ``P_fan = a / (1 - a) P_other``.
    """
    fans = air_server_fans() if fans is None else fans
    a = fans.power_w(1.0, min(air_inlet_c, FAN_MAX_INLET_C), air_share=tech.server_air_cooled_share,
                     pressure_pa=pressure_pa)
    require(a < 1.0, "fan_share", fans.fan_share, "fan power below the server's heat at the hottest inlet")
    return a / (1.0 - a)


def rack_movers(tech: CoolingTechnology, rack_heat_w: float, air_inlet_c: float = 24.0,
                fans: ServerFans | None = None, handler: AirHandler | None = None,
                cdu: PumpLoop | None = None, facility: PumpLoop | None = None,
                pressure_pa: float = SEA_LEVEL_PA, plenum_pa: float | None = None,
                door: DoorCoil | None = None) -> MoverPower:
    """Fans and pumps per watt of IT heat for racks of ``rack_heat_w`` under ``tech``.

    Servers run at their rated heat with ``tech.server_air_cooled_share`` of it into air (fans
    sized for that share); the room's air-cooled heat is ``1 - liquid_fraction`` (a rear
    door takes the servers' air into its water); CDU pumps carry the liquid heat and
    facility pumps all of it, each at its loop's rise. ``air_inlet_c`` (24 C: 18 C chilled
    water plus the air technology's 6 K approach) is the servers' and handlers' air.
    ``plenum_pa``: open tiles at that plenum pressure (the room air's recirculation and the
    supply depression it needs are in the result); None: contained aisles. A technology
    with ``door_coil_rows`` (an active rear door) pushes the servers' air through ``door``
    (None: a :class:`DoorCoil` of that many rows) at the servers' exhaust temperature. A
    technology with ``cdu_rated_kw`` (an immersion tank's own CDU) runs the CDU loop's head at
    that heat and ``(liquid heat / rated)^2`` of it below, the pumps slowing on a fixed system.
    """
    require(math.isfinite(rack_heat_w) and rack_heat_w > 0, "rack_heat_w", rack_heat_w, "watts > 0")
    tech.check_rack_kw(rack_heat_w / 1000.0)
    fans = air_server_fans() if fans is None else fans
    handler = AirHandler() if handler is None else handler
    cdu = LOOPS["cdu_secondary"] if cdu is None else cdu
    facility = LOOPS["facility"] if facility is None else facility
    fan_w = fans.power_w(rack_heat_w, air_inlet_c, air_share=tech.server_air_cooled_share, pressure_pa=pressure_pa)
    room_air_w = rack_heat_w * (1.0 - tech.liquid_fraction)
    rise_k = fans.delta_t_k(air_inlet_c)
    handler_w = handler.power_w(room_air_w, room_air_w, rise_k, air_inlet_c, pressure_pa, plenum_pa)
    recirculation = depression_k = 0.0
    if plenum_pa is not None and room_air_w > 0:
        recirculation = open_tile_recirculation(air_flow_m3_per_s(room_air_w, rise_k, air_inlet_c, pressure_pa),
                                                handler.tile_flow_m3_per_s(plenum_pa, air_inlet_c, pressure_pa))
        require(recirculation < 1.0, "rack_heat_w", rack_heat_w, "a rack whose tiles pass some of its air")
        depression_k = air_inlet_c - supply_for_hottest_inlet_c(air_inlet_c, rise_k, recirculation)
    liquid_w = rack_heat_w * tech.liquid_fraction
    cdu_w = cdu.electric_power_w(liquid_w, tech.loop_delta_t_k) if liquid_w > 0 else 0.0
    if tech.cdu_rated_kw is not None:
        # the rack's own CDU: ``cdu``'s head at its rated flow, and on its fixed system curve the
        # head follows the square of the flow (affinity laws), so its power the cube
        cdu_w *= (liquid_w / (tech.cdu_rated_kw * 1000.0)) ** 2
    facility_w = facility.electric_power_w(liquid_w, tech.loop_delta_t_k) if liquid_w > 0 else 0.0
    if room_air_w > 0:
        facility_w += facility.electric_power_w(room_air_w, AIR_LOOP_DELTA_T_K)
    door_w = 0.0
    if tech.door_coil_rows is not None:
        door = DoorCoil(rows=tech.door_coil_rows) if door is None else door
        server_air_w = rack_heat_w * tech.server_air_cooled_share
        door_w = door.power_w(server_air_w, rise_k, air_inlet_c + rise_k, pressure_pa)
    return MoverPower(fan_w / rack_heat_w, handler_w / rack_heat_w, cdu_w / rack_heat_w, facility_w / rack_heat_w,
                      recirculation, depression_k, door_w / rack_heat_w)
