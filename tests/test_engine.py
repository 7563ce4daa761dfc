"""Timelines of the replica engine: continuous batching with one event per batch change."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dcsim.core.simulation import Simulation
from dcsim.facility.topology import Topology
from dcsim.hardware.device import DeviceModel
from dcsim.hardware.gpus import GPUS
from dcsim.hardware.models import MODELS
from dcsim.hardware.node import NodeSpec
from dcsim.hardware.performance import InferencePerfParams, max_kv_tokens, prefill_attn_pairs
from dcsim.hardware.power import GpuPowerModel
from dcsim.metrics.recorder import Recorder
from dcsim.policies.routing import RoundRobinRouter
from dcsim.policies.scheduling import FifoScheduler
from dcsim.workloads.cluster import Cluster
from dcsim.workloads.config import ServiceConfig
from dcsim.workloads.inference.requests import Request
from dcsim.workloads.inference.service import InferenceService, ServiceSpec

MODEL, GPU, TP = MODELS["Llama-3.1-70B"], GPUS["H100-SXM"], 8
DEVICE = DeviceModel(GPU, InferencePerfParams(), GpuPowerModel(GPU))


class NoArrivals:
    """The tests feed requests themselves."""

    def arrival_times_s(self, rng, until_s):
        return np.empty(0)

    def mean_rate_per_s(self, t0_s, t1_s):
        return 0.0


def no_lengths(rng, n):
    return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)


def cost(new, pairs, kv, seqs) -> float:
    return float(DEVICE.iteration(MODEL, TP, new, pairs, kv, seqs)[0])


def decode_times(batch: int, ctx0: int, n: int) -> np.ndarray:
    ctx = ctx0 + batch * np.arange(n, dtype=float)
    return np.broadcast_to(DEVICE.iteration(MODEL, TP, batch, ctx, ctx, batch)[0], (n,))


def serve(arrivals: list[tuple], until_s: float = 600.0, max_batch_tokens: int = 8192,
          kv_capacity_tokens: int | None = None, replicas: int = 1, device: DeviceModel = DEVICE, **spec_fields):
    """Run replicas on a one-rack cluster; ``arrivals`` are (time, prompt, output[, hash_ids])."""
    sim = Simulation(0, Recorder)
    topo = Topology(1, max(replicas, 1), NodeSpec(GPU))
    cluster = Cluster(sim, topo, FifoScheduler())
    kv = kv_capacity_tokens or max_kv_tokens(MODEL, GPU, TP, 0.9)
    config = ServiceConfig(model=MODEL.name, replicas=replicas, tp=TP, max_num_seqs=256, max_batch_tokens=max_batch_tokens,
                           **spec_fields)
    spec = ServiceSpec("svc", MODEL, config, NoArrivals(), no_lengths, 1000.0, 100.0, 1000.0, kv)
    svc = InferenceService(sim, spec, device, RoundRobinRouter(), cluster, 0, until_s)
    return feed_and_run(sim, svc, arrivals, until_s)


def feed_and_run(sim: Simulation, svc: InferenceService, arrivals: list[tuple], until_s: float):
    """Send ``arrivals`` ((time, prompt, output[, hash_ids])) to ``svc``, run to ``until_s``:
    the results, the requests table in request order, the service."""

    def feed():
        for i, (t, p, o, *h) in enumerate(arrivals):
            yield sim.env.timeout(t - sim.env.now)
            svc.arrive(Request(i, "svc", sim.env.now, p, o, h[0] if h else None))

    sim.env.process(feed())
    results = sim.run(until_s)
    req = results.frames()["requests"].sort_values("request_id").reset_index(drop=True)
    return results, req, svc


def test_single_request_timeline_is_the_roofline():
    """Alone on a replica, a request's first token comes after one prefill iteration and
    its last after output - 1 decode iterations, each costed by the performance model."""
    p, o = 1000, 50
    results, req, _ = serve([(1.0, p, o)])
    ttft = cost(p, prefill_attn_pairs(p), p, 0)
    tdone = 1.0 + ttft + float(np.sum(decode_times(1, p, o - 1)))
    r = req.iloc[0]
    assert r["status"] == "completed"
    assert r["ttft_s"] == pytest.approx(ttft, rel=1e-12)
    assert r["t_done_s"] == pytest.approx(tdone, rel=1e-12)
    assert r["tpot_s"] == pytest.approx((tdone - 1.0 - ttft) / (o - 1), rel=1e-12)
    assert r["queue_delay_s"] == 0.0


def test_events_per_request_not_per_decode_step():
    """Generating 2,000 tokens takes a handful of events, not one per decode step."""
    results, req, _ = serve([(0.0, 100, 2000)], until_s=600.0)
    assert req.iloc[0]["status"] == "completed"
    # facility ticks are absent here; the simulation's own events are O(1)
    assert results.events_processed < 20


def test_long_prompt_is_prefilled_in_chunks_of_the_token_budget():
    """A 20,000-token prompt with an 8,192-token budget takes three prefill iterations."""
    p, budget = 20_000, 8192
    _, req, _ = serve([(0.0, p, 2)], max_batch_tokens=budget)
    chunks = [(8192, 0), (8192, 8192), (3616, 16384)]
    ttft = sum(cost(c, prefill_attn_pairs(c, before), before + c, 0) for c, before in chunks)
    assert req.iloc[0]["ttft_s"] == pytest.approx(ttft, rel=1e-12)


def test_arrival_joins_the_batch_at_the_next_iteration_boundary():
    """A request arriving mid-iteration is admitted when the running iteration ends, and
    its prefill runs together with the other sequence's decode in one mixed iteration."""
    pa, oa, pb, ob, t_b = 100, 1000, 300, 10, 5.0
    _, req, _ = serve([(0.0, pa, oa), (t_b, pb, ob)])
    a, b = req.iloc[0], req.iloc[1]
    boundaries = a["t_first_token_s"] + np.cumsum(decode_times(1, pa, oa - 1))
    k = int(np.searchsorted(boundaries, t_b))  # iterations of A finished by B's admission: k + 1
    assert b["t_admitted_s"] == pytest.approx(boundaries[k], rel=1e-12)
    ctx_a = pa + (k + 1)  # A's KV cache: its prompt and the k + 1 tokens decoded since
    mixed = cost(1 + pb, ctx_a + prefill_attn_pairs(pb), ctx_a + pb, 1)
    assert b["t_first_token_s"] == pytest.approx(boundaries[k] + mixed, rel=1e-12)
    assert a["status"] == b["status"] == "completed"


