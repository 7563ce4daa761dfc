"""Grid: carbon intensity, electricity price, renewables, demand response, exact integration."""

import numpy as np
import pytest

from dcsim.core.units import HOUR_S, KWH_J
from dcsim.facility.climate import Climate
from dcsim.facility.grid import (
    GRID_REGIONS,
    CarbonIntensity,
    DemandResponse,
    DemandResponseEvent,
    ElectricityPrice,
    HourlySteps,
    RenewableShare,
    carbon_kg,
    integrate_energy,
)

# Annual unweighted means of avg_CI in the shipped EIA-930 2022 files (gCO2/kWh), as found:
# PJM 362.6, CISO 256.2, ERCO 347.2.
FOUND_MEANS = {"pjm": 362.6, "ciso": 256.2, "erco": 347.2}


@pytest.mark.parametrize("region", sorted(GRID_REGIONS))
def test_carbon_files_load_a_full_year_with_plausible_means(region):
    """Each shipped region has 8760 finite hourly intensities and fuel mixes, with an annual
    mean between 150 and 500 gCO2/kWh (US grids in 2022) equal to the value found in the file."""
    c = CarbonIntensity.named(region, 1, 0.0)
    assert c.series.values.shape == (8760,)
    assert np.all(np.isfinite(c.series.values)) and np.all(c.series.values > 0)
    assert set(c.mix_mwh) == {"WND", "SUN", "WAT", "OIL", "NG", "COL", "NUC", "OTH"}
    assert all(v.shape == (8760,) and np.all(np.isfinite(v)) for v in c.mix_mwh.values())
    assert 150 < c.annual_mean_g_per_kwh < 500
    assert c.annual_mean_g_per_kwh == pytest.approx(FOUND_MEANS[region], abs=0.1)


def test_california_is_cleaner_than_pjm_and_solar_peaks_at_local_noon():
    """CISO's average intensity is below PJM's; CISO solar generation peaks around local noon
    (Pacific standard time) once UTC is aligned, and is zero at local midnight."""
    ciso = CarbonIntensity.named("ciso", 1, 0.0)
    pjm = CarbonIntensity.named("pjm", 1, 0.0)
    assert ciso.annual_mean_g_per_kwh < pjm.annual_mean_g_per_kwh - 50
    june_ciso = CarbonIntensity.named("ciso", 172, 0.0)  # t = 0: 21 June 00:00 PST
    sun = [june_ciso.generation_mix_mwh(h * HOUR_S + 1.0)["SUN"] for h in range(24)]
    assert 10 <= int(np.argmax(sun)) <= 14
    assert sun[0] == pytest.approx(0.0, abs=50.0)
    # in summer, midday solar makes California's grid cleaner than at night
    assert june_ciso.intensity_g_per_kwh(12 * HOUR_S) < june_ciso.intensity_g_per_kwh(21 * HOUR_S)


def test_utc_alignment_with_the_climate():
    """Simulated t = 0 at 1 Jan 00:00 local standard time in Virginia (UTC-5) reads the EIA row
    of 1 Jan 05:00 UTC; the climate's own offset gives the same alignment."""
    climate = Climate.named("leesburg_va", 1, 0.0)
    c = CarbonIntensity.named("pjm", 1, 0.0, utc_offset_h=climate.utc_offset_h)
    assert c.intensity_g_per_kwh(0.0) == c.series.values[5]
    assert c.intensity_g_per_kwh(0.0) == CarbonIntensity.named("pjm", 1, 0.0).intensity_g_per_kwh(0.0)
    utc = CarbonIntensity.named("pjm", 1, 0.0, utc_offset_h=0.0)
    assert utc.intensity_g_per_kwh(0.0) == utc.series.values[0]
    # a start late on 31 Dec wraps into January
    late = CarbonIntensity.named("pjm", 365, 23.0, utc_offset_h=-5.0)  # 1 Jan 04:00 UTC, wrapped
    assert late.intensity_g_per_kwh(0.0) == late.series.values[4]


def test_eia_file_from_path_matches_shipped(tmp_path):
    """Reading an EIA file by path (empty cells interpolated) gives the shipped series."""
    header = "timestamp,WND,SUN,WAT,OIL,NG,COL,NUC,OTH,avg_CI\n"
    rows = ["2022-01-01 00:00:00+00:00,1,1,1,1,1,1,1,1,100", "2022-01-01 01:00:00+00:00,,,,,,,,,",
            "2022-01-01 02:00:00+00:00,3,3,3,3,3,3,3,3,300"]
    p = tmp_path / "x.csv"
    p.write_text(header + "\n".join(rows) + "\n")
    c = CarbonIntensity.from_eia_csv(p, 1, 0.0, utc_offset_h=0.0)
    np.testing.assert_allclose(c.series.values, [100, 200, 300])
    assert c.generation_mix_mwh(HOUR_S)["NG"] == pytest.approx(2.0)


