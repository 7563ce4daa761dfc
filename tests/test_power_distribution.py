"""Power distribution by density (issue 14): row feeds as limits, and rack feed technologies.

The default facility: 4 racks of 4 nodes, each node 8 H100 (700 W TDP) and a 1,650 W busy
host, so a rack's nameplate is 29.0 kW and a row of 4 racks 116.0 kW. A capped rack counts
its server fans as the facility meters them (docs/cooling.md), as in tests/test_rack_feed.py.
"""

from __future__ import annotations

import pytest
from conftest import same_summary
from omegaconf import open_dict

import dcsim
from dcsim.api import compose_config
from dcsim.config.build import build
from dcsim.core.errors import ConfigError
from dcsim.facility.airflow import server_fan_ratio
from dcsim.facility.config import RackFeed, StageConfig
from dcsim.facility.cooling import TECHNOLOGIES
from dcsim.facility.power_path import (
    DCDC_800V_48V_COEFFICIENTS,
    DEFAULT_STAGES,
    PSU_COEFFICIENTS,
    RACK_FEEDS,
    RECTIFIER_800V_COEFFICIENTS,
    SERVER_PSU,
    SHELF_COEFFICIENTS,
    PowerPath,
    StageSpec,
    peak_efficiency,
    scaled_to_peak,
    stage_efficiency,
    usable_units,
)

RUN = ["workload=inference_only", "duration_s=300", "output.write=false"]
NODES_PER_RACK, GPUS_PER_NODE = 4, 8
HOST_BUSY_WITHOUT_FANS_W = 1650.0 - 0.08 * 4851.0  # AcmeTrace: fans 8 % of the measured server
FAN_RATIO = server_fan_ratio(TECHNOLOGIES["air"], 24.0)


def cap_for_rack_w(rack_w: float) -> float:
    """Per-GPU cap at which a busy rack, its fans included, draws ``rack_w`` (docs/power.md)."""
    return (rack_w / NODES_PER_RACK / (1.0 + FAN_RATIO) - HOST_BUSY_WITHOUT_FANS_W) / GPUS_PER_NODE


# --------------------------------------------------------------------------- row feeds


def test_a_row_above_its_feed_is_refused_naming_the_rating_and_the_row_nameplate():
    with pytest.raises(ConfigError) as e:
        build(compose_config([*RUN, "facility.power.row_feed_kw=100", "facility.rack.racks_per_row=4"]))
    assert e.value.field == "facility.power.row_feed_kw"
    assert "116.0 kW (4 racks x 29.0 kW)" in str(e.value) and "over_feed=cap" in str(e.value)


def test_a_row_feed_needs_the_racks_per_row():
    with pytest.raises(ConfigError) as e:
        build(compose_config([*RUN, "facility.power.row_feed_kw=100"]))
    assert e.value.field == "facility.rack.racks_per_row"


def test_capping_to_a_row_feed_shares_the_rating_among_the_rows_racks():
    scenario = build(compose_config([*RUN, "facility.power.row_feed_kw=100", "facility.rack.racks_per_row=4",
                                     "facility.power.over_feed=cap"]))
    assert scenario.device.cap_w == pytest.approx(cap_for_rack_w(25e3))  # 100 kW over 4 racks
    assert scenario.device.cap_w == pytest.approx(557.44, abs=0.01)  # (25,000 / 4 / 1.0924 - 1,261.9) / 8


def test_the_tighter_of_the_rack_and_the_row_feed_sets_the_cap():
    cap = ["facility.power.over_feed=cap", "facility.rack.racks_per_row=2"]
    row_binds = build(compose_config([*RUN, *cap, "facility.power.row_feed_kw=44", "facility.power.rack_feed_kw=25"]))
    assert row_binds.device.cap_w == pytest.approx(cap_for_rack_w(22e3))
    rack_binds = build(compose_config([*RUN, *cap, "facility.power.row_feed_kw=50", "facility.power.rack_feed_kw=20"]))
    assert rack_binds.device.cap_w == pytest.approx(cap_for_rack_w(20e3))


def test_a_row_longer_than_the_facility_holds_only_its_racks():
    # 8 racks per row, 4 racks built: the one row holds 4 racks, 116 kW at nameplate
    fits = build(compose_config([*RUN, "facility.power.row_feed_kw=116", "facility.rack.racks_per_row=8"]))
    assert fits.device.cap_w is None


