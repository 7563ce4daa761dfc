"""Cooling technologies, the cooling plant and rack thermal dynamics (sources: docs/cooling.md)."""

from __future__ import annotations

import math
from functools import cache

import pytest

from dcsim.core.units import KWH_J
from dcsim.facility.climate import load_epw_text
from dcsim.facility.cooling import TECHNOLOGIES, CoolingPlant
from dcsim.facility.thermal import H100_MAX_OPERATING_C, RackThermal, advance

# The shipped EPW typical years (dcsim/data/climate/, the same files as shared/data/climate).
CLIMATES = {"phoenix": "phoenix_az", "leesburg": "leesburg_va", "seattle": "seattle_wa"}
# Published annual PUE ranges per technology (docs/cooling.md, "Published ranges").
PUE_RANGES = {
    "air": (1.10, 1.60),
    "rear_door": (1.05, 1.35),
    "direct_liquid": (1.05, 1.25),
    "immersion": (1.03, 1.15),
}
# Power path and other non-cooling overhead added to the cooling-only PUE for the range
# check: dcsim/facility/power_path.py defaults at ~60 % load lose ~3.7 %, plus lighting.
POWER_PATH_SHARE = 0.04
# Annual site WUE of evaporative plants: from the 0.49 L/kWh of Microsoft's 2021 fleet to the 2.3 L/kWh of
# its early-2000s evaporative fleet (docs/cooling.md, "Published ranges"); warm-water plants in cool climates
# run dry most of the year and go lower.
TOWER_WUE_RANGE_L_PER_KWH = (0.02, 2.3)


def _saturation_kpa(temp_c: float) -> float:
    """Saturation vapour pressure over water (Tetens / Murray 1967), kPa."""
    return 0.61078 * math.exp(17.27 * temp_c / (temp_c + 237.3))


def _wet_bulb_c(dry_bulb_c: float, dew_point_c: float, pressure_pa: float) -> float:
    """Psychrometric wet bulb from dry bulb, dew point and station pressure (bisection)."""
    vapour_kpa = _saturation_kpa(dew_point_c)
    p_kpa = pressure_pa / 1000.0
    lo, hi = dew_point_c, dry_bulb_c
    for _ in range(50):
        tw = 0.5 * (lo + hi)
        gamma = 6.6e-4 * (1.0 + 0.00115 * tw)  # psychrometer coefficient, 1/K (ventilated)
        if _saturation_kpa(tw) - gamma * p_kpa * (dry_bulb_c - tw) > vapour_kpa:
            hi = tw
        else:
            lo = tw
    return 0.5 * (lo + hi)


@cache
def _weather(city: str) -> tuple[tuple[float, float], ...]:
    """Hourly (dry bulb, wet bulb) of a city's EPW typical year, from the copy dcsim ships."""
    text, _ = load_epw_text(CLIMATES[city])
    rows = [line.split(",") for line in text.splitlines()[8:] if line.strip()]
    assert len(rows) == 8760
    return tuple((float(r[6]), _wet_bulb_c(float(r[6]), min(float(r[7]), float(r[6])), float(r[9]))) for r in rows)


@cache
def _annual(city: str, tech: str, condenser: str) -> tuple[float, float]:
    """Annual cooling-only PUE (1 + mean coefficients.total) and WUE in L/kWh, constant IT heat."""
    plant = CoolingPlant(TECHNOLOGIES[tech], condenser=condenser)
    coeffs = [plant.coefficients(db, wb) for db, wb in _weather(city)]
    pue = 1.0 + sum(c.total for c in coeffs) / len(coeffs)
    wue = sum(c.water_l_per_j for c in coeffs) / len(coeffs) * KWH_J
    return pue, wue


@pytest.mark.parametrize("condenser", ["tower", "dry"])
def test_chiller_cop_falls_as_condenser_warms(condenser):
    """A warmer condenser side (wet bulb for towers, dry bulb for dry coolers) lowers chiller COP."""
    plant = CoolingPlant(TECHNOLOGIES["air"], condenser=condenser)
    cops = [plant.chiller_cop(12.0, sink) for sink in range(5, 46, 5)]
    assert all(a > b for a, b in zip(cops, cops[1:]))


