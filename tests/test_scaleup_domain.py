"""The scale-up domain in serving: its size, the placement inside it, and the costs of crossing it.

``facility.node.scaleup_domain_gpus`` (null: the node) sets the GPUs NVLink joins. A
replica's tensor- and expert-parallel collectives run at NVLink speed inside one domain
and cross the scale-out NICs beyond it (docs/network.md, "Serving across the domain").
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import dcsim
from dcsim.config.build import build
from dcsim.config.compose import compose_config
from dcsim.core.errors import ConfigError
from dcsim.hardware.device import DeviceModel
from dcsim.hardware.gpus import GPUS
from dcsim.hardware.models import MODELS
from dcsim.hardware.performance import SCALEOUT_HOP_LATENCY_RATIO, Fabric, comm_terms, replica_comm_s, tp_comm_s

GB200 = GPUS["GB200"]
MOE = MODELS["DeepSeek-V3"]
NIC_B_S = 400e9 / 8  # one 400 Gb/s NIC per GPU, one way


def _same(a: dict, b: dict) -> bool:
    """Equal summaries, NaN equal to NaN."""
    if a.keys() != b.keys():
        return False
    return all(x == y or (isinstance(x, float) and isinstance(y, float) and math.isnan(x) and math.isnan(y))
               for x, y in ((a[k], b[k]) for k in a))


# ---------------------------------------------------------------------------- the domain field


def test_the_default_domain_is_the_node_bit_for_bit():
    """scaleup_domain_gpus unset and set to gpus_per_node give the same run to the last digit."""
    base = ["duration_s=300", "workload=inference_only"]
    unset = dcsim.run(base).summary()
    node = dcsim.run(base + ["facility.node.scaleup_domain_gpus=8"]).summary()
    assert unset["output_tokens"] > 0
    assert _same(unset, node)


@pytest.mark.parametrize("value", [4, 12, 24, 64])
def test_a_domain_that_is_not_whole_nodes_dividing_the_rack_is_refused(value):
    """The default facility: 8 GPUs per node, 32 per rack; allowed 8, 16, 32."""
    with pytest.raises(ConfigError) as err:
        build(compose_config([f"facility.node.scaleup_domain_gpus={value}"]))
    msg = str(err.value)
    assert "\n" not in msg
    assert f"facility.node.scaleup_domain_gpus={value}" in msg
    assert "one of [8, 16, 32]" in msg


# ---------------------------------------------------------------------------- costs


def _params():
    return DeviceModel.for_gpu(GB200).perf


def test_tp_inside_the_domain_is_todays_formula_bit_for_bit():
    """ep = 1 and tp within the domain: the ring all-reduce of tp_comm_s, whatever the domain's size."""
    p = _params()
    tokens = np.array([1.0, 64.0, 300.0, 4096.0])
    for fabric in (None, Fabric(4), Fabric(72, NIC_B_S, 1.0, 72)):
        got = replica_comm_s(MOE, GB200, 4, p, tokens, 1, fabric)
        assert np.array_equal(got, tp_comm_s(MOE, GB200, 4, p, tokens))


def test_moe_all_to_all_inside_the_domain_is_its_closed_form():
    """ep = 8, tp = 2: 16 GPUs of a 72-GPU domain. Per layer one all-reduce over the 2 GPUs of an
    attention group (T / 8 tokens) and a dispatch and a combine, each a pairwise all-to-all of
    S = T x top_k x hidden x 2 B / 16 per GPU: (n - 1) alpha + (n - 1) / n x S / B_up."""
    p = _params()
    fabric = Fabric(72, NIC_B_S, 1.0, 72)
    b_up = GB200.nvlink_bw_bytes_per_s / 2 * p.allreduce_bw_efficiency
    alpha = p.allreduce_hop_latency_s
    n, tokens = 16, 512.0
    s = tokens * MOE.experts_per_token * MOE.hidden * 2.0 / n
    a2a = (n - 1) * alpha + (n - 1) / n * s / b_up
    ar = 2 * (2 - 1) * alpha + 2 * (2 - 1) / 2 * (tokens / 8) * MOE.hidden * 2.0 / b_up
    by_hand = MOE.layers * (ar + 2 * a2a)
    assert comm_terms(MOE, GB200, 2, p, 8, fabric).at(tokens) == pytest.approx(by_hand, rel=1e-12)


