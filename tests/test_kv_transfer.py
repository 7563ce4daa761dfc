"""Disaggregated serving: the KV transfer inside TTFT, and transfers sharing a link.

A prefill replica prefills the prompt; the KV cache of all its tokens but the last moves
to a decode replica over the link between them (tp x per-GPU bandwidth, NVLink inside one
scale-up domain, the NICs across); the decode replica recomputes the last prompt token
and samples the first output token. So TTFT = prefill + transfer + that iteration, and on
an idle link the transfer is bytes / bandwidth. The link is processor-sharing: two
transfers at once each move at half the rate.
"""

from __future__ import annotations

import dataclasses

import pytest
import simpy
from test_engine import DEVICE, GPU, MODEL, NoArrivals, no_lengths

from dcsim.core.errors import ConfigError
from dcsim.core.simulation import Simulation
from dcsim.facility.topology import Topology
from dcsim.hardware.node import NodeSpec
from dcsim.hardware.performance import Fabric, max_kv_tokens, prefill_attn_pairs
from dcsim.metrics.recorder import Recorder
from dcsim.policies.routing import RoundRobinRouter
from dcsim.policies.scheduling import FifoScheduler
from dcsim.workloads.cluster import Cluster
from dcsim.workloads.config import ServiceConfig
from dcsim.workloads.inference.kv_link import KvLink, kv_transfer_bytes_per_s_per_gpu
from dcsim.workloads.inference.requests import Request
from dcsim.workloads.inference.service import InferenceService, ServiceSpec


def cost(tp, new, pairs, kv, seqs, device=DEVICE) -> float:
    return float(device.iteration(MODEL, tp, new, pairs, kv, seqs)[0])


def disaggregated(arrivals, tp=8, nodes=2, device=DEVICE, until_s=300.0, replicas=2, **fields):
    """One prefill and (replicas - 1) decode replicas of ``tp`` GPUs on ``nodes`` nodes of 8 H100."""
    sim = Simulation(0, Recorder)
    topo = Topology(1, nodes, NodeSpec(GPU))
    cluster = Cluster(sim, topo, FifoScheduler())
    config = ServiceConfig(model=MODEL.name, replicas=replicas, tp=tp, prefill_replicas=1, **fields)
    spec = ServiceSpec("svc", MODEL, config, NoArrivals(), no_lengths, 1000.0, 100.0, 1000.0,
                       max_kv_tokens(MODEL, GPU, tp, 0.9))
    svc = InferenceService(sim, spec, device, RoundRobinRouter(), cluster, 0, until_s)
    return (*feed_and_run(sim, svc, arrivals, until_s), svc)


def feed_and_run(sim, svc, arrivals, until_s):
    """Send ``arrivals`` ((time, prompt, output)) to ``svc`` and run: the results and the requests table."""

    def feed():
        for i, (t, p, o) in enumerate(arrivals):
            yield sim.env.timeout(t - sim.env.now)
            svc.arrive(Request(i, "svc", sim.env.now, p, o))

    sim.env.process(feed())
    results = sim.run(until_s)
    return results, results.frames()["requests"].sort_values("request_id").reset_index(drop=True)


# -- the link alone -------------------------------------------------------------------------
def _timeline(sends):
    """(start_s, bytes, name) sends on a 100 B/s link; the (name, landing time) log."""
    env = simpy.Environment()
    link = KvLink(env, 100.0)
    log: list[tuple[str, float]] = []

    def start(t, size, name):
        yield env.timeout(t)
        link.send(size, lambda: log.append((name, env.now)))

    for t, size, name in sends:
        env.process(start(t, size, name))
    env.run()
    return log, link


def test_a_transfer_alone_takes_bytes_over_bandwidth():
    log, link = _timeline([(0.0, 250.0, "a")])
    assert log == [("a", pytest.approx(2.5, abs=1e-12))]
    assert link.busy_s == pytest.approx(2.5) and link.transfers == 1 and link.in_flight == 0


