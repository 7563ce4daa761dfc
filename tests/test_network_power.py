"""Network power in a run (docs/network.md, "Network power in a run"): the facility's fat tree
drawn as IT power on the "network" meter, against its closed form, with the ledger still exact.

Each run is ten simulated minutes of the default scenario (128 H100 GPUs in 16 nodes), about a second.
"""

from __future__ import annotations

import pytest

import dcsim
from dcsim.api import compose_config
from dcsim.config.build import build, to_config
from dcsim.core.errors import ConfigError
from dcsim.facility.build import scaleout_fabric, topology_from_config
from dcsim.hardware.network import QM9700_SWITCH_W, QUANTUM2_NDR
from dcsim.metrics.registry import KPIS

BASE = ["duration_s=600", "output.write=false"]
REL = 1e-9
# The default facility's fabric by hand: 128 GPUs x one 400G port on 64-port switches, non-blocking:
# 4 leaves (32 down, 32 up) and 2 spines; 128 NIC modules at 9 W; 128 leaf-down + 128 leaf-up +
# 128 spine-down optical switch ports in 192 twin-port modules at 17 W; 6 switches at 747 W.
DEFAULT_NETWORK_W = 128 * 9.0 + 192 * 17.0 + 6 * 747.0  # 8,898 W


@pytest.fixture(scope="module")
def runs():
    return {"on": dcsim.run(BASE), "off": dcsim.run([*BASE, "facility.network.power=false"])}


def _fabric(*overrides: str):
    f = to_config(compose_config(list(overrides))).facility
    topology, _ = topology_from_config(f)
    return scaleout_fabric(f, topology)


def test_the_meter_draws_the_closed_form_for_the_whole_run(runs):
    """Network energy = (NIC modules x 9 W + switch modules x 17 W + switches x 747 W) x T, from t = 0."""
    r = runs["on"]
    kind, energy_j = r.meter_energy_j["network"]
    assert kind == "host"  # IT power
    assert DEFAULT_NETWORK_W == 8898.0
    assert energy_j == pytest.approx(DEFAULT_NETWORK_W * 600.0, rel=1e-12)
    assert r.group_energy_j["network"] == pytest.approx(energy_j, rel=1e-12)
    tree, power = _fabric()
    assert (tree.leaves, tree.spines, tree.cores, tree.nic_optical_ports, tree.switch_transceivers(2)) == \
        (4, 2, 0, 128, 192)
    assert power.total_w == DEFAULT_NETWORK_W and power.omitted == ("nic_w",)


def test_it_energy_with_the_network_is_without_it_plus_its_energy(runs):
    """Same work on the same GPUs; IT grows by exactly the network's energy, and the losses and
    cooling that follow IT power grow with it; the ledger still closes."""
    on, off = runs["on"], runs["off"]
    network_j = on.meter_energy_j["network"][1]
    assert "network" not in off.meter_energy_j and off.summary()["network_energy_j"] == 0.0
    assert on.energy_j["gpu"] == off.energy_j["gpu"]
    it_on, it_off = (r.energy_j["gpu"] + r.energy_j["host"] for r in (on, off))
    assert it_on == pytest.approx(it_off + network_j, rel=REL)
    assert on.energy_j["cooling"] > off.energy_j["cooling"]
    assert on.energy_j["conversion_loss"] > off.energy_j["conversion_loss"]
    for r in (on, off):
        e = r.energy_j
        assert e["gpu"] + e["host"] + e["conversion_loss"] + e["cooling"] == pytest.approx(e["facility"], rel=REL)
        assert sum(r.group_energy_j.values()) == pytest.approx(e["gpu"] + e["host"], rel=REL)


def test_the_kpi_is_the_meter_and_in_the_registry(runs):
    s_on, s_off = runs["on"].summary(), runs["off"].summary()
    assert s_on["network_energy_j"] == runs["on"].meter_energy_j["network"][1] > 0
    assert KPIS["network_energy_j"].unit == "J"
    # counted in IT (and so in PUE and the facility's energy per token), not in a rack's nameplate
    assert s_on["it_nameplate_w"] == pytest.approx(s_off["it_nameplate_w"] + DEFAULT_NETWORK_W, rel=1e-12)
    assert s_on["rack_nameplate_w"] == pytest.approx(s_off["rack_nameplate_w"], rel=1e-12)
    assert s_on["energy_per_output_token_facility_j"] > s_off["energy_per_output_token_facility_j"]


