"""A facility of several GPU types (``facility.rack_groups``), and a disaggregated service
whose prefill and decode pools run on different ones.

Racks of another GPU type follow the ``num_racks`` racks of ``node.gpu``; each rack's
idle power, thermal model and nameplate are its own GPU's. A service's ``gpu`` puts its
replicas on the racks of that type only; with ``prefill_replicas`` > 0, ``decode_gpu``
puts the decode pool on another, each pool timed by its own GPU's device model and the
KV cache crossing the NICs between the racks. So on an idle fleet

    TTFT = prefill (prefill GPU) + (p - 1) x KV bytes / (tp x NIC share) + one-token iteration (decode GPU)

and the decode iterations cost what the decode GPU's device model says.
"""

from __future__ import annotations

import numpy as np
import pytest
from test_engine import MODEL, NoArrivals, no_lengths
from test_extending import documented_files, write_catalogue
from test_kv_transfer import feed_and_run

import dcsim
from dcsim.api import compose_config
from dcsim.config.build import build
from dcsim.core.errors import ConfigError
from dcsim.core.simulation import Simulation
from dcsim.facility.topology import Topology
from dcsim.hardware.catalogue import CATALOGUE_PATH_ENV
from dcsim.hardware.device import DeviceModel
from dcsim.hardware.gpus import GPUS
from dcsim.hardware.node import NodeSpec
from dcsim.hardware.performance import max_kv_tokens, prefill_attn_pairs
from dcsim.metrics.recorder import Recorder
from dcsim.policies.routing import RoundRobinRouter
from dcsim.policies.scheduling import FifoScheduler
from dcsim.workloads.cluster import Cluster
from dcsim.workloads.config import ServiceConfig
from dcsim.workloads.inference.service import InferenceService, ServiceSpec

H100, H200, B200 = GPUS["H100-SXM"], GPUS["H200"], GPUS["B200"]
S = "workload.services.chat"
# one rack of 32 H100 and one of 32 H200 (4 nodes of 8 each), the chat service of TP 4
MIXED = ["workload=inference_only", "duration_s=60", "facility.num_racks=1",
         "facility.rack_groups=[{gpu:H200,num_racks:1}]", f"{S}.replicas=4", f"{S}.arrival_rate_per_s=2"]


def started_gpus(results) -> list[tuple[str, int, int]]:
    """(replica, first GPU, last GPU) of every allocation, from the run's start events."""
    ev = results.frames()["events"]
    out = []
    for comp, detail in ev[ev["record_type"] == "start"][["component", "detail"]].itertuples(index=False):
        lo, hi = detail.removeprefix("gpus=").split("..")
        out.append((comp, int(lo), int(hi)))
    return out


# -- topology ---------------------------------------------------------------------------------
def test_rack_groups_follow_the_racks_of_node_gpu():
    topo = Topology(3, 4, NodeSpec(H100), rack_groups=((H200, 1), (B200, 1)))
    assert topo.base_racks == 1 and [g.name for g in topo.gpu_types] == ["H100-SXM", "H200", "B200"]
    assert [topo.node_of_rack(r).gpu.name for r in range(3)] == ["H100-SXM", "H200", "B200"]
    assert topo.nodes_of_type("H200") == range(4, 8) and topo.racks_of_type("B200") == range(2, 3)
    # nameplate: each rack at its own GPUs' TDP
    host = NodeSpec(H100).host_busy_w
    assert topo.it_nameplate_w == pytest.approx(4 * (8 * (700 + 700 + 1000) + 3 * host), rel=1e-12)
    with pytest.raises(ValueError, match="distinct GPUs"):
        Topology(2, 4, NodeSpec(H100), rack_groups=((H100, 1),))
    with pytest.raises(ValueError, match=">= 1 rack of H100-SXM"):
        Topology(1, 4, NodeSpec(H100), rack_groups=((H200, 1),))


def test_idle_power_per_rack_is_its_own_gpus_idle_power():
    """An idle cluster of one H100 rack and one B200 rack: each rack's free-GPU meter draws
    32 x its GPU's idle power (108.5 W and 155 W), and the ledger's GPU energy is their sum x T."""
    sim = Simulation(0, Recorder)
    topo = Topology(2, 4, NodeSpec(H100), rack_groups=((B200, 1),))
    cluster = Cluster(sim, topo, FifoScheduler())
    results = sim.run(100.0)
    assert [m.power_w for m in cluster.free_gpu_meters] == [32 * H100.idle_w, 32 * B200.idle_w]
    assert results.energy_j["gpu"] == pytest.approx(100.0 * 32 * (H100.idle_w + B200.idle_w), rel=1e-12)


