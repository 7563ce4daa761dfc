"""Arrival processes: counts, burstiness, daily profile, trace replay, speed and validation.

Statistical tolerances are stated per test; each is at least five standard errors wide,
so with fixed seeds the tests are deterministic and would still pass for other seeds
with overwhelming probability.
"""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from dcsim.workloads.inference.arrivals import (
    ArrivalProcess,
    DiurnalArrivals,
    GammaArrivals,
    PoissonArrivals,
    ScaledArrivals,
    TraceArrivals,
    renewal_times,
    window_arrival_times,
)
from dcsim.workloads.inference.traces import Trace


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def _small_trace() -> Trace:
    return Trace("t", np.array([0.0, 1.0, 2.0, 4.0, 8.0]), np.array([10, 20, 30, 40, 50]), np.array([1, 2, 3, 4, 5]))


PROCESSES = [
    PoissonArrivals(5.0),
    GammaArrivals(5.0, 0.5),
    GammaArrivals(5.0, 4.0),
    DiurnalArrivals(5.0, 4.0, 15.0),
    DiurnalArrivals(5.0, 4.0, 15.0, cv=3.0, start_hour=20.0),
    TraceArrivals(_small_trace(), 0.01),
    ScaledArrivals(DiurnalArrivals(1.0, 2.0, 3.0), 5.0),
]


@pytest.mark.parametrize("process", PROCESSES, ids=repr)
def test_processes_return_sorted_times_in_range_and_are_reproducible(process):
    """Every process satisfies the protocol, returns sorted float64 times in [0, until_s)
    (none for until_s = 0), and the same seed gives the same times."""
    assert isinstance(process, ArrivalProcess)
    t = process.arrival_times_s(_rng(3), 500.0)
    assert t.dtype == np.float64 and t.size > 0
    assert np.all(np.diff(t) >= 0) and t[0] >= 0 and t[-1] < 500.0
    np.testing.assert_array_equal(t, process.arrival_times_s(_rng(3), 500.0))
    assert process.arrival_times_s(_rng(3), 0.0).size == 0


def test_poisson_counts_and_gaps_over_many_draws():
    """Poisson: counts over 4,000 windows have mean and variance rate x T (dispersion 1)
    and one long draw has exponential gaps (CV 1). Tolerances: mean 1 % (SE 0.35 %),
    variance 15 % (SE 2.3 %), gap CV 0.01 (SE 0.0014 at 1e6 gaps)."""
    p = PoissonArrivals(4.0)
    rng = _rng(1)
    counts = np.array([p.arrival_times_s(rng, 5.0).size for _ in range(4000)])
    assert counts.mean() == pytest.approx(20.0, rel=0.01)
    assert counts.var() == pytest.approx(20.0, rel=0.15)
    t = PoissonArrivals(50.0).arrival_times_s(rng, 20_000.0)
    assert abs(t.size - 1e6) < 5 * 1e3
    gaps = np.diff(t)
    assert gaps.std() / gaps.mean() == pytest.approx(1.0, abs=0.01)


@pytest.mark.parametrize("cv", [0.5, 3.0])
def test_gamma_recovers_rate_and_cv(cv):
    """Gamma renewal: ~500,000 gaps have mean 1/rate and the requested CV within 3 %
    (SE of the sample CV is 0.53 % at CV 3, from the gamma kurtosis 6/k), and the count
    is within 5 sd (sd = CV sqrt(n)) of rate x T."""
    rate, until = 100.0, 5000.0
    t = GammaArrivals(rate, cv).arrival_times_s(_rng(2), until)
    n = rate * until
    assert abs(t.size - n) < 5 * cv * math.sqrt(n)
    gaps = np.diff(t)
    assert gaps.mean() == pytest.approx(1 / rate, rel=0.03)
    assert gaps.std() / gaps.mean() == pytest.approx(cv, rel=0.03)


def test_gamma_starts_in_equilibrium():
    """A bursty (CV 4) process observed for 10 mean gaps from t = 0 has 10 arrivals on
    average: the first arrival is drawn from the forward-recurrence distribution. An
    ordinary renewal process started at 0 would average ~17.5 (+(CV^2 - 1)/2).
    Tolerance 1.0 (SE ~0.2 over 3,000 windows)."""
    g = GammaArrivals(1.0, 4.0)
    rng = _rng(4)
    counts = np.array([g.arrival_times_s(rng, 10.0).size for _ in range(3000)])
    assert counts.mean() == pytest.approx(10.0, abs=1.0)