def test_two_transfers_at_once_share_the_link():
    """Processor sharing: two of 100 B started together both land at 2 s (FIFO: 1 s and 2 s)."""
    log, _ = _timeline([(0.0, 100.0, "a"), (0.0, 100.0, "b")])
    assert log == [("a", pytest.approx(2.0, abs=1e-12)), ("b", pytest.approx(2.0, abs=1e-12))]


def test_a_later_transfer_slows_the_one_in_flight():
    """A (100 B) starts at 0, B (100 B) at 0.5 s: A has 50 B left and moves at 50 B/s with B
    until it lands at 1.5 s; B, 50 B left then, alone lands at 2.0 s. A short one started
    behind a long one overtakes it (C, 10 B at 0.1 s, lands at 0.3 s)."""
    log, link = _timeline([(0.0, 100.0, "a"), (0.5, 100.0, "b")])
    assert log == [("a", pytest.approx(1.5, abs=1e-12)), ("b", pytest.approx(2.0, abs=1e-12))]
    assert link.busy_s == pytest.approx(2.0)
    log, _ = _timeline([(0.0, 100.0, "a"), (0.1, 10.0, "c")])
    assert log == [("c", pytest.approx(0.3, abs=1e-12)), ("a", pytest.approx(1.1, abs=1e-12))]


def test_link_bandwidth_precedence():
    """A configured per-GPU rate wins on every path; without one, NVLink one way inside a
    domain (H100: 900 GB/s both ways / 2) and the fabric's NIC share across."""
    fabric = Fabric(8, scaleout_bytes_per_s_per_gpu=100e9)
    assert kv_transfer_bytes_per_s_per_gpu("nvlink", None, GPU, fabric) == 450e9
    assert kv_transfer_bytes_per_s_per_gpu("nic", None, GPU, fabric) == 100e9
    assert kv_transfer_bytes_per_s_per_gpu("nic", None, GPU, None) == 50e9
    assert kv_transfer_bytes_per_s_per_gpu("nvlink", 200.0, GPU, fabric) == 25e9
    assert kv_transfer_bytes_per_s_per_gpu("nic", 200.0, GPU, fabric) == 25e9
    with pytest.raises(ValueError, match="path"):
        kv_transfer_bytes_per_s_per_gpu("pcie", None, GPU, fabric)
    with pytest.raises(ValueError, match="bytes_per_s"):
        KvLink(simpy.Environment(), 0.0)


# -- inside TTFT ----------------------------------------------------------------------------
def _ttft(p, tp, transfer_s, device=DEVICE):
    """Prefill, the transfer, and the decode replica's one-token iteration."""
    return (cost(tp, p, prefill_attn_pairs(p), p, 0, device) + transfer_s
            + cost(tp, 1, prefill_attn_pairs(1, p - 1), p, 0, device))


@pytest.mark.parametrize("case", ["nic_default", "nic_fabric", "nvlink", "configured"])
def test_ttft_holds_the_transfer_at_bytes_over_bandwidth(case):
    """On an idle link, TTFT - prefill - the decode replica's first iteration is exactly
    (p - 1) x KV bytes per token / (tp x per-GPU bandwidth) of the path the replicas' places pick."""
    p, o = 3000, 10
    device, tp, nodes, fields = DEVICE, 8, 2, {}
    if case == "nic_default":  # one replica per node of 8: across domains, 400G NIC per GPU
        per_gpu = 50e9
    elif case == "nic_fabric":
        device = dataclasses.replace(DEVICE, fabric=Fabric(8, scaleout_bytes_per_s_per_gpu=100e9))
        per_gpu = 100e9
    elif case == "nvlink":  # two replicas of TP 4 in one HGX node: one NVLink domain
        tp, nodes, per_gpu = 4, 1, 450e9
    else:
        fields, per_gpu = {"kv_transfer_gbit_per_s": 800.0}, 100e9
    _, req, svc = disaggregated([(0.0, p, o)], tp=tp, nodes=nodes, device=device, **fields)
    r = req.iloc[0]
    transfer = (p - 1) * MODEL.kv_bytes_per_token / (tp * per_gpu)
    assert r["status"] == "completed" and r["replica"] == 1
    assert r["ttft_s"] == pytest.approx(_ttft(p, tp, transfer, device), abs=1e-9)
    path = "nvlink" if case == "nvlink" else "nic"
    assert list(svc._links) == [(0, path)]
    assert svc._links[(0, path)].bytes_per_s == tp * per_gpu


