"""Air and liquid movers (dcsim/facility/airflow.py, pumps.py): closed forms, published checks, density.

Every figure the library uses is cited in docs/cooling.md ("Air and liquid movers").
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from dcsim.core.errors import ConfigError
from dcsim.facility.airflow import (
    AIR_CP_J_PER_KG_K,
    AIR_GAS_CONSTANT_J_PER_KG_K,
    COIL_DP_EXPONENT,
    FPM_M_PER_S,
    INCH_WATER_PA,
    STANDARD_AIR_C,
    AirHandler,
    DoorCoil,
    ServerFans,
    affinity_power_w,
    affinity_pressure_pa,
    air_density_kg_per_m3,
    air_flow_m3_per_s,
    air_server_fans,
    open_tile_recirculation,
    rack_movers,
    recirculation_share,
    supply_for_hottest_inlet_c,
)
from dcsim.facility.cooling import (
    TECHNOLOGIES,
    CoolingFileError,
    CoolingPlant,
    CoolingSpecError,
    technology_from_mapping,
)
from dcsim.facility.pumps import LOOPS, PSI_PA, WATER, PumpLoop, coolant_flow_m3_per_s, head_m_to_pa, loop

REAR_DOOR_ROWS = TECHNOLOGIES["rear_door"].door_coil_rows
DENSITIES_KW = (10, 20, 40, 60, 80, 100, 120, 140)
SWEEP_ORDER = ("air", "rear_door", "direct_liquid", "immersion")


def _density(temp_c: float) -> float:
    return 101325.0 / (287.05 * (temp_c + 273.15))


def test_air_flow_for_one_kilowatt_at_twelve_kelvin_is_the_closed_form():
    """1 kW at 12 K and 24 C inlet: V = Q / (rho cp dT), rho = p / (R T); and the HVAC rule
    CFM = 3412 W/kW / (1.085 dT_F) (Dell via insideHPC) agrees to 2 %."""
    expected = 1000.0 / (_density(24.0) * 1006.0 * 12.0)
    assert air_flow_m3_per_s(1000.0, 12.0, 24.0) == pytest.approx(expected, rel=1e-12)
    rule_cfm = 3412.0 / (1.085 * 12.0 * 9.0 / 5.0)
    assert air_flow_m3_per_s(1000.0, 12.0, 24.0) == pytest.approx(rule_cfm * 0.3048**3 / 60.0, rel=0.02)
    # thinner air at altitude (80 % of sea-level pressure) needs 1 / 0.8 the volume
    assert air_flow_m3_per_s(1000.0, 12.0, 24.0, 0.8 * 101325.0) == pytest.approx(expected / 0.8, rel=1e-12)
    # standard air, 1.204 kg/m3 at 20 C and sea level; rho * cp in the closed form uses the module's constants
    assert air_density_kg_per_m3(20.0) == pytest.approx(1.204, abs=1e-3)
    assert air_flow_m3_per_s(1000.0, 12.0, 24.0) == pytest.approx(
        1000.0 / (101325.0 / (AIR_GAS_CONSTANT_J_PER_KG_K * 297.15) * AIR_CP_J_PER_KG_K * 12.0), rel=1e-12)


def test_fan_affinity_doubling_the_flow_takes_eight_times_the_power():
    assert affinity_power_w(100.0, 2.0) == pytest.approx(800.0, rel=1e-12)
    assert affinity_pressure_pa(100.0, 2.0) == pytest.approx(400.0, rel=1e-12)
    fans = air_server_fans()
    # the same server (rated 1 kW) carrying twice its heat at the same inlet: twice the flow, 8x the fans
    assert fans.power_w(2000.0, 22.0, rated_heat_w=1000.0) == pytest.approx(8.0 * fans.power_w(1000.0, 22.0), rel=1e-12)
    assert fans.power_w(500.0, 22.0, rated_heat_w=1000.0) == pytest.approx(fans.power_w(1000.0, 22.0) / 8.0, rel=1e-12)


def test_server_fan_power_rises_with_inlet_temperature_as_the_formula_says():
    """Below 23 C the fans hold 12 K (only the density changes); above, the rise shrinks
    linearly to zero at the 85 C component limit, so P / P_23 = (rho_23 / rho)^2 ((85 - 23) / (85 - T))^3."""
    fans = air_server_fans()
    p23 = fans.power_w(1000.0, 23.0)
    assert p23 == pytest.approx(1000.0 * TECHNOLOGIES["air"].server_fan_share, rel=1e-12)
    for inlet_c in (18.0, 20.0):
        assert fans.delta_t_k(inlet_c) == 12.0
        assert fans.power_w(1000.0, inlet_c) == pytest.approx(p23 * (_density(23.0) / _density(inlet_c)) ** 2, rel=1e-9)
    previous = p23
    for inlet_c in (25.0, 27.0, 30.0, 35.0, 40.0):
        expected = p23 * (_density(23.0) / _density(inlet_c)) ** 2 * ((85.0 - 23.0) / (85.0 - inlet_c)) ** 3
        assert fans.power_w(1000.0, inlet_c) == pytest.approx(expected, rel=1e-9)
        assert fans.power_w(1000.0, inlet_c) > previous
        previous = fans.power_w(1000.0, inlet_c)


def test_server_fans_explain_most_of_a_measured_server_power_rise_and_no_more():
    """GRC on a Dell R410: server power +8 % from 27 to 35 C and +12 % to 37 C (fans plus
    leakage). The model's fans alone (8 % share) give a rise below the measured total and
    at least half of it."""
    fans = air_server_fans()
    for hot_c, measured in ((35.0, 0.08), (37.0, 0.12)):
        rise = (fans.power_w(1000.0, hot_c) - fans.power_w(1000.0, 27.0)) / 1000.0
        assert 0.5 * measured <= rise <= measured


def test_a_liquid_cooled_server_keeps_fans_only_for_its_air_share():
    fans = air_server_fans()
    for inlet_c in (22.0, 30.0):
        assert fans.power_w(1000.0, inlet_c, air_share=0.2) == pytest.approx(0.2 * fans.power_w(1000.0, inlet_c), rel=1e-12)
    assert fans.power_w(1000.0, 30.0, air_share=0.0) == 0.0
    dlc, air = TECHNOLOGIES["direct_liquid"], TECHNOLOGIES["air"]
    assert dlc.server_air_cooled_share == pytest.approx(1.0 - dlc.liquid_fraction, rel=1e-12)
    assert rack_movers(dlc, 30e3).server_fans == pytest.approx(0.2 * rack_movers(air, 30e3).server_fans, rel=1e-9)
    assert rack_movers(TECHNOLOGIES["immersion"], 30e3).server_fans == 0.0
    # a rear door's servers are air-cooled: all their heat is on fans, though the room sees none
    door = TECHNOLOGIES["rear_door"]
    assert door.server_air_share == 1.0 and door.liquid_fraction == 1.0
    assert rack_movers(door, 30e3).server_fans == pytest.approx(rack_movers(air, 30e3).server_fans, rel=1e-12)
    assert rack_movers(door, 30e3).air_handlers == 0.0


def test_pump_power_is_flow_times_head_over_efficiency():
    cdu = LOOPS["cdu_secondary"]
    flow = 100e3 / (997.0 * 4180.0 * 10.0)
    assert cdu.flow_m3_per_s(100e3, 10.0) == pytest.approx(flow, rel=1e-12)
    assert cdu.hydraulic_power_w(100e3, 10.0) == pytest.approx(flow * 40.0 * 6894.757, rel=1e-9)
    assert cdu.electric_power_w(100e3, 10.0) == pytest.approx(flow * 40.0 * 6894.757 / (0.60 * 0.90), rel=1e-9)
    facility = loop("facility")
    assert facility.electric_power_w(100e3, 8.0) == pytest.approx(
        100e3 / (997.0 * 4180.0 * 8.0) * 997.0 * 9.80665 * 25.0 / (0.75 * 0.90), rel=1e-9)
    # per watt of heat it does not depend on the heat
    assert cdu.power_per_w(10.0) == pytest.approx(cdu.electric_power_w(37e3, 10.0) / 37e3, rel=1e-12)
    assert head_m_to_pa(10.0) == pytest.approx(997.0 * 9.80665 * 10.0, rel=1e-12) and PSI_PA == pytest.approx(6894.757)


def test_cold_plate_flow_per_kilowatt_sits_in_the_ocp_sizing_rule():
    """OCP liquid-cooling guidance: 1.25-2.0 L/min per kW, 1.5 typical, for a rise of <= 10 K."""
    l_per_min_per_kw = coolant_flow_m3_per_s(1000.0, 10.0, WATER) * 1000.0 * 60.0
    assert l_per_min_per_kw == pytest.approx(1000.0 / (997.0 * 4180.0 * 10.0) * 6e4, rel=1e-12)
    assert 1.25 <= l_per_min_per_kw <= 1.5


def test_a_dense_air_rack_pays_more_handler_power_per_kilowatt_than_a_sparse_one():
    """The delivery opening's drop grows with the square of the rack's air flow: 4x the rack
    heat, 16x the drop. At 10 kW per rack it sits in the 12-30 Pa (0.05-0.12 in. w.c.) of a
    working raised floor; at 40 kW it is far above (why dense air halls use fan walls or liquid)."""
    handler, fans = AirHandler(), air_server_fans()
    dt = fans.delta_t_k(24.0)
    sparse, dense = (handler.power_w(h, h, dt, 24.0) / h for h in (10e3, 40e3))
    assert dense > 1.5 * sparse
    flows = [air_flow_m3_per_s(h, dt, 24.0) for h in (10e3, 40e3)]
    drops = [handler.delivery_pressure_pa(f, 24.0) for f in flows]
    assert drops[1] == pytest.approx(16.0 * drops[0], rel=1e-12)
    assert 12.0 <= drops[0] <= 30.0 and drops[1] > 120.0
    assert sparse == pytest.approx(flows[0] * (250.0 + drops[0]) / 0.6 / 10e3, rel=1e-12)
    air = TECHNOLOGIES["air"]
    assert rack_movers(air, 40e3).air_handlers > rack_movers(air, 10e3).air_handlers
    assert rack_movers(air, 40e3).air_handlers == pytest.approx(dense, rel=1e-12)


def test_recirculation_lowers_the_supply_that_keeps_the_hottest_inlet_in_limits():
    """OpenDCME: r = (T_in - T_supply) / (T_out - T_supply); the supply is T_max - r / (1 - r) dT."""
    for r in (0.0, 0.1, 0.3):
        supply_c = supply_for_hottest_inlet_c(27.0, 12.0, r)
        inlet_c = 27.0
        assert recirculation_share(inlet_c, supply_c, inlet_c + 12.0) == pytest.approx(r, abs=1e-12)
    assert supply_for_hottest_inlet_c(27.0, 12.0, 0.0) == 27.0
    assert supply_for_hottest_inlet_c(27.0, 12.0, 0.2) == pytest.approx(24.0, rel=1e-12)


def _sweep() -> dict[str, list[float | None]]:
    """Fans and pumps per kW of IT (W/kW) at each density a technology can cool."""
    return {name: [rack_movers(TECHNOLOGIES[name], kw * 1e3).total * 1e3 if kw <= TECHNOLOGIES[name].max_rack_kw
                   else None for kw in DENSITIES_KW] for name in SWEEP_ORDER}


def _table(sweep: dict[str, list[float | None]]) -> list[str]:
    rows = ["technology     " + " ".join(f"{kw:>6d}" for kw in DENSITIES_KW)]
    rows += [f"{name:14s} " + " ".join("     -" if v is None else f"{v:6.1f}" for v in values)
             for name, values in sweep.items()]
    return rows


def test_density_sweep_of_fan_and_pump_power_per_kilowatt():
    """Server fans + CRAH fans + door fans + CDU and facility pumps, W per kW of IT, by rack kW
    (24 C air inlet; "-" above what the technology can cool). This table is checked against the library:

        technology         10     20     40     60     80    100    120    140
        air             127.5  135.3  166.2      -      -      -      -      -
        rear_door       112.7  116.5  128.1  143.8      -      -      -      -
        direct_liquid    41.8   41.8   42.1   42.5   43.1   43.8   44.7   45.8
        immersion         8.7    8.9    9.6   10.7   12.2   14.1   16.5   19.4

    Air rises with density (the per-rack delivery drop ~ flow squared); a rear door rises
    faster above 40 kW (its fans push the rack's air through a coil of the rack's face: the
    drop ~ flow^1.59); direct liquid rises less (only its 20 % air share meets the room);
    immersion rises from its facility pumps' flat 8.7 W per kW as its tank's own CDU pumps
    speed up (the CDU loop's head at the tank's 150 kW rating, its square of the flow below).
    Liquid removes most of the server fans: the gap between the rows.
    """
    sweep = _sweep()
    documented = [line.strip() for line in (test_density_sweep_of_fan_and_pump_power_per_kilowatt.__doc__ or "")
                  .splitlines()[3:8]]
    assert documented == _table(sweep)
    for name in ("air", "rear_door", "direct_liquid", "immersion"):
        values = [v for v in sweep[name] if v is not None]
        assert all(b > a for a, b in zip(values, values[1:])), name
    assert sweep["air"][0] > sweep["rear_door"][0] > sweep["direct_liquid"][0] > sweep["immersion"][0]


def test_a_tanks_own_cdu_pumps_follow_the_affinity_laws():
    """An immersion tank's CDU is sized for its 150 kW: there its pumps draw the CDU loop's
    flow x head / efficiency; at half the heat the flow halves on the same system curve, the
    head falls to a quarter, the power to an eighth (a quarter per watt); facility pumps stay
    flow x their fixed head per watt."""
    tech = TECHNOLOGIES["immersion"]
    assert tech.cdu_rated_kw == 150.0
    loop = LOOPS["cdu_secondary"]
    rated = rack_movers(tech, 150e3, 24.0)
    assert rated.cdu_pumps * 150e3 == pytest.approx(loop.electric_power_w(150e3, tech.loop_delta_t_k), rel=1e-12)
    half = rack_movers(tech, 75e3, 24.0)
    assert half.cdu_pumps * 75e3 == pytest.approx(rated.cdu_pumps * 150e3 / 8.0, rel=1e-12)
    assert half.facility_pumps == pytest.approx(rated.facility_pumps, rel=1e-12)
    # a shared CDU (direct liquid: in-row units sized per MW) keeps its watts per watt
    dlc = TECHNOLOGIES["direct_liquid"]
    assert dlc.cdu_rated_kw is None
    assert rack_movers(dlc, 40e3, 24.0).cdu_pumps == pytest.approx(rack_movers(dlc, 80e3, 24.0).cdu_pumps, rel=1e-12)


def test_a_tank_cdu_rated_below_what_the_technology_allows_is_refused():
    with pytest.raises(CoolingSpecError, match=r"cdu_rated_kw.*max_rack_kw=150"):
        replace(TECHNOLOGIES["immersion"], cdu_rated_kw=100.0)


def test_door_coil_reproduces_its_catalogue_points_and_fan_power_is_flow_times_drop_over_efficiency():
    """One row at 400 and 700 fpm of standard air (70 F): 0.07 and 0.17 in. w.c. (Heatcraft
    AH-TB p. 40); the door's fans then draw V dp / eta."""
    one_row = DoorCoil(rows=1.0)
    for fpm, inches in ((400, 0.07), (700, 0.17)):
        flow = fpm * FPM_M_PER_S * one_row.face_area_m2
        assert one_row.pressure_pa(flow, STANDARD_AIR_C) == pytest.approx(inches * INCH_WATER_PA, rel=1e-12)
    door = DoorCoil(rows=REAR_DOOR_ROWS)
    assert REAR_DOOR_ROWS == 4
    assert door.face_area_m2 == pytest.approx(42 * 0.04445 * 0.4826)
    exhaust_c = 37.0
    flow = air_flow_m3_per_s(40e3, 12.0, exhaust_c)
    assert door.power_w(40e3, 12.0, exhaust_c) == pytest.approx(flow * door.pressure_pa(flow, exhaust_c) / 0.6,
                                                               rel=1e-12)
    assert door.pressure_pa(flow, exhaust_c) == pytest.approx(4 * one_row.pressure_pa(flow, exhaust_c), rel=1e-12)


