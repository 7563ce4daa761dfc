"""Inter-token latency as benchmarks measure it: percentiles over every gap of every request."""

from __future__ import annotations

import numpy as np
import pytest
from test_engine import cost, decode_times, serve

from dcsim.hardware.performance import prefill_attn_pairs
from dcsim.workloads.inference.requests import TokenGaps

QS = [50, 90, 99]


def itl(svc, qs=QS):
    return svc.itl.percentiles(qs)


def test_a_request_alone_has_the_decode_iteration_times_as_gaps():
    """Alone on a replica, a request's output - 1 gaps are its decode iterations, each the
    time the device model gives; the percentiles are exact, and their mean is its TPOT."""
    p, o = 1000, 200
    _, req, svc = serve([(1.0, p, o)])
    gaps = decode_times(1, p, o - 1)
    assert svc.itl.count == o - 1
    assert itl(svc) == pytest.approx(list(np.percentile(gaps, QS)), rel=1e-12)
    assert svc.itl.total_s / svc.itl.count == pytest.approx(req.iloc[0]["tpot_s"], rel=1e-12)
    assert not svc.itl.folded


def test_two_requests_give_a_known_mixture_of_gaps():
    """B arrives while A decodes: A's gaps are its solo iterations, the mixed iteration
    that prefills B, the batch-of-two iterations (one gap each for A and B) and A's solo
    tail; B's are the batch-of-two iterations. The pooled percentiles are those of that
    mixture. The pooled mean is a weighted mean of the requests' TPOTs, so within them
    (the median need not be here: the one long mixed gap lifts both TPOTs above it)."""
    pa, oa, pb, ob, t_b = 100, 400, 300, 50, 5.0
    _, req, svc = serve([(0.0, pa, oa), (t_b, pb, ob)])
    a = req.iloc[0]
    boundaries = a["t_first_token_s"] + np.cumsum(decode_times(1, pa, oa - 1))
    k = int(np.searchsorted(boundaries, t_b))  # A's solo iterations before B joins: k + 1
    ctx_a = pa + k + 1
    mixed = cost(1 + pb, ctx_a + prefill_attn_pairs(pb), ctx_a + pb, 1)
    pair = decode_times(2, ctx_a + 1 + pb, ob - 1)
    g_a = 1 + (k + 1) + 1 + (ob - 1)  # A's tokens when B completes
    tail = decode_times(1, pa + g_a - 1, oa - g_a)
    gaps = np.concatenate([decode_times(1, pa, k + 1), [mixed], np.repeat(pair, 2), tail])
    assert len(gaps) == (oa - 1) + (ob - 1) == svc.itl.count
    assert (req["status"] == "completed").all()
    assert itl(svc, [0, 10, 50, 90, 99, 100]) == pytest.approx(
        list(np.percentile(gaps, [0, 10, 50, 90, 99, 100])), rel=1e-9)
    assert req["tpot_s"].min() <= svc.itl.total_s / svc.itl.count <= req["tpot_s"].max()


@pytest.mark.parametrize("case", ["preemption", "disaggregated", "busy"])
def test_gaps_add_up_to_each_request_s_decode_time(case):
    """However requests meet (preempted and recomputed, handed to a decode replica, many in
    one batch), the gaps are one per token after the first, and they add up to the time
    from first to last token: sum over requests of (output - 1) gaps and of t_done - t_first."""
    if case == "preemption":
        _, req, svc = serve([(0.0, 400, 300), (0.01, 400, 300), (0.02, 400, 300)], kv_capacity_tokens=1500)
        assert req["preemptions"].sum() >= 1
    elif case == "disaggregated":
        arrivals = [(0.3 * i, 500 + 40 * i, 20 + 3 * i) for i in range(10)]
        _, req, svc = serve(arrivals, replicas=2, prefill_replicas=1, kv_transfer_gbit_per_s=400.0)
        assert (req["replica"] == 1).all()
    else:
        arrivals = [(0.05 * i, 100 + 37 * (i % 11), 2 + 29 * (i % 13)) for i in range(120)]
        _, req, svc = serve(arrivals, until_s=900.0)
    assert (req["status"] == "completed").all()
    assert svc.itl.count == (req["output_tokens"] - 1).sum()
    assert svc.itl.total_s == pytest.approx((req["t_done_s"] - req["t_first_token_s"]).sum(), rel=1e-9)