def test_two_transfers_at_once_each_take_twice_as_long():
    """Two prompts prefilled in one iteration leave together: on the shared link each transfer
    takes 2 x bytes / bandwidth, so both land one idle-transfer later than one alone would.
    The first to land starts the idle decode replica at once (its last token alone); the
    second joins at the next iteration, beside the first one's decode. (A one-token request
    first keeps the prefill replica busy while the two arrive, and needs no transfer.)"""
    p0, p, o, t1 = 500, 2000, 6, 0.001
    _, req, svc = disaggregated([(0.0, p0, 1), (t1, p, o), (t1, p, o)])
    alone = (p - 1) * MODEL.kv_bytes_per_token / (8 * 50e9)
    t_prefilled = cost(8, p0, prefill_attn_pairs(p0), p0, 0) + cost(8, 2 * p, 2 * prefill_attn_pairs(p), 2 * p, 0)
    landed = t_prefilled + 2 * alone
    first_a = cost(8, 1, prefill_attn_pairs(1, p - 1), p, 0)
    first_b = cost(8, 2, p + prefill_attn_pairs(1, p - 1), 2 * p, 1)  # beside a's first decode
    assert list(req["t_first_token_s"][1:]) == pytest.approx([landed + first_a, landed + first_a + first_b],
                                                             abs=1e-9)
    link = svc._links[(0, "nic")]
    assert link.transfers == 2 and link.busy_s == pytest.approx(2 * alone, rel=1e-12)
    assert (req["status"] == "completed").all()


def test_the_second_token_s_gap_follows_the_decode_side_first_token():
    """ITL: every request has output - 1 gaps, summing to t_done - t_first; no gap spans the
    transfer (it is inside TTFT)."""
    arrivals = [(0.2 * i, 800 + 50 * i, 5 + 2 * i) for i in range(8)]
    _, req, svc = disaggregated(arrivals)
    assert (req["status"] == "completed").all() and (req["replica"] == 1).all()
    assert svc.itl.count == (req["output_tokens"] - 1).sum()
    assert svc.itl.total_s == pytest.approx((req["t_done_s"] - req["t_first_token_s"]).sum(), rel=1e-9)
    assert svc.itl.percentiles([100])[0] < req["ttft_s"].min()


def test_energy_ledger_is_exact_with_transfers():
    """Every busy joule is some request's; the rest is idle power x idle time; the GPU meters add
    up to the ledger's GPU energy."""
    arrivals = [(0.1 * i, 1500 + 30 * i, 4 + i) for i in range(6)]
    results, req, svc = disaggregated(arrivals, until_s=60.0)
    assert (req["status"] == "completed").all()
    alloc_j = sum(a.energy_now_j() for a in svc.allocations)
    idle_j = sum(a.gpus * GPU.idle_w * (60.0 - a.busy_now_s()) for a in svc.allocations)
    assert req["energy_j"].sum() + idle_j == pytest.approx(alloc_j, rel=1e-12)
    assert results.energy_j["gpu"] == pytest.approx(alloc_j, rel=1e-12)


def test_a_one_token_request_ends_on_the_prefill_replica():
    """A request that wants one token gets it from its prefill, with no transfer."""
    _, req, svc = disaggregated([(0.0, 1000, 1)])
    r = req.iloc[0]
    assert r["replica"] == 0 and r["ttft_s"] == pytest.approx(cost(8, 1000, prefill_attn_pairs(1000), 1000, 0),
                                                               rel=1e-12)
    assert not svc._links


def test_bad_transfer_bandwidth_is_refused():
    import dcsim

    s = "workload.services.chat"
    for bad in ("0", "-5"):
        with pytest.raises(ConfigError, match=f"{s}.kv_transfer_gbit_per_s"):
            dcsim.run([f"{s}.prefill_replicas=1", f"{s}.replicas=2", f"{s}.kv_transfer_gbit_per_s={bad}"])
