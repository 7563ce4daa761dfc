"""Inference requests, the distributions their lengths are drawn from, and the log of
their inter-token gaps."""

from __future__ import annotations

import math
from array import array
from dataclasses import dataclass

import numpy as np

LENGTH_DISTRIBUTIONS = ("constant", "exponential", "lognormal", "uniform", "histogram")
# Measured output lengths of the ML.ENERGY Benchmark v3 tasks (per model x task histograms;
# ml-energy/leaderboard @ 0cd52dab, Chung et al., NeurIPS 2025 D&B, arXiv 2505.06371;
# copied from shared/data/calibration/mlenergy-v3/output_lengths.csv, see DATA_SOURCES.md).
MLENERGY_OUTPUT_LENGTHS = "dcsim:workloads/mlenergy_v3_output_lengths.csv.gz"


class Request:
    """One LLM request and its timeline (times in simulated seconds; NaN until reached).

    KV-cache state: ``ctx`` tokens are in the cache; ``prefill_remaining`` tokens are
    still to be prefilled before decoding resumes. A fresh request starts with
    ``prefill_remaining = prompt_tokens``; a preempted one (recompute) with prompt plus
    generated tokens. While decoding, ``ctx == prompt_tokens + generated - 1``.
    """

    __slots__ = (
        "request_id", "service", "t_arrival_s", "prompt_tokens", "output_tokens", "replica",
        "t_admitted_s", "t_first_token_s", "t_done_s", "ctx", "prefill_remaining", "generated",
        "energy_j", "preemptions", "cached_tokens", "hash_ids", "t_last_token_s", "session_id", "call_index",
        "turn_index", "vision_tokens",
    )

    def __init__(self, request_id: int, service: str, t_arrival_s: float, prompt_tokens: int, output_tokens: int,
                 hash_ids: tuple[int, ...] | None = None, session_id: int = -1, call_index: int = -1,
                 turn_index: int = -1) -> None:
        self.request_id = request_id
        self.service = service
        self.t_arrival_s = t_arrival_s
        self.prompt_tokens = prompt_tokens
        self.output_tokens = output_tokens
        self.replica = -1
        self.t_admitted_s = math.nan
        self.t_first_token_s = math.nan
        self.t_done_s = math.nan
        self.ctx = 0
        self.prefill_remaining = prompt_tokens
        self.generated = 0
        self.energy_j = 0.0
        self.preemptions = 0
        self.cached_tokens = 0
        self.hash_ids = hash_ids
        # Set only when the request leaves a batch after a token (preempted, or handed
        # to a decode replica): its next gap is measured from here, not by one iteration.
        self.t_last_token_s = math.nan
        self.session_id = session_id  # the agentic session it is a call of (-1: none; sessions.py)
        self.call_index = call_index  # its place in the session, from 0 (-1: none)
        self.turn_index = turn_index  # the session's user turn it belongs to, from 0 (-1: none)
        # Tokens of its prompt that images or video frames make (multimodal): the
        # iteration that starts its prefill also runs the vision encoder.
        self.vision_tokens = 0

    @property
    def kv_tokens_max(self) -> int:
        """The most KV-cache tokens the request can ever hold: prompt plus output."""
        return self.prompt_tokens + self.output_tokens

    def row(self, status: str) -> tuple:
        """The request as a row of ``requests.parquet``."""
        ttft = self.t_first_token_s - self.t_arrival_s
        e2e = self.t_done_s - self.t_arrival_s
        tpot = (self.t_done_s - self.t_first_token_s) / (self.output_tokens - 1) if self.output_tokens > 1 else math.nan
        return (
            self.request_id, self.service, self.replica, status, self.t_arrival_s, self.t_admitted_s,
            self.t_first_token_s, self.t_done_s, self.prompt_tokens, self.output_tokens, self.generated,
            ttft, tpot, e2e, self.t_admitted_s - self.t_arrival_s, self.preemptions, self.cached_tokens,
            self.energy_j, self.session_id, self.call_index, self.turn_index,
        )