def test_chiller_cop_at_rating_conditions_matches_published_chillers():
    """At AHRI 550/590 rating points the model gives water-cooled COP 5-7 and air-cooled COP 2.8-4."""
    # 6.7 C leaving chilled water; towers giving 29.4 C condenser water at 25.6 C wet bulb; 35 C air.
    water_cooled = CoolingPlant(TECHNOLOGIES["air"], condenser="tower").chiller_cop(6.7, 25.6)
    air_cooled = CoolingPlant(TECHNOLOGIES["air"], condenser="dry").chiller_cop(6.7, 35.0)
    assert 5.0 <= water_cooled <= 7.0
    assert 2.8 <= air_cooled <= 4.0


@pytest.mark.parametrize("tech", sorted(TECHNOLOGIES))
@pytest.mark.parametrize("condenser", ["tower", "dry"])
def test_economiser_share_is_one_when_cold_and_zero_when_hot(tech, condenser):
    """Free cooling carries everything in winter (no chiller power) and nothing on a 48 C day."""
    plant = CoolingPlant(TECHNOLOGIES[tech], condenser=condenser)
    cold = plant.coefficients(dry_bulb_c=-5.0, wet_bulb_c=-6.0)
    assert cold.economiser_share == 1.0 and cold.chiller == 0.0
    hot = plant.coefficients(dry_bulb_c=48.0, wet_bulb_c=40.0)
    assert hot.economiser_share == 0.0 and hot.chiller > 0.0


def test_economiser_is_partial_in_its_band():
    """Between full free cooling and none, the economiser pre-cools the return water: 0 < share < 1."""
    plant = CoolingPlant(TECHNOLOGIES["air"], condenser="tower")  # supply 18 C, return 26 C, approach 6 K
    shares = [plant.coefficients(25.0, wb).economiser_share for wb in (12.0, 14.0, 16.0, 18.0, 20.0)]
    assert shares[0] == 1.0 and shares[-1] == 0.0
    assert all(a > b for a, b in zip(shares, shares[1:]))


@pytest.mark.parametrize("condenser", ["tower", "dry"])
@pytest.mark.parametrize("weather", [(5.0, 3.0), (22.0, 16.0), (30.0, 22.0), (40.0, 24.0)])
def test_liquid_needs_less_cooling_power_than_air(condenser, weather):
    """At equal weather, each watt of heat costs less cooling power with liquid than with air."""
    total = {name: CoolingPlant(t, condenser=condenser).coefficients(*weather).total for name, t in TECHNOLOGIES.items()}
    assert total["direct_liquid"] < total["air"]
    assert total["immersion"] < total["air"]
    assert total["rear_door"] < total["air"]


def test_warm_water_gets_more_economiser_hours():
    """Warm-water liquid cooling runs chiller-free far more of the Leesburg year than air (dry coolers)."""
    weather = _weather("leesburg")
    hours, share = {}, {}
    for name in ("air", "direct_liquid", "immersion"):
        plant = CoolingPlant(TECHNOLOGIES[name])
        coeffs = [plant.coefficients(db, wb) for db, wb in weather]
        hours[name] = sum(c.economiser_share == 1.0 for c in coeffs)
        share[name] = sum(c.economiser_share for c in coeffs) / len(coeffs)
    assert hours["immersion"] > 1.5 * hours["air"]
    assert share["direct_liquid"] > share["air"] + 0.2


def test_annual_overhead_of_air_is_ordered_by_climate():
    """Annual cooling overhead of air cooling: Phoenix > Leesburg > Seattle (default dry condenser)."""
    pue = {city: _annual(city, "air", "dry")[0] for city in CLIMATES}
    assert pue["phoenix"] > pue["leesburg"] > pue["seattle"]


