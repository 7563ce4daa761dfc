"""When inference requests arrive: Poisson, bursty (gamma renewal), diurnal, replayed
traces, or a closed loop of users (:class:`ClosedLoop`, whose arrivals follow completions).

Every process draws its whole arrival sequence in bulk with numpy (a million arrivals
take a few tens of milliseconds) and knows its expected rate over any interval, which
the fluid model uses instead of samples.

Renewal processes here are *stationary* (equilibrium) renewal processes: the first
arrival is drawn from the forward-recurrence distribution, not as one full gap from
t = 0. With bursty gaps (CV > 1) an ordinary renewal process started at 0 has
E[N(t)] ~ t / mean + (CV^2 - 1) / 2, about 7 extra arrivals per start at CV 4, which
would bias every short window; the stationary one has E[N(t)] = t / mean exactly.
For gamma(k, theta) gaps the interval covering t = 0 is gamma(k + 1, theta) (length
biased) and t = 0 falls uniformly inside it; for Weibull(k, lambda) gaps the length
biased interval is lambda * G^(1/k) with G ~ gamma(1 + 1/k, 1).

ServeGen descriptions record a request count per window; ``window_arrival_times``
places exactly that many arrivals, spaced like a renewal process given its count.
See docs/traces.md.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

from dcsim.core.errors import require
from dcsim.core.units import DAY_S, HOUR_S

if TYPE_CHECKING:
    from dcsim.workloads.inference.traces import Trace

RENEWAL_FAMILIES = ("gamma", "weibull")


@runtime_checkable
class ArrivalProcess(Protocol):
    """A source of request arrival times."""

    def arrival_times_s(self, rng: np.random.Generator, until_s: float) -> np.ndarray:
        """Sorted float64 arrival times in [0, until_s), drawn in bulk."""
        ...

    def mean_rate_per_s(self, t0_s: float, t1_s: float) -> float:
        """Expected arrivals per second over [t0_s, t1_s)."""
        ...


def _finite(value: float) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and math.isfinite(value)


def _check_until(until_s: float) -> float:
    require(_finite(until_s) and until_s >= 0, "until_s", until_s, "a finite number of seconds >= 0")
    return float(until_s)


def _check_window(t0_s: float, t1_s: float) -> None:
    require(_finite(t0_s), "t0_s", t0_s, "a finite number of seconds")
    require(_finite(t1_s) and t1_s > t0_s, "t1_s", t1_s, f"a finite number of seconds > t0_s={t0_s}")


def _lgamma(x: np.ndarray) -> np.ndarray:
    """log Gamma(x), elementwise (numpy has no lgamma and scipy is not a dependency)."""
    return np.array([math.lgamma(v) for v in np.ravel(x)], dtype=np.float64).reshape(np.shape(x))


def _unit_gaps(rng: np.random.Generator, family: str, shape: np.ndarray, lg: np.ndarray) -> np.ndarray:
    """Gaps with mean 1, one per entry of ``shape`` (``lg`` = lgamma(1 + 1/shape) for Weibull)."""
    if family == "gamma":
        if shape.size and shape[0] == shape[-1] and np.all(shape == shape[0]):
            return rng.gamma(shape[0], size=shape.size) / shape[0]  # scalar shape: faster
        return rng.gamma(shape) / shape
    # Weibull in log space: X = E^(1/k) / Gamma(1 + 1/k) with E ~ Exp(1); for small
    # shapes E^(1/k) and Gamma(1 + 1/k) alone would overflow.
    with np.errstate(divide="ignore", under="ignore", over="ignore"):
        return np.exp(np.log(rng.standard_exponential(shape.size)) / shape - lg)


def _unit_first_arrival(rng: np.random.Generator, family: str, shape: np.ndarray, lg: np.ndarray) -> np.ndarray:
    """Forward-recurrence times of mean-1 gap distributions: when the first arrival comes."""
    u = rng.random(shape.size)
    if family == "gamma":
        return u * rng.gamma(shape + 1.0) / shape
    with np.errstate(divide="ignore", under="ignore", over="ignore"):
        return u * np.exp(np.log(rng.gamma(1.0 + 1.0 / shape)) / shape - lg)


def _sorted_uniforms(rng: np.random.Generator, n: int, length: float) -> np.ndarray:
    """``n`` sorted uniform points in [0, length): S_i / S_(n+1) for exponential partial sums S."""
    s = np.cumsum(rng.standard_exponential(n + 1))
    t = s[:-1] * (length / s[-1])
    return t[t < length]


def renewal_times(
    rng: np.random.Generator,
    family: str,
    shape: np.ndarray,
    mean_gap_s: np.ndarray,
    length_s: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Independent stationary renewal processes, one per segment, drawn together.

    Segment ``j`` has gaps of ``family`` ("gamma" or "weibull") with shape ``shape[j]``
    and mean ``mean_gap_s[j]``, observed over [0, length_s[j]). Returns ``(segment,
    t_s)``: the segment index and the time since the segment's start of every arrival,
    grouped by segment, increasing within each segment. Gaps are drawn in rounds, each
    round sized to the expected number still missing, until every segment is covered.
    """
    if family not in RENEWAL_FAMILIES:
        raise ValueError(f"family={family!r} is not allowed: one of {', '.join(RENEWAL_FAMILIES)}")
    shape = np.asarray(shape, dtype=np.float64).ravel()
    mean_gap_s = np.asarray(mean_gap_s, dtype=np.float64).ravel()
    length_s = np.asarray(length_s, dtype=np.float64).ravel()
    n_seg = shape.size
    lg = _lgamma(1.0 + 1.0 / shape) if family == "weibull" else np.zeros(n_seg)
    if family == "gamma":
        cv2 = 1.0 / shape
    else:
        with np.errstate(over="ignore"):
            cv2 = np.exp(_lgamma(1.0 + 2.0 / shape) - 2.0 * lg) - 1.0
    spread = np.sqrt(np.clip(cv2, 1.0, 1e4))  # the count over R mean gaps has sd ~ CV sqrt(R)
    pos = _unit_first_arrival(rng, family, shape, lg) * mean_gap_s
    seg_out = [np.flatnonzero(pos < length_s)]
    t_out = [pos[seg_out[0]]]
    active = seg_out[0]
    while active.size:
        remaining = (length_s[active] - pos[active]) / mean_gap_s[active]
        m = np.ceil(1.05 * remaining + 3.0 * spread[active] * np.sqrt(remaining) + 8.0).astype(np.int64)
        rep = np.repeat(active, m)
        gaps = _unit_gaps(rng, family, shape[rep], lg[rep]) * mean_gap_s[rep]
        # One gap longer than the segment ends it: clipping keeps the flat cumulative
        # sum below (draws x segment length), so no segment loses precision to another.
        np.minimum(gaps, length_s[rep], out=gaps)
        cs = np.cumsum(gaps)
        ends = np.cumsum(m) - 1
        # Subtract the running sum at the previous segment's end: rounding is monotone,
        # so times never decrease within a segment, across rounds included.
        before = np.concatenate([[0.0], cs[ends[:-1]]])
        t = (cs - np.repeat(before, m)) + pos[rep]
        keep = t < length_s[rep]
        seg_out.append(rep[keep])
        t_out.append(t[keep])
        pos[active] = t[ends]
        active = active[pos[active] < length_s[active]]
    seg = np.concatenate(seg_out)
    t = np.concatenate(t_out)
    if n_seg > 1:
        # Rounds append in time order per segment, so a stable sort by segment suffices.
        order = np.argsort(seg, kind="stable")
        seg, t = seg[order], t[order]
    return seg, t