def test_each_rack_has_its_own_gpus_thermal_model():
    """B200 racks: the technology's resistance scaled to B200's 1,000 W TDP (R x 700 / 1000),
    B200's throttle and shutdown temperatures; the H100 rack keeps H100's."""
    from dcsim.facility.controller import Facility

    spec = build(compose_config(MIXED + ["facility.rack_groups=[{gpu:B200,num_racks:1}]"])).facility
    ths = Facility(Simulation(0, Recorder), spec).rack_thermal
    assert ths[0] is spec.thermal and ths[1] is spec.thermal_by_gpu["B200"]
    assert ths[1].gpu_resistance_k_per_w == pytest.approx(ths[0].gpu_resistance_k_per_w * 700.0 / 1000.0, rel=1e-12)
    assert (ths[1].gpu_limit_c, ths[1].gpu_shutdown_c) == (B200.throttle_temp_c, B200.shutdown_temp_c)
    assert (ths[0].gpu_limit_c, ths[0].gpu_shutdown_c) == (H100.throttle_temp_c, H100.shutdown_temp_c)


def test_a_rack_feed_is_checked_and_capped_per_gpu_type():
    """A 30 kW rack feed: the H100 rack (29.0 kW at nameplate) fits, the B200 rack (38.6 kW)
    does not; with over_feed=cap only the B200s are capped, to what fits 30 kW."""
    b200 = MIXED + ["facility.rack_groups=[{gpu:B200,num_racks:1}]", "facility.power.rack_feed_kw=30"]
    with pytest.raises(ConfigError, match=r"facility\.power\.rack_feed_kw.*38\.6 kW"):
        build(compose_config(b200))
    scenario = build(compose_config(b200 + ["facility.power.over_feed=cap"]))
    assert scenario.devices["H100-SXM"].cap_w is None
    assert 0 < scenario.devices["B200"].cap_w < B200.tdp_w


# -- placement and the summary ------------------------------------------------------------------
def test_a_service_on_h200_lands_only_on_the_h200_racks():
    results = dcsim.run(MIXED + [f"{S}.gpu=H200"])
    placed = started_gpus(results)
    assert len(placed) == 4 and all(32 <= lo <= hi < 64 for _, lo, hi in placed)  # rack 1: GPUs 32..63
    s = results.summary()
    assert s["gpu_model"] == "H100-SXM+H200" and s["services"]["chat"]["gpu"] == "H200"
    assert s["requests_completed"] > 0
    # without gpu: facility.node.gpu's racks
    assert all(hi < 32 for _, lo, hi in started_gpus(dcsim.run(MIXED)))


def test_a_training_job_on_b200_runs_on_the_b200_racks_at_b200_speed():
    """workload.training.NAME.gpu: the job's GPUs are the B200 rack's, its step is B200's
    (faster than the same job's on H100); without gpu it runs on the H100 rack."""
    job = "workload.training.sft_7b"
    base = ["workload=training_only", "duration_s=120", "facility.num_racks=1",
            "facility.rack_groups=[{gpu:B200,num_racks:1}]", "~workload.training.pretrain_8b",
            "~workload.training.finetune_70b", f"{job}.submit_time_s=0"]
    steps = {}
    for gpu in ("H100-SXM", "B200"):
        scenario = build(compose_config(base + [f"{job}.gpu={gpu}"]))
        steps[gpu] = scenario.jobs[0].step.time_s
        placed = started_gpus(scenario.run())
        assert len(placed) == 1 and all((lo >= 32) == (gpu == "B200") for _, lo, _ in placed)
    assert steps["B200"] < steps["H100-SXM"]
    with pytest.raises(ConfigError, match=rf"{job}\.gpu.*H200.*a GPU type the facility has racks of"):
        build(compose_config(base + [f"{job}.gpu=H200"]))


def test_a_service_larger_than_its_gpu_type_is_refused_naming_the_type():
    with pytest.raises(ConfigError, match=r"replicas=9.*32 GPUs of H200"):
        build(compose_config(MIXED + [f"{S}.gpu=H200", f"{S}.replicas=9"]))


def test_capital_cost_sums_each_types_price():
    """32 H100 at $27,500 and 32 H200 at $30,000 against 64 H100: the GPU capital scales by
    (32 x 27,500 + 32 x 30,000) / (64 x 27,500)."""
    mixed = dcsim.run(MIXED).summary()
    h100 = dcsim.run([o for o in MIXED if "rack_groups" not in o and "num_racks" not in o]
                     + ["facility.num_racks=2"]).summary()
    assert mixed["capex_gpu_usd"] / h100["capex_gpu_usd"] == pytest.approx(
        (32 * H100.price_usd + 32 * H200.price_usd) / (64 * H100.price_usd), rel=1e-12)
    assert mixed["capex_server_usd"] == pytest.approx(h100["capex_server_usd"], rel=1e-12)


def test_peak_flops_sum_each_types_peak():
    s = dcsim.run(MIXED).summary()
    assert s["peak_flops_per_s"] == 32 * H100.peak_bf16_flops + 32 * H200.peak_bf16_flops