def test_moe_all_to_all_across_domains_is_its_closed_form():
    """ep = 16, tp = 1 over four 4-GPU domains: the slower of the NVLink part (d - 1) S / (n B_up)
    and the NIC part (n - d) S / (n B_out), each with its hop latencies, sent at once."""
    p = _params()
    fabric = Fabric(4, NIC_B_S, 1.0, 72)
    b_up = GB200.nvlink_bw_bytes_per_s / 2 * p.allreduce_bw_efficiency
    b_out = NIC_B_S * p.allreduce_bw_efficiency
    a_up, a_out = p.allreduce_hop_latency_s, p.allreduce_hop_latency_s * SCALEOUT_HOP_LATENCY_RATIO
    n, d, tokens = 16, 4, 2048.0
    s = tokens * MOE.experts_per_token * MOE.hidden * 2.0 / n
    inside = (d - 1) * a_up + (d - 1) * s / (n * b_up)
    across = (n - d) * a_out + (n - d) * s / (n * b_out)
    assert across > inside  # the NICs set the time
    by_hand = MOE.layers * 2 * max(inside, across)
    assert comm_terms(MOE, GB200, 1, p, 16, fabric).at(tokens) == pytest.approx(by_hand, rel=1e-12)


def test_scalar_path_equals_array_path_with_expert_parallelism_and_across_domains():
    """DeviceModel.iteration_scalar (folded, the engine's hot path) agrees with iteration (arrays)."""
    for fabric in (Fabric(72, NIC_B_S, 1.0, 72), Fabric(4, NIC_B_S, 2.0, 8)):
        dev = DeviceModel.for_gpu(GB200, fabric=fabric)
        for tp, ep in ((16, 1), (4, 4), (1, 16), (2, 8)):
            for args in ((1.0, 900.0, 900.0, 1.0), (256.0, 256 * 3000.0, 256 * 3000.0, 256.0),
                         (4096.0, 4096 * 2048.0, 4096.0, 0.0)):
                t_a, p_a = dev.iteration(MOE, tp, *args, ep=ep)
                t_s, p_s = dev.iteration_scalar(MOE, tp, *args, ep=ep)
                assert t_s == pytest.approx(float(t_a), rel=1e-12)
                assert p_s == pytest.approx(float(p_a), rel=1e-12)


def test_wide_expert_parallelism_is_faster_inside_a_72_gpu_domain():
    """The same 16-GPU expert-parallel replica: one NVL72 domain against four 4-GPU domains."""
    p = _params()
    inside = comm_terms(MOE, GB200, 1, p, 16, Fabric(72, NIC_B_S, 1.0, 72))
    across = comm_terms(MOE, GB200, 1, p, 16, Fabric(4, NIC_B_S, 1.0, 72))
    for tokens in (1.0, 64.0, 1024.0):
        assert across.at(tokens) > 2 * inside.at(tokens)


# ---------------------------------------------------------------------------- placement


def test_a_replica_larger_than_a_node_stays_inside_one_domain():
    """4-GPU nodes, 4 nodes per rack, 8-GPU domains (nodes 0-1, 2-3, ...). Node 1 is busy.
    Packing alone takes nodes 0 and 2 of rack 0, two domains; bound to its domain the
    replica takes the whole free domain 2-3 (the best fit)."""
    from dcsim.policies.scheduling import ClusterView, PackPlacement, SpreadPlacement

    free = (4, 0, 4, 4, 4, 4, 4, 4)
    view = ClusterView(gpus_per_node=4, free_by_node=free, queue=(), nodes_per_rack=4)
    assert PackPlacement().place(8, free, view) == ((0, 4), (2, 4))
    assert PackPlacement().place(8, free, view, domain_nodes=2) == ((2, 4), (3, 4))
    # spreading puts it in the emptiest rack, still inside one domain
    assert SpreadPlacement().place(8, free, view, domain_nodes=2) == ((4, 4), (5, 4))
    # larger than a domain: whole free domains, never the half-free one
    assert PackPlacement().place(16, free, view, domain_nodes=2) == ((2, 4), (3, 4), (4, 4), (5, 4))
    # no domain with two whole free nodes: nothing, though two free nodes exist
    assert PackPlacement().place(8, (4, 0, 0, 4), replace_free(view, (4, 0, 0, 4)), domain_nodes=2) is None


