"""From a composed config to a validated :class:`Scenario`: composition only.

This is where the DictConfig stops: ``to_config`` turns it into the typed schema
objects, and ``build`` hands each part to the builder beside its component
(``dcsim.facility.build``, ``dcsim.policies.build``, ``dcsim.workloads.inference.build``,
``dcsim.workloads.training.build``), which checks what its schema cannot and raises
:class:`ConfigError` naming the field, the value and what is allowed. What is left here
is the run's own fields and the checks that span components. Building is pure: it
creates no directory and writes no file.
"""

from __future__ import annotations

import math

from omegaconf import DictConfig, OmegaConf

from dcsim.config.keys import check_no_unknown_keys
from dcsim.config.schema import MAX_DURATION_S, DcsimConfig
from dcsim.core.errors import require
from dcsim.core.fields import check_fields
from dcsim.facility.build import device_from_config, devices_from_config, facility_from_config, topology_from_config
from dcsim.facility.config import MAX_CONTROL_STEPS
from dcsim.facility.topology import Topology
from dcsim.hardware.device import DeviceModel
from dcsim.hardware.gpus import GpuSpec
from dcsim.metrics.registry import user_kpis
from dcsim.metrics.telemetry import MAX_TELEMETRY_ROWS, TelemetrySpec
from dcsim.policies.build import check_budget_held, check_scheduler, gpu_min_cap_w, power_policy_from_config
from dcsim.scenario import Scenario
from dcsim.workloads.inference.build import check_replicas_fit, service_from_config
from dcsim.workloads.training.build import job_from_config, trace_jobs_from_config
from dcsim.workloads.training.job import JobSpec

__all__ = ["build", "to_config"]


def to_config(cfg: DictConfig | DcsimConfig) -> DcsimConfig:
    """The typed config object of a composed DictConfig (or the object itself), every
    field checked against its declared range (dcsim.core.fields)."""
    if isinstance(cfg, DcsimConfig):
        obj = cfg
    else:
        check_no_unknown_keys(cfg)
        composed = OmegaConf.to_object(cfg)
        if not isinstance(composed, DcsimConfig):
            raise TypeError(f"expected a config of schema DcsimConfig, got {type(composed).__name__}")
        obj = composed
    check_fields(obj)
    return obj


