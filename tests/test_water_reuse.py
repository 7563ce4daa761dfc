"""Cooling-tower water, heat reuse, ERE and ERF (docs/cooling.md, docs/metrics.md)."""

from __future__ import annotations

import itertools
from functools import cache

import pytest

import dcsim
from dcsim.facility.cooling import TECHNOLOGIES, CoolingPlant

SHORT = ["duration_s=600", "output.write=false"]
# (dry bulb, wet bulb) from a cold winter night to a hot humid and a hot dry afternoon
WEATHERS = [(-10.0, -11.0), (5.0, 3.0), (15.0, 12.0), (25.0, 19.0), (32.0, 26.0), (45.0, 22.0)]


@cache
def _run(tech: str, condenser: str = "tower") -> dict:
    """The summary of a short default run with this cooling technology and condenser."""
    return dcsim.run(SHORT + [f"facility.cooling.technology={tech}",
                              f"facility.cooling.condenser={condenser}"]).summary()


@pytest.mark.parametrize("tech", sorted(TECHNOLOGIES))
@pytest.mark.parametrize("condenser", ["tower", "dry"])
def test_reusable_heat_never_exceeds_the_heat_rejected(tech, condenser):
    """Per watt of IT heat, the reusable heat is at most the liquid-captured share and at
    most the heat the plant removes (a failed chiller's unremoved heat is not offered),
    in every weather and at every chiller capacity."""
    plant = CoolingPlant(TECHNOLOGIES[tech], condenser=condenser)
    for (db, wb), capacity in itertools.product(WEATHERS, (0.0, 0.3, 1.0)):
        c = plant.coefficients(db, wb, chiller_capacity_share=capacity)
        assert 0.0 <= c.reusable_heat_share <= TECHNOLOGIES[tech].liquid_fraction
        # per watt of IT heat against per watt of IT heat + losses: IT heat <= heat, so this bounds it
        assert c.reusable_heat_share <= 1.0 - c.shortfall_share + 1e-15


def test_a_failed_chiller_cuts_the_reusable_heat_on_a_hot_day():
    """Direct liquid at 45 C supply water on a 40 C wet-bulb day with half its chillers: half of the
    mechanically cooled liquid heat stays in the loop, and is not reusable."""
    tech = TECHNOLOGIES["direct_liquid"]
    plant = CoolingPlant(tech, condenser="tower")
    full = plant.coefficients(48.0, 40.0)
    half = plant.coefficients(48.0, 40.0, chiller_capacity_share=0.5)
    assert full.reusable_heat_share == tech.liquid_fraction
    assert half.reusable_heat_share == pytest.approx(0.5 * tech.liquid_fraction)


@pytest.mark.parametrize("tech", sorted(TECHNOLOGIES))
def test_reuse_in_a_run_is_the_liquid_share_of_it_heat_never_the_losses(tech):
    """In a run, reusable heat is the liquid-captured share of the servers' heat (no shortfall in a
    mild default hour): immersion offers its whole IT heat but not one joule of the UPS and
    transformer losses, and never more than the heat rejected (IT + losses)."""
    s = _run(tech)
    liquid = TECHNOLOGIES[tech].liquid_fraction
    warm = TECHNOLOGIES[tech].supply_temp_c + TECHNOLOGIES[tech].loop_delta_t_k >= 40.0
    servers_j = s["it_energy_j"] - s["network_energy_j"]
    assert s["heat_reuse_energy_j"] == pytest.approx(liquid * servers_j if warm else 0.0, rel=1e-9)
    assert s["heat_reuse_energy_j"] <= s["it_energy_j"] + s["conversion_loss_energy_j"]
    assert s["heat_reuse_energy_j"] < s["it_energy_j"] or s["heat_reuse_energy_j"] == 0.0


@pytest.mark.parametrize("tech", ["air", "immersion"])
def test_ere_and_erf_closed_forms(tech):
    """ERE = (E_facility - E_reuse) / E_IT and ERF = E_reuse / E_facility (The Green Grid WP #29),
    so ERE = (1 - ERF) x PUE; with nothing reused ERE is the PUE and ERF is 0."""
    s = _run(tech)
    reuse, fac, it = s["heat_reuse_energy_j"], s["facility_energy_j"], s["it_energy_j"]
    assert s["ere"] == pytest.approx((fac - reuse) / it, rel=1e-12)
    assert s["erf"] == pytest.approx(reuse / fac, rel=1e-12)
    assert s["ere"] == pytest.approx((1.0 - s["erf"]) * s["pue"], rel=1e-12)
    if tech == "air":
        assert s["erf"] == 0.0 and s["ere"] == s["pue"]
    else:
        assert 0.8 < s["erf"] < 1.0 and s["ere"] < 0.25 and s["pue"] > 1.0