def test_door_fans_per_watt_grow_as_the_rack_heat_to_the_coil_exponent():
    """The door's face is the rack's back whatever the density: twice the heat is twice the face
    velocity, so the fans' watts per watt rise by 2^n (n = ln(0.17 / 0.07) / ln(7 / 4) = 1.586)."""
    door = DoorCoil(rows=REAR_DOOR_ROWS)
    low, high = door.power_w(20e3, 12.0, 37.0) / 20e3, door.power_w(40e3, 12.0, 37.0) / 40e3
    assert high / low == pytest.approx(2.0 ** COIL_DP_EXPONENT, rel=1e-12)
    assert COIL_DP_EXPONENT == pytest.approx(1.5856, abs=1e-4)
    rear = rack_movers(TECHNOLOGIES["rear_door"], 60e3)
    assert rear.door_fans * 60e3 == pytest.approx(2.0e3, rel=0.1)  # the 0.5-2 kW per door active doors quote
    assert rack_movers(TECHNOLOGIES["rear_door"], 35e3).door_fans * 35e3 == pytest.approx(0.5e3, rel=0.1)
    for name in ("air", "direct_liquid", "immersion"):
        assert rack_movers(TECHNOLOGIES[name], 30e3).door_fans == 0.0, name
    plant = CoolingPlant(TECHNOLOGIES["rear_door"], movers=rear)
    assert plant.coefficients(30.0, 20.0).rack_side == pytest.approx(rear.cdu_pumps + rear.door_fans, rel=1e-12)


