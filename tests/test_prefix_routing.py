"""Cache-aware routing: the prefix_affinity router and the cached-prefix view it reads."""

from __future__ import annotations

import math

import numpy as np
import pytest

import dcsim
from dcsim.policies.routing import LeastOutstandingRouter, PrefixAffinityRouter, make_router
from dcsim.workloads.config import ServiceConfig
from dcsim.workloads.inference.engine import PrefixCache


def test_the_longest_cached_prefix_wins_within_the_load_slack():
    """Replicas within ``slack`` of the least loaded compete on cached blocks; a busier one
    is passed over however much it holds; ties go to fewer outstanding, then lower index."""
    r = PrefixAffinityRouter(slack=2)
    #                 outstanding     cached blocks
    assert r.route((2, 3, 7, 2), None, (0, 5, 9, 1)) == 1  # replica 2 holds most but is 5 over the least
    assert r.route((2, 4, 2, 3), None, (3, 6, 3, 3)) == 1  # 4 <= 2 + 2: still a candidate
    assert r.route((2, 5, 2, 3), None, (3, 6, 3, 3)) == 0  # 5 > 4: out; 0 and 2 tie on blocks and load
    assert r.route((3, 2, 2, 3), None, (4, 4, 4, 0)) == 1  # tie on blocks: the less loaded, then the lower index
    assert PrefixAffinityRouter(slack=0).route((1, 0, 0), None, (9, 0, 2)) == 2


def test_without_cached_blocks_it_is_least_outstanding():
    """No block hashes (None) or nothing cached anywhere: the same pick as least_outstanding."""
    rng = np.random.default_rng(5)
    affinity, least = PrefixAffinityRouter(), LeastOutstandingRouter()
    for _ in range(200):
        out = tuple(int(x) for x in rng.integers(0, 6, size=int(rng.integers(1, 6))))
        assert affinity.route(out) == least.route(out)
        assert affinity.route(out, None, (0,) * len(out)) == least.route(out)


def test_the_slack_comes_from_the_service_config():
    """``affinity_slack`` configures the router; routers without parameters take none."""
    assert make_router("prefix_affinity", ServiceConfig(affinity_slack=7)).slack == 7
    assert isinstance(make_router("least_outstanding", ServiceConfig()), LeastOutstandingRouter)


def test_reading_the_cache_for_routing_leaves_the_lru_order_alone():
    """``prefix_blocks`` counts leading cached blocks without making them recent, so routing
    never changes which block is evicted next; ``hit_tokens`` (admission) does."""
    cache = PrefixCache(capacity_blocks=3, block_tokens=512)
    cache.insert((1, 2, 3))
    assert cache.prefix_blocks((1, 2, 9, 3)) == 2 and cache.prefix_blocks((7, 1)) == 0
    cache.insert((4,))  # evicts 1, the least recent: peeking at 1 and 2 did not refresh them
    assert cache.prefix_blocks((1,)) == 0 and cache.prefix_blocks((2, 3, 4)) == 3
    assert cache.hit_tokens((2,)) == 512  # admission refreshes 2
    cache.insert((5,))  # evicts 3
    assert cache.prefix_blocks((2,)) == 1 and cache.prefix_blocks((3,)) == 0


CONVERSATIONS, TURNS, BLOCKS_PER_TURN, TURN_GAP_S = 16, 5, 2, 30.0


@pytest.fixture(scope="module")
def conversation_trace(tmp_path_factory):
    """16 conversations of 5 turns; every turn of all 16 arrives at once, in a shuffled
    order, and turn k's prompt is the conversation so far: 2k blocks of 512 tokens, of which
    the first 2(k - 1) are the previous turn's prompt."""
    rng = np.random.default_rng(11)
    rows = ["t_arrival_s,prompt_tokens,output_tokens,hash_ids"]
    for k in range(1, TURNS + 1):
        for c in rng.permutation(CONVERSATIONS):
            blocks = " ".join(str(1000 * int(c) + j) for j in range(BLOCKS_PER_TURN * k))
            rows.append(f"{(k - 1) * TURN_GAP_S},{BLOCKS_PER_TURN * k * 512},32,{blocks}")
    path = tmp_path_factory.mktemp("conv") / "conv.csv"
    path.write_text("\n".join(rows) + "\n")
    return path


def _replay(trace, router: str, *extra: str):
    S = "workload.services.chat"
    return dcsim.run(["workload=inference_only", f"{S}.replicas=4", f"{S}.arrivals.process=trace",
                      f"{S}.arrivals.trace_path={trace}", f"{S}.prefix_cache_fraction=0.5", f"{S}.router={router}",
                      "duration_s=160", "output.write=false", *(f"{S}.{x}" for x in extra)]).frames()["requests"]


