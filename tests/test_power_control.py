"""The power controller on a live cluster: which cap each workload gets, and when."""

from __future__ import annotations

from dcsim.core.simulation import Simulation
from dcsim.facility.topology import Topology
from dcsim.hardware.gpus import GPUS
from dcsim.hardware.node import NodeSpec
from dcsim.metrics.recorder import Recorder
from dcsim.policies.power import NoCapping
from dcsim.policies.scheduling import FifoScheduler
from dcsim.workloads.cluster import Cluster, WorkRequest
from dcsim.workloads.power_control import PowerController

GPU = GPUS["H100-SXM"]


class Job:
    """A workload the controller can cap; it remembers the caps it was given."""

    kind = "training"

    def __init__(self) -> None:
        self.caps: list[float | None] = []

    def uncapped_w_per_gpu(self) -> float:
        return GPU.tdp_w

    def set_cap(self, cap_w: float | None) -> None:
        self.caps.append(cap_w)


def test_a_workload_across_racks_takes_the_thermal_cap_of_its_hottest_rack():
    """A job on all four racks gets one cap for all its GPUs: the lowest thermal cap of its
    racks (rack 2's), not that of rack 0, where its first GPU is and no cap applies; its
    GPUs count as thermally throttled. Racks 2 and 3 cooling down lifts the cap."""
    sim = Simulation(0, Recorder)
    topo = Topology(4, 1, NodeSpec(GPU))
    cluster = Cluster(sim, topo, FifoScheduler())
    hot = {2: 450.0, 3: 600.0}
    control = PowerController(sim, cluster, NoCapping(), "none", lambda t: None, hot.get, 60.0, 200.0)
    job = Job()
    cluster.submit(WorkRequest(cluster.new_work_id(), "job", topo.gpus_total, lambda a: None, owner=job))
    sim.run(1.0)
    assert [r for r, _ in cluster.allocations()[0].rack_gpus] == [0, 1, 2, 3]
    assert job.caps == [450.0]
    assert sim.recorder.monitor("gpus_thermally_throttled").level == topo.gpus_total
    hot.clear()
    control.decide()
    assert job.caps == [450.0, None]