@pytest.mark.parametrize("call, message", [
    (lambda: air_server_fans().power_w(1000.0, 85.0), r"^inlet_c=85\.0 is not allowed: degrees C below the fans' limit_c=85\.0$"),
    (lambda: loop("glycol"), r"^loop='glycol' is not allowed: one of \['cdu_secondary', 'facility'\]$"),
    (lambda: PumpLoop("cdu", 1e5, 1.2, 0.9), r"^cdu\.pump_efficiency=1\.2 is not allowed: a share in \(0, 1\]$"),
    (lambda: air_flow_m3_per_s(1000.0, 0.0, 24.0), r"^delta_t_k=0\.0 is not allowed: kelvin > 0$"),
    (lambda: ServerFans(0.08, limit_c=20.0), r"^limit_c=20\.0 is not allowed: above ramp_start_c=23\.0$"),
    (lambda: supply_for_hottest_inlet_c(27.0, 12.0, 1.0), r"^recirculation=1\.0 is not allowed: a share in \[0, 1\)$"),
    (lambda: DoorCoil(rows=0.0), r"^rows=0\.0 is not allowed: coil rows > 0$"),
])
def test_bad_inputs_are_one_line_errors_naming_the_field(call, message):
    with pytest.raises(ConfigError, match=message):
        call()