def build(cfg: DictConfig | DcsimConfig) -> Scenario:
    """Validate a config and turn it into a runnable scenario."""
    c = to_config(cfg)
    user_kpis()  # the user's KPI files load (or fail, naming the file) before a run starts
    f, w = c.facility, c.workload
    require(c.seed >= 0, "seed", c.seed, "an integer >= 0")
    require(0 < c.duration_s <= MAX_DURATION_S, "duration_s", c.duration_s,
            f"a finite duration in seconds > 0 and at most {MAX_DURATION_S:,.0f} (10 years)")
    topology, gpu = topology_from_config(f)
    steps_min_s = c.duration_s / MAX_CONTROL_STEPS
    require(f.control_interval_s >= steps_min_s, "facility.control_interval_s", f.control_interval_s,
            f"at least duration_s / {MAX_CONTROL_STEPS:,} = {steps_min_s:g} s (at most {MAX_CONTROL_STEPS:,} control "
            f"intervals per run)")
    check_budget_held(f.power, c.scheduler)  # before the budget is sized against the facility's idle draw
    facility = facility_from_config(f, topology, gpu)
    policy = power_policy_from_config(f.power, gpu)
    min_cap_w = gpu_min_cap_w(f.power, gpu)
    devices = devices_from_config(f, topology) if topology.mixed else {}
    device = devices[gpu.name] if topology.mixed else device_from_config(f, topology, gpu)
    devices = devices or {gpu.name: device}
    if topology.mixed:
        _check_mixed(c)
    check_scheduler(c.scheduler)
    services = tuple(
        (service_from_config(f"workload.services.{name}", name, s, topology, gpu, f.climate.start_hour, c.duration_s,
                             w.rate_multiplier),
         str(s.router))
        for name, s in w.services.items()
    )
    check_replicas_fit(services, topology)
    # job ids follow the replicas' ids; jobs of traces follow the configured jobs
    first_job_id = sum(spec.config.replicas for spec, _ in services)
    # a job runs on the racks of its gpu (null: facility.node.gpu), of a mixed fleet those alone; traces on node.gpu's
    train_topology = topology.of_type(gpu.name) if topology.mixed else topology
    jobs: tuple[JobSpec, ...] = ()
    for i, (name, j) in enumerate(w.training.items()):
        field = f"workload.training.{name}"
        job_topology, job_gpu, job_device = _job_gpu(field, j.gpu, topology, devices)
        jobs += (job_from_config(field, first_job_id + i, name, j, job_topology, job_gpu, f.network, job_device),)
    next_id, dropped = first_job_id + len(jobs), 0
    for name, t in w.job_traces.items():
        traced, n_dropped = trace_jobs_from_config(f"workload.job_traces.{name}", next_id, name, t, train_topology,
                                                   c.seed)
        jobs += traced
        next_id += len(traced)
        dropped += n_dropped
    require(c.output.write or not c.output.stream_timeseries, "output.stream_timeseries", c.output.stream_timeseries,
            "false when output.write=false (it streams to the run directory's timeseries.parquet)")
    telemetry = None
    if c.output.telemetry_interval_s is not None:
        telemetry = TelemetrySpec(c.output.telemetry_interval_s, c.output.telemetry_per_gpu)
        rows = telemetry.rows(c.duration_s, topology.num_nodes, topology.gpus_total)
        per_tick = rows / math.ceil(c.duration_s / telemetry.interval_s)
        # streamed (output.write holds, required above): no more than a row group is held
        require(c.output.stream_timeseries or rows <= MAX_TELEMETRY_ROWS, "output.telemetry_interval_s",
                c.output.telemetry_interval_s,
                f"seconds >= {c.duration_s * per_tick / MAX_TELEMETRY_ROWS:,.6g} for this run (at most "
                f"{MAX_TELEMETRY_ROWS:,} telemetry rows, {per_tick:,.0f} per sample; this interval gives {rows:,}; "
                "output.stream_timeseries=true streams them)")
    return Scenario(
        seed=c.seed,
        duration_s=c.duration_s,
        facility=facility,
        power_policy=policy,
        power_policy_name=str(f.power.policy),
        gpu_min_cap_w=min_cap_w,
        device=device,
        devices=devices,
        scheduler=str(c.scheduler.name),
        services=services,
        jobs=jobs,
        trace_jobs_dropped=dropped,
        placement=str(c.scheduler.placement),
        power_admission=c.scheduler.power_admission,
        telemetry=telemetry,
        timeseries_level=str(c.output.timeseries_level),
        timeseries_group_racks=c.output.timeseries_group_racks,
    )


def _check_mixed(c: DcsimConfig) -> None:
    """What a facility of several GPU types (facility.rack_groups) does not model yet: capping
    policies and power admission (they take one GPU's TDP, minimum cap and idle power), and
    training and job traces on another type than facility.node.gpu (they run there)."""
    f = c.facility
    require(str(f.power.policy) == "none", "facility.power.policy", str(f.power.policy),
            "none with facility.rack_groups (the capping policies take one GPU type's TDP and minimum cap)")
    require(not c.scheduler.power_admission, "scheduler.power_admission", c.scheduler.power_admission,
            "false with facility.rack_groups (admission counts one GPU type's power)")


def _job_gpu(field: str, name: str | None, topology: Topology,
             devices: dict[str, DeviceModel]) -> tuple[Topology, GpuSpec, DeviceModel]:
    """The racks (as a facility of their own on a mixed fleet), GPU and device of a training job's ``gpu``."""
    have = {g.name: g for g in topology.gpu_types}
    require(name is None or name in have, f"{field}.gpu", name,
            f"a GPU type the facility has racks of: one of {list(have)} (facility.node.gpu and facility.rack_groups), "
            f"or null for facility.node.gpu={topology.node.gpu.name}")
    gpu = topology.node.gpu if name is None else have[name]
    return (topology.of_type(gpu.name) if topology.mixed else topology), gpu, devices[gpu.name]