def test_request_energy_plus_idle_is_the_replica_energy():
    """Energy shared out to requests plus idle GPU energy is the replica's GPU energy."""
    arrivals = [(0.5 * i, 200 + 50 * i, 40 + 7 * i) for i in range(12)]
    results, req, svc = serve(arrivals, until_s=300.0)
    assert (req["status"] == "completed").all()
    alloc = svc.allocations[0]
    busy_s = results.monitor_means["gpus_busy"] * 300.0 / TP
    idle_j = GPU.idle_w * TP * (300.0 - busy_s)
    assert req["energy_j"].sum() + idle_j == pytest.approx(alloc.energy_now_j(), rel=1e-9)


def test_request_larger_than_the_kv_cache_is_dropped_with_a_reason():
    """A request whose prompt and output cannot fit the KV cache is dropped, not lost."""
    _, req, _ = serve([(0.0, 900, 200), (1.0, 100, 10)], kv_capacity_tokens=1000)
    assert list(req["status"]) == ["dropped", "completed"]
    assert math.isnan(req.iloc[0]["ttft_s"])


def test_in_flight_requests_are_accounted_at_the_end():
    """Requests still queued or running when the run stops appear with their status."""
    _, req, _ = serve([(0.0, 100, 5000), (1.0, 100, 5000)], until_s=10.0)
    assert list(req["status"]) == ["running", "running"]


def test_full_kv_cache_preempts_the_newest_and_recomputes():
    """When decoding would overflow the cache, the most recently admitted request is
    preempted, requeued at the head, and later recomputes its prompt and output so far;
    every request still completes with all its tokens."""
    arrivals = [(0.0, 400, 300), (0.01, 400, 300), (0.02, 400, 300)]
    _, req, svc = serve(arrivals, kv_capacity_tokens=1500)
    assert (req["status"] == "completed").all()
    assert (req["generated_tokens"] == req["output_tokens"]).all()
    assert req["preemptions"].sum() >= 1
    assert req.loc[0, "preemptions"] == 0  # the oldest is never the victim
    assert svc.preemptions == req["preemptions"].sum()
    # the cache never held more than its capacity: at most 1500 tokens -> at most 3 prompts in flight
    assert req.loc[2, "t_done_s"] > req.loc[0, "t_done_s"]


def test_prefix_cache_skips_the_cached_blocks():
    """A second prompt sharing its first blocks with a cached one prefills only the rest."""
    block = 512
    first = (0.0, 4 * block, 5, (1, 2, 3, 4))
    second = (30.0, 4 * block, 5, (1, 2, 3, 9))  # three blocks in common
    _, req, _ = serve([first, second], prefix_cache_fraction=0.2, prefix_block_tokens=block)
    assert list(req["cached_tokens"]) == [0, 3 * block]
    ttft_cached = cost(block, prefill_attn_pairs(block, 3 * block), 4 * block, 0)
    assert req.loc[1, "ttft_s"] == pytest.approx(ttft_cached, rel=1e-12)
    assert req.loc[1, "ttft_s"] < req.loc[0, "ttft_s"]


def test_disaggregated_prefill_hands_kv_to_a_decode_replica():
    """With prefill and decode pools, a request prefills on one replica, its KV cache (but
    the last token's) moves over the network, and the decode replica recomputes that token
    and samples the first output token (vLLM's NixlConnector): TTFT is the prefill, the
    transfer (bytes / bandwidth on an idle link) and that one-token iteration."""
    p, o = 2000, 20
    _, req, svc = serve([(0.0, p, o)], replicas=2, prefill_replicas=1, kv_transfer_gbit_per_s=400.0)
    r = req.iloc[0]
    assert r["status"] == "completed"
    assert r["replica"] == 1  # finished on the decode replica
    prefill = cost(p, prefill_attn_pairs(p), p, 0)
    transfer = (p - 1) * MODEL.kv_bytes_per_token / (TP * 50e9)
    first = cost(1, prefill_attn_pairs(1, p - 1), p, 0)
    assert r["ttft_s"] == pytest.approx(prefill + transfer + first, rel=1e-12)
    decode = float(np.sum(decode_times(1, p, o - 1)))
    assert r["e2e_s"] == pytest.approx(prefill + transfer + first + decode, rel=1e-12)
    assert r["generated_tokens"] == o and svc.output_tokens == o  # the prefill replica's token is not output