def test_a_rack_denser_than_its_technology_is_refused():
    with pytest.raises(ValueError, match="exceeds the 40 kW per rack"):
        rack_movers(TECHNOLOGIES["air"], 60e3)


def test_server_air_share_is_optional_in_a_cooling_file_and_checked_when_given():
    data = {key: (value if key in ("name", "source") else {"value": value, "source": "x"})
            for key, value in vars(TECHNOLOGIES["air"]).items()
            if key not in ("provenance", "assumptions", "server_air_share", "door_coil_rows", "cdu_rated_kw")}
    data["name"] = "air_copy"
    assert technology_from_mapping(dict(data)).server_air_cooled_share == 1.0
    assert technology_from_mapping(dict(data, server_air_share={"value": 0.5, "source": "x"})).server_air_share == 0.5
    with pytest.raises(CoolingFileError, match=r"field 'server_air_share\.value': must be a share in \[0, 1\], got 1\.5"):
        technology_from_mapping(dict(data, server_air_share={"value": 1.5, "source": "x"}))


# ---------------------------------------------------------------------------- open tiles


def test_a_tile_passes_the_flow_whose_orifice_drop_is_the_plenum_pressure():
    """V_tile = Cd A sqrt(2 p / rho) is the inverse of the orifice drop: one 0.18 m2 tile at
    30 Pa and 24 C passes 0.65 x 0.18 x sqrt(60 / rho) m3/s (1,770 cfm)."""
    h = AirHandler()
    v = h.tile_flow_m3_per_s(30.0, 24.0)
    assert v == pytest.approx(0.65 * 0.18 * (2 * 30.0 / _density(24.0)) ** 0.5, rel=1e-12)
    assert h.delivery_pressure_pa(v, 24.0) == pytest.approx(30.0, rel=1e-12)
    assert v / 0.000471947 == pytest.approx(1770, rel=0.01)  # 1 cfm = 0.000471947 m3/s