def test_a_row_feed_too_small_for_the_lowest_settable_cap_is_refused():
    with pytest.raises(ConfigError, match="lowest settable cap") as e:
        build(compose_config([*RUN, "facility.power.row_feed_kw=20", "facility.rack.racks_per_row=2",
                              "facility.power.over_feed=cap"]))
    assert e.value.field == "facility.power.row_feed_kw"


def test_a_row_capped_run_never_draws_more_than_its_row_feed():
    """Training draws up to 72 kW uncapped; a 60 kW row over the 4 racks caps each GPU at 271 W."""
    train = ["workload=training_only", "duration_s=300", "output.write=false"]
    row = ["facility.power.row_feed_kw=60", "facility.rack.racks_per_row=4", "facility.power.over_feed=cap"]

    def facility_it_w(r) -> float:
        ts = r.frames()["timeseries"]
        return float(ts[ts["component"] == "facility"]["it_power_w"].max())

    assert facility_it_w(dcsim.run(train)) > 60e3  # so the row feed binds
    assert facility_it_w(dcsim.run([*train, *row])) <= 60e3 * (1 + 1e-12)


# --------------------------------------------------------------------------- rack feed technologies

CAPACITY_W = 1e6  # IT nameplate and capacity of the paths built below


def upstream_specs() -> list[StageSpec]:
    """The configured default stages: transformer, UPS, PDU (the server supplies are IT power)."""
    return [s for s in DEFAULT_STAGES if s.name != "psu"]


def three_term_loss_w(coefs: tuple[float, float, float], installed_w: float, out_w: float) -> float:
    """installed x (a + b x + c x^2), x = out / installed: the loss of a stage's units together."""
    a, b, c = coefs
    x = out_w / installed_w
    return installed_w * (a + b * x + c * x * x)


def test_every_feed_option_is_data_and_a_config_choice():
    assert {f.value for f in RackFeed} == set(RACK_FEEDS)
    assert RACK_FEEDS["ac_415v"].stages == ()  # the servers keep their own supplies
    for feed in RACK_FEEDS.values():
        for stage in feed.stages:
            assert all(0 <= v < 0.5 for v in (stage.no_load, stage.proportional, stage.square))


def test_ac_415v_is_the_path_without_a_feed_conversion():
    specs = upstream_specs()
    assert PowerPath.build(CAPACITY_W, specs, RACK_FEEDS["ac_415v"].stages) == PowerPath.build(CAPACITY_W, specs)
    path = PowerPath.build(CAPACITY_W, specs)
    it_w = 0.6 * CAPACITY_W
    # closed form, stage by stage from the racks up (each stage sized at full capacity)
    p, out_c = it_w, CAPACITY_W
    expected = 0.0
    for spec in reversed(specs):
        installed_w = out_c / usable_units(spec.redundancy, spec.units) * spec.units
        loss_c = three_term_loss_w((spec.no_load, spec.proportional, spec.square), installed_w, out_c)
        loss = three_term_loss_w((spec.no_load, spec.proportional, spec.square), installed_w, p)
        expected += loss
        p, out_c = p + loss, out_c + loss_c
    assert path.loss_w(it_w) == pytest.approx(expected, rel=1e-12)


def server_dc_w(it_w: float) -> tuple[float, float]:
    """(DC out of the servers' 1+1 Titanium supplies at a wall-plug ``it_w``, the same at the nameplate)."""
    a, b, c = PSU_COEFFICIENTS
    # 1+1 supplies sized for the nameplate: each carries it alone, so at nameplate x = 1/2
    dc_nameplate_w = CAPACITY_W / (1 + 2 * (a + b / 2 + c / 4))
    psu_installed_w = 2 * dc_nameplate_w
    # dc + installed (a + b x + c x^2) = it, x = dc / installed: the quadratic's positive root
    qa, qb, qc = c / psu_installed_w, 1 + b, psu_installed_w * a - it_w
    return (-qb + (qb * qb - 4 * qa * qc) ** 0.5) / (2 * qa), dc_nameplate_w


