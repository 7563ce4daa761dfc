"""Agentic sessions at fluid fidelity: the mean call with its cache hits, the warm-up of a
session workload, and agreement with request fidelity (docs/workloads.md)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import dcsim
from dcsim.api import compose_config
from dcsim.config.build import build
from dcsim.hardware.performance import prefill_attn_pairs
from dcsim.workloads.inference.fluid import ReplicaModel
from dcsim.workloads.inference.requests import LengthDistribution
from dcsim.workloads.inference.sessions import DurationDistribution, SessionArrivals, SessionMeans

A = "workload.services.agent"


def _means(think: list[float], calls: list[int]) -> SessionMeans:
    before = np.concatenate([np.concatenate([[0.0], np.cumsum(think[:c - 1])]) for c in calls])
    index = np.concatenate([np.arange(c, dtype=np.float64) for c in calls])
    return SessionMeans(float(np.mean(calls)), np.sort(np.array(think, dtype=np.float64)), 1000.0, 200.0,
                        len(calls), before, index, np.array([100.0]), np.array([900.0]))


def test_session_means_are_those_of_the_sessions_calls():
    """SessionMeans (computed for all sampled sessions at once) is what the sessions' own
    calls give, one session at a time (each call's prompt the previous one's plus its output
    and the next new tokens; a session stops before the first call whose prompt and output
    pass the 20,000-token window, which here cuts many short): calls within the window,
    reusable and system-prompt tokens per call, the think times between calls and each call's
    offset in its session."""
    length = lambda d, v: LengthDistribution(d, v, 0, 0, 1, 10**6)  # noqa: E731
    work = SessionArrivals(1.0, length("exponential", 12), DurationDistribution("exponential", 4.0, 0, 0, 0, 100),
                           length("exponential", 3000), length("exponential", 900), length("exponential", 200),
                           1000, 1, 64, 20_000, 0.2, DurationDistribution("constant", 60.0, 0, 0, 0, 100))
    m = work.means(500)
    plan = work.plan(None, np.random.default_rng(0), 0.0, n_sessions=500)
    prompts, thinks, offsets = [], [], []
    for s in range(500):
        o, n = int(plan.offset[s]), int(plan.calls[s])
        out = plan.output_tokens[o:o + n]
        p = np.cumsum(np.concatenate([[1000 + plan.first_context_tokens[s]], out[:-1] + plan.new_tokens[o + 1:o + n]]))
        fits = p + out <= 20_000
        p = p[:n if fits.all() else int(np.argmin(fits))]
        prompts.append(p)
        thinks.append(plan.think_s[o + 1:o + len(p)])
        offsets.append(np.concatenate([[0.0], np.cumsum(plan.think_s[o + 1:o + len(p)])]) + 3.0 * np.arange(len(p)))
    calls = sum(len(p) for p in prompts)
    assert calls < plan.calls.sum()  # the window cut sessions short
    assert m.calls_per_session == calls / 500
    previous = np.concatenate([np.minimum(np.concatenate([[960], (p[:-1] // 64) * 64]), p - 1) for p in prompts])
    assert m.reusable_tokens == pytest.approx(previous.sum() / calls, rel=1e-12)
    assert m.system_tokens == pytest.approx(np.minimum(960, np.concatenate(prompts) - 1).sum() / calls, rel=1e-12)
    np.testing.assert_array_equal(m.think_s, np.sort(np.concatenate(thinks)))
    np.testing.assert_allclose(m.call_offsets_s(3.0), np.sort(np.concatenate(offsets)), rtol=1e-12, atol=1e-9)


def test_calls_sent_by_a_warming_up_workload():
    """Sessions of 3 calls, 10 s apart (think) plus 5 s per call: offsets 0, 15, 30 s; calls
    sent by t per unit start rate = sum_k max(0, t - offset_k); the long-run rate is 3."""
    m = _means([10.0, 10.0], [3])
    off = m.call_offsets_s(5.0)
    np.testing.assert_allclose(off, [0.0, 15.0, 30.0])
    cum = np.cumsum(off)
    assert m.calls_sent_by(10.0, off, cum) == pytest.approx(10.0)
    assert m.calls_sent_by(20.0, off, cum) == pytest.approx(20.0 + 5.0)
    assert m.calls_sent_by(100.0, off, cum) - m.calls_sent_by(90.0, off, cum) == pytest.approx(30.0)


CALL_S = 4.0  # one call's time: a session calls every think + 4 s


def _phi(g: float, thinks: list[float], call_s: float) -> float:
    """Chance that a window of g holds a call of a session calling every think + call_s
    (a renewal process): E[min(X, g)] / E[X]."""
    x = [t + call_s for t in thinks]
    return sum(min(v, g) for v in x) / sum(x)


def _g_star(share: float, thinks: list[float], call_s: float) -> float:
    """phi(g*) = share, by bisection (phi is continuous and increasing up to max X)."""
    lo, hi = 0.0, max(thinks) + call_s
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if _phi(mid, thinks, call_s) < share else (lo, mid)
    return hi


def _kept(sessions: int, own: float, room: float, gap_s: float, call_s: float, thinks: list[float]) -> float:
    """Share of calls whose blocks survive on a replica holding ``sessions`` sessions' own blocks:
    all when they fit, else those whose gap is under g*, phi(g*) = room / footprint."""
    footprint = sessions * own
    if footprint <= room:
        return 1.0
    g_star = _g_star(room / footprint, thinks, call_s)
    return sum(1 for t in thinks if t <= g_star - gap_s) / len(thinks)


def _poisson_hit(n: float, own: float, room: float, gap_s: float, call_s: float, thinks: list[float]) -> float:
    """A call's replica holds its own session and Poisson(n) others: the kept share averaged over them."""
    return sum(math.exp(k * math.log(n) - n - math.lgamma(k + 1)) * _kept(1 + k, own, room, gap_s, call_s, thinks)
               for k in range(200))


