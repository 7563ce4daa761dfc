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