def test_busbar_48v_loss_is_its_stages_closed_form():
    """The shelf takes the DC the servers' 1+1 Titanium supplies gave from the wall-plug IT power."""
    it_w = 0.6 * CAPACITY_W
    dc_w, dc_nameplate_w = server_dc_w(it_w)
    shelf_installed_w = 6 * dc_nameplate_w / 5  # 5 + 1 modules
    shelf_in_w = dc_w + three_term_loss_w(SHELF_COEFFICIENTS, shelf_installed_w, dc_w)
    shelf_in_nameplate_w = dc_nameplate_w + three_term_loss_w(SHELF_COEFFICIENTS, shelf_installed_w, dc_nameplate_w)
    upstream = PowerPath.build(shelf_in_nameplate_w, upstream_specs())

    path = PowerPath.build(CAPACITY_W, upstream_specs(), RACK_FEEDS["busbar_48v"].stages)
    assert path.loss_w(it_w) == pytest.approx(shelf_in_w - it_w + upstream.loss_w(shelf_in_w), rel=1e-12)
    by_stage = path.loss_by_stage_w(it_w)
    assert by_stage["power_shelf"] == pytest.approx(shelf_in_w - dc_w, rel=1e-12)
    assert by_stage["server_psu_replaced"] == pytest.approx(dc_w - it_w, rel=1e-12) and dc_w < it_w
    assert sum(by_stage.values()) == pytest.approx(path.loss_w(it_w), rel=1e-12)
    # the shelf's 5 + 1 modules run at 60 % x 5/6 = 50 % where the 1+1 supplies ran at 30 %:
    # the Titanium curve is better there, so the 48 V feed loses less than the supplies it replaces
    assert path.load_fraction_by_stage(it_w)["power_shelf"] == pytest.approx(dc_w / shelf_installed_w)
    assert shelf_in_w < it_w
    assert path.usable_capacity_w() == pytest.approx(CAPACITY_W, rel=1e-9)


def test_scaled_to_peak_reaches_the_peak_and_keeps_the_curves_shape():
    a, b, c = PSU_COEFFICIENTS
    x_peak = (a / c) ** 0.5  # where a / x + b + c x, the loss per watt out, is least
    for target in (0.95, 0.98, 0.985, 0.99):
        scaled = scaled_to_peak(PSU_COEFFICIENTS, target)
        assert stage_efficiency(scaled, x_peak) == pytest.approx(target, abs=1e-12)
        assert all(stage_efficiency(scaled, x) < target for x in (0.1, 0.25, 0.5, 0.6, 0.65, 0.83, 1.0))
        k = scaled[0] / a
        assert k > 0 and scaled[1] / b == pytest.approx(k, rel=1e-12) and scaled[2] / c == pytest.approx(k, rel=1e-12)
    assert peak_efficiency(RECTIFIER_800V_COEFFICIENTS) == pytest.approx((x_peak, 0.985), abs=1e-12)
    assert peak_efficiency(DCDC_800V_48V_COEFFICIENTS) == pytest.approx((x_peak, 0.98), abs=1e-12)
    for bad in (0.0, 1.0, 1.2):
        with pytest.raises(ValueError, match="peak_eff"):
            scaled_to_peak(PSU_COEFFICIENTS, bad)


def test_the_800v_chain_at_its_peaks_is_one_good_shelf_rectifier():
    """0.985 x 0.98 = 96.5 %: GE's shelf rectifier (AC -> 54 V), "96.5 % typical" (docs/power.md);
    above the Titanium minimum curve the busbar_48v shelf is given (96.1 % at its peak)."""
    chained = peak_efficiency(RECTIFIER_800V_COEFFICIENTS)[1] * peak_efficiency(DCDC_800V_48V_COEFFICIENTS)[1]
    assert chained == pytest.approx(0.965, abs=5e-4)
    assert peak_efficiency(SHELF_COEFFICIENTS)[1] == pytest.approx(0.961, abs=5e-4)


