"""Space and building: white space, power and mechanical rooms, gross area, and the building
priced per m^2 of it (dcsim/facility/space.py, dcsim/facility/cost.py; docs/grid_and_cost.md)."""

from __future__ import annotations

import pytest

import dcsim
from dcsim.config.build import build
from dcsim.config.compose import compose_config
from dcsim.core.errors import ConfigError
from dcsim.facility.cooling import TECHNOLOGIES
from dcsim.facility.cost import YEAR_S, CostModel
from dcsim.facility.space import SpaceModel

RUN = ["workload=inference_only", "duration_s=600", "output.write=false"]


def test_gross_area_is_racks_cdus_and_support_rooms():
    """Ten 130 kW direct-liquid racks (80 % on liquid) behind 1.3 MW: 1,040 kW of liquid heat
    needs two 1 MW CDUs plus one spare, each in a rack position, so the white space is
    (10 + 3) x 2.8 m^2 = 36.4 m^2; the power and mechanical rooms 1.3 x 150 = 195 m^2."""
    a = SpaceModel().area(racks=10, rack_heat_w=130e3, liquid_fraction=0.8, critical_w=1.3e6)
    assert (a.cdus, a.racks_m2, a.cdu_m2) == (3, pytest.approx(28.0), pytest.approx(8.4))
    assert a.white_m2 == pytest.approx(36.4)
    assert a.support_m2 == pytest.approx(195.0)
    assert a.gross_m2 == pytest.approx(231.4)
    # exactly two CDUs' worth of heat is two CDUs (+ the spare), not three by a rounding error
    assert SpaceModel(cdu_spares=0).cdus(10 * 200e3) == 2
    assert SpaceModel(cdu_spares=0).cdus(10 * 200e3 + 1.0) == 3
    # air cooling has no CDUs: the white space is the racks' alone
    air = SpaceModel().area(racks=10, rack_heat_w=30e3, liquid_fraction=0.0, critical_w=0.3e6)
    assert (air.cdus, air.white_m2, air.gross_m2) == (0, pytest.approx(28.0), pytest.approx(28.0 + 45.0))
    with pytest.raises(ValueError):
        SpaceModel(rack_m2=0.0)


def test_the_builder_sizes_the_facility_by_the_closed_form():
    """The GB200 NVL72 preset (direct liquid, ~130 kW per rack) gets the areas of the closed
    form from its own racks, design heat and provisioned capacity."""
    spec = build(compose_config(["facility=nvl72_gb200"])).facility
    topo = spec.topology
    tech = TECHNOLOGIES["direct_liquid"]
    rack_heat_w = min(topo.nodes_per_rack * topo.node.nameplate_w, tech.max_rack_kw * 1e3)
    want = SpaceModel(2.8).area(topo.num_racks, rack_heat_w, tech.liquid_fraction, spec.it_capacity_w)
    assert spec.space == want
    assert spec.space.cdus >= 2  # one to carry the heat and the spare


def test_a_facility_that_does_not_fit_its_floor_is_refused():
    """The default 4 air-cooled racks need 4 x 2.8 m^2 of white space + 150 m^2/MW x 0.1249 MW of
    provisioned IT capacity (116.0 kW of nodes + 8.9 kW of network) = 29.9 m^2; a floor of
    29 m^2 is refused naming the field, the value and the area needed; 29.94 m^2 fits."""
    with pytest.raises(ConfigError) as e:
        build(compose_config(["facility.floor_area_m2=29"]))
    assert e.value.field == "facility.floor_area_m2"
    assert "at least 29.9 m2 for 4 racks" in str(e.value)
    assert build(compose_config(["facility.floor_area_m2=29.94"])).facility.space.gross_m2 == pytest.approx(29.9347)


@pytest.fixture(scope="module")
def by_density():
    """128 H100 on direct liquid, as 4 racks of 32 GPUs and as 2 racks of 64 (same seed)."""
    return {g: dcsim.run([*RUN, "cooling=direct_liquid", f"facility.rack.gpus_per_rack={g}",
                          f"facility.num_racks={128 // g}"]).summary() for g in (32, 64)}


