"""output.timeseries_level: rack rows folded into groups of racks, or left out, as they come."""

from __future__ import annotations

import math

import pandas as pd
import pytest

import dcsim
from dcsim.core.errors import ConfigError
from dcsim.metrics.recorder import Recorder

BASE = ["facility.num_racks=10", "duration_s=1800", "workload=inference_only"]


@pytest.fixture(scope="module")
def runs():
    return {level: dcsim.run([*BASE, f"output.timeseries_level={level}", "output.timeseries_group_racks=4"])
            for level in ("rack", "group", "facility")}


def test_groups_sum_the_racks_power_and_take_the_hottest(runs):
    ts = runs["rack"].frames()["timeseries"]
    racks = ts[ts.component.str.startswith("rack/")].copy()
    racks["first"] = racks.component.str[5:].astype(int) // 4 * 4
    want = racks.groupby(["t_s", "first"], sort=True).agg(
        it=("it_power_w", "sum"), inlet=("inlet_temp_c", "max"), gpu=("gpu_temp_c", "max")).reset_index()
    got = runs["group"].frames()["timeseries"]
    got = got[got.component.str.startswith("racks/")]
    assert list(got.component.unique()) == ["racks/000-003", "racks/004-007", "racks/008-009"]
    assert len(got) == len(want) == 3 * ts.t_s.nunique()
    assert got.it_power_w.to_numpy() == pytest.approx(want.it.to_numpy(), rel=1e-12)
    assert (got.inlet_temp_c.to_numpy() == want.inlet.to_numpy()).all()
    assert (got.gpu_temp_c.to_numpy() == want.gpu.to_numpy()).all()
    assert (got.interval_s.to_numpy() == ts[ts.component == "facility"].interval_s.to_numpy().repeat(3)).all()


def test_facility_rows_and_the_summary_are_those_of_a_rack_level_run(runs):
    rack = runs["rack"]
    fac = rack.frames()["timeseries"]
    fac = fac[~fac.component.str.startswith("rack/")].reset_index(drop=True)
    for level in ("group", "facility"):
        ts = runs[level].frames()["timeseries"]
        pd.testing.assert_frame_equal(ts[~ts.component.str.startswith("racks/")].reset_index(drop=True), fac)
        s, s0 = runs[level].summary(), rack.summary()
        differ = {k for k in s0 if not (s[k] == s0[k] or (isinstance(s[k], float) and math.isnan(s[k])
                                                        and math.isnan(s0[k])))}
        assert differ == {"power_swing_rack_w"} and math.isnan(s["power_swing_rack_w"])  # needs rack rows


def test_bad_level_is_refused():
    with pytest.raises(Exception, match="timeseries_level"):
        dcsim.run([*BASE, "output.timeseries_level=hall"])
    with pytest.raises(ValueError, match="one of"):
        Recorder.timeseries_level(object.__new__(Recorder), "hall")
    with pytest.raises((ConfigError, Exception), match="timeseries_group_racks"):
        dcsim.run([*BASE, "output.timeseries_group_racks=0"])