def _poisson_hit_starts(n: float, own: float, room: float, gap_s: float, call_s: float, thinks: list[float],
                        starts: float) -> float:
    """As _poisson_hit, with ``starts`` sessions' worth of own blocks (per second) added in the
    gap: g* solves (1 + k) phi(g) + starts g = room / own, by bisection."""
    def kept(sessions: int) -> float:
        if sessions * own <= room:
            return 1.0
        lo, hi = 0.0, max(thinks) + call_s
        for _ in range(200):
            mid = 0.5 * (lo + hi)
            lo, hi = (mid, hi) if sessions * _phi(mid, thinks, call_s) + starts * mid < room / own else (lo, mid)
        return sum(1 for t in thinks if t <= hi - gap_s) / len(thinks)
    return sum(math.exp(k * math.log(n) - n - math.lgamma(k + 1)) * kept(1 + k) for k in range(200))


def test_the_survival_gap_follows_the_intervals_law():
    """g* solves E[min(X, g*)] / E[X] = share for the intervals X = think + call: for X of 6, 6,
    54 and 54 s (E[X] = 30), (12 + 2 g) / 120 = 0.625 at g = 31.5 s; for exponential X it is
    the memoryless -E[X] ln(1 - share); a share of 1 is reached at the longest interval."""
    m = _means([2.0, 2.0, 50.0, 50.0], [5])
    np.testing.assert_allclose(m.survival_gap_s(CALL_S, np.array([0.625, 0.1])), [31.5, 3.0], rtol=1e-12)
    assert m.survival_gap_s(CALL_S, np.array([1.0]))[0] == pytest.approx(54.0)
    # sessions starting meanwhile touch theirs too: (12 + 2 g) / 120 + 0.005 g = 0.625 at g = 0.525 / (1/60 + 0.005)
    assert m.survival_gap_s(CALL_S, np.array([0.625]), 0.005)[0] == pytest.approx(0.525 / (1 / 60 + 0.005), rel=1e-12)
    draws = np.random.default_rng(0).exponential(20.0, 200_000)
    e = _means(list(draws), [len(draws) + 1])
    for share in (0.2, 0.5, 0.8):
        assert e.survival_gap_s(0.0, np.array([share]))[0] == pytest.approx(-20.0 * math.log1p(-share), rel=0.02)