def test_capital_per_token_falls_as_racks_get_denser(by_density):
    """At equal GPUs, equal power and equal work, the denser facility has fewer racks on the
    floor (same CDUs, same power rooms), so a smaller building and less capital per token;
    every other asset class costs the same."""
    sparse, dense = by_density[32], by_density[64]
    assert sparse["output_tokens"] == dense["output_tokens"] > 0
    for k in ("capex_gpu_usd", "capex_server_usd", "capex_network_usd", "capex_electrical_usd", "capex_cooling_usd"):
        assert sparse[k] == dense[k], k
    assert dense["gross_floor_area_m2"] == pytest.approx(sparse["gross_floor_area_m2"] - 2 * 2.8)
    assert dense["capex_building_usd"] / sparse["capex_building_usd"] == pytest.approx(
        dense["gross_floor_area_m2"] / sparse["gross_floor_area_m2"])
    assert dense["capital_cost_per_million_tokens_usd"] < sparse["capital_cost_per_million_tokens_usd"]
    assert dense["cost_per_million_tokens_usd"] < sparse["cost_per_million_tokens_usd"]
    assert dense["it_mw_per_m2"] == pytest.approx(sparse["it_mw_per_m2"] * 16.8 / 11.2)


def test_cost_identities_hold(by_density):
    """The asset classes plus energy are the total; the building is gross area x $/m^2 and the
    electrical plant capacity x $/W, each over the facility life; the capital per token is
    the total per token without the energy."""
    s = by_density[64]
    m = CostModel()
    classes = ("gpu", "server", "network", "building", "electrical", "cooling")
    capex = sum(s[f"capex_{k}_usd"] for k in classes)
    assert capex + s["energy_cost_usd"] == pytest.approx(s["cost_total_usd"], rel=1e-12)
    per_year = m.annual_factor(m.facility_life_years) * s["duration_s"] / YEAR_S
    assert s["capex_building_usd"] == pytest.approx(s["gross_floor_area_m2"] * m.building_usd_per_m2 * per_year)
    assert s["capex_electrical_usd"] == pytest.approx(s["it_capacity_w"] * m.electrical_usd_per_w * per_year)
    assert s["capital_cost_per_million_tokens_usd"] / s["cost_per_million_tokens_usd"] == pytest.approx(
        capex / s["cost_total_usd"])
    b = m.cost_breakdown(3600.0, 5.0, 128, 16, 116e3, "air", floor_area_m2=28.6)
    assert b["capex_usd"] == pytest.approx(sum(b[f"{k}_usd"] for k in classes))
    assert b["total_usd"] == pytest.approx(b["capex_usd"] + 5.0)


def test_default_building_costs_what_the_former_8_usd_per_w_gave():
    """The split keeps the default scenario's building (shell per m^2 + electrical per W) within
    0.5 % of the former all-per-W $8/W: 29.9 m^2 x $2,500 + 124.9 kW x $7.4/W = $999,080 against
    $999,180 (-0.01 %; the capacity includes the network's 8.9 kW)."""
    spec = build(compose_config([])).facility
    capex = spec.cost.capex_usd(128, 16, spec.it_capacity_w, "air", floor_area_m2=spec.space.gross_m2)
    former = 8.0 * spec.it_capacity_w
    assert (capex["building"] + capex["electrical"]) / former == pytest.approx(1.0, abs=1e-3)


def test_space_and_building_figures_are_config_overrides():
    """``facility.space.*`` and ``facility.cost.building_usd_per_m2`` reach the models: no power
    rooms and a free building leave the racks' white space and the electrical plant alone."""
    spec = build(compose_config(["facility.space.support_m2_per_mw=0", "facility.cost.building_usd_per_m2=0",
                                 "facility.cost.electrical_usd_per_w=8"])).facility
    assert spec.space.gross_m2 == pytest.approx(spec.space.white_m2) == pytest.approx(4 * 2.8)
    capex = spec.cost.capex_usd(128, 16, spec.it_capacity_w, "air", floor_area_m2=spec.space.gross_m2)
    assert capex["building"] == 0.0 and capex["electrical"] == pytest.approx(8.0 * spec.it_capacity_w)
