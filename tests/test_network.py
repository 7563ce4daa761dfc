"""The network as physics (dcsim/hardware/network.py, docs/network.md): collectives in the
alpha-beta model inside and across the scale-up domain, fat-tree counts and optics power
by hand, and the rack presets against their sources' numbers."""

from __future__ import annotations

import math

import pytest

from dcsim.core.errors import ConfigError
from dcsim.hardware import network as net
from dcsim.hardware import performance, training
from dcsim.hardware.gpus import GPUS
from dcsim.hardware.network import (
    NDR_400G_OPTICS,
    NetworkPowerFigures,
    ScaleOut,
    ScaleUpDomain,
    all_gather_s,
    all_to_all_s,
    collective_s,
    fat_tree,
    hierarchical_allreduce,
    network_power,
    reduce_scatter_s,
    ring_allreduce_s,
)
from dcsim.hardware.racks import RACKS, RackFileError, load_racks, rack_from_mapping

S = 256e6  # bytes per GPU
NVL_BW, NVL_LAT = 450e9, 3e-6  # one way per GPU, per ring step
NIC_BW, NIC_LAT = 50e9, 10e-6


def _domain(gpus: int = 8) -> ScaleUpDomain:
    return ScaleUpDomain(gpus, NVL_BW, NVL_LAT)


def _out(oversubscription: float = 1.0) -> ScaleOut:
    return ScaleOut(NIC_BW, NIC_LAT, oversubscription)


# ---------------------------------------------------------------------------- collectives


def test_ring_allreduce_inside_the_domain_is_its_closed_form():
    """8 GPUs of an 8-GPU domain: 2 (n-1) alpha + 2 (n-1)/n S / B at NVLink speed."""
    n = 8
    expected = 2 * (n - 1) * NVL_LAT + 2 * (n - 1) / n * S / NVL_BW
    assert collective_s("all_reduce", S, n, _domain(8), _out()) == pytest.approx(expected, rel=1e-12)
    assert ring_allreduce_s(S, n, NVL_BW, NVL_LAT) == pytest.approx(expected, rel=1e-12)
    assert ring_allreduce_s(S, 1, NVL_BW, NVL_LAT) == 0.0


def test_ring_allreduce_across_domains_is_its_closed_form():
    """32 GPUs as 4 domains of 8: RS inside (shard S/8), ring AR of S/8 over 4 NICs, AG inside."""
    d, k = 8, 4
    shard = S / d
    inside = (d - 1) * NVL_LAT + (d - 1) * shard / NVL_BW
    across = 2 * (k - 1) * NIC_LAT + 2 * (k - 1) / k * shard / NIC_BW
    got = collective_s("all_reduce", S, d * k, _domain(d), _out())
    assert got == pytest.approx(2 * inside + across, rel=1e-12)
    assert got == pytest.approx(2 * 0.51878e-3 + 1.02e-3, rel=1e-4)  # 32 MB shards: 0.52 ms per NVLink phase, 1.02 ms on the NICs
    # a flat ring of all 32 GPUs at NIC speed moves 2 x 31/32 x S over the NIC: ~10 ms, 5x the hierarchy
    assert ring_allreduce_s(S, 32, NIC_BW, NIC_LAT) > 4 * got


def test_hierarchical_allreduce_equals_its_three_phases():
    h = hierarchical_allreduce(S, 72 * 4, ScaleUpDomain(72, NVL_BW, NVL_LAT), NIC_BW, NIC_LAT)
    assert h.reduce_scatter_s == reduce_scatter_s(S / 72, 72, NVL_BW, NVL_LAT)
    assert h.scaleout_all_reduce_s == ring_allreduce_s(S / 72, 4, NIC_BW, NIC_LAT)
    assert h.all_gather_s == all_gather_s(S / 72, 72, NVL_BW, NVL_LAT)
    assert h.time_s == h.reduce_scatter_s + h.scaleout_all_reduce_s + h.all_gather_s
    assert collective_s("all_reduce", S, 288, ScaleUpDomain(72, NVL_BW, NVL_LAT), _out()) == h.time_s