def test_the_network_has_its_own_timeseries_row_not_the_racks(runs):
    ts = runs["on"].frames()["timeseries"]
    net = ts[ts["component"] == "network"]
    assert len(net) == 10
    assert net["it_power_w"].to_numpy() == pytest.approx([DEFAULT_NETWORK_W] * 10, rel=1e-12)
    ts_off = runs["off"].frames()["timeseries"]
    assert not (ts_off["component"] == "network").any()


def test_no_transceivers_inside_a_copper_domain_but_every_gpu_keeps_its_nic_port():
    """One node (an 8-GPU NVLink domain) is the whole facility: no fabric, no optics, no meter.
    Two GB200 NVL72-shaped racks (4-GPU trays): the NVLink inside the trays and racks is copper,
    but each of the 144 GPUs' NICs still has its scale-out port: 144 NIC modules."""
    tree, power = _fabric("facility.num_racks=1", "facility.rack.gpus_per_rack=8")
    assert (tree.endpoints, tree.switches, tree.transceivers(2), power.total_w) == (0, 0, 0, 0.0)
    r = dcsim.run([*BASE, "workload=inference_only", "workload.services.chat.replicas=1",
                   "facility.num_racks=1", "facility.rack.gpus_per_rack=8"])
    assert "network" not in r.meter_energy_j and r.summary()["network_energy_j"] == 0.0
    tree, _ = _fabric("facility=nvl72_gb200")
    # ceil(144 / 32) = 5 leaves, 5 x 32 = 160 uplinks on ceil(160 / 64) = 3 spines
    assert (tree.endpoints, tree.nic_optical_ports, tree.leaves, tree.spines) == (144, 144, 5, 3)
    copper, power = _fabric("facility=nvl72_gb200", "facility.network.nic_links_optical=false")
    assert copper.nic_optical_ports == 0 and power.transceivers_w == copper.switch_transceivers(2) * 17.0


def test_a_16k_gpu_hall_takes_three_tiers():
    """16,384 GPUs on 64-port switches: 512 leaves in 16 pods of 32, 512 spines, 256 cores."""
    tree, power = _fabric("facility=h100_16k")
    assert (tree.tiers, tree.leaves, tree.spines, tree.cores) == (3, 512, 512, 256)
    assert power.switches_w == 1280 * QM9700_SWITCH_W
    assert power.transceivers_w == 16384 * 9.0 + (16384 + 4 * 16384) / 2 * 17.0


def test_oversubscribed_leaves_and_more_nic_ports_change_the_count():
    """3:1 leaves of 48 down and 16 up: 3 leaves, one spine. 800 Gb/s per GPU: two 400G ports each."""
    tree, _ = _fabric("facility.network.rack_uplink_oversubscription=3")
    assert (tree.leaves, tree.spines, tree.leaf_down_ports) == (3, 1, 48)
    tree, _ = _fabric("facility.network.scaleout_gbit_per_s_per_gpu=800")
    assert tree.endpoints == 256 and QUANTUM2_NDR.port_gbit_per_s == 400.0


def test_bad_network_input_is_a_clear_error():
    with pytest.raises(ConfigError, match=r"facility.network.scaleout_gbit_per_s_per_gpu=10.0 .*whole number of 400"):
        _fabric("facility.network.scaleout_gbit_per_s_per_gpu=10")
    with pytest.raises(ConfigError, match=r"facility.num_racks=5 .*at most 128 GPUs for a three-tier fat tree of "
                                          r"8-port switches.*facility.network.power=false"):
        build(compose_config(["facility.num_racks=5", "facility.network.switch_radix=8"]))
    with pytest.raises(ConfigError, match=r"facility.network.rack_uplink_oversubscription=0.5 .*>= 1"):
        _fabric("facility.network.rack_uplink_oversubscription=0.5")
    assert _fabric("facility.network.power=false") is None