@pytest.mark.parametrize("family,shape", [("gamma", 0.1), ("weibull", 0.3), ("weibull", 2.0)])
def test_renewal_segments_are_stationary_and_ordered(family, shape):
    """Many short renewal segments drawn together: each averages length / mean-gap
    arrivals (stationary start, either family) and times increase within a segment.
    Tolerance 3 % on 20,000 segments of 10 expected arrivals (SE < 1 %)."""
    n = 20_000
    seg, t = renewal_times(_rng(5), family, np.full(n, shape), np.full(n, 0.5), np.full(n, 5.0))
    counts = np.bincount(seg, minlength=n)
    assert counts.mean() == pytest.approx(10.0, rel=0.03)
    assert np.all(np.diff(seg) >= 0)
    assert np.all((np.diff(t) >= 0) | (np.diff(seg) > 0))
    assert t.min() >= 0 and t.max() < 5.0


def test_window_arrivals_keep_counts_and_burstiness():
    """Count-conditioned windows hold exactly the requested counts inside their bounds,
    and large windows keep the gap CV of their shape (gamma k = 1/CV^2) within 5 %,
    even at shape 0.01 where one gap dominates."""
    count = np.array([3, 0, 200_000, 200_000])
    shape = np.array([1.0, 1.0, 1 / 2.0**2, 0.01])
    start = np.array([0.0, 600.0, 1200.0, 1800.0])
    seg, t = window_arrival_times(_rng(6), "gamma", shape, count, start, np.full(4, 600.0))
    np.testing.assert_array_equal(np.bincount(seg, minlength=4), count)
    assert np.all(t >= start[seg]) and np.all(t < start[seg] + 600.0)
    gaps = np.diff(t[seg == 2])
    assert gaps.std() / gaps.mean() == pytest.approx(2.0, rel=0.05)
    assert np.all(np.diff(t[seg == 3]) >= 0)


def test_diurnal_mean_rate_over_a_day():
    """Over any whole day the expected rate is exactly mean_rate_per_s, whatever the
    phase; over the peak hour it is higher and over the trough hour lower."""
    d = DiurnalArrivals(10.0, 3.0, peak_hour=14.0, start_hour=6.0)
    for t0 in (0.0, 5000.0, 3 * 86400.0 + 123.0):
        assert d.mean_rate_per_s(t0, t0 + 86400.0) == pytest.approx(10.0, rel=1e-12)
    peak = d.mean_rate_per_s((14 - 6 - 0.5) * 3600, (14 - 6 + 0.5) * 3600)
    trough = d.mean_rate_per_s((26 - 6 - 0.5) * 3600, (26 - 6 + 0.5) * 3600)
    assert peak > 14.9 and trough < 5.1


@pytest.mark.parametrize("cv", [1.0, 2.0])
def test_diurnal_hourly_counts_follow_the_profile(cv):
    """One simulated day from local 06:00 at 20 req/s mean, peak/trough 3, peak at
    14:30: the day's count is 20 x 86,400 within 5 sd, the busiest local hour is
    14:00-15:00, the quietest 02:00-03:00, and their count ratio is the sinusoid's
    hourly average ratio (~2.99) within 4 % (SE ~0.7 % at CV 2)."""
    d = DiurnalArrivals(20.0, 3.0, peak_hour=14.5, cv=cv, start_hour=6.0)
    t = d.arrival_times_s(_rng(7), 86400.0)
    assert abs(t.size - 20 * 86400) < 5 * cv * math.sqrt(20 * 86400)
    hour = ((6.0 + t / 3600.0) % 24).astype(int)
    hourly = np.bincount(hour, minlength=24)
    assert hourly.argmax() == 14 and hourly.argmin() == 2
    a = (3 - 1) / (3 + 1)
    sinc = math.sin(math.pi / 24) / (math.pi / 24)
    expected_ratio = (1 + a * sinc) / (1 - a * sinc)
    assert hourly.max() / hourly.min() == pytest.approx(expected_ratio, rel=0.04)


