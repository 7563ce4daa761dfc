"""A rack feed's rating (breaker, busway tap or rack PDU) as a limit: it refuses a rack
whose nameplate exceeds it, or caps the rack's GPUs so that the rack at full load fits.

The default facility: 4 racks of 4 nodes, each node 8 H100 (700 W TDP) and a 1,650 W busy
host, so a rack's nameplate is 4 x (8 x 700 + 1,650) W = 29.0 kW. A capped rack counts its
server fans as the facility meters them (docs/cooling.md): the busy host less its 388.08 W
of reference fans, and the fan model's ratio at the air hall's 24 C inlet on top.
"""

from __future__ import annotations

import pytest
from conftest import same_summary

import dcsim
from dcsim.api import compose_config
from dcsim.config.build import build
from dcsim.core.errors import ConfigError
from dcsim.facility.airflow import server_fan_ratio
from dcsim.facility.cooling import TECHNOLOGIES

RUN = ["workload=inference_only", "duration_s=300", "output.write=false"]
NODES_PER_RACK, GPUS_PER_NODE, HOST_BUSY_W, TDP_W = 4, 8, 1650.0, 700.0
HOST_BUSY_WITHOUT_FANS_W = HOST_BUSY_W - 0.08 * 4851.0  # AcmeTrace: fans 8 % of the measured server
FAN_RATIO = server_fan_ratio(TECHNOLOGIES["air"], 24.0)
CAP_W = (20e3 / NODES_PER_RACK / (1.0 + FAN_RATIO) - HOST_BUSY_WITHOUT_FANS_W) / GPUS_PER_NODE


def test_a_rack_above_its_feed_is_refused_naming_the_rating_and_the_nameplate():
    with pytest.raises(ConfigError) as e:
        build(compose_config([*RUN, "facility.power.rack_feed_kw=20"]))
    assert e.value.field == "facility.power.rack_feed_kw"
    assert "29.0 kW (4 nodes x 7.25 kW)" in str(e.value) and "over_feed=cap" in str(e.value)


def test_capping_sets_the_gpu_cap_that_fits_the_rack_in_its_feed():
    scenario = build(compose_config([*RUN, "facility.power.rack_feed_kw=20", "facility.power.over_feed=cap"]))
    cap_w = CAP_W
    assert cap_w == pytest.approx(414.405, abs=1e-3)  # 418.75 W before the fans were metered
    assert scenario.device.cap_w == pytest.approx(cap_w)
    # the rack at full load under that cap, its fans included, is exactly the rating
    assert NODES_PER_RACK * (1 + FAN_RATIO) * (GPUS_PER_NODE * cap_w + HOST_BUSY_WITHOUT_FANS_W) == pytest.approx(20e3)


def test_a_capped_run_never_draws_more_than_its_feeds():
    """Training on every GPU draws 72 kW of racks uncapped (383 W a GPU at its peak), more than
    four 15 kW feeds; capped, the GPUs never exceed the cap and the racks (IT power less the
    network's switches, which stand outside them) never exceed their feeds."""
    feed_w = 15e3
    cap_w = (feed_w / NODES_PER_RACK / (1.0 + FAN_RATIO) - HOST_BUSY_WITHOUT_FANS_W) / GPUS_PER_NODE
    train = ["workload=training_only", "duration_s=300", "output.write=false"]
    capped = [*train, "facility.power.rack_feed_kw=15", "facility.power.over_feed=cap"]
    assert build(compose_config(capped)).device.cap_w == pytest.approx(cap_w)
    r = dcsim.run(capped)
    s, ts = r.summary(), r.frames()["timeseries"]
    assert ts["gpu_power_w"].max() <= s["gpus_total"] * cap_w * (1 + 1e-12)
    network_w = s["network_energy_j"] / s["duration_s"]
    assert (ts["it_power_w"] - network_w).max() <= 4 * feed_w * (1 + 1e-12)
    assert s["gpu_energy_j"] <= s["gpus_total"] * cap_w * 300.0
    uncapped = dcsim.run(train).frames()["timeseries"]
    assert (uncapped["it_power_w"] - network_w).max() > 4 * feed_w  # the feeds bind


def test_a_feed_above_the_nameplate_changes_nothing():
    base = dcsim.run(RUN).summary()
    fed = dcsim.run([*RUN, "facility.power.rack_feed_kw=29.0"]).summary()
    assert same_summary(fed, base, ignore=("events_processed",))


def test_the_lower_of_the_node_cap_and_the_feed_cap_holds():
    feed = ["facility.power.rack_feed_kw=20", "facility.power.over_feed=cap"]
    assert build(compose_config([*RUN, *feed, "facility.node.gpu_power_cap_w=300"])).device.cap_w == 300.0
    assert build(compose_config([*RUN, *feed, "facility.node.gpu_power_cap_w=600"])).device.cap_w == pytest.approx(CAP_W)


def test_a_feed_too_small_for_the_lowest_settable_cap_is_refused():
    with pytest.raises(ConfigError, match="lowest settable cap"):
        build(compose_config([*RUN, "facility.power.rack_feed_kw=5", "facility.power.over_feed=cap"]))
