"""Power distribution by density (issue 14): row feeds as limits, and rack feed technologies.

The default facility: 4 racks of 4 nodes, each node 8 H100 (700 W TDP) and a 1,650 W busy
host, so a rack's nameplate is 29.0 kW and a row of 4 racks 116.0 kW. A capped rack counts
its server fans as the facility meters them (docs/cooling.md), as in tests/test_rack_feed.py.
"""

from __future__ import annotations

import pytest

import dcsim
from dcsim.api import compose_config
from dcsim.config.build import build
from dcsim.core.errors import ConfigError
from dcsim.facility.airflow import server_fan_ratio
from dcsim.facility.cooling import TECHNOLOGIES

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
    r = dcsim.run([*RUN, "facility.power.row_feed_kw=100", "facility.rack.racks_per_row=4",
                   "facility.power.over_feed=cap"])
    ts = r.frames()["timeseries"]
    assert ts["it_power_w"].max() <= 100e3 * (1 + 1e-12)  # the 4 racks are one row