def test_trace_arrivals_scale_times_by_the_multiplier():
    """rate_multiplier 2 replays the trace twice as fast; rng is ignored; the rate over
    a window counts the scaled trace times inside it."""
    ta = TraceArrivals(_small_trace(), rate_multiplier=2.0)
    np.testing.assert_array_equal(ta.arrival_times_s(None, 100.0), [0.0, 0.5, 1.0, 2.0, 4.0])
    np.testing.assert_array_equal(ta.arrival_times_s(_rng(), 2.0), [0.0, 0.5, 1.0])
    assert ta.mean_rate_per_s(0.0, 4.0) == 1.0
    assert ta.mean_rate_per_s(0.25, 1.0) == pytest.approx(1 / 0.75)
    slow = TraceArrivals(_small_trace(), rate_multiplier=0.5)
    np.testing.assert_array_equal(slow.arrival_times_s(None, 100.0), [0.0, 2.0, 4.0, 8.0, 16.0])


def test_scaled_arrivals_compress_time():
    """ScaledArrivals(p, m) replays p m times as fast: a scaled trace equals the trace
    replayed with that multiplier, and rates scale by m over the stretched window."""
    trace = _small_trace()
    np.testing.assert_array_equal(ScaledArrivals(TraceArrivals(trace), 2.0).arrival_times_s(None, 3.0),
                                  TraceArrivals(trace, 2.0).arrival_times_s(None, 3.0))
    d = DiurnalArrivals(4.0, 3.0, peak_hour=12.0)
    fast = ScaledArrivals(d, 2.0)
    assert fast.mean_rate_per_s(0.0, 43200.0) == pytest.approx(8.0, rel=1e-12)  # one compressed day
    assert fast.mean_rate_per_s(100.0, 200.0) == pytest.approx(2.0 * d.mean_rate_per_s(200.0, 400.0))


@pytest.mark.parametrize("process,until_s", [
    (PoissonArrivals(1e5), 10.0),
    (GammaArrivals(1e5, 2.0), 10.0),
    (DiurnalArrivals(1e6 / 86400, 3.0, 14.0), 86400.0),
    (DiurnalArrivals(1e6 / 86400, 3.0, 14.0, cv=2.0), 86400.0),
], ids=repr)
def test_a_million_arrivals_take_well_under_a_second(process, until_s):
    """Bulk drawing: 1,000,000 arrivals in under 1 s (typically 0.03-0.1 s)."""
    process.arrival_times_s(_rng(), 1.0)  # warm up
    start = time.perf_counter()
    t = process.arrival_times_s(_rng(8), until_s)
    elapsed = time.perf_counter() - start
    assert 0.98e6 < t.size < 1.02e6
    assert elapsed < 1.0


@pytest.mark.parametrize("make,name,value", [
    (lambda: PoissonArrivals(-1.0), "rate_per_s", "-1.0"),
    (lambda: PoissonArrivals(float("nan")), "rate_per_s", "nan"),
    (lambda: GammaArrivals(1.0, 0.0), "cv", "0.0"),
    (lambda: GammaArrivals(1.0, 1000.0), "cv", "1000.0"),
    (lambda: DiurnalArrivals(1.0, 0.5, 3.0), "peak_to_trough", "0.5"),
    (lambda: DiurnalArrivals(1.0, 2.0, 24.0), "peak_hour", "24.0"),
    (lambda: DiurnalArrivals(1.0, 2.0, 3.0, cv=-1.0), "cv", "-1.0"),
    (lambda: DiurnalArrivals(1.0, 2.0, 3.0, start_hour=-2.0), "start_hour", "-2.0"),
    (lambda: TraceArrivals(_small_trace(), 0.0), "rate_multiplier", "0.0"),
    (lambda: ScaledArrivals(PoissonArrivals(1.0), -2.0), "rate_multiplier", "-2.0"),
    (lambda: PoissonArrivals(1.0).mean_rate_per_s(5.0, 5.0), "t1_s", "5.0"),
    (lambda: GammaArrivals(1.0, 2.0).arrival_times_s(_rng(), -1.0), "until_s", "-1.0"),
])
def test_invalid_parameters_are_one_line_errors_naming_the_parameter(make, name, value):
    """A bad parameter raises ValueError with one line naming it, its value and what is allowed."""
    with pytest.raises(ValueError) as err:
        make()
    msg = str(err.value)
    assert "\n" not in msg
    assert msg.startswith(f"{name}={value} is not allowed: ")
