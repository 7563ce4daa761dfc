"""Inference serving at load: saturation, Little's law, and the fluid fidelity."""

from __future__ import annotations

import pytest

import dcsim
from dcsim.api import compose_config
from dcsim.config.build import build
from dcsim.workloads.inference.fluid import ReplicaModel

CHAT = ["workload=inference_only", "workload.services.chat.replicas=8", "workload.services.chat.tp=4"]


def replica_model(overrides: list[str]) -> ReplicaModel:
    sc = build(compose_config(overrides))
    s = sc.services[0][0]
    return ReplicaModel.of_service(sc.device, s)


@pytest.fixture(scope="module")
def capacity_per_s() -> float:
    """Capacity of the 8-replica chat service by the model: replicas x one replica's back-to-back rate."""
    return 8 * replica_model(CHAT).capacity_per_s


@pytest.fixture(scope="module")
def by_load(capacity_per_s):
    """Request- and fluid-fidelity summaries at 30 %, 70 % and 95 % of capacity."""
    out = {}
    for load in (0.3, 0.7, 0.95):
        rate = f"workload.services.chat.arrival_rate_per_s={load * capacity_per_s}"
        for fid in ("request", "fluid"):
            r = dcsim.run(CHAT + ["duration_s=1800", rate, f"workload.services.chat.fidelity={fid}"])
            out[load, fid] = r
    return out


def test_latency_grows_with_load(by_load):
    """Median and tail TTFT, TPOT and end-to-end latency all rise as load rises."""
    s = [by_load[load, "request"].summary() for load in (0.3, 0.7, 0.95)]
    for key in ("ttft_p50_s", "ttft_p99_s", "tpot_p50_s", "e2e_p50_s"):
        assert s[0][key] < s[1][key] < s[2][key], key


def test_littles_law_on_the_simulated_queue(by_load):
    """Time-averaged requests in the system (a level monitor) equals arrival rate times mean
    time in system, within 3 % over a 30-minute run at 70 % load."""
    r = by_load[0.7, "request"]
    req = r.frames()["requests"]
    in_system = r.monitor_means["requests_in_system/chat"]
    done = req[req["status"] == "completed"]
    lam = len(req) / r.until_s
    assert in_system == pytest.approx(lam * done["e2e_s"].mean(), rel=0.03)


def test_saturated_service_serves_its_modelled_capacity():
    """Offered twice its capacity, one replica completes requests at the rate the model
    predicts for back-to-back iterations at its largest batch (within 10 %), and the
    queue grows."""
    one = ["workload=inference_only", "workload.services.chat.replicas=1", "workload.services.chat.tp=4",
           "workload.services.chat.max_num_seqs=64"]
    cap = replica_model(one).capacity_per_s
    r = dcsim.run(one + [f"workload.services.chat.arrival_rate_per_s={2 * cap}", "duration_s=1200"])
    req = r.frames()["requests"]
    late = req[(req["status"] == "completed") & (req["t_done_s"] > 600)]
    assert len(late) / 600.0 == pytest.approx(cap, rel=0.10)
    assert (req["status"] == "queued").sum() > 0.3 * cap * 1200


@pytest.mark.parametrize("load", [0.3, 0.7])
def test_fluid_agrees_with_request_fidelity(by_load, load):
    """At loads up to 70 % of capacity the fluid model's throughput and energy per token
    are within 5 %, and its median TTFT and TPOT within 15 %, of simulating every request."""
    a, b = by_load[load, "request"].summary(), by_load[load, "fluid"].summary()
    assert b["output_tokens_per_s"] == pytest.approx(a["output_tokens_per_s"], rel=0.05)
    assert b["energy_per_output_token_gpu_j"] == pytest.approx(a["energy_per_output_token_gpu_j"], rel=0.05)
    assert b["ttft_p50_s"] == pytest.approx(a["ttft_p50_s"], rel=0.15)
    assert b["tpot_p50_s"] == pytest.approx(a["tpot_p50_s"], rel=0.15)


def test_pooled_occupancy_closed_forms():
    """One replica alone: busy = P(an arrival waits) = 1 - exp(-L). Two replicas behind a
    least-outstanding router with L = 0.5 each: N ~ Poisson(1) in the pool, on min(N, 2)
    replicas, so busy = E[min(N, 2)] / 2 = (2 - 3/e) / 2 and an arrival waits when N >= 2,
    1 - 2/e. The normal approximation above a Poisson mean of 100 meets the exact sum."""
    import math

    from dcsim.workloads.inference.fluid import pooled_occupancy
    assert pooled_occupancy(0.7) == pytest.approx((1 - math.exp(-0.7),) * 2, rel=1e-12)
    busy, wait = pooled_occupancy(0.5, 2)
    assert busy == pytest.approx((2 - 3 / math.e) / 2, rel=1e-12)
    assert wait == pytest.approx(1 - 2 / math.e, rel=1e-12)
    assert pooled_occupancy(0.0, 16) == (0.0, 0.0)
    below, above = pooled_occupancy(99.99 / 110, 110), pooled_occupancy(100.01 / 110, 110)
    assert above[0] == pytest.approx(below[0], abs=1e-3) and above[1] == pytest.approx(below[1], abs=1e-2)
    # below one request per replica, the pool keeps replicas busier than independent shares
    # would, and an arrival seldom finds them all busy
    alone, pooled = pooled_occupancy(0.5), pooled_occupancy(0.5, 16)  # 8 in a pool of 16 on average
    assert pooled[0] > alone[0] and pooled[1] < alone[1]


def test_fluid_energy_at_low_load_follows_the_least_outstanding_pool(capacity_per_s):
    """At 10 % of capacity the least-outstanding router sends an arrival to an idle replica
    while there is one, so fewer replicas idle than independent Poisson shares would leave:
    the fluid energy per token is within 1.5 % of request fidelity's (-3.1 % without the pool)."""
    rate = f"workload.services.chat.arrival_rate_per_s={0.1 * capacity_per_s}"
    a, b = (dcsim.run(CHAT + ["duration_s=1800", rate, f"workload.services.chat.fidelity={fid}"]).summary()
            for fid in ("request", "fluid"))
    assert b["energy_per_output_token_gpu_j"] == pytest.approx(a["energy_per_output_token_gpu_j"], rel=0.015)
    assert b["output_tokens_per_s"] == pytest.approx(a["output_tokens_per_s"], rel=0.01)