@dataclass(frozen=True, slots=True)
class LengthDistribution:
    """Token counts: ``constant`` (= mean), ``exponential`` (mean, rounded up),
    ``lognormal`` (log_mu, log_sigma, rounded), ``uniform`` (integers in
    [min_tokens, max_tokens]) or ``histogram`` (a bin drawn by its share ``bin_p``, the
    count uniform inside [bin_lo, bin_hi) and rounded up), clipped to [min_tokens,
    max_tokens]. Clipping at ``max_tokens`` is how a length budget acts: a reasoning
    model's answer cut at its thinking budget (vLLM's ``max_tokens``)."""

    distribution: str
    mean: float
    log_mu: float
    log_sigma: float
    min_tokens: int
    max_tokens: int
    bin_lo: tuple[float, ...] = ()
    bin_hi: tuple[float, ...] = ()
    bin_p: tuple[float, ...] = ()

    def sample_many(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` draws as int64."""
        if self.distribution == "constant":
            x = np.full(n, self.mean)
        elif self.distribution == "exponential":
            x = np.ceil(rng.exponential(self.mean, n))
        elif self.distribution == "uniform":
            x = rng.integers(self.min_tokens, self.max_tokens + 1, n)
        elif self.distribution == "histogram":
            b = rng.choice(len(self.bin_p), size=n, p=self.bin_p)
            lo, hi = np.asarray(self.bin_lo)[b], np.asarray(self.bin_hi)[b]
            x = np.ceil(lo + rng.random(n) * (hi - lo))
        else:
            x = np.rint(rng.lognormal(self.log_mu, self.log_sigma, n))
        return np.clip(x, self.min_tokens, self.max_tokens).astype(np.int64)

    def sample(self, rng: np.random.Generator) -> int:
        """One draw."""
        return int(self.sample_many(rng, 1)[0])


def length_histogram(path: str, key: str) -> tuple[tuple[float, ...], tuple[float, ...], tuple[float, ...]]:
    """(bin_lo, bin_hi, share) of the histogram ``key`` = ``MODEL_ID:TASK`` in a CSV (gzipped
    when it ends in .gz) with columns model_id, task, bin_lo_tokens, bin_hi_tokens, requests,
    as ML.ENERGY's ``output_lengths.csv``. Raises KeyError naming the keys there are."""
    import csv
    import gzip

    from dcsim.data import resolve_data_path

    real = resolve_data_path(path)
    opener = gzip.open if real.endswith(".gz") else open
    bins: dict[str, list[tuple[float, float, float]]] = {}
    with opener(real, "rt", newline="") as f:
        for row in csv.DictReader(f):
            bins.setdefault(f"{row['model_id']}:{row['task']}", []).append(
                (float(row["bin_lo_tokens"]), float(row["bin_hi_tokens"]), float(row["requests"])))
    if key not in bins:
        raise KeyError(f"one of {sorted(bins)}")
    rows = sorted(bins[key])
    total = sum(r[2] for r in rows)
    if not total > 0 or any(r[2] < 0 or not r[1] > r[0] for r in rows):
        raise KeyError(f"a histogram with bins lo < hi and counts >= 0, not all 0 ({key} has {rows[:3]}...)")
    return tuple(r[0] for r in rows), tuple(r[1] for r in rows), tuple(r[2] / total for r in rows)


class TokenGaps:
    """Inter-token gaps of a service's requests, as benchmarks measure ITL: every gap
    between consecutive output tokens of a request, pooled over requests (the first
    token's wait is TTFT, not a gap).

    The engine never costs decode steps one by one, so gaps arrive as weighted
    arithmetic progressions: ``add(first_s, step_s, n, weight)`` says that for k in
    0..n-1 there are ``weight`` gaps of ``first_s + k step_s`` (a decode segment of
    n iterations whose times grow linearly, each a gap for every sequence in the
    batch). Records are kept exactly (four float64 each) and percentiles are exact,
    by bisection on the value, equal to ``np.percentile`` of the expanded gaps to
    floating-point rounding. To bound memory, once ``fold_at`` records are held they
    are folded into a histogram of log bins of relative width ``BIN_RATIO`` (1e-4)
    from ``BIN_LO_S`` to ``BIN_HI_S``: after a fold percentiles are read from bin
    centres, exact to within 0.005 % (``folded`` says so).
    """

    BIN_RATIO = 1e-4
    BIN_LO_S = 1e-7
    BIN_HI_S = 1e4
    FOLD_AT = 1 << 20  # records (32 MiB) held exactly before a fold

    def __init__(self, fold_at: int = FOLD_AT) -> None:
        self.records = array("d")  # first_s, step_s, n, weight; appended by the engine
        self.fold_limit = 4 * fold_at  # floats in ``records`` that trigger a fold
        self.hist: np.ndarray | None = None

    def add(self, first_s: float, step_s: float, n: int, weight: int) -> None:
        """``weight`` gaps of each of first_s + k step_s, k = 0..n-1."""
        if n > 0 and weight > 0:
            self.records.extend((first_s, step_s, n, weight))
            if len(self.records) >= self.fold_limit:
                self.fold()

    def add_values(self, values_s: np.ndarray, weight: int) -> None:
        """``weight`` gaps of each value (iterations of any time profile)."""
        if weight <= 0 or not len(values_s):
            return
        rec = np.zeros((len(values_s), 4))
        rec[:, 0] = values_s
        rec[:, 2] = 1.0
        rec[:, 3] = weight
        self.records.frombytes(rec.tobytes())
        if len(self.records) >= self.fold_limit:
            self.fold()

    @property
    def folded(self) -> bool:
        """True once records were folded into the histogram (percentiles then binned)."""
        return self.hist is not None

    def _arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        r = np.frombuffer(self.records, dtype=np.float64).reshape(-1, 4) if len(self.records) else np.zeros((0, 4))
        a, s, n, w = r[:, 0], r[:, 1], r[:, 2], r[:, 3]
        neg = s < 0  # a decreasing progression is the same multiset as its reverse
        if neg.any():
            a = np.where(neg, a + s * (n - 1), a)
            s = np.abs(s)
        return a, s, n, w

    @property
    def count(self) -> float:
        """Gaps recorded."""
        _, _, n, w = self._arrays()
        return float((n * w).sum()) + (float(self.hist.sum()) if self.hist is not None else 0.0)

    @property
    def total_s(self) -> float:
        """Sum of the gaps recorded exactly (the histogram's part at bin centres)."""
        a, s, n, w = self._arrays()
        exact = float((w * (n * a + s * n * (n - 1) / 2.0)).sum())
        if self.hist is None:
            return exact
        return exact + float((self.hist * self._centres()).sum())

    # -- the histogram ---------------------------------------------------------------
    @classmethod
    def _n_bins(cls) -> int:
        return int(math.ceil(math.log(cls.BIN_HI_S / cls.BIN_LO_S) / math.log1p(cls.BIN_RATIO)))

    @classmethod
    def _bin(cls, x: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            b = np.floor(np.log(np.maximum(x, cls.BIN_LO_S) / cls.BIN_LO_S) / math.log1p(cls.BIN_RATIO))
        return np.clip(b, 0, cls._n_bins() - 1).astype(np.int64)

    @classmethod
    def _edge(cls, b: np.ndarray) -> np.ndarray:
        return cls.BIN_LO_S * np.exp(b * math.log1p(cls.BIN_RATIO))

    @classmethod
    def _centres(cls) -> np.ndarray:
        return cls._edge(np.arange(cls._n_bins()) + 0.5)

    @classmethod
    def _histogram(cls, a: np.ndarray, s: np.ndarray, n: np.ndarray, w: np.ndarray) -> np.ndarray:
        """Gap counts per log bin of the progressions (a, s, n) with weights w.

        A progression of n > 1 terms is spread uniformly over [a - s/2, a + s (n - 1/2)]
        (in the bin coordinate u = log(x / lo) / log(1 + ratio), where a short span is
        uniform too): its mass below u is a ramp, so the histogram is the difference of
        the cumulative mass at the bin edges, built from per-record slope changes in
        O(records + bins). A point (n = 1 or s = 0) goes to its bin whole.
        """
        nb = cls._n_bins()
        scale = 1.0 / math.log1p(cls.BIN_RATIO)
        mass = n * w
        point = (s <= 0) | (n <= 1)
        hist = np.bincount(cls._bin(a[point]), weights=mass[point], minlength=nb)[:nb].astype(np.float64)
        spread = ~point
        if spread.any():
            a, s, n, m = a[spread], s[spread], n[spread], mass[spread]
            with np.errstate(divide="ignore"):
                u0 = np.log(np.maximum(a - s / 2.0, cls.BIN_LO_S) / cls.BIN_LO_S) * scale
                u1 = np.log(np.maximum(a + s * (n - 0.5), cls.BIN_LO_S) / cls.BIN_LO_S) * scale
            u0, u1 = np.clip(u0, 0.0, nb - 1e-9), np.clip(u1, 0.0, nb - 1e-9)
            flat = u1 - u0 < 1e-9
            hist += np.bincount(np.floor(u0[flat]).astype(np.int64), weights=m[flat], minlength=nb)[:nb]
            u0, u1, m = u0[~flat], u1[~flat], m[~flat]
            d = m / (u1 - u0)
            # mass below edge j: sum of d (j - u0) over records with u0 < j, minus d (j - u1) over u1 < j
            k0 = np.floor(u0).astype(np.int64) + 1
            k1 = np.floor(u1).astype(np.int64) + 1
            slope = np.bincount(k0, weights=d, minlength=nb + 1)[:nb + 1] - np.bincount(k1, weights=d, minlength=nb + 1)[:nb + 1]
            const = (np.bincount(k1, weights=d * u1, minlength=nb + 1)[:nb + 1]
                     - np.bincount(k0, weights=d * u0, minlength=nb + 1)[:nb + 1])
            j = np.arange(nb + 1, dtype=np.float64)
            below = np.cumsum(slope) * j + np.cumsum(const)
            hist += np.diff(below)
            hist[-1] += m.sum() - below[-1]  # rounding: every record's mass lands
        return hist

    def fold(self) -> None:
        """Move the exact records into the histogram."""
        h = self._histogram(*self._arrays())
        self.hist = h if self.hist is None else self.hist + h
        del self.records[:]  # in place: the engine holds a reference

    # -- percentiles ------------------------------------------------------------------
    @staticmethod
    def merged(logs: list[TokenGaps]) -> TokenGaps:
        """One log holding every gap of ``logs`` (e.g. all services of a run)."""
        out = TokenGaps(fold_at=1 << 62)
        for g in logs:
            out.records.extend(g.records)
            if g.hist is not None:
                out.hist = g.hist.copy() if out.hist is None else out.hist + g.hist
        return out

    def percentiles(self, qs: list[float]) -> list[float]:
        """Percentiles (0-100) of the gaps, linear interpolation between order statistics
        as ``np.percentile`` of the expanded gaps; NaN when there are none."""
        a, s, n, w = self._arrays()
        if self.hist is not None:
            return self._binned_percentiles(qs, self.hist + self._histogram(a, s, n, w))
        total = float((n * w).sum())
        if total <= 0:
            return [math.nan] * len(qs)
        last = a + s * (n - 1)
        mass = n * w
        by_first, by_last = np.argsort(a, kind="stable"), np.argsort(last, kind="stable")
        bounds = (a[by_first], np.cumsum(mass[by_first]), last[by_last], np.cumsum(mass[by_last]))
        out = []
        for q in qs:
            h = q / 100.0 * (total - 1.0)
            r = math.floor(h)
            v0 = self._value_at_rank(a, s, n, w, last, bounds, r)
            frac = h - r
            out.append(v0 if frac == 0 else v0 + frac * (self._value_at_rank(a, s, n, w, last, bounds, r + 1) - v0))
        return out

    @staticmethod
    def _value_at_rank(a: np.ndarray, s: np.ndarray, n: np.ndarray, w: np.ndarray, last: np.ndarray,
                       bounds: tuple, r: int) -> float:
        """The gap of 0-based rank ``r``: the smallest x with at least r + 1 gaps <= x.

        The answer lies between the same rank counting each record's gaps all at its
        first term and all at its last (``bounds``: both sorted, with cumulative counts).
        Inside that bracket, bisection on the float's bit pattern (ordered like the value
        for x >= 0); records wholly below the bracket are counted once and dropped, as
        are those above it, so only the records straddling the answer are evaluated.
        """
        need = r + 1.0
        first_sorted, first_cum, last_sorted, last_cum = bounds
        v_first = first_sorted[min(int(np.searchsorted(first_cum, need, side="left")), len(first_sorted) - 1)]
        v_last = last_sorted[min(int(np.searchsorted(last_cum, need, side="left")), len(last_sorted) - 1)]
        lo = np.nextafter(np.float64(v_first), -np.inf) if v_first > 0 else np.float64(0.0)
        hi = np.float64(v_last)
        below = last <= lo
        base = float((n[below] * w[below]).sum())
        keep = ~below & (a <= hi)
        a, s, n, w = a[keep], s[keep], n[keep], w[keep]
        last = last[keep]
        lo_b, hi_b = int(lo.view(np.int64)), int(hi.view(np.int64))
        safe = np.where(s > 0, s, 1.0)
        step = 0
        while hi_b - lo_b > 1:
            mid_b = (lo_b + hi_b) // 2
            x = float(np.int64(mid_b).view(np.float64))
            k = np.where(s > 0, np.clip(np.floor((x - a) / safe) + 1.0, 0.0, n), np.where(a <= x, n, 0.0))
            if base + float((k * w).sum()) >= need:
                hi_b = mid_b
            else:
                lo_b = mid_b
            step += 1
            if step % 4 == 0:
                xl = float(np.int64(lo_b).view(np.float64))
                xh = float(np.int64(hi_b).view(np.float64))
                below = last <= xl
                base += float((n[below] * w[below]).sum())
                keep = ~below & (a <= xh)
                a, s, n, w, last, safe = a[keep], s[keep], n[keep], w[keep], last[keep], safe[keep]
        return float(np.int64(hi_b).view(np.float64))

    def _binned_percentiles(self, qs: list[float], hist: np.ndarray) -> list[float]:
        total = float(hist.sum())
        if total <= 0:
            return [math.nan] * len(qs)
        cum = np.cumsum(hist)
        centres = self._centres()

        def at(rank: float) -> float:
            return float(centres[min(int(np.searchsorted(cum, rank + 1.0 - 1e-9, side="left")), len(cum) - 1)])

        out = []
        for q in qs:
            h = q / 100.0 * (total - 1.0)
            r = math.floor(h)
            v0 = at(r)
            out.append(v0 + (h - r) * (at(r + 1) - v0) if h > r else v0)
        return out
