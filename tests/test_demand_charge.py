"""Demand charges: peak demand over the utility's 15-minute intervals x $/kW-month, prorated."""

from __future__ import annotations

import numpy as np
import pytest

import dcsim
from dcsim.api import compose_config
from dcsim.config.build import build
from dcsim.core.errors import ConfigError
from dcsim.facility.cost import MONTH_S, CostModel
from dcsim.facility.grid import DEMAND_INTERVAL_S, DemandMeter, peak_demand_w

RUN = ["duration_s=3600", "output.write=false"]


def test_a_short_spike_is_averaged_over_its_demand_interval():
    """A minute at 1 MW inside a quarter hour otherwise at 100 kW registers 160 kW of demand
    ((14 x 100 + 1 x 1000) / 15): the meter bills the interval's mean, not the spike."""
    t = np.arange(0.0, 3600.0, 60.0)
    p = np.full_like(t, 100e3)
    p[20] = 1e6  # 1200-1260 s, inside [900, 1800)
    assert peak_demand_w(t, np.full_like(t, 60.0), p) == pytest.approx(160e3, rel=1e-12)


def test_rows_straddling_interval_edges_are_split_exactly():
    """Rows of 7 minutes do not line up with the 15-minute intervals; each interval's energy is
    integrated across the rows it straddles: [0, 900) holds 420 s at 1 kW, 420 s at 2 kW and
    60 s at 4 kW."""
    t = np.array([0.0, 420.0, 840.0, 1260.0])
    d = np.array([420.0, 420.0, 420.0, 540.0])  # to 1800 s: both intervals fully covered
    p = np.array([1e3, 2e3, 4e3, 0.0])
    first = (420 * 1e3 + 420 * 2e3 + 60 * 4e3) / 900
    second = (360 * 4e3 + 0.0) / 900  # [900, 1800): 360 s at 4 kW, then 540 s at 0 W
    assert peak_demand_w(t, d, p) == pytest.approx(max(first, second), rel=1e-12)
    # a partly covered last interval is averaged over the part covered: 60 s at 5 kW after 900 s
    assert peak_demand_w([0.0, 900.0], [900.0, 60.0], [1e3, 5e3]) == pytest.approx(5e3)
    assert peak_demand_w([], [], []) == 0.0
    with pytest.raises(ValueError, match="demand_interval_s"):
        peak_demand_w(t, d, p, 0.0)


def test_the_charge_is_prorated_to_the_run():
    """$15/kW-month on 1 MW: $15,000 for a billing month (365/12 days), 1/730 of it per hour."""
    m = CostModel(demand_charge_usd_per_kw_month=15.0)
    assert m.demand_charge_usd(1e6, MONTH_S) == pytest.approx(15_000.0)
    assert m.demand_charge_usd(1e6, 3600.0) == pytest.approx(15_000.0 / 730.0)
    assert CostModel().demand_charge_usd(1e6, MONTH_S) == 0.0  # no demand charge by default
    b = m.cost_breakdown(MONTH_S, 100.0, 8, 1, 10e3, "air", floor_area_m2=10.0, peak_demand_w=1e6)
    assert b["demand_usd"] == pytest.approx(15_000.0)
    assert b["total_usd"] == pytest.approx(b["capex_usd"] + 100.0 + 15_000.0)
    assert m.demand_interval_s == DEMAND_INTERVAL_S == 900.0
    with pytest.raises(ValueError, match="demand_charge_usd_per_kw_month"):
        CostModel(demand_charge_usd_per_kw_month=-1.0)


def test_a_run_pays_its_peak_demand_and_cost_per_token_moves():
    """The summary's peak demand is the highest 15-minute mean of the grid draw (between the
    mean and the peak interval power); with $20/kW-month the total cost rises by exactly
    peak kW x 20 x T / month, and cost per million tokens by the same factor as the total."""
    base = dcsim.run(RUN).summary()
    charged = dcsim.run(RUN + ["facility.cost.demand_charge_usd_per_kw_month=20"]).summary()
    assert base["demand_charge_usd"] == 0.0
    peak = charged["peak_demand_w"]
    assert peak == base["peak_demand_w"]  # the charge changes the bill, not the run
    assert charged["facility_power_mean_w"] <= peak <= charged["peak_facility_power_w"] * (1 + 1e-12)
    expected = peak / 1e3 * 20.0 * 3600.0 / MONTH_S
    assert charged["demand_charge_usd"] == pytest.approx(expected, rel=1e-12)
    assert charged["cost_total_usd"] == pytest.approx(base["cost_total_usd"] + expected, rel=1e-12)
    ratio = charged["cost_total_usd"] / base["cost_total_usd"]
    assert charged["cost_per_million_tokens_usd"] == pytest.approx(base["cost_per_million_tokens_usd"] * ratio)


def test_a_longer_demand_interval_smooths_the_peak():
    """An hour-long demand interval registers no more demand than 15 minutes on the same run."""
    quarter = dcsim.run(RUN).summary()["peak_demand_w"]
    hour = dcsim.run(RUN + ["facility.cost.demand_interval_s=3600"]).summary()["peak_demand_w"]
    assert hour <= quarter


@pytest.mark.parametrize("override, field", [
    ("facility.cost.demand_charge_usd_per_kw_month=-5", "demand_charge_usd_per_kw_month"),
    ("facility.cost.demand_interval_s=10", "demand_interval_s"),
])
def test_bad_demand_charge_settings_are_refused(override, field):
    with pytest.raises(ConfigError, match=field):
        build(compose_config(RUN + [override]))


def test_the_streaming_meter_agrees_with_the_whole_series():
    """The facility's DemandMeter, fed one control interval at a time (uneven lengths, a fault's
    short row), gives the peak that peak_demand_w finds on the whole series."""
    rng = np.random.default_rng(7)
    d = rng.choice([60.0, 60.0, 60.0, 17.5, 42.5], size=400)
    t = np.concatenate(([0.0], np.cumsum(d)[:-1]))
    p = rng.uniform(50e3, 500e3, size=400)
    meter = DemandMeter()
    for row in zip(t, d, p):
        meter.add(*row)
    assert meter.peak_w == pytest.approx(peak_demand_w(t, d, p), rel=1e-12)