def test_open_tile_recirculation_is_the_inlet_mass_balance():
    """r = 1 - V_tile / V_rack above the tiles' flow, 0 below it."""
    assert open_tile_recirculation(0.5, 0.8) == 0.0
    assert open_tile_recirculation(1.0, 0.8) == pytest.approx(0.2, rel=1e-12)
    assert open_tile_recirculation(0.0, 0.8) == 0.0


def test_open_tiles_recirculate_more_as_racks_get_denser_and_ask_a_colder_supply():
    """A 14.5 kW air rack on one tile at 30 Pa: its 24 C servers draw V_rack = Q / (rho cp dT) at
    their fans' rise (dT = 12 K x (85 - 24) / (85 - 23): the fans have begun to ramp), the tile
    passes V_tile, r = 1 - V_tile / V_rack (19 %), and the supply must sit r / (1 - r) x dT
    (2.8 K) below the hottest inlet; below the tile's flow (10 kW) nothing changes from
    contained aisles; recirculation and depression grow with density."""
    air = TECHNOLOGIES["air"]
    rack_w = 14.5e3
    rise_k = 12.0 * (85.0 - 24.0) / (85.0 - 23.0)
    v_rack = rack_w / (_density(24.0) * 1006.0 * rise_k)
    v_tile = AirHandler().tile_flow_m3_per_s(30.0, 24.0)
    r = 1.0 - v_tile / v_rack
    m = rack_movers(air, rack_w, plenum_pa=30.0)
    assert m.recirculation == pytest.approx(r, rel=1e-12) and 0.18 < r < 0.20
    assert m.supply_depression_k == pytest.approx(r / (1.0 - r) * rise_k, rel=1e-12)
    # the handlers push only the tile's flow, at the unit's drop plus the plenum's
    assert m.air_handlers * rack_w == pytest.approx(v_tile * (250.0 + 30.0) / 0.6, rel=1e-9)
    assert rack_movers(air, 10e3, plenum_pa=30.0) == rack_movers(air, 10e3)
    shares = [rack_movers(air, kw * 1e3, plenum_pa=30.0).recirculation for kw in (10, 14.5, 20, 29, 40)]
    assert shares == sorted(shares) and shares[0] == 0.0 and shares[-1] > 0.6
    # more tiles in front of each rack: less recirculation at the same density
    two = rack_movers(air, 20e3, handler=AirHandler(delivery_area_m2=0.36), plenum_pa=30.0)
    assert two.recirculation < rack_movers(air, 20e3, plenum_pa=30.0).recirculation