def test_evaporative_towers_follow_the_wet_bulb():
    """With cooling towers Seattle is still cheapest, and dry Phoenix loses most of its penalty."""
    tower = {city: _annual(city, "air", "tower")[0] for city in CLIMATES}
    dry = {city: _annual(city, "air", "dry")[0] for city in CLIMATES}
    assert tower["seattle"] < min(tower["leesburg"], tower["phoenix"])
    assert tower["phoenix"] - tower["leesburg"] < 0.25 * (dry["phoenix"] - dry["leesburg"])


@pytest.mark.parametrize("city", sorted(CLIMATES))
@pytest.mark.parametrize("tech", sorted(TECHNOLOGIES))
@pytest.mark.parametrize("condenser", ["tower", "dry"])
def test_annual_pue_within_published_range(city, tech, condenser):
    """Annual PUE (cooling + a fixed power-path share) lies in the published range of the technology."""
    lo, hi = PUE_RANGES[tech]
    pue = _annual(city, tech, condenser)[0] + POWER_PATH_SHARE
    assert lo <= pue <= hi, f"{tech}/{condenser} in {city}: PUE {pue:.3f} outside [{lo}, {hi}]"


@pytest.mark.parametrize("city", sorted(CLIMATES))
@pytest.mark.parametrize("tech", sorted(TECHNOLOGIES))
def test_wue_is_zero_without_towers_and_in_range_with_them(city, tech):
    """Dry coolers use no water; evaporative towers use 0.02-2.3 L per kWh of IT energy."""
    assert _annual(city, tech, "dry")[1] == 0.0
    lo, hi = TOWER_WUE_RANGE_L_PER_KWH
    assert lo <= _annual(city, tech, "tower")[1] <= hi


def test_more_cycles_of_concentration_use_less_water():
    """Fewer blowdowns (more cycles of concentration) cut tower water use: make-up is evaporation
    x cycles / (cycles - 1), so 3 cycles take 1.25 times the water of 6; evaporation is the floor."""
    tech = TECHNOLOGIES["air"]
    water = [CoolingPlant(tech, condenser="tower", cycles_of_concentration=c).coefficients(30.0, 24.0).water_l_per_j
             for c in (3, 4, 6)]
    assert water[0] > water[1] > water[2] > 0.0
    assert water[0] / water[2] == pytest.approx(1.5 / 1.2, rel=1e-12)


def test_failed_chiller_leaves_heat_unremoved_only_when_the_chiller_is_needed():
    """Half the chiller capacity leaves half the mechanically cooled heat unremoved in summer, none in winter."""
    plant = CoolingPlant(TECHNOLOGIES["air"])
    full = plant.coefficients(35.0, 24.0)
    half = plant.coefficients(35.0, 24.0, chiller_capacity_share=0.5)
    assert full.shortfall_share == 0.0
    assert half.shortfall_share == pytest.approx(0.5 * (1.0 - full.economiser_share))
    assert half.chiller == pytest.approx(0.5 * full.chiller)
    assert plant.coefficients(0.0, -2.0, chiller_capacity_share=0.0).shortfall_share == 0.0


def test_failed_chiller_spares_warm_water_gpus_on_a_mild_day():
    """On a mild day a chiller loss leaves direct-liquid GPUs cooled (economiser) but not the residual air."""
    plant = CoolingPlant(TECHNOLOGIES["direct_liquid"])
    failed = plant.coefficients(20.0, 14.0, chiller_capacity_share=0.0)
    assert failed.gpu_shortfall_share == 0.0
    assert failed.shortfall_share > 0.0
    air = CoolingPlant(TECHNOLOGIES["air"]).coefficients(20.0, 14.0, chiller_capacity_share=0.0)
    assert air.gpu_shortfall_share == air.shortfall_share > 0.0


def test_reusable_heat_comes_only_from_warm_liquid_loops():
    """Only warm-water liquid loops (return >= 40 C) give exportable heat; air and rear doors give none."""
    share = {name: CoolingPlant(t).coefficients(10.0, 8.0).reusable_heat_share for name, t in TECHNOLOGIES.items()}
    assert share["air"] == 0.0 and share["rear_door"] == 0.0
    assert share["direct_liquid"] == TECHNOLOGIES["direct_liquid"].liquid_fraction > 0.5
    assert share["immersion"] == 1.0


