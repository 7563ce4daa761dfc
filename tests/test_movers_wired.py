"""The air and liquid movers in a run: server fans as IT power, handlers and pumps by density.

Each run is ten simulated minutes of the default scenario (128 H100 GPUs), about a second.
"""

from __future__ import annotations

import pytest

import dcsim
from dcsim.facility.airflow import FAN_MAX_INLET_C, rack_movers, server_air_inlet_c, server_fan_ratio
from dcsim.facility.cooling import TECHNOLOGIES
from dcsim.hardware.gpus import GPUS
from dcsim.hardware.node import HOST_FAN_BUSY_W, HOST_FAN_IDLE_W, NodeSpec

BASE = ["duration_s=600", "output.write=false"]
REL = 1e-9


def _run(*overrides: str):
    return dcsim.run([*BASE, *overrides])


def _fans_j(r) -> float:
    kind, energy_j = r.meter_energy_j["server_fans"]
    assert kind == "host"  # server fans are IT power
    return energy_j


def _other_it_j(r) -> float:
    """The servers' IT power the fans follow: IT less the fans and the network's switches and optics."""
    network_j = r.meter_energy_j.get("network", ("host", 0.0))[1]
    return r.energy_j["gpu"] + r.energy_j["host"] - _fans_j(r) - network_j


def _tokens(r) -> float:
    req = r.frames()["requests"]
    return float(req[req["status"] == "completed"]["output_tokens"].sum())


@pytest.fixture(scope="module")
def runs():
    return {
        "air16": _run("facility.num_racks=8", "facility.rack.gpus_per_rack=16"),
        "air32": _run(),  # the default: 4 racks of 32
        "air_warm": _run("facility.cooling.supply_temp_c=24"),  # 30 C inlet instead of 24 C
        "direct_liquid": _run("facility.cooling.technology=direct_liquid"),
        "immersion": _run("facility.cooling.technology=immersion"),
    }


def test_hosts_meter_their_measured_power_less_the_reference_fans():
    """The AcmeTrace host figures include the fans at 8 % of the measured server power."""
    node = NodeSpec(GPUS["H100-SXM"])
    assert HOST_FAN_IDLE_W == pytest.approx(0.08 * 1512.0) and HOST_FAN_BUSY_W == pytest.approx(0.08 * 4851.0)
    assert node.host_idle_without_fans_w == pytest.approx(1000.0 - 120.96)
    assert node.host_busy_without_fans_w == pytest.approx(1650.0 - 388.08)


def test_fan_ratio_is_the_reference_share_below_the_ramp_and_rises_with_the_inlet():
    """P_fan = a / (1 - a) x the rest of the server, a = 0.08 at or below 23 C, more above it,
    saturating at 35 C; liquid keeps fans for its air share only; immersion none."""
    air = TECHNOLOGIES["air"]
    assert server_fan_ratio(air, 23.0) == pytest.approx(0.08 / 0.92, rel=1e-12)
    assert server_fan_ratio(air, 20.0) < server_fan_ratio(air, 23.0)  # denser air: less volume to move
    ratios = [server_fan_ratio(air, t) for t in (23.0, 27.0, 30.0, 35.0)]
    assert ratios == sorted(ratios) and ratios[0] < ratios[-1]
    assert server_fan_ratio(air, 45.0) == server_fan_ratio(air, FAN_MAX_INLET_C)
    dlc = server_fan_ratio(TECHNOLOGIES["direct_liquid"], 24.0)
    assert 0.15 * server_fan_ratio(air, 24.0) < dlc < 0.25 * server_fan_ratio(air, 24.0)
    assert server_fan_ratio(TECHNOLOGIES["immersion"], 35.0) == 0.0


@pytest.mark.parametrize("name", ["air32", "air_warm", "direct_liquid", "immersion"])
def test_fan_meter_is_the_ratio_of_the_other_it_power_and_energy_stays_exact(runs, name):
    """The fan meter draws the fan ratio of the servers' inlet times the rest of IT power at
    every instant (inlets stay nominal here), and the ledger still closes to rounding."""
    r = runs[name]
    tech = TECHNOLOGIES[{"air32": "air", "air_warm": "air"}.get(name, name)]
    inlet_c = {"air32": 24.0, "air_warm": 30.0}.get(name, 24.0)  # liquid: the residual air at 18 + 6 C
    assert _fans_j(r) == pytest.approx(server_fan_ratio(tech, inlet_c) * _other_it_j(r), rel=1e-9)
    e = r.energy_j
    assert e["gpu"] + e["host"] + e["conversion_loss"] + e["cooling"] == pytest.approx(e["facility"], rel=REL)
    consumers = sum(j for kind, j in r.meter_energy_j.values() if kind in ("gpu", "host"))
    assert consumers == pytest.approx(e["gpu"] + e["host"], rel=REL)
    assert sum(r.group_energy_j.values()) == pytest.approx(consumers, rel=REL)