def test_flat_carbon_and_price():
    """Flat intensity and price are the same at every time."""
    c = CarbonIntensity.flat(400.0)
    p = ElectricityPrice.flat(0.08)
    for t in (0.0, 1234.5, 1e7):
        assert c.intensity_g_per_kwh(t) == 400.0
        assert p.price_per_kwh(t) == 0.08


def test_time_of_use_price_at_peak_and_off_peak():
    """A TOU tariff charges the peak price inside the peak hours and the off-peak price outside,
    every day, relative to the start hour; peak windows may wrap past midnight."""
    p = ElectricityPrice.time_of_use(0.30, 0.10, start_hour=12.0, peak_start_hour=16, peak_end_hour=21)
    assert p.price_per_kwh(0.0) == 0.10  # 12:00
    assert p.price_per_kwh(4 * HOUR_S) == 0.30  # 16:00
    assert p.price_per_kwh(9 * HOUR_S - 1) == 0.30  # 20:59:59
    assert p.price_per_kwh(9 * HOUR_S) == 0.10  # 21:00
    assert p.price_per_kwh(28 * HOUR_S) == 0.30  # next day 16:00
    night = ElectricityPrice.time_of_use(0.2, 0.05, start_hour=0.0, peak_start_hour=22, peak_end_hour=2)
    assert [night.price_per_kwh(h * HOUR_S) for h in (21, 22, 1, 2)] == [0.05, 0.2, 0.2, 0.05]
    # a day's average is the hour-weighted mix
    assert p.series.mean(0.0, 24 * HOUR_S) == pytest.approx((5 * 0.30 + 19 * 0.10) / 24)
    with pytest.raises(ValueError):
        ElectricityPrice.time_of_use(0.3, 0.1, 0.0, peak_start_hour=5, peak_end_hour=5)


def test_hourly_price_file(tmp_path):
    """An hourly price file is read in local standard time from the start date and repeats."""
    p = tmp_path / "prices.csv"
    p.write_text("hour,usd_per_kwh\n" + "\n".join(f"{h},{h / 100:.2f}" for h in range(48)) + "\n")
    price = ElectricityPrice.from_csv(p, start_day_of_year=2, start_hour=3.0)  # hour 27 of the file
    assert price.price_per_kwh(0.0) == pytest.approx(0.27)
    assert price.price_per_kwh(20 * HOUR_S + 10) == pytest.approx(0.47)
    assert price.price_per_kwh(21 * HOUR_S) == pytest.approx(0.00)  # wraps after 48 rows
    bad = tmp_path / "bad.csv"
    bad.write_text("hour,price\n0,1\n")
    with pytest.raises(ValueError, match="hour,usd_per_kwh"):
        ElectricityPrice.from_csv(bad, 1, 0.0)


def test_step_integral_is_exact_across_hours_and_wraps():
    """The integral of an hourly step series over any window equals the hand sum, including
    windows that cross the end of the series."""
    s = HourlySteps(np.array([1.0, 2.0, 4.0]), offset_s=0.5 * HOUR_S)
    # t in [0, 2h] covers 0.5 h of value 1, 1 h of value 2, 0.5 h of value 4
    assert float(s.integral(0.0, 2 * HOUR_S)) == pytest.approx((0.5 * 1 + 2 + 0.5 * 4) * HOUR_S)
    # wrap: [2.5h, 4.5h] from series start = hours 2.5..3 (4), 3..4 (1 again), 4..4.5 (2)
    assert float(s.integral(2 * HOUR_S, 4 * HOUR_S)) == pytest.approx((0.5 * 4 + 1 + 0.5 * 2) * HOUR_S)
    assert float(s.integral(0.0, 3 * HOUR_S * 100)) == pytest.approx(7 * HOUR_S * 100)


def test_step_mean_is_the_integral_over_the_span_to_the_last_bit():
    """The scalar mean the control tick takes (twice per interval) is the array integral's
    over the span, exactly: carbon and cost of a run do not move with the path taken."""
    rng = np.random.default_rng(7)
    for offset_s in (0.0, 1234.5, 5000 * HOUR_S):
        s = HourlySteps(rng.uniform(0.0, 500.0, 8760), offset_s=offset_s)
        t0 = rng.uniform(0.0, 3e8, 2000)
        t1 = t0 + np.where(rng.random(2000) < 0.5, 60.0, rng.uniform(0.0, 1e6, 2000))
        means = [s.mean(a, b) for a, b in zip(t0.tolist(), t1.tolist())]
        assert means == (s.integral(t0, t1) / (t1 - t0)).tolist()
    assert s.mean(10.0, 10.0) == s.at(10.0)