def test_reduce_scatter_plus_all_gather_is_the_ring_allreduce():
    """The ring all-reduce is a reduce-scatter then an all-gather of shards of S/n."""
    n = 16
    rs_ag = reduce_scatter_s(S / n, n, NVL_BW, NVL_LAT) + all_gather_s(S / n, n, NVL_BW, NVL_LAT)
    assert rs_ag == pytest.approx(ring_allreduce_s(S, n, NVL_BW, NVL_LAT), rel=1e-12)


@pytest.mark.parametrize("kind", net.COLLECTIVES)
def test_a_group_that_fits_the_domain_never_touches_the_nic(kind):
    """Inside one domain the scale-out network's bandwidth, latency and oversubscription change nothing."""
    domain = ScaleUpDomain(72, NVL_BW, NVL_LAT)
    fast, slow = ScaleOut(1e12, 0.0, 1.0), ScaleOut(1e6, 1.0, 64.0)
    for n in (2, 8, 64, 72):
        a = collective_s(kind, S, n, domain, fast, gpus_per_rack=8)
        assert a == collective_s(kind, S, n, domain, slow, gpus_per_rack=8) > 0
    # one GPU more than the domain, in whole domains, and the NIC decides
    assert collective_s(kind, S, 144, domain, slow) > 1000 * collective_s(kind, S, 144, domain, fast)


def test_all_to_all_inside_the_domain_is_its_closed_form():
    n = 64
    expected = (n - 1) * NVL_LAT + (n - 1) / n * S / NVL_BW
    assert all_to_all_s(S, n, NVL_BW, NVL_LAT) == pytest.approx(expected, rel=1e-12)
    assert collective_s("all_to_all", S, n, ScaleUpDomain(72, NVL_BW, NVL_LAT), _out()) == pytest.approx(expected, rel=1e-12)


def test_all_to_all_across_domains_is_bound_by_the_slower_of_nvlink_and_nic():
    """64 GPUs in 8-GPU domains: 7/64 of the buffer over NVLink, 56/64 over the NIC, at once."""
    n, d = 64, 8
    inside = (d - 1) * NVL_LAT + (d - 1) * S / (n * NVL_BW)
    across = (n - d) * NIC_LAT + (n - d) * S / (n * NIC_BW)
    got = collective_s("all_to_all", S, n, _domain(d), _out())
    assert got == pytest.approx(max(inside, across), rel=1e-12) == pytest.approx(across, rel=1e-12)


def test_wide_expert_parallelism_is_cheaper_in_a_72_gpu_domain_than_over_8_gpu_nodes():
    """The issue's claim: EP 64 at NVLink speed in an NVL72 against EP 64 over the NICs of 8 HGX nodes.

    Same GPUs and NICs (1.8 TB/s NVLink, 400 Gb/s NIC): the all-to-all moves 63/64 of the
    buffer at 900 GB/s in the rack, 56/64 of it at 50 GB/s across nodes: ~16x apart.
    """
    nvl72, hgx = RACKS["gb200-nvl72"], RACKS["hgx-b200"]
    t_rack = collective_s("all_to_all", S, 64, nvl72.scale_up_domain(), nvl72.scale_out())
    t_nodes = collective_s("all_to_all", S, 64, hgx.scale_up_domain(), hgx.scale_out())
    assert t_rack == pytest.approx(63 / 64 * S / 900e9, rel=1e-12)
    assert t_nodes == pytest.approx(56 / 64 * S / 50e9, rel=1e-12)
    assert t_nodes / t_rack == pytest.approx((56 / 50) / (63 / 900), rel=1e-9)


