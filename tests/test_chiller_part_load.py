"""Part-load chiller COP: the EnergyPlus / DOE-2 EIR-fPLR curve, staging and AHRI 550/590 IPLV (docs/cooling.md)."""

from __future__ import annotations

import pytest

from dcsim.facility.cooling import TECHNOLOGIES, CoolingPlant, part_load_cop_factor


def test_part_load_factor_is_the_doe2_centrifugal_curve():
    """COP / full-load COP = PLR / (0.222903 + 0.313387 PLR + 0.463710 PLR^2): 1 at full load, a
    little above 1 at 50-75 % (the curve's sweet spot), falling fast below a quarter load, and
    false-loading below the minimum unloading ratio (COP proportional to the load)."""
    assert part_load_cop_factor(1.0) == pytest.approx(1.0, abs=1e-6)
    assert part_load_cop_factor(0.75) > part_load_cop_factor(0.5) > 1.0
    assert part_load_cop_factor(0.25) == pytest.approx(0.25 / (0.222903 + 0.313387 * 0.25 + 0.463710 * 0.0625))
    assert part_load_cop_factor(0.25) < 0.8 and part_load_cop_factor(0.1) < 0.4
    assert part_load_cop_factor(0.05) == pytest.approx(0.5 * part_load_cop_factor(0.1), rel=1e-12)
    with pytest.raises(ValueError, match="part_load_ratio"):
        part_load_cop_factor(0.0)


def test_chillers_are_staged_on_as_the_load_needs_them():
    """A plant of 4 equal chillers carrying 60 % of its design runs 3 units at 80 %; 10 % runs one at
    40 %; with half its chillers failed, a 60 % load runs the survivors flat out."""
    plant = CoolingPlant(TECHNOLOGIES["air"], condenser="tower")
    assert plant.chiller_part_load_ratio(0.6) == pytest.approx(0.8)
    assert plant.chiller_part_load_ratio(0.1) == pytest.approx(0.4)
    assert plant.chiller_part_load_ratio(0.5) == pytest.approx(1.0)
    assert plant.chiller_part_load_ratio(0.6, chiller_capacity_share=0.5) == 1.0
    assert CoolingPlant(TECHNOLOGIES["air"], chiller_units=1).chiller_part_load_ratio(0.2) == pytest.approx(0.2)


@pytest.mark.parametrize("condenser", ["tower", "dry"])
def test_a_lightly_loaded_plant_is_less_efficient_per_watt(condenser):
    """On a hot day the chiller power per watt of heat at 2 % of the plant's design load is several
    times that at full load (one chiller false-loading); without a load share it is the full-load COP."""
    plant = CoolingPlant(TECHNOLOGIES["air"], condenser=condenser)
    full = plant.coefficients(35.0, 24.0, heat_load_share=1.0).chiller
    assert plant.coefficients(35.0, 24.0).chiller == full
    assert plant.coefficients(35.0, 24.0, heat_load_share=0.02).chiller > 2.5 * full
    # at every load, COP still falls as the lift grows (warmer condenser side)
    cops = [plant.chiller_cop(12.0, sink, 0.4) for sink in range(5, 46, 5)]
    assert all(a > b for a, b in zip(cops, cops[1:]))


def test_iplv_of_the_water_cooled_chiller_beats_its_full_load_cop():
    """AHRI 550/590 IPLV (weights 1/42/45/12 % at 100/75/50/25 % load with condenser relief) comes out
    above the full-load rating COP, by 1.1-1.7x (an assumption band: ASHRAE 90.1's minimum tables ask
    centrifugal chillers for a better IPLV than full-load efficiency on both paths, far better on Path B)."""
    plant = CoolingPlant(TECHNOLOGIES["air"], condenser="tower")
    full = plant.chiller_cop(6.7, 29.4 - plant.tower_approach_k)
    assert 5.0 <= full <= 7.0
    assert 1.1 <= plant.iplv() / full <= 1.7


def test_the_control_loop_runs_the_chillers_at_the_halls_part_load():
    """An idle hall on a hot Phoenix afternoon (no economiser): every interval's chiller power is the
    heat times the plant's chiller coefficient at the heat's share of the design heat (IT plus losses
    at the provisioned IT capacity), staged and on the part-load curve, not at full-load COP."""
    from dcsim.api import compose_config
    from dcsim.config.build import build

    scenario = build(compose_config([
        "duration_s=1800", "workload=inference_only", "workload.services.chat.fidelity=fluid",
        "workload.services.chat.arrival_rate_per_s=0", "climate=phoenix_az", "facility.control_interval_s=600"]))
    ts = scenario.run().frames()["timeseries"]
    rows = ts[ts.component == "facility"]
    spec = scenario.facility
    design_w = spec.it_capacity_w + spec.power_path.loss_w(spec.it_capacity_w)
    for row in rows.itertuples():
        heat_w = row.it_power_w + row.conversion_loss_power_w
        share = heat_w / design_w
        assert 0.05 < share < 0.5  # idle: a part load
        at_load = spec.plant.coefficients(row.outdoor_temp_c, row.wet_bulb_c, heat_load_share=share)
        assert at_load.economiser_share == 0.0
        assert row.chiller_power_w == pytest.approx(heat_w * at_load.chiller, rel=1e-9)
        full = spec.plant.coefficients(row.outdoor_temp_c, row.wet_bulb_c).chiller
        assert abs(at_load.chiller / full - 1.0) > 0.005  # the curve moved it