def test_a_fluid_service_on_h200_lands_on_the_h200_racks():
    results = dcsim.run(MIXED + [f"{S}.gpu=H200", f"{S}.fidelity=fluid"])
    placed = started_gpus(results)
    assert len(placed) == 4 and all(32 <= lo <= hi < 64 for _, lo, hi in placed)
    assert results.summary()["services"]["chat"]["gpu"] == "H200"


def test_the_ledger_stays_exact_on_a_mixed_fleet():
    """Sum of the consumers = IT energy; IT + losses + cooling = facility energy; per-node
    telemetry (each GPU idle at its own rack's idle power) integrates to each rack's energy."""
    # B200 (idle 155 W) beside H100 (108.5 W): a GPU idle at the wrong type's power would show
    results = dcsim.run(MIXED + ["facility.rack_groups=[{gpu:B200,num_racks:1}]", f"{S}.gpu=B200",
                                 f"{S}.prefill_replicas=2", f"{S}.decode_gpu=H100-SXM", "output.telemetry_interval_s=15"])
    tel = results.frames()["telemetry"]
    nodes = tel[tel["gpu"] < 0]
    energy = (nodes["power_w"] * nodes["interval_s"]).groupby(nodes["rack"]).sum()
    assert list(energy.index) == [0, 1]
    for rack, e_j in energy.items():
        assert e_j == pytest.approx(results.group_energy_j[f"rack/{rack:03d}"], rel=1e-9)
    s = results.summary()
    assert s["requests_completed"] > 0 and s["services"]["chat"]["gpu"] == "B200/H100-SXM"
    assert s["it_energy_j"] == pytest.approx(s["gpu_energy_j"] + s["host_energy_j"], rel=1e-12)
    assert s["facility_energy_j"] == pytest.approx(
        s["it_energy_j"] + s["conversion_loss_energy_j"] + s["cooling_energy_j"], rel=1e-12)


# -- disaggregated across GPU types: the analytic TTFT ---------------------------------------------
def split_service(nodes_per_rack=1, tp=8, until_s=120.0):
    """One prefill replica on H100 (rack 0) and one decode replica on H200 (rack 1), racks of
    ``nodes_per_rack`` nodes of 8 GPUs: the simulation, its cluster, the service, the two devices."""
    sim = Simulation(0, Recorder)
    topo = Topology(2, nodes_per_rack, NodeSpec(H100), rack_groups=((H200, 1),))
    cluster = Cluster(sim, topo, FifoScheduler())
    cluster.reserve_work_ids(2)
    config = ServiceConfig(model=MODEL.name, replicas=2, tp=tp, prefill_replicas=1, gpu="H100-SXM", decode_gpu="H200")
    spec = ServiceSpec("svc", MODEL, config, NoArrivals(), no_lengths, 1000.0, 100.0, 1000.0,
                       max_kv_tokens(MODEL, H100, tp, 0.9), gpu="H100-SXM", decode_gpu="H200",
                       decode_kv_capacity_tokens=max_kv_tokens(MODEL, H200, tp, 0.9))
    devices = DeviceModel.for_gpu(H100), DeviceModel.for_gpu(H200)
    svc = InferenceService(sim, spec, devices[0], RoundRobinRouter(), cluster, 0, until_s, decode_device=devices[1])
    return sim, cluster, svc, devices


def test_prefill_on_h100_decode_on_h200_each_costed_by_its_own_gpu():
    p, o, tp = 3000, 12, 8
    sim, _, svc, (h100, h200) = split_service(tp=tp)
    _, req = feed_and_run(sim, svc, [(0.0, p, o)], 120.0)
    prefill_r, decode_r = sorted(svc.replicas, key=lambda r: r.index)
    assert (prefill_r.role, prefill_r.device.gpu.name) == ("prefill", "H100-SXM")
    assert (decode_r.role, decode_r.device.gpu.name) == ("decode", "H200")
    assert prefill_r.alloc.gpu_ids == tuple(range(8)) and decode_r.alloc.gpu_ids == tuple(range(8, 16))
    assert decode_r.kv_capacity_tokens == max_kv_tokens(MODEL, H200, tp, 0.9) > prefill_r.kv_capacity_tokens
    r = req.iloc[0]
    assert r["status"] == "completed" and r["replica"] == 1
    prefill = h100.iteration_scalar(MODEL, tp, p, prefill_attn_pairs(p), p, 0)[0]
    transfer = (p - 1) * MODEL.kv_bytes_per_token / (tp * 50e9)  # racks apart: the NICs, 400 Gb/s per GPU
    first = h200.iteration_scalar(MODEL, tp, 1, prefill_attn_pairs(1, p - 1), p, 0)[0]
    assert r["ttft_s"] == pytest.approx(prefill + transfer + first, rel=1e-9)
    assert list(svc._links) == [(0, "nic")]
    # the decode iterations at contexts p .. p + o - 2, one sequence: H200's cost, not H100's
    ctx = p + np.arange(o - 1, dtype=float)
    decode = float(np.sum(h200.iteration(MODEL, tp, 1, ctx, ctx, 1)[0]))
    assert r["e2e_s"] == pytest.approx(prefill + transfer + first + decode, rel=1e-9)
    on_h100 = float(np.sum(h100.iteration(MODEL, tp, 1, ctx, ctx, 1)[0]))
    assert decode < on_h100  # H200's 4.8 TB/s against H100's 3.35 TB/s on a memory-bound decode