def test_reduce_scatter_and_all_gather_across_domains_are_their_two_phases():
    n, d, k = 32, 8, 4
    rs = reduce_scatter_s(S / d, d, NVL_BW, NVL_LAT) + reduce_scatter_s(S / n, k, NIC_BW, NIC_LAT)
    ag = all_gather_s(S / n, k, NIC_BW, NIC_LAT) + all_gather_s(S / d, d, NVL_BW, NVL_LAT)
    assert collective_s("reduce_scatter", S, n, _domain(d), _out()) == pytest.approx(rs, rel=1e-12)
    assert collective_s("all_gather", S, n, _domain(d), _out()) == pytest.approx(ag, rel=1e-12)
    # the bandwidth terms of RS + AG across domains equal the hierarchical all-reduce's
    bw_only = collective_s("reduce_scatter", S, n, ScaleUpDomain(d, NVL_BW), ScaleOut(NIC_BW)) + \
        collective_s("all_gather", S, n, ScaleUpDomain(d, NVL_BW), ScaleOut(NIC_BW))
    assert bw_only == pytest.approx(collective_s("all_reduce", S, n, ScaleUpDomain(d, NVL_BW), ScaleOut(NIC_BW)),
                                    rel=1e-12)


def test_rack_uplink_oversubscription_slows_only_groups_that_span_racks():
    """A group larger than a rack reaches 1/o of the NIC bandwidth across domains; inside a rack all of it."""
    d, o = 8, 4.0
    within = collective_s("all_reduce", S, 32, _domain(d), ScaleOut(NIC_BW, 0.0, o), gpus_per_rack=32)
    assert within == collective_s("all_reduce", S, 32, _domain(d), ScaleOut(NIC_BW), gpus_per_rack=32)
    spanning = collective_s("all_reduce", S, 64, _domain(d), ScaleOut(NIC_BW, 0.0, o), gpus_per_rack=32)
    expected = hierarchical_allreduce(S, 64, _domain(d), NIC_BW / o).time_s
    assert spanning == pytest.approx(expected, rel=1e-12)
    assert ScaleOut(NIC_BW, 0.0, o).bytes_per_s_per_gpu(True) == NIC_BW / o


def test_bad_collective_input_is_a_clear_error():
    with pytest.raises(ConfigError, match=r"group_gpus=12 .*multiple of the scale-up domain's 8 GPUs"):
        collective_s("all_reduce", S, 12, _domain(8), _out())
    with pytest.raises(ConfigError, match=r"kind='broadcast' .*one of all_reduce"):
        collective_s("broadcast", S, 8, _domain(8), _out())  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"ScaleUpDomain.gpus=0"):
        ScaleUpDomain(0, NVL_BW)
    with pytest.raises(ConfigError, match=r"ScaleOut.rack_uplink_oversubscription=0.5 .*>= 1"):
        ScaleOut(NIC_BW, 0.0, 0.5)


# ---------------------------------------------------------------------------- the formulas' one home


def test_training_and_inference_cost_their_collectives_with_network_py():
    """training.py and performance.py call network.py's ring all-reduce (results pinned by their own tests)."""
    assert training.ring_allreduce_s is net.ring_allreduce_s
    assert performance.ring_allreduce_s is net.ring_allreduce_s


def test_training_step_comm_terms_are_the_closed_forms():
    """Llama 3.1 405B on H100 at TP 8, PP 16, DP 4, CP 2: the TP ring all-reduces over NVLink, the CP
    all-gathers of K and V and the DP gradient ring all-reduce over the NIC, written out by hand."""
    from dcsim.hardware.models import MODELS

    model, gpu = MODELS["Llama-3.1-405B"], GPUS["H100-SXM"]
    par = training.Parallelism(tp=8, pp=16, dp=4, cp=2)
    seq, m = 8192, 16
    r = training.step_time(model, gpu, par, global_batch_tokens=seq * par.dp * m, seq_len=seq, dp_overlap=0.0)
    nvlink = gpu.nvlink_bw_bytes_per_s / 2 * training.DEFAULT_NVLINK_EFFICIENCY
    nic = training.DEFAULT_SCALEOUT_BYTES_PER_S
    layers, tokens = model.layers / par.pp, seq / par.cp
    tp = layers * m * 4 * (2 * 7 / 8 * tokens * model.hidden * 2.0 / nvlink)
    kv = 2 * tokens * model.kv_heads * model.head_dim * 2.0 / min(par.tp, model.kv_heads)
    cp = layers * m * 3 * (1 * kv / nic)  # forward gather, backward gather, reduce-scatter of dK, dV
    dp = 2 * 7 / 8 * training.shard_params(model, par) * 2.0 / nic  # grad group dp x cp = 8
    assert r.micro_batches == m
    assert r.tp_comm_s == pytest.approx(tp, rel=1e-12)
    assert r.cp_comm_s == pytest.approx(cp, rel=1e-12)
    assert r.dp_exposed_s == pytest.approx(dp, rel=1e-12)