def test_energy_weighted_carbon_and_cost_equal_hand_computation():
    """Carbon and cost of a piecewise-constant power series equal the hand computation, with
    intervals that straddle hour boundaries weighted by the hours they actually cover."""
    carbon = CarbonIntensity("test", HourlySteps(np.array([100.0, 300.0, 200.0])))
    price = ElectricityPrice("test", HourlySteps(np.array([0.1, 0.2, 0.3])))
    t = [0.0, 1800.0, 5400.0]
    d = [1800.0, 3600.0, 5400.0]  # 0-0.5h, 0.5-1.5h, 1.5-3h
    p = [1e6, 2e6, 4e6]
    acc = integrate_energy(t, d, p, carbon, price)
    # hand: kWh per hour segment x intensity
    kwh = {  # (power kW, hours) per hour-of-series
        0: [(1000, 0.5), (2000, 0.5)],
        1: [(2000, 0.5), (4000, 0.5)],
        2: [(4000, 1.0)],
    }
    ci, pr = [100, 300, 200], [0.1, 0.2, 0.3]
    hand_kg = sum(kw * h * ci[k] / 1000 for k, segs in kwh.items() for kw, h in segs)
    hand_usd = sum(kw * h * pr[k] for k, segs in kwh.items() for kw, h in segs)
    assert acc.total_carbon_kg == pytest.approx(hand_kg)  # 2,050 kg
    assert acc.total_cost_usd == pytest.approx(hand_usd)
    assert acc.total_energy_j == pytest.approx(sum(x * y for x, y in zip(p, d)))
    assert acc.carbon_kg[1] == pytest.approx((2000 * 0.5 * 100 + 2000 * 0.5 * 300) / 1000)
    # a plain mean of point samples at interval starts would be wrong here
    naive = sum(pi * di / KWH_J * carbon.intensity_g_per_kwh(ti) / 1000 for ti, di, pi in zip(t, d, p))
    assert naive != pytest.approx(hand_kg)


def test_renewable_share_scales_carbon_only():
    """A renewable share f removes a fraction f of the carbon and leaves energy and cost alone;
    carbon_kg of a window agrees with integrate_energy for constant power."""
    carbon = CarbonIntensity.named("pjm", 100, 6.0)
    price = ElectricityPrice.flat(0.1)
    base = integrate_energy([0.0], [7200.0], [1e6], carbon, price)
    green = integrate_energy([0.0], [7200.0], [1e6], carbon, price, RenewableShare(0.3))
    assert green.total_carbon_kg == pytest.approx(0.7 * base.total_carbon_kg)
    assert green.total_cost_usd == base.total_cost_usd == pytest.approx(2000 * 0.1)
    assert carbon_kg(carbon, 0.0, 7200.0, 7.2e9, RenewableShare(0.3)) == pytest.approx(green.total_carbon_kg)
    with pytest.raises(ValueError):
        RenewableShare(1.5)


def test_demand_response_windows():
    """A DR event limits facility power only inside its half-open window; fractional limits use
    the budget; overlapping events take the lowest limit; next_change_s finds the boundaries."""
    dr = DemandResponse(
        (DemandResponseEvent(3600.0, 1800.0, limit_fraction=0.8),
         DemandResponseEvent(4500.0, 3600.0, limit_w=5e6)),
        budget_w=10e6,
    )
    assert dr.limit_w(0.0) is None
    assert dr.limit_w(3599.9) is None
    assert dr.limit_w(3600.0) == pytest.approx(8e6)
    assert dr.limit_w(4600.0) == pytest.approx(5e6)  # both active: lowest wins
    assert dr.limit_w(5400.0) == pytest.approx(5e6)  # first ended at 5400 (exclusive)
    assert dr.limit_w(8100.0) is None
    assert dr.next_change_s(0.0) == 3600.0 and dr.next_change_s(3600.0) == 4500.0
    assert dr.next_change_s(8100.0) is None
    with pytest.raises(ValueError, match="budget"):
        DemandResponse((DemandResponseEvent(0.0, 10.0, limit_fraction=0.5),))
    with pytest.raises(ValueError, match="exactly one"):
        DemandResponseEvent(0.0, 10.0, limit_w=1.0, limit_fraction=0.5)
