"""Demand response driven by grid signals (price, carbon) and by a utility's curtailment call."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import same_summary

import dcsim
from dcsim.api import compose_config
from dcsim.config.build import build
from dcsim.core.errors import ConfigError
from dcsim.core.units import HOUR_S
from dcsim.facility.grid import DemandResponse, HourlySteps, SignalLimit

# t = 0 at 12:45 local time; the time-of-use peak 13-14 h is then [900, 4500) s of the run.
TOU = ["facility.climate.start_hour=12.75", "facility.grid.price=tou", "facility.grid.tou_peak_start_hour=13",
       "facility.grid.tou_peak_end_hour=14", "facility.power.policy=proportional", "output.write=false"]
PRICE_LIMIT = "+facility.grid.signal_limits=[{signal: price, above: 0.1, it_limit_kw: 80}]"
CURTAIL = "+facility.grid.curtailments=[{start_s: 6000, duration_s: 600, limit_kw: 61, notice_s: 600}]"


def test_a_signal_limit_switches_at_the_hour_edges_where_the_signal_crosses():
    """Hourly values 1, 5, 5, 1, 7 (repeating) against a threshold of 2: the limit comes on at
    1 h, off at 3 h, on at 4 h, off at 5 h (the series repeats); a series that never crosses
    never switches; an offset shifts the edges."""
    lim = SignalLimit("price", HourlySteps(np.array([1.0, 5.0, 5.0, 1.0, 7.0])), 2.0, 1e3)
    assert lim.change_times_s(5 * HOUR_S) == [1 * HOUR_S, 3 * HOUR_S, 4 * HOUR_S, 5 * HOUR_S]
    assert [lim.active(t) for t in (0.0, 3599.0, 3600.0, 10799.0, 10800.0, 14400.0)] == [
        False, False, True, True, False, True]
    assert SignalLimit("carbon", HourlySteps(np.array([3.0, 4.0])), 2.0, 1e3).next_change_s(0.0) is None
    shifted = SignalLimit("price", HourlySteps(np.array([1.0, 5.0]), offset_s=1800.0), 2.0, 1e3)
    assert shifted.change_times_s(2 * HOUR_S) == [1800.0, 5400.0]
    # equal to the threshold is not above it
    assert SignalLimit("price", HourlySteps(np.array([2.0])), 2.0, 1e3).active(0.0) is False


def test_the_lowest_active_signal_limit_holds():
    both = DemandResponse(signal_limits=(
        SignalLimit("price", HourlySteps(np.array([0.0, 1.0])), 0.5, 30e3),
        SignalLimit("carbon", HourlySteps(np.array([1.0, 1.0, 0.0])), 0.5, 50e3),
    ))
    assert [both.it_limit_w(h * HOUR_S) for h in range(4)] == [50e3, 30e3, None, 30e3]
    assert both.signal_change_times_s(4 * HOUR_S) == [HOUR_S, 2 * HOUR_S, 3 * HOUR_S, 4 * HOUR_S]  # (0, 4 h]
    assert DemandResponse().it_limit_w(0.0) is None


def test_a_carbon_limit_follows_the_grid_data_the_run_loads():
    """With PJM carbon, the limit is in force in exactly the hours whose EIA-930 intensity is
    above the threshold (the day's median here), read from the series the run itself uses."""
    sc = build(compose_config(["output.write=false",
                               "+facility.grid.signal_limits=[{signal: carbon, above: 0, it_limit_kw: 30}]"]))
    carbon = sc.facility.carbon
    day = np.array([carbon.intensity_g_per_kwh(h * HOUR_S) for h in range(24)])
    threshold = float(np.median(day))
    sc = build(compose_config(["output.write=false",
                               f"+facility.grid.signal_limits=[{{signal: carbon, above: {threshold}, "
                               "it_limit_kw: 30}]"]))
    dr = sc.facility.demand_response
    for h, g in enumerate(day):
        for t in (h * HOUR_S, h * HOUR_S + 1800.0, h * HOUR_S + 3599.0):
            assert dr.it_limit_w(t) == (30e3 if g > threshold else None)


@pytest.fixture(scope="module")
def timeline():
    return dcsim.run(TOU + ["duration_s=7200", PRICE_LIMIT, CURTAIL])


def test_the_price_limit_holds_it_power_exactly_while_the_price_is_high(timeline):
    """Every interval that starts while the price is above $0.10/kWh has an IT budget of 80 kW
    and draws at most that (1e-4: a replica takes a lowered cap at its next iteration); the
    others have the full IT capacity outside the curtailment, and the first quarter hour,
    before the peak price, draws well above 80 kW."""
    ts = timeline.frames()["timeseries"]
    fac = ts[ts["component"] == "facility"]
    high = fac["price_usd_per_kwh"] > 0.1
    assert set(fac.loc[high, "t_s"]) == {t for t in fac["t_s"] if 900 <= t < 4500}
    assert (fac.loc[high, "it_budget_w"] == 80e3).all()
    assert (fac.loc[high, "it_power_w"] <= 80e3 * (1 + 1e-4)).all()
    free = ~high & ((fac["t_s"] < 6000) | (fac["t_s"] >= 6600))
    assert (fac.loc[free, "it_budget_w"] == timeline.summary()["it_capacity_w"]).all()
    assert fac.loc[fac["t_s"] < 900, "it_power_w"].max() > 1.2 * 80e3


def test_a_curtailment_is_announced_held_and_lifted(timeline):
    """The utility's call is logged at its notice (600 s ahead), start and end; meanwhile the
    facility draws at most its 61 kW limit at the meter."""
    ev = timeline.frames()["events"]
    grid = ev[ev["component"].str.startswith("grid/")]
    assert list(zip(grid["t_s"], grid["component"], grid["record_type"])) == [
        (900.0, "grid/price_limit", "limit_on"),
        (4500.0, "grid/price_limit", "limit_off"),
        (5400.0, "grid/curtailment", "notice"),
        (6000.0, "grid/curtailment", "curtailment"),
        (6600.0, "grid/curtailment", "end"),
    ]
    ts = timeline.frames()["timeseries"]
    fac = ts[ts["component"] == "facility"]
    during = fac[(fac["t_s"] >= 6000) & (fac["t_s"] < 6600)]
    assert len(during) == 10
    assert (during["facility_power_w"] <= 61e3 * (1 + 1e-4)).all()
    assert fac.loc[(fac["t_s"] >= 4500) & (fac["t_s"] < 6000), "facility_power_w"].min() > 61e3  # it binds
    assert (during["it_budget_w"] < 61e3).all()


def test_a_limit_that_never_comes_on_changes_nothing():
    """A price threshold above every price: no limit event, and the run is bit-identical to
    the run without the limit (all but the count of SimPy events: the limit's watcher process
    starts and ends at once, two events)."""
    base = dcsim.run(TOU + ["duration_s=1800"]).summary()
    idle = dcsim.run(TOU + ["duration_s=1800",
                            "+facility.grid.signal_limits=[{signal: price, above: 1.0, it_limit_kw: 1}]"]).summary()
    assert idle.pop("events_processed") == base.pop("events_processed") + 2
    assert same_summary(idle, base)


@pytest.mark.parametrize("override, field", [
    ("+facility.grid.signal_limits=[{signal: price, above: 0.1, it_limit_kw: 0}]", "it_limit_kw"),
    ("+facility.grid.signal_limits=[{signal: carbon, above: -1, it_limit_kw: 10}]", "above"),
    ("+facility.grid.curtailments=[{start_s: 100, duration_s: 60, limit_kw: 50, notice_s: 300}]",
     "facility.grid.curtailments.0.notice_s"),
    ("+facility.grid.curtailments=[{start_s: 100, duration_s: 0, limit_kw: 50}]", "duration_s"),
])
def test_bad_signal_and_curtailment_settings_are_refused(override, field):
    """Out-of-range values name their field (an unknown signal: tests/test_bad_inputs.py)."""
    with pytest.raises(ConfigError, match=field):
        build(compose_config(["output.write=false", override]))