def test_inference_tp_allreduce_matches_the_ring_formula_bit_for_bit():
    """performance.tp_comm_s = 2 layers x ring all-reduce of T x hidden x 2 B, the fitted hop latency as alpha."""
    from dcsim.hardware.models import MODELS
    from dcsim.hardware.performance import InferencePerfParams, tp_comm_s

    model, gpu, params = MODELS["Llama-3.1-70B"], GPUS["H100-SXM"], InferencePerfParams()
    tokens = 512.0
    one_way = gpu.nvlink_bw_bytes_per_s / 2.0 * params.allreduce_bw_efficiency
    by_hand = 2 * (4 - 1) * params.allreduce_hop_latency_s + 2.0 * (4 - 1) / 4 * tokens * model.hidden * 2.0 / one_way
    assert tp_comm_s(model, gpu, 4, params, tokens) == 2 * model.layers * by_hand


# ---------------------------------------------------------------------------- network power


def test_one_copper_domain_has_no_scaleout_fabric_and_no_transceivers():
    tree = fat_tree(72, 1, 64, domain_gpus=72)
    assert (tree.switches, tree.endpoints, tree.transceivers(2)) == (0, 0, 0)
    assert network_power(tree).total_w == 0.0


def test_a_small_fat_tree_counted_by_hand():
    """128 GPUs x 1 NIC port, 64-port switches, non-blocking: 4 leaves of 32 down + 32 up, 128 uplinks, 2 spines.

    Optics: 128 NIC modules; switch ports on optical links: 128 leaf down + 128 leaf up +
    128 spine down = 384, in 192 twin-port modules. Power at 9 W and 17 W per module:
    128 x 9 + 192 x 17 = 4,416 W; switches and NICs have no sourced figure and are left out.
    """
    tree = fat_tree(128, 1, 64, oversubscription=1.0, domain_gpus=8)
    assert (tree.leaves, tree.spines, tree.leaf_down_ports, tree.leaf_up_ports) == (4, 2, 32, 32)
    assert (tree.nic_links, tree.spine_links) == (128, 128)
    assert (tree.nic_optical_ports, tree.switch_optical_ports) == (128, 384)
    assert tree.switch_transceivers(2) == 192 and tree.transceivers(2) == 320
    power = network_power(tree, NDR_400G_OPTICS)
    assert power.transceivers_w == 128 * 9.0 + 192 * 17.0 == 4416.0
    assert power.total_w == 4416.0
    assert power.omitted == ("switch_w", "nic_w")


def test_oversubscribed_leaves_need_fewer_spines_and_fewer_optics():
    """3:1 leaves of 64 ports: 48 down, 16 up; 128 endpoints on 3 leaves, 48 uplinks, one spine."""
    tree = fat_tree(128, 1, 64, oversubscription=3.0, domain_gpus=8)
    assert (tree.leaves, tree.spines, tree.leaf_down_ports, tree.leaf_up_ports) == (3, 1, 48, 16)
    assert tree.spine_links == 48
    assert tree.switch_optical_ports == 128 + 96
    assert tree.transceivers(2) < fat_tree(128, 1, 64, domain_gpus=8).transceivers(2)


def test_a_single_switch_and_copper_nic_links():
    tree = fat_tree(64, 1, 64, domain_gpus=8, nic_links_optical=False)
    assert (tree.leaves, tree.spines, tree.spine_links, tree.transceivers(2)) == (1, 0, 0, 0)
    optical = fat_tree(64, 1, 64, domain_gpus=8)
    assert (optical.nic_optical_ports, optical.switch_transceivers(2)) == (64, 32)