def replace_free(view, free):
    from dataclasses import replace

    return replace(view, free_by_node=free)


# ---------------------------------------------------------------------------- runs

NVL72 = ["workload=inference_only", "duration_s=300", "facility.node.gpu=GB200", "facility.node.gpus_per_node=4",
         "facility.rack.gpus_per_rack=72", "facility.num_racks=2", "facility.cooling.technology=direct_liquid",
         "workload.services.chat.replicas=2"]


def test_a_tp16_replica_is_faster_per_token_in_an_nvl72_domain_than_across_the_scale_out_network():
    """Llama-3.1-70B at tp=16 on GB200: inside one 72-GPU domain against 4-GPU domains (the node),
    where its all-reduces cross the NICs (hierarchically: NVLink, NIC, NVLink)."""
    tp16 = NVL72 + ["workload.services.chat.tp=16"]
    inside = dcsim.run(tp16 + ["facility.node.scaleup_domain_gpus=72"])
    across = dcsim.run(tp16)
    a, b = inside.summary(), across.summary()
    assert a["output_tokens"] > 0 and b["output_tokens"] > 0
    assert a["tpot_p50_s"] < b["tpot_p50_s"]
    # each replica holds 16 GPUs (4 whole nodes) of one domain
    starts = inside.frames()["events"].query("record_type == 'start'")
    assert len(starts) == 2
    for detail, gpus in zip(starts["detail"], starts["value"]):
        first, last = (int(x) for x in detail.removeprefix("gpus=").split(".."))
        assert gpus == 16 and last - first == 15 and first // 72 == last // 72


def test_expert_parallel_replica_serves_inside_the_domain_and_fits_where_tp1_cannot():
    """DeepSeek-V3 (671 B, fp8) does not fit one GB200; at tp=1 x ep=8 each GPU holds the dense
    weights and 1/8 of the routed experts, and the replica takes 8 GPUs."""
    moe = NVL72 + ["workload.services.chat.model=DeepSeek-V3", "facility.node.scaleup_domain_gpus=72",
                   "workload.services.chat.tp=1"]
    with pytest.raises(ConfigError, match=r"workload.services.chat.tp=1 .*DeepSeek-V3"):
        build(compose_config(moe))
    res = dcsim.run(moe + ["workload.services.chat.ep=8"])
    s = res.summary()
    assert s["output_tokens"] > 0
    assert s["gpu_utilisation"] <= 16 / 144 + 1e-12


@pytest.mark.parametrize(("overrides", "field", "needle"), [
    # 4 x 27 = 108 GPUs: more than the 72-GPU domain and not whole domains
    (["workload.services.chat.model=DeepSeek-V3", "workload.services.chat.tp=4", "workload.services.chat.ep=27",
      "facility.node.scaleup_domain_gpus=72"], "workload.services.chat.ep=27", "scale-up domain's 72 GPUs"),
    # 12 GPUs over 4-GPU nodes in 8-GPU domains: neither inside one domain nor whole domains
    (["workload.services.chat.tp=12", "facility.node.scaleup_domain_gpus=8", "facility.rack.gpus_per_rack=16"],
     "workload.services.chat.tp=12", "scale-up domain's 8 GPUs"),
    (["workload.services.chat.ep=2"], "workload.services.chat.ep=2", "a dense model"),
])
def test_a_replica_that_cannot_be_placed_on_the_domains_is_refused(overrides, field, needle):
    with pytest.raises(ConfigError) as err:
        build(compose_config(NVL72 + overrides))
    msg = str(err.value)
    assert "\n" not in msg
    assert msg.startswith(field)
    assert needle in msg