def window_arrival_times(
    rng: np.random.Generator,
    family: str,
    shape: np.ndarray,
    count: np.ndarray,
    start_s: np.ndarray,
    length_s: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Exactly ``count[j]`` arrivals in each window [start_s[j], start_s[j] + length_s[j]),
    spaced like a renewal process with ``family`` gaps of shape ``shape[j]``.

    Draws count + 1 independent gaps per window and scales them to fill the window
    (the first arrival after the first gap, the last gap ending at the window's end):
    the renewal process conditioned on its count, exactly so for Poisson (exponential
    gaps give uniform order statistics). Gaps are drawn as logarithms, since the
    scale cancels; shapes down to 0.01 (one gap dominates) stay finite. Returns
    ``(segment, t_s)`` grouped by window, absolute times increasing within each.
    """
    if family not in RENEWAL_FAMILIES:
        raise ValueError(f"family={family!r} is not allowed: one of {', '.join(RENEWAL_FAMILIES)}")
    shape = np.asarray(shape, dtype=np.float64).ravel()
    count = np.asarray(count, dtype=np.int64).ravel()
    start_s = np.asarray(start_s, dtype=np.float64).ravel()
    length_s = np.asarray(length_s, dtype=np.float64).ravel()
    seg = np.flatnonzero(count > 0)
    if seg.size == 0:
        return np.empty(0, dtype=np.int64), np.empty(0)
    m = count[seg] + 1
    rep = np.repeat(seg, m)
    k = shape[rep]
    with np.errstate(divide="ignore"):
        if family == "gamma":
            # Gamma(k) = Gamma(k + 1) * U^(1/k): stays finite for k << 1.
            log_gap = np.log(rng.gamma(k + 1.0)) + np.log(rng.random(rep.size)) / k
        else:
            log_gap = np.log(rng.standard_exponential(rep.size)) / k
    ends = np.cumsum(m) - 1
    starts = ends - m + 1
    log_gap = np.nan_to_num(log_gap, neginf=-1e300)
    gap = np.exp(log_gap - np.repeat(np.maximum.reduceat(log_gap, starts), m))
    cs = np.cumsum(gap)
    before = np.concatenate([[0.0], cs[ends[:-1]]])
    within = cs - np.repeat(before, m)
    frac = within / np.repeat(within[ends], m)
    keep = np.ones(rep.size, dtype=bool)
    keep[ends] = False
    rep = rep[keep]
    # Rounding must not push the last arrival onto the window's end.
    last = np.nextafter(start_s + length_s, -np.inf)
    t = np.minimum(start_s[rep] + frac[keep] * length_s[rep], last[rep])
    return rep, t


class PoissonArrivals:
    """A homogeneous Poisson process: exponential gaps, CV 1.

    Drawn as a Poisson count n over [0, until_s) and n sorted uniform times; the
    order statistics come from n + 1 normalised cumulative exponential draws, which is
    exact and avoids sorting.
    """

    def __init__(self, rate_per_s: float) -> None:
        require(_finite(rate_per_s) and rate_per_s >= 0, "rate_per_s", rate_per_s, "a finite number >= 0")
        self.rate_per_s = float(rate_per_s)

    def arrival_times_s(self, rng: np.random.Generator, until_s: float) -> np.ndarray:
        """Sorted arrival times in [0, until_s)."""
        until_s = _check_until(until_s)
        return _sorted_uniforms(rng, rng.poisson(self.rate_per_s * until_s), until_s)

    def mean_rate_per_s(self, t0_s: float, t1_s: float) -> float:
        """The constant rate."""
        _check_window(t0_s, t1_s)
        return self.rate_per_s

    def __repr__(self) -> str:
        return f"PoissonArrivals(rate_per_s={self.rate_per_s})"


class GammaArrivals:
    """A stationary renewal process with gamma gaps of mean 1/rate and coefficient of
    variation ``cv``: bursty when cv > 1 (shape 1/cv^2 < 1), smoother than Poisson below 1.
    cv = 1 is the Poisson process."""

    def __init__(self, rate_per_s: float, cv: float) -> None:
        require(_finite(rate_per_s) and rate_per_s >= 0, "rate_per_s", rate_per_s, "a finite number >= 0")
        require(_finite(cv) and 0.01 <= cv <= 100, "cv", cv, "a number in [0.01, 100]")
        self.rate_per_s = float(rate_per_s)
        self.cv = float(cv)

    def arrival_times_s(self, rng: np.random.Generator, until_s: float) -> np.ndarray:
        """Sorted arrival times in [0, until_s)."""
        until_s = _check_until(until_s)
        if self.rate_per_s == 0 or until_s == 0:
            return np.empty(0)
        _, t = renewal_times(rng, "gamma", np.array([self.cv**-2]), np.array([1.0 / self.rate_per_s]),
                             np.array([until_s]))
        return t

    def mean_rate_per_s(self, t0_s: float, t1_s: float) -> float:
        """The constant rate (the process is stationary)."""
        _check_window(t0_s, t1_s)
        return self.rate_per_s

    def __repr__(self) -> str:
        return f"GammaArrivals(rate_per_s={self.rate_per_s}, cv={self.cv})"


class DiurnalArrivals:
    """A daily sinusoidal rate, rate(t) = mean * (1 + a cos(2 pi (h(t) - peak_hour) / 24)).

    ``h(t) = start_hour + t / 3600`` is the local hour (simulated t = 0 is
    ``start_hour``) and ``a = (peak_to_trough - 1) / (peak_to_trough + 1)``, so the
    rate at the peak is ``peak_to_trough`` times the rate at the trough and its
    average over a whole day is ``mean_rate_per_s`` (kept as ``average_rate_per_s``;
    the protocol's method owns the name ``mean_rate_per_s``).

    Arrivals come from time rescaling: a stationary unit-rate process (Poisson when
    cv == 1, gamma renewal with that CV otherwise) in the cumulative-rate clock
    Lambda(t), mapped back through the inverse of Lambda.
    """

    def __init__(self, mean_rate_per_s: float, peak_to_trough: float, peak_hour: float,
                 cv: float = 1.0, start_hour: float = 0.0) -> None:
        require(_finite(mean_rate_per_s) and mean_rate_per_s >= 0, "mean_rate_per_s", mean_rate_per_s,
                "a finite number >= 0")
        require(_finite(peak_to_trough) and peak_to_trough >= 1, "peak_to_trough", peak_to_trough,
                "a finite number >= 1 (1 is a constant rate)")
        require(_finite(peak_hour) and 0 <= peak_hour < 24, "peak_hour", peak_hour, "a local hour in [0, 24)")
        require(_finite(cv) and 0.01 <= cv <= 100, "cv", cv, "a number in [0.01, 100]")
        require(_finite(start_hour) and 0 <= start_hour < 24, "start_hour", start_hour, "a local hour in [0, 24)")
        self.average_rate_per_s = float(mean_rate_per_s)
        self.peak_to_trough = float(peak_to_trough)
        self.peak_hour = float(peak_hour)
        self.cv = float(cv)
        self.start_hour = float(start_hour)
        self._a = (self.peak_to_trough - 1.0) / (self.peak_to_trough + 1.0)
        self._omega = 2.0 * math.pi / DAY_S
        self._phase0 = self._omega * (self.start_hour - self.peak_hour) * HOUR_S

    def instantaneous_rate_per_s(self, t_s: np.ndarray | float) -> np.ndarray | float:
        """The instantaneous rate at simulated time ``t_s``."""
        return self.average_rate_per_s * (1.0 + self._a * np.cos(self._omega * np.asarray(t_s) + self._phase0))

    def expected_arrivals(self, t_s: np.ndarray | float) -> np.ndarray | float:
        """Expected arrivals in [0, t_s): Lambda(t)."""
        t = np.asarray(t_s, dtype=np.float64)
        swing = (np.sin(self._omega * t + self._phase0) - math.sin(self._phase0)) * self._a / self._omega
        return self.average_rate_per_s * (t + swing)

    def _inverse_cumulative(self, s: np.ndarray, until_s: float) -> np.ndarray:
        """t with Lambda(t) = s, for s in [0, Lambda(until_s)): table lookup, then Newton."""
        grid = np.linspace(0.0, until_s, max(2, int(until_s / 60.0) + 2))
        table = self.expected_arrivals(grid)
        t = np.interp(s, table, grid)
        for _ in range(4):
            t = t - (self.expected_arrivals(t) - s) / self.instantaneous_rate_per_s(t)
        return np.clip(t, 0.0, until_s)

    def arrival_times_s(self, rng: np.random.Generator, until_s: float) -> np.ndarray:
        """Sorted arrival times in [0, until_s)."""
        until_s = _check_until(until_s)
        total = float(self.expected_arrivals(until_s))
        if total <= 0:
            return np.empty(0)
        if self.cv == 1.0:
            s = _sorted_uniforms(rng, rng.poisson(total), total)
        else:
            _, s = renewal_times(rng, "gamma", np.array([self.cv**-2]), np.array([1.0]), np.array([total]))
        t = np.maximum.accumulate(self._inverse_cumulative(s, until_s))
        return t[t < until_s]

    def mean_rate_per_s(self, t0_s: float, t1_s: float) -> float:
        """(Lambda(t1) - Lambda(t0)) / (t1 - t0)."""
        _check_window(t0_s, t1_s)
        return float(self.expected_arrivals(t1_s) - self.expected_arrivals(t0_s)) / (t1_s - t0_s)

    def __repr__(self) -> str:
        return (f"DiurnalArrivals(mean_rate_per_s={self.average_rate_per_s}, peak_to_trough={self.peak_to_trough}, "
                f"peak_hour={self.peak_hour}, cv={self.cv}, start_hour={self.start_hour})")


class TraceArrivals:
    """Replays the arrival times of a :class:`Trace`, ``rate_multiplier`` times as fast.

    ``arrival_times_s`` returns the first n scaled times of the trace in order (it
    ignores ``rng``), so arrival i is trace row i: its lengths are
    ``trace.prompt_tokens[i]`` and ``trace.output_tokens[i]``.
    """

    def __init__(self, trace: Trace, rate_multiplier: float = 1.0) -> None:
        require(_finite(rate_multiplier) and rate_multiplier > 0, "rate_multiplier", rate_multiplier,
                "a finite number > 0 (2.0 replays twice as fast)")
        self.trace = trace
        self.rate_multiplier = float(rate_multiplier)
        self._t_s = trace.t_arrival_s / self.rate_multiplier

    def arrival_times_s(self, rng: np.random.Generator | None, until_s: float) -> np.ndarray:
        """The scaled trace times in [0, until_s) (a copy)."""
        until_s = _check_until(until_s)
        return self._t_s[: np.searchsorted(self._t_s, until_s, side="left")].copy()

    def mean_rate_per_s(self, t0_s: float, t1_s: float) -> float:
        """Scaled trace arrivals in [t0_s, t1_s), per second."""
        _check_window(t0_s, t1_s)
        lo, hi = np.searchsorted(self._t_s, [t0_s, t1_s], side="left")
        return float(hi - lo) / (t1_s - t0_s)

    def __repr__(self) -> str:
        return f"TraceArrivals(trace={self.trace.name!r}, rate_multiplier={self.rate_multiplier})"


class ScaledArrivals:
    """Another arrival process run ``rate_multiplier`` times as fast: its times over
    [0, until_s x multiplier) divided by the multiplier (e.g. a ServeGen workload at
    twice its recorded load, its daily pattern compressed in time accordingly)."""

    def __init__(self, process: ArrivalProcess, rate_multiplier: float = 1.0) -> None:
        require(_finite(rate_multiplier) and rate_multiplier > 0, "rate_multiplier", rate_multiplier,
                "a finite number > 0 (2.0 runs twice as fast)")
        self.process = process
        self.rate_multiplier = float(rate_multiplier)

    def arrival_times_s(self, rng: np.random.Generator, until_s: float) -> np.ndarray:
        """The inner process's times, divided by the multiplier, in [0, until_s)."""
        until_s = _check_until(until_s)
        t = self.process.arrival_times_s(rng, until_s * self.rate_multiplier) / self.rate_multiplier
        return t[t < until_s]

    def mean_rate_per_s(self, t0_s: float, t1_s: float) -> float:
        """multiplier x the inner rate over the stretched window."""
        _check_window(t0_s, t1_s)
        m = self.rate_multiplier
        return m * self.process.mean_rate_per_s(t0_s * m, t1_s * m)

    def __repr__(self) -> str:
        return f"ScaledArrivals({self.process!r}, rate_multiplier={self.rate_multiplier})"


class ClosedLoop:
    """A closed-loop client, as benchmarks drive a server: ``concurrency`` users, each
    sending its next request when its last one finishes (completed or dropped), after a
    think time drawn from an exponential distribution of mean ``think_time_s`` (0: at
    once). vLLM's serving benchmark with ``--max-concurrency``, MLPerf's Server and
    Offline scenarios and the ML.ENERGY benchmark (every request submitted at once, so a
    concurrency at or above ``max_num_seqs`` keeps the engine saturated) load a server
    this way.

    Every user sends its first request at t = 0. There is no arrival rate: the load
    follows from the service's speed (Little's law: concurrency = throughput x (mean
    response time + think time)); a service's ``arrival_rate_per_s`` is ignored. Not an
    :class:`ArrivalProcess`: the service (``InferenceService``) generates the requests
    as completions come, with lengths from its length sampler. Request fidelity only.
    """

    def __init__(self, concurrency: int, think_time_s: float = 0.0) -> None:
        require(isinstance(concurrency, (int, np.integer)) and not isinstance(concurrency, bool) and concurrency >= 1,
                "concurrency", concurrency, "an integer >= 1 (users, each with one request outstanding)")
        require(_finite(think_time_s) and think_time_s >= 0, "think_time_s", think_time_s,
                "a finite number of seconds >= 0 (the mean of an exponential think time; 0: none)")
        self.concurrency = int(concurrency)
        self.think_time_s = float(think_time_s)

    def think_times_s(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` think times (zeros without a think time; no draws then)."""
        if self.think_time_s == 0:
            return np.zeros(n)
        return rng.exponential(self.think_time_s, n)

    def __repr__(self) -> str:
        return f"ClosedLoop(concurrency={self.concurrency}, think_time_s={self.think_time_s})"