def test_switch_and_nic_power_count_when_their_figures_are_given():
    tree = fat_tree(128, 1, 64, domain_gpus=8)
    figures = NetworkPowerFigures(nic_module_w=9.0, switch_module_w=17.0, ports_per_switch_module=2,
                                  switch_w=1000.0, nic_w=20.0)
    power = network_power(tree, figures)
    assert power.switches_w == 6 * 1000.0 and power.nics_w == 128 * 20.0 and power.omitted == ()
    assert power.total_w == 4416.0 + 6000.0 + 2560.0


def test_a_fat_tree_too_large_for_two_tiers_takes_a_third_and_one_too_large_for_three_is_refused():
    """2,048 endpoints fill a two-tier tree of 64-port switches; 2,056 need 65 leaves, so three tiers:
    pods of 32 leaves (3 pods), 32 spines each (96), 65 x 32 = 2,080 leaf-spine and as many spine-core
    links, on ceil(2080 / 64) = 33 cores. Three tiers end at 64 pods x 32 leaves x 32 ports = 65,536."""
    two = fat_tree(2048, 1, 64, domain_gpus=8)
    assert (two.spines, two.cores, two.tiers) == (32, 0, 2)
    three = fat_tree(2056, 1, 64, domain_gpus=8)
    assert (three.leaves, three.spines, three.cores, three.tiers) == (65, 96, 33, 3)
    assert (three.spine_links, three.core_links) == (2080, 2080)
    assert three.switch_optical_ports == 2056 + 2 * 2080 + 2 * 2080
    assert fat_tree(65536, 1, 64, domain_gpus=8).cores == 1024
    with pytest.raises(ConfigError, match=r"gpus=65544 .*at most 65536 GPUs for a three-tier fat tree"):
        fat_tree(65544, 1, 64, domain_gpus=8)


# ---------------------------------------------------------------------------- rack presets


def test_rack_presets_load_with_their_sources_numbers():
    racks = load_racks()
    assert sorted(racks) == ["gb200-nvl72", "gb300-nvl72", "hgx-b200", "hgx-h100"]
    nvl, nvl300, b200, h100 = racks["gb200-nvl72"], racks["gb300-nvl72"], racks["hgx-b200"], racks["hgx-h100"]
    # GB200 NVL72: 18 trays of 4 GPUs, one 72-GPU NVLink domain, 1.8 TB/s, one 400G ConnectX-7 per GPU
    assert (nvl.gpus_per_node, nvl.gpus_per_rack, nvl.scaleup_domain_gpus) == (4, 72, 72)
    assert nvl.scaleup_bidirectional_bytes_per_s * 72 == pytest.approx(130e12, rel=0.01)  # "130 TB/s for 72 GPUs"
    assert nvl.scaleout_bytes_per_s_per_gpu == 400e9 / 8 and nvl.rack_it_power_w is None
    # GB300 NVL72: ConnectX-8 at 800 Gb/s, up to 142 kW a rack
    assert (nvl300.gpus_per_rack, nvl300.nic_bits_per_s, nvl300.rack_it_power_w) == (72, 800e9, 142e3)
    # HGX B200: 8 GPUs, 14.4 TB/s aggregate NVLink, 14.3 kW max per DGX node
    assert b200.scaleup_domain_gpus == 8 and b200.scaleup_bidirectional_bytes_per_s * 8 == pytest.approx(14.4e12)
    assert (b200.gpus_per_rack, b200.node_it_power_w) == (None, 14.3e3)
    # HGX H100: 900 GB/s bidirectional NVLink, 10.2 kW max per DGX node
    assert (h100.scaleup_domain_gpus, h100.scaleup_bidirectional_bytes_per_s, h100.node_it_power_w) == (8, 900e9, 10.2e3)
    for rack in racks.values():
        assert rack.provenance.keys() >= {"gpus_per_node", "scaleup_domain_gpus", "scaleup_gb_s_per_gpu",
                                          "nics_per_gpu", "nic_gbit_s"}
        assert rack.assumptions == ()


