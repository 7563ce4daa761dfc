"""A scenario: the validated pieces of one run, and the wiring that runs them.

``Scenario.run()`` builds a fresh :class:`Simulation` every time, so the same
scenario runs again with identical results.
"""

from __future__ import annotations

from dataclasses import dataclass

from dcsim.core.simulation import Simulation
from dcsim.facility.climate import Climate
from dcsim.facility.controller import Facility
from dcsim.facility.cooling import CoolingPlant
from dcsim.facility.power_path import PowerPath
from dcsim.facility.topology import Topology
from dcsim.hardware.device import DeviceModel
from dcsim.metrics.recorder import Recorder
from dcsim.metrics.results import Results
from dcsim.policies.registry import ROUTERS, SCHEDULERS
from dcsim.workloads.cluster import Cluster
from dcsim.workloads.inference.fluid import FluidService
from dcsim.workloads.inference.service import InferenceService, ServiceSpec
from dcsim.workloads.training.job import JobSpec, TrainingJob


@dataclass(frozen=True)
class Scenario:
    """Everything one run needs, validated (see ``dcsim.config.build``)."""

    seed: int
    duration_s: float
    topology: Topology
    power_path: PowerPath
    cooling: CoolingPlant
    climate: Climate
    control_interval_s: float
    device: DeviceModel
    scheduler: str
    services: tuple[tuple[ServiceSpec, str], ...]  # (spec, router name)
    jobs: tuple[JobSpec, ...]

    def run(self) -> Results:
        """Simulate ``duration_s`` seconds and return the results."""
        sim = Simulation(self.seed, Recorder)
        sim.recorder.meta["control_interval_s"] = self.control_interval_s
        Facility(sim, self.topology, self.power_path, self.cooling, self.climate, self.control_interval_s)
        cluster = Cluster(sim, self.topology, SCHEDULERS[self.scheduler]())
        work_id = 0
        for spec, router in self.services:
            service = FluidService if spec.fidelity == "fluid" else InferenceService
            service(sim, spec, self.device, ROUTERS[router](), cluster, work_id, self.duration_s)
            work_id += spec.replicas
        for job in self.jobs:
            TrainingJob(sim, job, cluster, self.device)
        sim.recorder.meta["climate"] = self.climate.name
        return sim.run(self.duration_s)