@pytest.mark.parametrize("rack", [0, 1])
def test_a_replaced_replica_keeps_its_pool_and_gpu_type(rack):
    """The prefill replica (H100, rack 0) or the decode replica (H200, rack 1) loses its rack
    for a second: its replacement serves the same pool on the same GPU type, waiting for the
    rack to come back although a node of the other type is free all along."""
    sim, cluster, svc, _ = split_service(nodes_per_rack=2, until_s=10.0)
    sim.env.timeout(1.0).callbacks.append(lambda _ev: cluster.stop_racks([rack], "thermal"))
    sim.env.timeout(2.0).callbacks.append(lambda _ev: cluster.restore_racks([rack], "thermal"))
    sim.run(10.0)
    pools = {r.role: r for r in svc.replicas}
    assert sorted(pools) == ["decode", "prefill"] and len(svc.replicas) == 2
    assert pools["prefill"].device.gpu.name == "H100-SXM" and set(pools["prefill"].alloc.gpu_ids) <= set(range(16))
    assert pools["decode"].device.gpu.name == "H200" and set(pools["decode"].alloc.gpu_ids) <= set(range(16, 32))
    replaced = pools["prefill" if rack == 0 else "decode"]
    assert replaced.alloc.t_granted_s == 2.0  # it waited for its own rack


# -- bad inputs -----------------------------------------------------------------------------------
@pytest.mark.parametrize("overrides, match", [
    (["facility.rack_groups=[{gpu:H300,num_racks:1}]"], r"facility\.rack_groups\.0\.gpu.*H300.*one of"),
    (["facility.rack_groups=[{gpu:H100-SXM,num_racks:1}]"], r"facility\.rack_groups\.0\.gpu.*H100-SXM"),
    ([f"{S}.gpu=B200"], rf"{S}\.gpu.*B200.*a GPU type the facility has racks of.*H100-SXM.*H200"),
    ([f"{S}.prefill_replicas=1", f"{S}.decode_gpu=B200"], rf"{S}\.decode_gpu.*B200"),
    ([f"{S}.decode_gpu=H200"], rf"{S}\.decode_gpu.*null unless the service is disaggregated"),
    ([f"{S}.prefill_replicas=1", f"{S}.decode_gpu=H200", f"{S}.fidelity=fluid"], rf"{S}\.decode_gpu.*fluid"),
    (["facility.power.policy=proportional", "facility.power.budget_kw=400"], r"facility\.power\.policy.*rack_groups"),
    # 40 GPUs a rack: 5 nodes of H100 are 36.3 kW, of B200 48.3 kW, over air cooling's 40 kW
    (["facility.rack.gpus_per_rack=40", "facility.rack_groups=[{gpu:B200,num_racks:1}]"],
     r"facility\.rack_groups\.0\.gpu.*B200.*at most 40 kW per rack.*48\.2 kW"),
])
def test_bad_inputs_give_one_line_errors(overrides, match):
    with pytest.raises(ConfigError, match=match) as e:
        build(compose_config(MIXED + overrides))
    assert "\n" not in str(e.value)


def test_a_gpu_without_a_profile_for_the_engine_is_refused(tmp_path, monkeypatch):
    """docs/extending.md's H100-PCIe has a vllm-0.11 profile and none for splitwise-2023."""
    monkeypatch.setenv(CATALOGUE_PATH_ENV, str(write_catalogue(tmp_path / "cat", documented_files())))
    base = MIXED[:3] + ["facility.rack_groups=[{gpu:H100-PCIe,num_racks:1}]"] + MIXED[4:]
    with pytest.raises(ConfigError, match=rf"{S}\.engine.*splitwise-2023.*calibrated for H100-PCIe") as e:
        build(compose_config(base + [f"{S}.prefill_replicas=1", f"{S}.decode_gpu=H100-PCIe",
                                     f"{S}.engine=splitwise-2023"]))
    assert "\n" not in str(e.value)
    build(compose_config(base + [f"{S}.prefill_replicas=1", f"{S}.decode_gpu=H100-PCIe"]))  # vllm-0.11 has one