def test_hit_share_follows_the_cache_footprint_and_the_think_times():
    """A call's blocks survive when the sessions on its replica fit the cache beside the system
    prompts (held once), or when its gap is shorter than g*, where the others' blocks touched
    in g* (each session calling with probability phi(g*)) fill the room: phi(g*) = room /
    footprint, the footprint the sessions' own blocks (context less the 200-token system
    prompt). The sessions a call finds are its own and a Poisson number of others with mean
    n, so the share is the average over that count: the replicas that hold more than the
    mean miss."""
    thinks = [2.0, 2.0, 50.0, 50.0]
    m = _means(thinks, [5])
    g_star = _g_star(4000.0 / (8 * 800.0), thinks, CALL_S)  # 31.5 s at 8 sessions: only the 2-s thinks survive
    assert 2.0 + 1.0 < g_star < 50.0
    for n, cache, shared in ((4.0, 4000.0, 0.0), (8.0, 4000.0, 0.0), (5.0, 4200.0, 200.0), (5.0, 4200.0, 1200.0)):
        want = _poisson_hit(n, 800.0, cache - shared, 1.0, CALL_S, thinks)
        assert m.hit_share(1.0, 1.0, CALL_S, n, 1000.0, cache, shared_tokens=shared) == pytest.approx(want, rel=1e-9)
        assert m.hit_share(0.25, 1.0, CALL_S, n, 1000.0, cache, shared_tokens=shared) == pytest.approx(0.25 * want)
    # room for 5 sessions: at a mean of 4 others a call misses only on the 1 - P(K <= 4) = 37 % of
    # replicas holding more, and then only when its think was one of the 50-s ones
    assert m.hit_share(1.0, 1.0, CALL_S, 4.0, 1000.0, 4000.0) == pytest.approx(
        1.0 - 0.5 * (1.0 - sum(math.exp(-4.0) * 4.0 ** k / math.factorial(k) for k in range(5))), abs=0.02)
    # a cache far larger than any likely count keeps every call; one without room keeps none
    assert m.hit_share(1.0, 1.0, CALL_S, 4.0, 1000.0, 40_000.0) == pytest.approx(1.0, abs=1e-9)
    assert m.hit_share(1.0, 1.0, CALL_S, 5.0, 1000.0, 1000.0, shared_tokens=1200.0) == 0.0
    # more sessions per replica, fewer hits; more sessions starting on it, fewer hits (each
    # counted with a session's own blocks)
    hits = [m.hit_share(1.0, 1.0, CALL_S, n, 1000.0, 4000.0) for n in (1.0, 2.0, 4.0, 8.0, 16.0)]
    assert all(a > b for a, b in zip(hits, hits[1:]))
    turnover = [m.hit_share(1.0, 1.0, CALL_S, 8.0, 1000.0, 4000.0, starts_per_s=r) for r in (0.0, 1.0, 10.0)]
    assert turnover[0] == pytest.approx(hits[3]) and turnover[0] >= turnover[1] > turnover[2]
    want = _poisson_hit_starts(8.0, 800.0, 4000.0, 1.0, CALL_S, thinks, 10.0)
    assert turnover[2] == pytest.approx(want, rel=1e-9)
    assert m.cached_tokens(1.0, 1.0, CALL_S, 8.0, 1000.0, 4000.0) == pytest.approx(
        200.0 + 800.0 * _poisson_hit(8.0, 800.0, 4000.0, 1.0, CALL_S, thinks))
    assert m.cached_tokens(1.0, 1.0, CALL_S, 8.0, 1000.0, 0.0) == 0.0
    # a cache lifetime: a call keeps its blocks only if its session was idle (decode 1 s + think)
    # for less than it: with room for all, 10 s keeps the 2-s thinks only, 60 s all of them;
    # without room, the shorter of the lifetime and g* (31.5 s at 8 sessions) decides
    assert m.hit_share(1.0, 1.0, CALL_S, 4.0, 1000.0, 40_000.0, ttl_s=10.0) == pytest.approx(0.5)
    assert m.hit_share(1.0, 1.0, CALL_S, 4.0, 1000.0, 40_000.0, ttl_s=60.0) == pytest.approx(1.0, abs=1e-9)
    assert m.hit_share(1.0, 1.0, CALL_S, 8.0, 1000.0, 4000.0, ttl_s=60.0) == hits[3]
    assert m.hit_share(1.0, 1.0, CALL_S, 8.0, 1000.0, 4000.0, ttl_s=2.5) == 0.0


