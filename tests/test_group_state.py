"""The control tick's batched paths give what the per-item paths give, to the last bit:
a fluid service setting all its replicas at once (``Cluster.set_group_state``), every rack's
hottest GPU in one pass (``Cluster.hottest_gpus_w``) and every rack's energy in one call
(``EnergyLedger.group_energies_now_j``). The facility-day benchmark relies on these
(docs/performance.md, "Facility scale"): same results, less CPU."""

from __future__ import annotations

from dcsim.core.simulation import Simulation
from dcsim.facility.topology import Topology
from dcsim.hardware.gpus import GPUS
from dcsim.hardware.node import NodeSpec
from dcsim.metrics.recorder import Recorder
from dcsim.policies.scheduling import FifoScheduler
from dcsim.workloads.cluster import Cluster, WorkRequest

GPU = GPUS["H100-SXM"]
# (time, per-GPU power, busy) the group is set to; odd powers so that sums round
TIMELINE = [(7.013, 512.3137, True), (13.1097, 512.3137, True), (60.7071, 433.7071, True), (61.3, 433.7071, False),
            (120.9, GPU.idle_w, False), (181.1731, 699.9173, True), (240.0, 301.0517, True)]


def _replay(grouped: bool):
    """Six replicas of three GPUs (some across two nodes) granted at different times on two racks of four (two nodes
    each), set through the timeline, one released half way, one set apart from the rest, and
    rack 0 stopped at the end (its replica interrupted)."""
    sim = Simulation(0, Recorder)
    topo = Topology(4, 2, NodeSpec(GPU))
    cluster = Cluster(sim, topo, FifoScheduler())
    led = sim.recorder.ledger
    names = [topo.rack_name(r) for r in range(topo.num_racks)]
    allocs: list = []
    hottest, energies = [], []

    def submit(_ev=None):
        name = f"replica/{cluster._next_work_id}"
        cluster.submit(WorkRequest(cluster.new_work_id(), name, 3, allocs.append,
                                   kind="inference", interrupt=lambda cause: cluster.release(
                                       next(a for a in allocs if a.work.name == name))))

    def sample(_ev=None):
        hottest.append((cluster.hottest_gpus_w(), [cluster.hottest_gpu_w(r) for r in range(topo.num_racks)]))
        energies.append((led.group_energies_now_j([*names, "no-such-group"]),
                         [led.group_energy_now_j(g) for g in names]))

    def tick(_ev, power_w, busy):
        live = [a for a in allocs if not a.released]
        if grouped:
            cluster.set_group_state(live, power_w, busy)
        else:
            for a in live:
                a.set_state(power_w, busy)
        sample()

    for t in (0.0, 0.0, 3.1416, 10.2718, 59.0, 100.3):
        sim.env.timeout(t).callbacks.append(submit)
    for t, power_w, busy in TIMELINE:
        sim.env.timeout(t).callbacks.append(lambda ev, p=power_w, b=busy: tick(ev, p, b))
    sim.env.timeout(150.0).callbacks.append(lambda _ev: cluster.release(allocs[1]))
    sim.env.timeout(242.0).callbacks.append(lambda _ev: allocs[2].set_state(650.5, True))
    sim.env.timeout(245.0).callbacks.append(sample)
    sim.env.timeout(250.0).callbacks.append(lambda _ev: cluster.stop_racks([0], "test"))
    sim.env.timeout(260.0).callbacks.append(sample)
    res = sim.run(300.0)
    busy = sim.recorder.monitor("gpus_busy")
    return res, [(a.energy_now_j(), a.busy_now_s(), a.power_each_w) for a in allocs], \
        (busy.integral(), busy.maximum, busy.level), hottest, energies


def test_setting_a_group_at_once_is_setting_each_of_its_allocations():
    """Every meter's and total's energy, every replica's energy and busy time and the busy-GPU
    level are bit for bit those of setting each allocation in turn."""
    grouped, single = _replay(True), _replay(False)
    res_g, allocs_g, busy_g = grouped[:3]
    res_s, allocs_s, busy_s = single[:3]
    assert len(allocs_g) == 6
    assert res_g.energy_j == res_s.energy_j and res_g.energy_j["gpu"] > 0
    assert res_g.meter_energy_j == res_s.meter_energy_j
    assert res_g.group_energy_j == res_s.group_energy_j
    assert allocs_g == allocs_s
    assert busy_g == busy_s and busy_g[1] == 5 * 3  # five replicas busy at once


def test_every_racks_hottest_gpu_and_energy_at_once_are_each_racks():
    """Racks with replicas at different powers, an empty rack (its GPUs idle) and a stopped
    rack (0 W); the energy of every rack (0 for a group without meters)."""
    _, _, _, hottest, energies = _replay(True)
    assert len(hottest) == len(energies) == len(TIMELINE) + 2
    for (at_once, each), (e_at_once, e_each) in zip(hottest, energies):
        assert at_once == each
        assert e_at_once[:-1] == e_each and e_at_once[-1] == 0.0
    assert hottest[-2][0] == [650.5, 301.0517, GPU.idle_w, GPU.idle_w]  # one replica set apart; racks 2, 3 empty
    assert hottest[-1][0][0] == 0.0  # stopped
    assert min(energies[-1][1]) > 0  # idle GPUs and hosts everywhere