def test_rack_denser_than_its_technology_is_refused():
    """A 60 kW rack is refused for air cooling with a message naming the limit, accepted for direct liquid."""
    with pytest.raises(ValueError, match="40 kW per rack"):
        TECHNOLOGIES["air"].check_rack_kw(60.0)
    TECHNOLOGIES["direct_liquid"].check_rack_kw(60.0)


def test_exponential_approach_hits_target_with_the_time_constant():
    """After one time constant 1/e of the gap remains, and two half steps equal one full step."""
    t1 = advance(20.0, 60.0, dt_s=300.0, tau_s=300.0)
    assert t1 == pytest.approx(60.0 - 40.0 / math.e, rel=1e-12)
    halves = advance(advance(20.0, 60.0, 150.0, 300.0), 60.0, 150.0, 300.0)
    assert halves == pytest.approx(t1, rel=1e-12)
    assert advance(20.0, 60.0, 0.0, 300.0) == 20.0


def test_shortfall_heats_the_rack_toward_its_target():
    """With no shortfall the inlet stays put; with a shortfall it rises monotonically toward the target."""
    rack = RackThermal.from_technology(TECHNOLOGIES["air"])
    nominal = rack.nominal_inlet_c
    assert rack.advance(nominal, 0.0, 600.0) == nominal
    temps = [nominal]
    for _ in range(10):
        temps.append(rack.advance(temps[-1], 0.5, 60.0))
    assert all(a < b for a, b in zip(temps, temps[1:]))
    assert temps[-1] < rack.target_c(0.5) == nominal + 0.5 * rack.full_shortfall_rise_k


def test_gpu_above_limit_gets_a_cap_back_to_the_limit():
    """Above the temperature limit the throttle cap puts the GPU exactly at the limit; below it, no cap."""
    rack = RackThermal.from_technology(TECHNOLOGIES["air"])
    assert rack.throttle_cap_w(inlet_c=24.0, power_w=700.0) is None
    inlet = 45.0
    assert rack.gpu_temp_c(inlet, 700.0) > H100_MAX_OPERATING_C
    cap = rack.throttle_cap_w(inlet, 700.0)
    assert cap is not None and cap < 700.0
    assert rack.gpu_temp_c(inlet, cap) == pytest.approx(H100_MAX_OPERATING_C)


def test_cold_plates_run_gpus_cooler_than_air_despite_warmer_water():
    """At 700 W a cold-plate GPU on 32 C water runs cooler than an air-cooled GPU on 18 C chilled water."""
    air = RackThermal.from_technology(TECHNOLOGIES["air"])
    liquid = RackThermal.from_technology(TECHNOLOGIES["direct_liquid"])
    assert liquid.gpu_temp_c(liquid.nominal_inlet_c, 700.0) < air.gpu_temp_c(air.nominal_inlet_c, 700.0)
    assert air.gpu_temp_c(air.nominal_inlet_c, 700.0) < H100_MAX_OPERATING_C


def test_chiller_failure_throttles_then_recovers():
    """A total chiller loss on a hot day heats an air-cooled rack until GPUs throttle; repair cools it back."""
    plant = CoolingPlant(TECHNOLOGIES["air"])
    rack = RackThermal.from_technology(TECHNOLOGIES["air"])
    failed = plant.coefficients(35.0, 24.0, chiller_capacity_share=0.0).gpu_shortfall_share
    temp, caps = rack.nominal_inlet_c, []
    for _ in range(30):  # 30 minutes failed
        temp = rack.advance(temp, failed, 60.0)
        caps.append(rack.throttle_cap_w(temp, 700.0))
    assert caps[0] is None and caps[-1] is not None and caps[-1] < 700.0
    for _ in range(60):  # one hour after repair
        temp = rack.advance(temp, 0.0, 60.0)
    assert rack.throttle_cap_w(temp, 700.0) is None
    assert temp == pytest.approx(rack.nominal_inlet_c, abs=0.1)