def test_a_cached_prefix_is_not_prefilled_but_attended_to():
    """A replica model whose prompts find c tokens cached prefills P - c tokens per request,
    each chunk attending over the cached context: its mixed iteration is the device's
    iteration of that chunk at context c (one chunk here)."""
    sc = build(compose_config(["workload=agentic_coding", "facility.num_racks=1"]))
    s = sc.services[0][0]
    cached = 0.95 * s.mean_prompt_tokens
    rm = ReplicaModel.of_service(sc.device, s, cached)
    new = s.mean_prompt_tokens - cached
    assert rm.chunks == 1 and rm.chunk == pytest.approx(new)
    b = 16.0
    t, p = sc.device.iteration_scalar(s.model, s.config.tp, b + new, b * rm.ctx + prefill_attn_pairs(new, cached),
                                      b * rm.ctx + cached + new, b, s.config.ep)
    assert rm.mixed(b) == pytest.approx((t, p), rel=1e-12)
    assert rm.capacity_per_s > ReplicaModel.of_service(sc.device, s).capacity_per_s  # less to prefill


def test_fluid_sessions_agree_with_request_fidelity():
    """The agentic preset on 4 replicas at a quarter of its load for two hours: fluid's calls
    (per session started: the starts are random at request fidelity) within 5 %, its cached
    share of prompt tokens within 2 points, median TTFT within 15 %, GPU energy per token
    within 2.5 % and median TPOT within 6 % (+0.5 % and -0.2 % here, the cached shares 95.4
    and 95.6 %; they were about +3 % and -10 % before the prefills were costed by kind and the
    hit share averaged over the session count, and the renewal law of the intervals between a
    session's calls, with the sessions starting in a gap, keeps them there with user turns,
    docs/workloads.md)."""
    base = ["workload=agentic_coding", "facility.num_racks=1", "duration_s=7200", "output.write=false",
            f"{A}.replicas=4", "workload.rate_multiplier=0.25"]
    r = dcsim.run(base).summary()
    f = dcsim.run(base + [f"{A}.fidelity=fluid"]).summary()
    expected_sessions = 0.2 * 0.25 * 7200
    calls_r = r["requests_arrived"] / r["sessions_started"]
    calls_f = f["requests_arrived"] / expected_sessions
    assert calls_f == pytest.approx(calls_r, rel=0.05)
    assert abs(f["prompt_tokens_cached_share"] - r["prompt_tokens_cached_share"]) < 0.02
    assert f["ttft_p50_s"] == pytest.approx(r["ttft_p50_s"], rel=0.15)
    assert f["energy_per_output_token_gpu_j"] == pytest.approx(r["energy_per_output_token_gpu_j"], rel=0.025)
    assert f["tpot_p50_s"] == pytest.approx(r["tpot_p50_s"], rel=0.06)
