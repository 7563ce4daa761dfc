"""A scenario: the validated pieces of one run, and the wiring that runs them.

``Scenario.run()`` builds a fresh :class:`Simulation` every time, so the same
scenario runs again with identical results.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

from dcsim.core.runinfo import ScenarioInfo
from dcsim.core.simulation import Simulation
from dcsim.facility.climate import CLIMATES
from dcsim.facility.controller import Facility, FacilitySpec
from dcsim.hardware.device import DeviceModel
from dcsim.hardware.profiles import load_profile
from dcsim.metrics.recorder import Recorder
from dcsim.metrics.results import Results
from dcsim.metrics.telemetry import Telemetry, TelemetrySpec
from dcsim.policies.registry import PLACEMENTS, SCHEDULERS
from dcsim.policies.routing import make_router
from dcsim.workloads.cluster import Cluster
from dcsim.workloads.inference.fluid import FluidService
from dcsim.workloads.inference.service import InferenceService, ServiceSpec
from dcsim.workloads.power_control import PowerController
from dcsim.workloads.training.job import JobSpec, TrainingJob

SHIPPED_CLIMATE_KEYS = {file: key for key, file in CLIMATES.items()}


@dataclass(frozen=True)
class Scenario:
    """Everything one run needs, validated (see ``dcsim.config.build``)."""

    seed: int
    duration_s: float
    facility: FacilitySpec
    power_policy: Any
    power_policy_name: str
    gpu_min_cap_w: float
    device: DeviceModel
    scheduler: str
    services: tuple[tuple[ServiceSpec, str], ...]  # (spec, router name)
    jobs: tuple[JobSpec, ...]
    trace_jobs_dropped: int = 0  # trace jobs larger than the facility, left out (docs/traces.md)
    placement: str = "pack"
    power_admission: bool = False
    telemetry: TelemetrySpec | None = None  # per-node telemetry (dcsim/metrics/telemetry.py); None: off
    timeseries_level: str = "rack"  # rows of the timeseries per interval: rack, group or facility (Recorder)
    timeseries_group_racks: int = 32  # racks per row at level group
    # each GPU type's device model (a mixed fleet, facility.rack_groups); empty: ``device`` for all
    devices: dict[str, DeviceModel] = field(default_factory=dict)

    @property
    def topology(self):
        return self.facility.topology

    def device_for(self, gpu: str) -> DeviceModel:
        """The device model of GPU type ``gpu`` ("": facility.node.gpu's)."""
        return self.devices.get(gpu, self.device) if gpu else self.device

    def described(self) -> dict[str, str]:
        """What the run simulates, by name, whichever config set it (summary.json carries it,
        so a sweep's table says it even where no override did)."""
        f = self.facility
        return {
            "gpu_model": "+".join(g.name for g in self.topology.gpu_types),
            "cooling_technology": f.plant.technology.name,
            # a shipped climate by its key, as climate=KEY names it; a user's file by its name
            "climate": SHIPPED_CLIMATE_KEYS.get(f.climate.name, f.climate.name.removesuffix(".gz").removesuffix(".epw")),
            "scheduler": self.scheduler,
            "placement": self.placement,
            "power_policy": self.power_policy_name,
            **self._calibration(),
        }

    def _calibration(self) -> dict[str, str]:
        """The engine profiles serving uses and how far they are calibrated for this GPU."""
        node_gpu = self.topology.node.gpu.name
        engines = sorted({spec.config.engine for spec, _ in self.services})
        pairs = sorted({(spec.config.engine, g or node_gpu) for spec, _ in self.services
                        for g in (spec.gpu, spec.decode_gpu if spec.split_gpus else spec.gpu)})
        profiles = [load_profile(g, e) for e, g in pairs]
        order = ("measured", "derived", "uncalibrated")
        status = max((p.status for p in profiles), key=order.index, default="")
        notes = [f"{p.engine} on {p.gpu} is uncalibrated: {p.basis}" for p in profiles if p.status == "uncalibrated"]
        return {"serving_engine": ",".join(engines), "calibration_status": status, "calibration_note": "; ".join(notes)}

    def run(self, on_sim: Callable[[Simulation], None] | None = None) -> Results:
        """Simulate ``duration_s`` seconds and return the results. ``on_sim`` is called with
        the new simulation before it runs (an observer such as a progress bar; it must not
        change the model's state or draw from its random streams)."""
        sim = Simulation(self.seed, Recorder)
        cast(Recorder, sim.recorder).timeseries_level(self.timeseries_level, self.timeseries_group_racks)
        if on_sim is not None:
            on_sim(sim)
        sim.recorder.run_info.scenario = ScenarioInfo(
            control_interval_s=self.facility.control_interval_s,
            gpu_peak_flops_per_s=self.topology.node.gpu.peak_bf16_flops,
            described=self.described(),
            trace_jobs_dropped=self.trace_jobs_dropped,
            peak_flops_per_s=sum(self.topology.of_type(g.name).gpus_total * g.peak_bf16_flops
                                 for g in self.topology.gpu_types) if self.topology.mixed else None,
        )
        facility = Facility(sim, self.facility)
        headroom: Callable[[], float] | None = None
        admission_w_per_gpu = None  # None: admission counts each work's power at full draw
        if self.power_admission:
            led = sim.recorder.ledger

            def headroom_at_full_power() -> float:  # nothing caps: what fits at full power
                budget = facility.it_budget_w(sim.now_s)
                return math.inf if budget is None else budget - led.it_power_w()

            def headroom_at_min_cap() -> float:  # the policy caps what is let in, down to its minimum cap
                return controller.admission_headroom_w()

            headroom = headroom_at_full_power
            if self.power_policy_name != "none":
                admission_w_per_gpu = self.gpu_min_cap_w - self.topology.node.gpu.idle_w
                headroom = headroom_at_min_cap

            def reschedule(_ev=None):  # room may open without any work ending
                cluster.schedule()
                sim.env.timeout(self.facility.control_interval_s).callbacks.append(reschedule)

            sim.env.timeout(self.facility.control_interval_s).callbacks.append(reschedule)
        cluster = Cluster(sim, self.topology, SCHEDULERS[self.scheduler](placement=PLACEMENTS[self.placement]()),
                          power_headroom_w=headroom, rack_temp_c=lambda r: facility.gpu_temp_c[r],
                          rack_limit_w=self.facility.plant.technology.max_rack_kw * 1e3,
                          admission_w_per_gpu=admission_w_per_gpu)
        cluster.reserve_work_ids(sum(spec.config.replicas for spec, _ in self.services) + len(self.jobs))
        facility.watch_hottest_gpu(cluster.hottest_gpu_w, cluster.hottest_gpus_w)
        facility.record_rack_rows(self.timeseries_level != "facility")
        facility.watch_rack_power(cluster.stop_racks, cluster.restore_racks)
        if self.telemetry is not None:
            Telemetry(sim, cluster, facility, self.telemetry)
        controller = PowerController(sim, cluster, self.power_policy, self.power_policy_name, facility.it_budget_w,
                                     facility.thermal_cap_w, self.facility.control_interval_s, self.gpu_min_cap_w,
                                     fan_ratio=lambda: facility.server_fan_ratio,
                                     network_w=self.facility.network_power_w)
        for event in self.facility.demand_response.events:  # re-decide when a window opens and closes
            for t in (event.start_s, event.start_s + event.duration_s):
                sim.env.timeout(t).callbacks.append(lambda _ev: controller.decide())
        facility.on_limit_change(controller.decide)  # and when a price or carbon limit switches
        work_id = 0
        for spec, router in self.services:
            service = FluidService if spec.config.fidelity == "fluid" else InferenceService
            device = self.device_for(spec.gpu).with_engine(spec.config.engine)
            if spec.split_gpus:
                InferenceService(sim, spec, device, make_router(router, spec.config), cluster, work_id,
                                 self.duration_s, self.device_for(spec.decode_gpu).with_engine(spec.config.engine))
            else:
                service(sim, spec, device, make_router(router, spec.config), cluster, work_id, self.duration_s)
            work_id += spec.config.replicas
        for job in self.jobs:
            TrainingJob(sim, job, cluster, self.device_for(job.gpu))
        return sim.run(self.duration_s)