# --- cooling-tower water ---------------------------------------------------------------------

CITIES = ("phoenix_az", "leesburg_va", "seattle_wa", "piedmont_it")
# Annual site WUE of evaporative plants, L/kWh of IT energy (docs/cooling.md, "Published ranges"): from the
# 0.49 of Microsoft's 2021 fleet to the 2.3 of its early-2000s evaporative fleet for chilled-water (air,
# rear-door) plants; warm-water liquid plants in a temperate climate as the hyperscale fleets report,
# 0.1-0.5 (LBNL 2024: US average 0.36 rising to 0.45-0.48; Microsoft FY2023 0.30).
CHILLED_WATER_WUE = (0.49, 2.3)
WARM_WATER_TEMPERATE_WUE = (0.1, 0.5)


@cache
def _annual(city: str, tech: str) -> tuple[float, float]:
    """(cooling-only PUE, WUE L/kWh) over the typical year at constant IT heat, cooling towers."""
    from dcsim.core.units import KWH_J
    from dcsim.facility.climate import Climate

    climate = Climate.named(city, 1, 0.0)
    plant = CoolingPlant(TECHNOLOGIES[tech], condenser="tower")
    assert climate.wet_bulb_c is not None
    co = [plant.coefficients(float(d), float(w)) for d, w in zip(climate.dry_bulb_c, climate.wet_bulb_c)]
    return 1.0 + sum(c.total for c in co) / len(co), sum(c.water_l_per_j for c in co) / len(co) * KWH_J


def test_latent_share_follows_the_air():
    """Merkel's straight-line law: cold humid air takes much of a tower's heat sensibly, humid summer
    air about none, hot dry air gives sensible heat to the water (more evaporated than rejected); at
    the CTI design point evaporation carries the heat (the "1 % of the flow per 10 F of range" rule)."""
    from dcsim.facility.climate import latent_heat_j_per_kg
    from dcsim.facility.cooling import tower_evaporation_kg_per_j

    def latent(dry_c: float, wet_c: float, water_c: float) -> float:
        return tower_evaporation_kg_per_j(dry_c, wet_c, water_c) * float(latent_heat_j_per_kg(water_c))

    assert 0.5 < latent(5.0, 3.0, 12.0) < 0.75
    assert 0.85 < latent(30.0, 24.0, 30.75) < 1.0
    assert latent(45.0, 22.0, 28.75) > 1.3
    assert 0.95 < latent(35.0, 25.6, 25.6 + 4.0 + 2.75) < 1.1
    assert latent(5.0, 3.0, 12.0) < latent(15.0, 12.0, 19.0) < latent(30.0, 24.0, 30.75)


@pytest.mark.parametrize("capacity", [1.0, 0.5, 0.0])
def test_tower_water_is_the_rejected_heat_over_latent_heat_plus_blowdown(capacity):
    """With a fixed latent share the make-up water is exactly the heat the tower rejects (the load
    the plant removes + the chillers' work) x share / latent heat x cycles / (cycles - 1): a failed
    chiller's unremoved heat evaporates nothing."""
    plant = CoolingPlant(TECHNOLOGIES["air"], condenser="tower", evaporated_share=0.85, cycles_of_concentration=4.0)
    c = plant.coefficients(35.0, 25.0, chiller_capacity_share=capacity)
    rejected = 1.0 - c.shortfall_share + c.chiller
    assert c.water_l_per_j == pytest.approx(rejected * 0.85 / 2.45e6 * 4.0 / 3.0, rel=1e-12)