@pytest.mark.parametrize("load", [0.25, 0.6, 1.0])
def test_dc_800v_loss_is_its_stages_closed_form(load):
    """The rack's DC-DC converter takes the DC the servers' supplies gave; the sidecar rectifier
    feeds it; the PDU, UPS and transformer carry the rectifier's input."""
    it_w = load * CAPACITY_W
    dc_w, dc_nameplate_w = server_dc_w(it_w)
    dcdc_installed_w = 6 * dc_nameplate_w / 5  # 5 + 1 units, sized for the nameplate
    dcdc_in_w = dc_w + three_term_loss_w(DCDC_800V_48V_COEFFICIENTS, dcdc_installed_w, dc_w)
    dcdc_in_nameplate_w = dc_nameplate_w + three_term_loss_w(DCDC_800V_48V_COEFFICIENTS, dcdc_installed_w,
                                                             dc_nameplate_w)
    rect_installed_w = 6 * dcdc_in_nameplate_w / 5
    rect_in_w = dcdc_in_w + three_term_loss_w(RECTIFIER_800V_COEFFICIENTS, rect_installed_w, dcdc_in_w)
    rect_in_nameplate_w = dcdc_in_nameplate_w + three_term_loss_w(RECTIFIER_800V_COEFFICIENTS, rect_installed_w,
                                                                  dcdc_in_nameplate_w)
    upstream = PowerPath.build(rect_in_nameplate_w, upstream_specs())

    path = PowerPath.build(CAPACITY_W, upstream_specs(), RACK_FEEDS["dc_800v"].stages)
    assert path.loss_w(it_w) == pytest.approx(rect_in_w - it_w + upstream.loss_w(rect_in_w), rel=1e-12)
    by_stage = path.loss_by_stage_w(it_w)
    assert list(by_stage) == ["transformer", "ups", "pdu", "rectifier_800v", "dcdc_800v_48v", "server_psu_replaced"]
    assert by_stage["rectifier_800v"] == pytest.approx(rect_in_w - dcdc_in_w, rel=1e-12)
    assert by_stage["dcdc_800v_48v"] == pytest.approx(dcdc_in_w - dc_w, rel=1e-12)
    assert by_stage["server_psu_replaced"] == pytest.approx(dc_w - it_w, rel=1e-12)
    for name, loss_w in upstream.loss_by_stage_w(rect_in_w).items():
        assert by_stage[name] == pytest.approx(loss_w, rel=1e-12)
    assert sum(by_stage.values()) == pytest.approx(path.loss_w(it_w), rel=1e-12)
    assert path.usable_capacity_w() == pytest.approx(CAPACITY_W, rel=1e-9)


def test_ac_415v_is_bit_identical_to_the_default_run():
    base = dcsim.run(RUN).summary()
    fed = dcsim.run([*RUN, "facility.power.rack_feed=ac_415v"]).summary()
    assert same_summary(fed, base, ignore=("events_processed",))


@pytest.mark.parametrize("feed", sorted(RACK_FEEDS))
def test_energy_is_conserved_with_each_feed(feed):
    r = dcsim.run([*RUN, f"facility.power.rack_feed={feed}"])
    e = r.energy_j
    assert e["gpu"] + e["host"] + e["conversion_loss"] + e["cooling"] == pytest.approx(e["facility"], rel=1e-9)
    assert e["conversion_loss"] > 0


@pytest.mark.parametrize("feed", ["busbar_48v", "dc_800v"])
def test_a_dc_feed_changes_losses_not_it_power(feed):
    ac = dcsim.run(RUN).energy_j
    bus = dcsim.run([*RUN, f"facility.power.rack_feed={feed}"]).energy_j
    assert bus["gpu"] == ac["gpu"] and bus["host"] == ac["host"]  # IT power stays wall-plug
    assert bus["conversion_loss"] < ac["conversion_loss"] and bus["facility"] < ac["facility"]



def test_a_feed_replacing_supplies_the_it_power_leaves_out_is_refused():
    def with_psu_stage(overrides: list[str]):
        cfg = compose_config(overrides)
        psu = SERVER_PSU
        with open_dict(cfg):
            cfg.facility.power.stages["psu"] = StageConfig(psu.no_load, psu.proportional, psu.square,
                                                           psu.redundancy, psu.units)
        return cfg

    with pytest.raises(ConfigError) as e:
        build(with_psu_stage([*RUN, "facility.power.rack_feed=busbar_48v"]))
    assert e.value.field == "facility.power.rack_feed"
    build(with_psu_stage(RUN))  # with the servers' own supplies, a psu stage is allowed
