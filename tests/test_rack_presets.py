"""The rack-scale facility presets (``facility=hgx_h100``, ``hgx_b200``, ``nvl72_gb200``, ``nvl72_gb300``)
agree with the sourced rack catalogue (dcsim/data/racks): the GPU, GPUs per node and per
rack, the NVLink domain, the NIC bandwidth per GPU, and a node or rack inside its published
maximum IT power."""

from __future__ import annotations

import pytest

from dcsim.config.build import build
from dcsim.config.compose import compose_config
from dcsim.hardware.racks import RACKS

PRESETS = {"hgx_h100": "hgx-h100", "hgx_b200": "hgx-b200", "nvl72_gb200": "gb200-nvl72", "nvl72_gb300": "gb300-nvl72"}


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_a_facility_preset_is_its_rack_catalogue_entry(preset):
    rack = RACKS[PRESETS[preset]]
    cfg = compose_config([f"facility={preset}"])
    topo = build(cfg).facility.topology
    assert cfg.facility.node.gpu == rack.gpu
    assert topo.node.gpus_per_node == rack.gpus_per_node
    assert topo.domain_gpus == rack.scaleup_domain_gpus
    if rack.nodes_per_rack is not None:
        assert topo.nodes_per_rack == rack.nodes_per_rack
    assert cfg.facility.network.scaleout_gbit_per_s_per_gpu * 1e9 == pytest.approx(rack.nics_per_gpu * rack.nic_bits_per_s)
    if rack.node_it_power_w is not None:
        assert topo.node.nameplate_w <= rack.node_it_power_w * (1 + 1e-12)
    if rack.rack_it_power_w is not None:
        assert topo.nodes_per_rack * topo.node.nameplate_w <= rack.rack_it_power_w


def test_the_hgx_b200_node_is_the_dgx_b200_maximum():
    """8 x 1,000 W GPUs and 6,300 W of busy host: the DGX B200's 14.3 kW max, 28.6 kW a rack of two."""
    topo = build(compose_config(["facility=hgx_b200"])).facility.topology
    assert topo.node.nameplate_w == pytest.approx(14.3e3)
    assert topo.gpus_total == 144 and topo.nodes_per_rack == 2


def test_the_gb300_rack_is_the_reference_architectures_maximum():
    """72 x 1,400 W Blackwell Ultra GPUs and 18 trays of 2,288 W busy host: within 16 W of the
    "up to 142 kW" a GB300 NVL72 rack may draw, and a short run serves on it."""
    scenario = build(compose_config(["facility=nvl72_gb300", "duration_s=30", "workload=inference_only"]))
    topo = scenario.facility.topology
    assert topo.nodes_per_rack * topo.node.nameplate_w == pytest.approx(142e3, abs=16.0)
    s = scenario.run().summary()
    assert s["requests_completed"] > 0 and s["calibration_status"] == "uncalibrated"