def test_no_water_when_the_dry_bulb_carries_the_load():
    """The hybrid tower runs dry, evaporating nothing, once the dry bulb is low enough for the coil to
    make the loop's supply water (dry bulb + 8 K <= supply): below 10 C for 18 C chilled water, below
    27 C for immersion's 35 C; just above it, it runs wet."""
    air = CoolingPlant(TECHNOLOGIES["air"], condenser="tower")
    assert air.coefficients(10.0, 8.0).water_l_per_j == 0.0
    assert air.coefficients(10.5, 8.0).water_l_per_j > 0.0
    immersion = CoolingPlant(TECHNOLOGIES["immersion"], condenser="tower")
    assert immersion.coefficients(27.0, 18.0).water_l_per_j == 0.0
    assert immersion.coefficients(27.5, 18.0).water_l_per_j > 0.0
    # the dry coil's fans slow as the air gets colder (fan affinity: cube of the flow)
    assert immersion.coefficients(0.0, -2.0).heat_rejection_fans < immersion.coefficients(20.0, 12.0).heat_rejection_fans


def test_tower_fans_work_harder_as_the_wet_bulb_nears_the_water():
    """A warm-water loop's tower needs more air per joule as the wet bulb rises toward its water:
    wet-mode fan power per watt rises with the wet bulb (Merkel's enthalpy potential)."""
    immersion = CoolingPlant(TECHNOLOGIES["immersion"], condenser="tower")
    fans = [immersion.coefficients(30.0, wb).heat_rejection_fans for wb in (10.0, 16.0, 22.0, 26.0)]
    assert all(a < b for a, b in zip(fans, fans[1:]))


@pytest.mark.parametrize("tech", sorted(TECHNOLOGIES))
def test_annual_wue_follows_the_climate_and_lies_in_published_ranges(tech):
    """Annual tower WUE: Phoenix > Leesburg > Seattle for every technology; chilled-water plants in the
    published range of evaporative fleets; warm-water plants in Leesburg as hyperscale fleets report."""
    wue = {city: _annual(city, tech)[1] for city in CITIES}
    assert wue["phoenix_az"] > wue["leesburg_va"] > wue["seattle_wa"] > 0.0
    if TECHNOLOGIES[tech].supply_temp_c < 25.0:
        lo, hi = CHILLED_WATER_WUE
        assert all(lo <= w <= hi for w in wue.values()), wue
    else:
        lo, hi = WARM_WATER_TEMPERATE_WUE
        assert lo <= wue["leesburg_va"] <= hi, wue
        assert all(w < 1.3 for w in wue.values()), wue


def test_immersion_annual_pue_varies_with_climate():
    """Immersion with towers: the 35 C loop never needs a chiller in these climates, but fan duty
    (wet in hot wet-bulb hours, dry near the switch-over) differs: Seattle's is the lowest PUE."""
    pue = {city: _annual(city, "immersion")[0] for city in CITIES}
    assert min(pue, key=pue.__getitem__) == "seattle_wa"
    assert max(pue.values()) - min(pue.values()) > 1e-3


def test_january_water_differs_by_climate_in_a_run():
    """Ten minutes of a January afternoon (15 January, 14:00) with towers: Phoenix's warm dry air
    evaporates most, Leesburg's less, Seattle's cold air lets the hybrid tower run dry with no water
    at all (issue 15 measured the three equal to four digits)."""
    wue = {city: dcsim.run(SHORT + ["facility.cooling.condenser=tower", f"facility.climate.epw_path={city}",
                                    "facility.climate.start_day_of_year=15", "facility.climate.start_hour=14"]
                           ).summary()["wue_l_per_kwh"]
           for city in ("phoenix_az", "leesburg_va", "seattle_wa")}
    assert wue["phoenix_az"] > wue["leesburg_va"] > wue["seattle_wa"] == 0.0


def test_a_chiller_fault_in_a_run_cuts_the_reusable_heat():
    """Direct liquid with dry coolers on the default summer hour: the economiser carries only part of
    the liquid loop, so losing every chiller leaves the rest of its heat in the loop, and that heat is
    not offered for reuse."""
    base = SHORT + ["facility.cooling.technology=direct_liquid"]
    ok = dcsim.run(base).summary()
    fault = dcsim.run(base + ["+facility.faults=[{kind:chiller,start_s:0,duration_s:600,capacity_share:0}]"]).summary()
    servers_ok = ok["it_energy_j"] - ok["network_energy_j"]
    servers_fault = fault["it_energy_j"] - fault["network_energy_j"]
    assert ok["heat_reuse_energy_j"] == pytest.approx(0.8 * servers_ok, rel=1e-9)
    assert 0.0 < fault["heat_reuse_energy_j"] < 0.8 * servers_fault