def test_affinity_routing_raises_the_cache_hit_share(conversation_trace):
    """Least-outstanding routing scatters a conversation's turns over the replicas (a hit
    needs the turn to land where the last one ran); affinity routing (with no minimum match)
    sends each turn to the replica that holds its history, near the trace's bound of 2/3 of
    prompt tokens."""
    least = _replay(conversation_trace, "least_outstanding")
    affinity = _replay(conversation_trace, "prefix_affinity", "affinity_min_match=0")
    for q in (least, affinity):
        assert len(q) == CONVERSATIONS * TURNS and (q["status"] == "completed").all()
    bound = sum(BLOCKS_PER_TURN * (k - 1) for k in range(1, TURNS + 1)) / sum(
        BLOCKS_PER_TURN * k for k in range(1, TURNS + 1))
    share = {name: q["cached_tokens"].sum() / q["prompt_tokens"].sum()
             for name, q in (("least", least), ("affinity", affinity))}
    assert share["affinity"] > bound - 0.01 and share["affinity"] <= bound
    assert share["least"] < 0.5 * share["affinity"]
    # every turn after the first of a conversation runs where its history is cached
    later = affinity[affinity["t_arrival_s"] > 0]
    assert (later["cached_tokens"] > 0).all()
    assert affinity["ttft_s"].mean() < least["ttft_s"].mean()


def test_a_turn_that_matches_half_its_blocks_or_less_is_routed_by_load(conversation_trace):
    """With the default ``affinity_min_match`` of 0.5 (SGLang's cache threshold) a second turn,
    whose history is exactly half its blocks, goes to the least loaded replica, and it may
    miss; from the third turn on the history is more than half and every turn finds it where
    the turn before ran."""
    q = _replay(conversation_trace, "prefix_affinity")
    assert (q["status"] == "completed").all()
    turn = (q["prompt_tokens"] // (BLOCKS_PER_TURN * 512)).to_numpy()
    assert (q["cached_tokens"].to_numpy()[turn >= 3] == (turn[turn >= 3] - 1) * BLOCKS_PER_TURN * 512).all()
    assert (q["cached_tokens"].to_numpy()[turn == 2] == 0).any()


def test_a_match_of_at_most_min_match_is_least_outstanding():
    """The best cached prefix must be more than ``min_match`` of the request's blocks to count."""
    r = PrefixAffinityRouter(slack=4, min_match=0.5)
    assert r.route((2, 0, 1), None, (4, 0, 0), request_blocks=10) == 1  # 0.4 of the request: by load
    assert r.route((2, 0, 1), None, (5, 0, 0), request_blocks=10) == 1  # exactly half: still by load
    assert r.route((2, 0, 1), None, (6, 0, 0), request_blocks=10) == 0  # 0.6: the holder, within slack
    assert r.route((2, 0, 1), None, (4, 0, 0)) == 0  # no block count given: no minimum
    assert make_router("prefix_affinity", ServiceConfig(affinity_min_match=0.2)).min_match == 0.2


def test_affinity_routing_is_deterministic(conversation_trace):
    """The same config and seed route every request to the same replica, with the same times."""
    a, b = _replay(conversation_trace, "prefix_affinity"), _replay(conversation_trace, "prefix_affinity")
    assert a.equals(b)


def test_the_summary_reports_the_cached_share_of_prompt_tokens(conversation_trace):
    """`prompt_tokens_cached_share` is the requests table's cached over prompt tokens, here near
    the synthetic trace's 2/3 bound under affinity routing; a fluid run (no requests) has none."""
    S = "workload.services.chat"
    r = dcsim.run(["workload=inference_only", f"{S}.replicas=4", f"{S}.arrivals.process=trace",
                   f"{S}.arrivals.trace_path={conversation_trace}", f"{S}.prefix_cache_fraction=0.5",
                   f"{S}.router=prefix_affinity", "duration_s=160", "output.write=false"])
    q = r.frames()["requests"]
    share = r.summary()["prompt_tokens_cached_share"]
    assert share == q["cached_tokens"].sum() / q["prompt_tokens"].sum()
    assert 0.6 < share <= 2 / 3
    fluid = dcsim.run(["workload=inference_only", f"{S}.fidelity=fluid", "duration_s=600", "output.write=false"])
    assert math.isnan(fluid.summary()["prompt_tokens_cached_share"])