def test_immersed_servers_have_no_fans(runs):
    """Immersion: no fan energy; its hosts draw less than air's by the fans alone."""
    imm, air = runs["immersion"], runs["air32"]
    assert _fans_j(imm) == 0.0 and imm.summary()["server_fan_energy_j"] == 0.0
    assert air.summary()["server_fan_energy_j"] == _fans_j(air) > 0
    assert imm.energy_j["gpu"] == pytest.approx(air.energy_j["gpu"], rel=1e-6)
    assert imm.energy_j["host"] == pytest.approx(air.energy_j["host"] - _fans_j(air), rel=1e-6)


def test_warmer_inlet_raises_server_fan_power(runs):
    """Air at a 30 C inlet (chilled water 24 C) against 24 C: same GPUs' work, more fan energy,
    by the fan law's ratio."""
    warm, cool = runs["air_warm"], runs["air32"]
    assert warm.energy_j["gpu"] == pytest.approx(cool.energy_j["gpu"], rel=1e-6)
    air = TECHNOLOGIES["air"]
    expected = server_fan_ratio(air, 30.0) / server_fan_ratio(air, 24.0)
    assert _fans_j(warm) / _fans_j(cool) == pytest.approx(expected, rel=1e-6)
    assert expected > 1.2


def test_denser_air_racks_cost_more_cooling_and_fan_energy_per_token(runs):
    """The same 128 GPUs and load in 8 racks of 16 or 4 of 32: the denser racks' air needs
    more pressure at their floor tiles, so the handlers draw more per token; the fans per watt
    do not depend on density (servers are designed for their heat)."""
    sparse, dense = runs["air16"], runs["air32"]
    assert _tokens(dense) == pytest.approx(_tokens(sparse), rel=1e-3)

    def per_token(r):
        return (r.energy_j["cooling"] + _fans_j(r)) / _tokens(r)

    assert per_token(dense) > 1.01 * per_token(sparse)
    assert _fans_j(dense) / _other_it_j(dense) == pytest.approx(_fans_j(sparse) / _other_it_j(sparse), rel=1e-12)
    assert dense.summary()["pue"] > sparse.summary()["pue"]


def test_denser_rear_door_racks_spend_more_on_door_fans_as_the_coil_law_says():
    """The same 128 GPUs in 8 rear-door racks of 16 or 4 of 32: each door's coil has the rack's
    face whatever is inside, so the denser racks push twice the air through the same face and the
    rack-side movers' energy (CDU pumps and door fans, `air_energy_j`) grows by the ratio of their
    coefficients at the racks' design heat (`rack_movers`), with the same heat to move."""
    tech = TECHNOLOGIES["rear_door"]
    sparse = _run("facility.cooling.technology=rear_door", "facility.num_racks=8", "facility.rack.gpus_per_rack=16")
    dense = _run("facility.cooling.technology=rear_door")
    assert _tokens(dense) == pytest.approx(_tokens(sparse), rel=1e-3)
    node_w = NodeSpec(GPUS["H100-SXM"]).nameplate_w

    def movers(rack_nodes: int) -> float:
        m = rack_movers(tech, rack_nodes * node_w, server_air_inlet_c(tech, tech.rack_inlet_c))
        return m.cdu_pumps + m.door_fans

    heat_ratio = dense.summary()["it_energy_j"] / sparse.summary()["it_energy_j"]
    ratio = dense.summary()["air_energy_j"] / sparse.summary()["air_energy_j"] / heat_ratio
    assert ratio == pytest.approx(movers(4) / movers(2), rel=1e-3)
    assert ratio > 1.1
    assert dense.summary()["pue"] > sparse.summary()["pue"]


def test_denser_immersion_tanks_spend_more_on_their_own_cdu_pumps_by_the_affinity_laws():
    """The same 128 GPUs in 8 tanks of 16 or 4 of 32: each tank's CDU is sized for 150 kW, so
    the denser tanks push twice the flow through the same pumps and exchanger; the rack-side
    pumps' energy per unit of heat (`air_energy_j`: no air movers immersed) grows four-fold,
    the square of the flow, as `rack_movers` gives at the tanks' design heat."""
    tech = TECHNOLOGIES["immersion"]
    sparse = _run("facility.cooling.technology=immersion", "facility.num_racks=8", "facility.rack.gpus_per_rack=16")
    dense = _run("facility.cooling.technology=immersion")
    assert _tokens(dense) == pytest.approx(_tokens(sparse), rel=1e-3)
    node_w = NodeSpec(GPUS["H100-SXM"]).nameplate_w
    heat_ratio = dense.summary()["it_energy_j"] / sparse.summary()["it_energy_j"]
    ratio = dense.summary()["air_energy_j"] / sparse.summary()["air_energy_j"] / heat_ratio
    dense_w = rack_movers(tech, 4 * node_w).cdu_pumps
    assert ratio == pytest.approx(dense_w / rack_movers(tech, 2 * node_w).cdu_pumps, rel=1e-3)
    assert ratio == pytest.approx(4.0, rel=1e-9)
    assert dense.summary()["pue"] > sparse.summary()["pue"]