def test_direct_liquid_recirculates_only_its_air_share():
    """Cold plates leave 20 % of the heat on air: an 80 kW rack's air is a 16 kW air rack's."""
    m = rack_movers(TECHNOLOGIES["direct_liquid"], 80e3, plenum_pa=30.0)
    assert m.recirculation == pytest.approx(rack_movers(TECHNOLOGIES["air"], 16e3, plenum_pa=30.0).recirculation,
                                            rel=1e-9)
    assert rack_movers(TECHNOLOGIES["immersion"], 80e3, plenum_pa=30.0).recirculation == 0.0


def test_a_run_on_open_tiles_pays_for_recirculation_in_chiller_energy_with_it_power_unchanged():
    """16 GPUs a rack (14.5 kW) on one tile: the summary's recirculation is the closed form's,
    the coils get 18 C less the depression, the GPUs and hosts draw what they draw with
    contained aisles (the hottest inlet is held), the cooling costs more, and facility = IT +
    losses + cooling to 1e-9. Two tiles a rack feed it without recirculation."""
    import dcsim

    run = ["duration_s=120", "output.write=false", "facility.rack.gpus_per_rack=16"]
    contained = dcsim.run(run)
    open_ = dcsim.run([*run, "facility.cooling.air_delivery=open_tiles"])
    s, e, e0 = open_.summary(), open_.energy_j, contained.energy_j
    m = rack_movers(TECHNOLOGIES["air"], 14.5e3, plenum_pa=30.0)
    assert s["air_recirculation_share"] == pytest.approx(m.recirculation, rel=1e-3)
    assert s["air_coil_supply_c"] == pytest.approx(18.0 - m.supply_depression_k, rel=1e-3)
    assert contained.summary()["air_recirculation_share"] == 0.0
    assert (e["gpu"], e["host"]) == (e0["gpu"], e0["host"])
    assert e["cooling"] > e0["cooling"]
    assert e["gpu"] + e["host"] + e["conversion_loss"] + e["cooling"] == pytest.approx(e["facility"], rel=1e-9)
    two = dcsim.run([*run, "facility.cooling.air_delivery=open_tiles", "facility.cooling.tiles_per_rack=2"])
    assert two.summary()["air_recirculation_share"] == 0.0


def test_a_rack_its_open_tiles_cannot_feed_is_refused_in_one_line():
    from dcsim.api import compose_config
    from dcsim.config.build import build

    with pytest.raises(ConfigError) as err:
        build(compose_config(["facility.cooling.air_delivery=open_tiles"]))  # 32 GPUs, 29 kW a rack
    assert err.value.field == "facility.rack.gpus_per_rack" and "tiles_per_rack" in str(err.value)
    assert "\n" not in str(err.value)