def test_gaps_of_requests_still_running_are_counted_as_they_are_made():
    """At the end, gaps are those of the tokens generated so far: generated - 1 per request."""
    _, req, svc = serve([(0.0, 100, 5000), (1.0, 100, 5000)], until_s=10.0)
    assert list(req["status"]) == ["running", "running"]
    assert svc.itl.count == (req["generated_tokens"] - 1).sum()


def _random_log(rng, fold_at):
    log, vals = TokenGaps(fold_at=fold_at), []
    for _ in range(400):
        a = rng.uniform(0.01, 0.05)
        s = rng.choice([0.0, rng.uniform(0, 1e-6), -rng.uniform(0, 1e-6)])
        n, w = int(rng.integers(1, 60)), int(rng.integers(1, 9))
        log.add(a, s, n, w)
        vals.append(np.repeat(a + s * np.arange(n), w))
    log.add_values(np.array([0.2, 0.3]), 3)
    vals.append(np.repeat([0.2, 0.3], 3))
    return log, np.concatenate(vals)


def test_weighted_percentiles_are_those_of_the_expanded_gaps():
    """Exact: equal to np.percentile of every gap written out, to rounding."""
    log, v = _random_log(np.random.default_rng(3), TokenGaps.FOLD_AT)
    qs = [0, 0.1, 1, 25, 50, 90, 99, 99.9, 100]
    assert not log.folded
    assert log.percentiles(qs) == pytest.approx(list(np.percentile(v, qs)), rel=1e-12)
    assert log.count == len(v) and log.total_s == pytest.approx(v.sum(), rel=1e-12)


def test_folded_percentiles_are_within_the_bin_resolution():
    """Past ``fold_at`` records the log folds into 0.01 % log bins: the count is kept and the
    percentiles stay within half a bin (plus half a progression step, here < 0.01 %)."""
    log, v = _random_log(np.random.default_rng(4), fold_at=64)
    qs = [1, 50, 90, 99]
    assert log.folded
    assert log.count == pytest.approx(len(v), rel=1e-12)
    assert log.percentiles(qs) == pytest.approx(list(np.percentile(v, qs)), rel=1.5e-4)


def test_merged_logs_pool_every_gap():
    """Pooled over services: the percentiles of the union."""
    rng = np.random.default_rng(5)
    (a, va), (b, vb) = _random_log(rng, TokenGaps.FOLD_AT), _random_log(rng, TokenGaps.FOLD_AT)
    both = TokenGaps.merged([a, b])
    assert both.percentiles(QS) == pytest.approx(list(np.percentile(np.concatenate([va, vb]), QS)), rel=1e-12)
    assert all(np.isnan(TokenGaps().percentiles(QS)))  # NaN without gaps


def test_summary_reports_itl_percentiles_run_wide_and_per_service(default_results):
    """The summary has itl_p50/p90/p99 (and per service), ordered, and ITL p50 lies within
    the range of per-request TPOT."""
    s = default_results.summary()
    done = default_results.frames()["requests"].query("status == 'completed'")
    assert 0 < s["itl_p50_s"] <= s["itl_p90_s"] <= s["itl_p99_s"]
    assert done["tpot_s"].min() <= s["itl_p50_s"] <= done["tpot_s"].max()
    for q in QS:
        assert s["services"]["chat"][f"itl_p{q}_s"] == s[f"itl_p{q}_s"]  # one service: the same gaps