def test_rack_presets_agree_with_the_gpu_catalogue():
    """A preset's per-GPU NVLink figure is its GPU's catalogue figure."""
    for rack in RACKS.values():
        if rack.gpu is None:
            continue
        assert rack.gpu in GPUS, rack.name
        assert rack.scaleup_bidirectional_bytes_per_s == GPUS[rack.gpu].nvlink_bw_bytes_per_s


def _preset(**changes):
    data = {"name": "x", "source": "s", "gpu": None, "gpus_per_node": {"value": 8, "source": "s"},
            "scaleup_domain_gpus": {"value": 8, "source": "s"}, "scaleup_gb_s_per_gpu": {"value": 900, "source": "s"},
            "nics_per_gpu": {"value": 1, "source": "s"}, "nic_gbit_s": {"value": 400, "source": "s"}}
    data.update(changes)
    return data


def test_bad_rack_files_name_the_file_and_field():
    assert rack_from_mapping(_preset(), "x.yaml").nodes_per_rack is None
    with pytest.raises(RackFileError, match=r"rack file x.yaml: field 'scaleup_domain_gpus': must be whole nodes of 8"):
        rack_from_mapping(_preset(scaleup_domain_gpus={"value": 12, "source": "s"}), "x.yaml")
    with pytest.raises(RackFileError, match=r"field 'gpus_per_node.value': must be a whole number"):
        rack_from_mapping(_preset(gpus_per_node={"value": 7.5, "source": "s"}), "x.yaml")
    with pytest.raises(RackFileError, match=r"field 'scaleup_domain_gpus': must fit the rack's 16 GPUs"):
        rack_from_mapping(_preset(nodes_per_rack={"value": 2, "source": "s"},
                                  scaleup_domain_gpus={"value": 72, "source": "s"}), "x.yaml")
    with pytest.raises(RackFileError, match=r"field 'nic_gbit_s.source': is missing"):
        rack_from_mapping(_preset(nic_gbit_s={"value": 400}), "x.yaml")
    with pytest.raises(RackFileError, match=r"field 'nvlink': is not a rack field"):
        rack_from_mapping(_preset(nvlink=1), "x.yaml")


def test_a_users_rack_preset_joins_the_catalogue(tmp_path, monkeypatch):
    (tmp_path / "racks").mkdir()
    (tmp_path / "racks" / "mine.yaml").write_text(
        "name: my-nvl16\nsource: s\ngpu: B200\n"
        "gpus_per_node: {value: 8, source: s}\nnodes_per_rack: {value: 2, source: s}\n"
        "scaleup_domain_gpus: {value: 16, source: s}\nscaleup_gb_s_per_gpu: {value: 1800, source: s}\n"
        "nics_per_gpu: {value: 2, source: s}\nnic_gbit_s: {value: 400, source: s}\n")
    monkeypatch.setenv("DCSIM_CATALOGUE_PATH", str(tmp_path))
    mine = RACKS["my-nvl16"]
    assert mine.scale_out().nic_bytes_per_s_per_gpu == 100e9 and mine.scale_up_domain().gpus == 16
    assert "gb200-nvl72" in RACKS
    monkeypatch.delenv("DCSIM_CATALOGUE_PATH")
    assert "my-nvl16" not in RACKS


def test_units_are_si():
    assert math.isclose(RACKS["hgx-h100"].scale_up_domain(efficiency=0.8).bytes_per_s_per_gpu, 900e9 / 2 * 0.8)


def test_one_nic_port_per_two_gpus_and_facility_network_figures():
    half = fat_tree(128, 0.5, 64, domain_gpus=8)
    assert (half.endpoints, half.leaves, half.spines) == (64, 1, 0)
    with pytest.raises(ConfigError, match=r"nic_ports_per_gpu=0.3 .*whole number of NIC ports"):
        fat_tree(128, 0.3, 64, domain_gpus=8)
    # facility.network's default: one 400 Gb/s NIC per GPU
    assert ScaleOut.from_gbit_per_s(400.0).nic_bytes_per_s_per_gpu == 50e9
    assert ScaleOut.from_gbit_per_s(400.0, 0.8).nic_bytes_per_s_per_gpu == training.DEFAULT_SCALEOUT_BYTES_PER_S
