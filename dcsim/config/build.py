"""From a composed config to a validated :class:`Scenario`.

This is where the DictConfig stops: ``to_config`` turns it into the typed schema
objects, ``build`` checks every value a schema cannot (ranges, divisibility, fit in
memory) and raises :class:`ConfigError` naming the field, the value and what is
allowed. Building is pure: it creates no directory and writes no file.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any, cast

import numpy as np
from omegaconf import DictConfig, OmegaConf

from dcsim.config.keys import check_no_unknown_keys
from dcsim.config.schema import DcsimConfig
from dcsim.core.errors import ConfigError, require
from dcsim.core.fields import check_fields
from dcsim.core.units import GB_B, KW_W
from dcsim.facility.climate import Climate
from dcsim.facility.config import FacilityConfig
from dcsim.facility.controller import FacilitySpec, Fault
from dcsim.facility.cooling import CoolingPlant
from dcsim.facility.power_path import PowerPath
from dcsim.facility.thermal import RackThermal
from dcsim.facility.topology import Topology
from dcsim.hardware.device import DeviceModel
from dcsim.hardware.gpus import GPUS, GpuSpec
from dcsim.hardware.models import KV_PRECISIONS, MODELS, WEIGHT_PRECISIONS, LlmSpec
from dcsim.hardware.node import NodeSpec
from dcsim.hardware.performance import TrainingStep, max_kv_tokens, training_step
from dcsim.hardware.profiles import engines, profile_gpus
from dcsim.metrics.registry import user_kpis
from dcsim.policies.registry import PLACEMENTS, ROUTERS, SCHEDULERS
from dcsim.scenario import Scenario
from dcsim.workloads.config import JobTraceConfig, LengthConfig, ServiceConfig, TrainingJobConfig
from dcsim.workloads.inference.requests import LENGTH_DISTRIBUTIONS, LengthDistribution
from dcsim.workloads.inference.service import ServiceSpec, length_sampler
from dcsim.workloads.training.job import JobSpec

# Bytes of training state per parameter with mixed-precision Adam: BF16 weights and
# gradients (2 + 2) and FP32 master weights, momentum and variance (4 + 4 + 4)
# (Rajbhandari et al., ZeRO, SC 2020, section 3.1).
TRAINING_BYTES_PER_PARAM = 16.0


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
    require(c.seed >= 0, "seed", c.seed, "an integer >= 0")
    require(c.duration_s > 0, "duration_s", c.duration_s, "a duration in seconds > 0")
    topology, gpu = _topology(c.facility)
    facility = _facility(c.facility, topology, gpu)
    policy = _power_policy(c.facility, gpu)
    min_cap_w = gpu_min_cap_w(c.facility, gpu)
    cap = c.facility.node.gpu_power_cap_w
    require(cap is None or gpu.idle_w < cap, "facility.node.gpu_power_cap_w", cap,
            f"watts above {gpu.name}'s idle power ({gpu.idle_w:g} W), or null for no cap")
    device = DeviceModel.for_gpu(gpu, cap)
    require(c.scheduler.name in SCHEDULERS, "scheduler.name", c.scheduler.name, f"one of {sorted(SCHEDULERS)}")
    require(c.scheduler.placement in PLACEMENTS, "scheduler.placement", c.scheduler.placement,
            f"one of {sorted(PLACEMENTS)}")
    services = tuple(
        (_service(f"workload.services.{name}", name, s, topology, gpu, c.facility.climate.start_hour), s.router)
        for name, s in c.workload.services.items()
    )
    replica_gpus = sum((spec.autoscale.max_replicas if spec.autoscale else spec.replicas) * spec.tp
                       for spec, _ in services)
    require(replica_gpus <= topology.gpus_total, "workload.services", f"{replica_gpus} GPUs of replicas",
            f"at most the facility's {topology.gpus_total} GPUs")
    first_job_id = sum(spec.replicas for spec, _ in services)
    jobs = tuple(
        _job(f"workload.training.{name}", first_job_id + i, name, j, topology, gpu, c.facility, device)
        for i, (name, j) in enumerate(c.workload.training.items())
    )
    next_id, dropped = first_job_id + len(jobs), 0
    for name, t in c.workload.job_traces.items():
        traced, n_dropped = _trace_jobs(f"workload.job_traces.{name}", next_id, name, t, topology, c.seed)
        jobs += traced
        next_id += len(traced)
        dropped += n_dropped
    return Scenario(
        seed=c.seed,
        duration_s=c.duration_s,
        facility=facility,
        power_policy=policy,
        power_policy_name=c.facility.power.policy,
        gpu_min_cap_w=min_cap_w,
        device=device,
        scheduler=c.scheduler.name,
        services=services,
        jobs=jobs,
        trace_jobs_dropped=dropped,
        placement=c.scheduler.placement,
        power_admission=c.scheduler.power_admission,
    )


def _positive(field: str, value: Any, what: str = "a number > 0") -> None:
    require(value > 0, field, value, what)


def _topology(f: FacilityConfig) -> tuple[Topology, GpuSpec]:
    require(f.node.gpu in GPUS, "facility.node.gpu", f.node.gpu, f"one of {sorted(GPUS)}")
    gpu = GPUS[f.node.gpu]
    _positive("facility.num_racks", f.num_racks, "an integer >= 1")
    _positive("facility.node.gpus_per_node", f.node.gpus_per_node, "an integer >= 1")
    g = f.node.gpus_per_node
    require(f.rack.gpus_per_rack >= g and f.rack.gpus_per_rack % g == 0, "facility.rack.gpus_per_rack",
            f.rack.gpus_per_rack, f"a positive multiple of facility.node.gpus_per_node={g}")
    require(0 <= f.node.host_idle_w <= f.node.host_busy_w, "facility.node.host_idle_w", f.node.host_idle_w,
            f"between 0 and facility.node.host_busy_w={f.node.host_busy_w}")
    _positive("facility.control_interval_s", f.control_interval_s, "an interval in seconds > 0")
    _positive("facility.rack.floor_area_m2", f.rack.floor_area_m2, "square metres per rack > 0")
    node = NodeSpec(gpu, g, f.node.host_idle_w, f.node.host_busy_w)
    return Topology(f.num_racks, f.rack.gpus_per_rack // g, node), gpu


def gpu_min_cap_w(f: FacilityConfig, gpu: GpuSpec) -> float:
    """The lowest per-GPU cap a policy may set: facility.power.gpu_min_cap_w, or null for the
    GPU's catalogue min_power_cap_w (nvidia-smi "Min Power Limit" where measured; each
    dcsim/data/gpus file gives its source or marks its assumption)."""
    cap = f.power.gpu_min_cap_w if f.power.gpu_min_cap_w is not None else gpu.min_power_cap_w
    require(gpu.idle_w < cap <= gpu.tdp_w, "facility.power.gpu_min_cap_w", cap,
            f"watts between {gpu.name}'s idle {gpu.idle_w:g} W and TDP {gpu.tdp_w:g} W")
    return cap


def _power_path(f: FacilityConfig, topology: Topology) -> tuple[PowerPath, float]:
    """The power path sized for the provisioned IT capacity, and that capacity."""
    from dcsim.facility.power_path import StageSpec

    require(f.power.oversubscription >= 1.0, "facility.power.oversubscription", f.power.oversubscription,
            "a ratio >= 1 of IT nameplate to provisioned IT capacity")
    it_capacity_w = topology.it_nameplate_w / f.power.oversubscription
    specs = []
    for name, s in f.power.stages.items():
        field = f"facility.power.stages.{name}"
        for coef in ("no_load", "proportional", "square"):
            v = getattr(s, coef)
            require(0 <= v < 0.5, f"{field}.{coef}", v, "a loss fraction in [0, 0.5)")
        require(s.units >= 1, f"{field}.units", s.units, "an integer >= 1")
        require(s.unit_rating_kw is None or s.unit_rating_kw > 0, f"{field}.unit_rating_kw", s.unit_rating_kw,
                "kW > 0, or null to size the units to the provisioned IT capacity")
        specs.append(StageSpec(name, s.no_load, s.proportional, s.square, s.redundancy, s.units,
                               None if s.unit_rating_kw is None else s.unit_rating_kw * KW_W))
    try:
        path = PowerPath.build(it_capacity_w, specs)
    except ValueError as e:
        raise ConfigError("facility.power.stages", [s.name for s in specs], f"{e} (redundancy: N, N+k or 2N)") from None
    return path, it_capacity_w


def _cooling(f: FacilityConfig, topology: Topology, gpu: GpuSpec) -> tuple[CoolingPlant, RackThermal, float | None]:
    """The plant, the rack thermal model and the per-GPU density cap (throttle mode)."""
    from dcsim.facility.cooling import TECHNOLOGIES
    from dcsim.facility.thermal import RackThermal

    c = f.cooling
    require(c.technology in TECHNOLOGIES, "facility.cooling.technology", c.technology, f"one of {sorted(TECHNOLOGIES)}")
    require(c.condenser in ("dry", "tower"), "facility.cooling.condenser", c.condenser, "dry or tower")
    require(c.over_density in ("error", "throttle"), "facility.cooling.over_density", c.over_density,
            "error or throttle")
    tech = TECHNOLOGIES[c.technology]
    if c.supply_temp_c is not None:
        tech = dataclasses.replace(tech, supply_temp_c=c.supply_temp_c)
    rack_kw = topology.nodes_per_rack * topology.node.nameplate_w / KW_W
    density_cap_w = None
    if rack_kw > tech.max_rack_kw:
        require(c.over_density == "throttle", "facility.rack.gpus_per_rack", f.rack.gpus_per_rack,
                f"at most {tech.max_rack_kw:g} kW per rack with {tech.name} cooling: this rack is {rack_kw:.1f} kW at "
                f"nameplate (use fewer GPUs per rack, another facility.cooling.technology, or "
                f"facility.cooling.over_density=throttle)")
        node = topology.node
        density_cap_w = (tech.max_rack_kw * KW_W / topology.nodes_per_rack - node.host_busy_w) / node.gpus_per_node
        require(density_cap_w > gpu.idle_w, "facility.rack.gpus_per_rack", f.rack.gpus_per_rack,
                f"a density whose GPUs can run under the {tech.max_rack_kw:g} kW rack limit")
    plant_fields = {k: getattr(c, k) for k in (
        "condenser", "carnot_fraction", "evaporator_approach_k", "tower_condenser_approach_k",
        "dry_condenser_approach_k", "tower_economiser_approach_k", "dry_economiser_approach_k",
        "facility_pump_share", "tower_fan_share", "dry_fan_share", "evaporated_share", "cycles_of_concentration",
        "heat_reuse_min_c")}
    try:
        plant = CoolingPlant(tech, **plant_fields)
    except ValueError as e:
        raise ConfigError("facility.cooling", c.technology, str(e)) from None
    require(c.gpu_limit_c is None or 0 < c.gpu_limit_c < gpu.shutdown_temp_c, "facility.cooling.gpu_limit_c",
            c.gpu_limit_c, f"degrees C > 0 and below {gpu.name}'s shutdown temperature ({gpu.shutdown_temp_c:g} C), "
                           f"or null for its throttle temperature ({gpu.throttle_temp_c:g} C)")
    return plant, RackThermal.for_gpu(tech, gpu, c.gpu_limit_c), density_cap_w


def _climate(f: FacilityConfig) -> Climate:
    cl = f.climate
    require(1 <= cl.start_day_of_year <= 365, "facility.climate.start_day_of_year", cl.start_day_of_year,
            "a day of the year in 1..365")
    require(0 <= cl.start_hour < 24, "facility.climate.start_hour", cl.start_hour, "an hour in [0, 24)")
    try:
        return Climate.from_epw(cl.epw_path, cl.start_day_of_year, cl.start_hour)
    except (OSError, ValueError, IndexError) as e:
        raise ConfigError("facility.climate.epw_path", cl.epw_path,
                          f"a named climate or a readable EnergyPlus EPW file ({e})") from None


def _grid(f: FacilityConfig, climate: Climate):
    from dcsim.facility.grid import CarbonIntensity, DemandResponse, DemandResponseEvent, ElectricityPrice

    g, cl = f.grid, f.climate
    try:
        carbon = CarbonIntensity.flat(float(g.carbon))
    except ValueError:
        try:
            carbon = CarbonIntensity.named(g.carbon, cl.start_day_of_year, cl.start_hour,
                                           utc_offset_h=getattr(climate, "utc_offset_h", None))
        except (KeyError, ValueError, OSError) as e:
            raise ConfigError("facility.grid.carbon", g.carbon, f"pjm, ciso, erco or gCO2/kWh ({e})") from None
    require(0 <= g.renewable_share <= 1, "facility.grid.renewable_share", g.renewable_share, "a fraction in [0, 1]")
    try:
        if g.price == "flat":
            price = ElectricityPrice.flat(g.price_usd_per_kwh)
        elif g.price == "tou":
            price = ElectricityPrice.time_of_use(g.tou_peak_usd_per_kwh, g.price_usd_per_kwh, cl.start_hour,
                                                 g.tou_peak_start_hour, g.tou_peak_end_hour)
        else:
            price = ElectricityPrice.from_csv(g.price, cl.start_day_of_year, cl.start_hour)
    except (ValueError, OSError) as e:
        raise ConfigError("facility.grid.price", g.price, f"flat, tou or a price CSV ({e})") from None
    events = []
    for i, dr in enumerate(g.demand_response):
        require(dr.duration_s > 0 and dr.start_s >= 0 and dr.limit_kw >= 0, f"facility.grid.demand_response.{i}",
                (dr.start_s, dr.duration_s, dr.limit_kw), "start_s >= 0, duration_s > 0 and limit_kw >= 0")
        events.append(DemandResponseEvent(dr.start_s, dr.duration_s, limit_w=dr.limit_kw * KW_W))
    return carbon, price, DemandResponse(tuple(events))


def _cost(f: FacilityConfig, gpu: GpuSpec):
    from dcsim.facility.cost import CostModel

    overrides = {k: v for k, v in dataclasses.asdict(f.cost).items() if v is not None}
    overrides.setdefault("energy_usd_per_kwh", f.grid.price_usd_per_kwh)
    try:
        return CostModel.for_gpu(gpu, **overrides)
    except ValueError as e:
        raise ConfigError("facility.cost", overrides, str(e)) from None


def _faults(f: FacilityConfig) -> tuple[Fault, ...]:
    out = []
    for i, x in enumerate(f.faults):
        field = f"facility.faults.{i}"
        require(x.kind in ("chiller", "utility"), f"{field}.kind", x.kind, "chiller or utility")
        require(x.start_s >= 0, f"{field}.start_s", x.start_s, "seconds >= 0")
        require(x.duration_s > 0, f"{field}.duration_s", x.duration_s, "seconds > 0")
        require(0 <= x.capacity_share < 1, f"{field}.capacity_share", x.capacity_share, "a share in [0, 1)")
        out.append(Fault(x.kind, x.start_s, x.duration_s, x.capacity_share))
    _positive("facility.generator_start_s", f.generator_start_s, "seconds > 0")
    _positive("facility.ups_ride_through_s", f.ups_ride_through_s, "seconds > 0")
    return tuple(out)


def _facility(f: FacilityConfig, topology: Topology, gpu: GpuSpec) -> FacilitySpec:
    path, it_capacity_w = _power_path(f, topology)
    require(f.power.budget_kw is None or f.power.budget_kw > 0, "facility.power.budget_kw", f.power.budget_kw,
            "kW > 0 at the utility meter, or null")
    plant, thermal, density_cap_w = _cooling(f, topology, gpu)
    climate = _climate(f)
    carbon, price, dr = _grid(f, climate)
    return FacilitySpec(
        topology=topology, power_path=path, it_capacity_w=it_capacity_w,
        budget_w=None if f.power.budget_kw is None else f.power.budget_kw * KW_W,
        plant=plant, thermal=thermal, density_cap_w=density_cap_w, climate=climate, carbon=carbon, price=price,
        renewable_share=f.grid.renewable_share, demand_response=dr, cost=_cost(f, gpu), faults=_faults(f),
        generator_start_s=f.generator_start_s, ups_ride_through_s=f.ups_ride_through_s,
        control_interval_s=f.control_interval_s, floor_area_m2=topology.num_racks * f.rack.floor_area_m2,
        storage=_storage(f),
    )


def _storage(f: FacilityConfig):
    from dcsim.facility.controller import Storage

    st = f.storage
    if st.capacity_kwh == 0:
        return None
    require(st.capacity_kwh > 0, "facility.storage.capacity_kwh", st.capacity_kwh, "kWh >= 0 (0: no storage)")
    _positive("facility.storage.max_power_kw", st.max_power_kw, "kW > 0 with storage")
    _positive("facility.storage.tau_s", st.tau_s, "seconds > 0")
    require(0 < st.round_trip_efficiency <= 1, "facility.storage.round_trip_efficiency", st.round_trip_efficiency,
            "a fraction in (0, 1]")
    return Storage(st.capacity_kwh * 3.6e6, st.max_power_kw * KW_W, st.tau_s, st.round_trip_efficiency)


def _power_policy(f: FacilityConfig, gpu: GpuSpec):
    from dcsim.policies.registry import POWER_POLICIES

    p = f.power
    require(p.policy in POWER_POLICIES, "facility.power.policy", p.policy, f"one of {sorted(POWER_POLICIES)}")
    if p.policy == "static":
        require(p.static_cap_w is not None and gpu.idle_w < p.static_cap_w <= gpu.tdp_w,
                "facility.power.static_cap_w", p.static_cap_w,
                f"watts between {gpu.name}'s idle {gpu.idle_w:g} W and TDP {gpu.tdp_w:g} W for the static policy")
        return POWER_POLICIES["static"](p.static_cap_w)
    return POWER_POLICIES[p.policy]()


def _model(field: str, name: str) -> LlmSpec:
    require(name in MODELS, field, name, f"one of {sorted(MODELS)}")
    return MODELS[name]


def _lengths(field: str, lc: LengthConfig) -> LengthDistribution:
    require(lc.distribution in LENGTH_DISTRIBUTIONS, f"{field}.distribution", lc.distribution,
            f"one of {list(LENGTH_DISTRIBUTIONS)}")
    require(lc.min_tokens >= 1, f"{field}.min_tokens", lc.min_tokens, "an integer >= 1")
    require(lc.max_tokens >= lc.min_tokens, f"{field}.max_tokens", lc.max_tokens, f">= min_tokens={lc.min_tokens}")
    if lc.distribution in ("constant", "exponential"):
        _positive(f"{field}.mean", lc.mean, f"a mean token count > 0 for a {lc.distribution} distribution")
    else:
        require(lc.log_sigma >= 0, f"{field}.log_sigma", lc.log_sigma, "a log standard deviation >= 0")
    return LengthDistribution(lc.distribution, lc.mean, lc.log_mu, lc.log_sigma, lc.min_tokens, lc.max_tokens)


PACKAGED_PREFIX = "dcsim:"


def resolve_data_path(path: str) -> str:
    """A path, with ``dcsim:NAME`` meaning a file shipped in the package's data (e.g.
    ``dcsim:traces/AzureLLMInferenceTrace_conv.csv.gz``)."""
    if not path.startswith(PACKAGED_PREFIX):
        return path
    from importlib import resources

    return str(resources.files("dcsim.data").joinpath(path[len(PACKAGED_PREFIX):]))


ARRIVAL_PROCESSES = ("poisson", "gamma", "diurnal", "trace", "servegen", "closed")
FIDELITIES = ("request", "fluid")
LENGTH_MEAN_SAMPLES = 100_000  # draws that estimate mean lengths for the fluid model (fixed seed)


def _arrivals(field: str, s: ServiceConfig, start_hour: float) -> tuple[Any, Any, Any]:
    """(arrival process, trace or None, length sampler or None) of a service."""
    from dcsim.workloads.inference import arrivals as arr

    a = s.arrivals
    require(a.process in ARRIVAL_PROCESSES, f"{field}.arrivals.process", a.process, f"one of {list(ARRIVAL_PROCESSES)}")
    if a.process == "closed":
        require(s.fidelity == "request", f"{field}.fidelity", s.fidelity,
                "request with arrivals.process=closed (the closed loop follows each completion; fluid has no requests)")
        require(a.trace_path is None, f"{field}.arrivals.trace_path", a.trace_path,
                "null with arrivals.process=closed (a closed loop draws prompt_tokens and output_tokens)")
        c = a.concurrency
        require(isinstance(c, int) and not isinstance(c, bool) and c >= 1, f"{field}.arrivals.concurrency", c,
                "an integer >= 1 (users, each with one request outstanding)")
        t = a.think_time_s
        require(isinstance(t, (int, float)) and math.isfinite(t) and t >= 0, f"{field}.arrivals.think_time_s", t,
                "a finite number of seconds >= 0 (mean of an exponential think time; 0: none)")
        return arr.ClosedLoop(c, t), None, None
    if a.process in ("trace", "servegen"):
        require(a.trace_path is not None, f"{field}.arrivals.trace_path", a.trace_path,
                f"a file (trace) or directory (servegen) for arrivals.process={a.process}")
        assert a.trace_path is not None  # required just above
        _positive(f"{field}.arrivals.rate_multiplier", a.rate_multiplier)
        from dcsim.workloads.inference import traces

        try:
            if a.process == "trace":
                trace = traces.read_trace(resolve_data_path(a.trace_path), a.trace_format)
                return arr.TraceArrivals(trace, a.rate_multiplier), trace, None
            wl = traces.read_servegen(a.trace_path)
            return arr.ScaledArrivals(wl, a.rate_multiplier) if a.rate_multiplier != 1.0 else wl, None, wl.sample_lengths
        except (OSError, ValueError) as e:
            raise ConfigError(f"{field}.arrivals.trace_path", a.trace_path, f"a readable trace: {e}") from None
    require(s.arrival_rate_per_s >= 0, f"{field}.arrival_rate_per_s", s.arrival_rate_per_s, "requests per second >= 0")
    try:
        if a.process == "poisson":
            return arr.PoissonArrivals(s.arrival_rate_per_s), None, None
        if a.process == "gamma":
            return arr.GammaArrivals(s.arrival_rate_per_s, a.cv), None, None
        return arr.DiurnalArrivals(s.arrival_rate_per_s, a.peak_to_trough, a.peak_hour, a.cv, start_hour), None, None
    except ValueError as e:
        raise ConfigError(f"{field}.arrivals", a.process, str(e)) from None


def _served_precision(field: str, model: LlmSpec, s: ServiceConfig, gpu: GpuSpec) -> LlmSpec:
    """The model at the service's weight/KV precision, refused when the GPU cannot run it:
    fp8 weights or KV need native FP8 (Hopper on; A100 has none), fp4 weights native FP4
    (Blackwell); MXFP4 weights run natively on FP4 GPUs and as weight-only W4A16 on FP8
    ones (vLLM's gpt-oss on H100), not on A100."""
    native = tuple(getattr(gpu, "native_precisions", ("bf16",)))
    for key, value, allowed in (("weight_precision", s.weight_precision, WEIGHT_PRECISIONS),
                                ("kv_precision", s.kv_precision, KV_PRECISIONS)):
        if value is None:
            continue
        require(value in allowed, f"{field}.{key}", value, f"one of {list(allowed)}, or null for {model.name}'s own")
        runs = [p for p in allowed if _gpu_runs(p, key, native)]
        require(_gpu_runs(value, key, native), f"{field}.{key}", value,
                f"a precision {gpu.name} runs natively (native: {'/'.join(native)}): one of {runs}, or null")
    return model.with_precision(weight=s.weight_precision, kv=s.kv_precision)


def _gpu_runs(precision: str, key: str, native: tuple[str, ...]) -> bool:
    if precision in ("fp8", "fp4"):
        return precision in native
    if precision == "mxfp4":  # native FP4 MMA, or W4A16 weight-only kernels on FP8-capable GPUs
        return key == "weight_precision" and ("fp4" in native or "fp8" in native)
    return True


def _service(field: str, name: str, s: ServiceConfig, topology: Topology, gpu: GpuSpec, start_hour: float) -> ServiceSpec:
    model = _served_precision(field, _model(f"{field}.model", s.model), s, gpu)
    g = topology.node.gpus_per_node
    require(s.replicas >= 0, f"{field}.replicas", s.replicas, "an integer >= 0")
    require(s.tp >= 1 and g % s.tp == 0, f"{field}.tp", s.tp,
            f"a divisor of facility.node.gpus_per_node={g}: one of {[d for d in range(1, g + 1) if g % d == 0]}")
    require(s.router in ROUTERS, f"{field}.router", s.router, f"one of {sorted(ROUTERS)}")
    require(s.fidelity in FIDELITIES, f"{field}.fidelity", s.fidelity, f"one of {list(FIDELITIES)}")
    require(s.engine in engines(), f"{field}.engine", s.engine, f"one of {engines()}")
    require(gpu.name in profile_gpus(s.engine), f"{field}.engine", s.engine,
            f"an engine profile calibrated for {gpu.name}: one of "
            f"{[e for e in engines() if gpu.name in profile_gpus(e)]}")
    require(0 < s.gpu_memory_utilization <= 1, f"{field}.gpu_memory_utilization", s.gpu_memory_utilization,
            "a fraction in (0, 1]")
    require(s.max_num_seqs >= 1, f"{field}.max_num_seqs", s.max_num_seqs, "an integer >= 1")
    require(s.max_batch_tokens >= s.max_num_seqs, f"{field}.max_batch_tokens", s.max_batch_tokens,
            f"an integer >= max_num_seqs={s.max_num_seqs}")
    require(0 <= s.prefix_cache_fraction < 1, f"{field}.prefix_cache_fraction", s.prefix_cache_fraction,
            "a fraction in [0, 1)")
    require(s.prefix_block_tokens >= 1, f"{field}.prefix_block_tokens", s.prefix_block_tokens, "an integer >= 1")
    require(0 <= s.prefill_replicas < max(s.replicas, 1), f"{field}.prefill_replicas", s.prefill_replicas,
            f"0 (not disaggregated) or fewer than replicas={s.replicas}, so that decode replicas remain")
    _positive(f"{field}.kv_transfer_gbit_per_s", s.kv_transfer_gbit_per_s)
    for slo in ("slo_ttft_s", "slo_tpot_s"):
        v = getattr(s, slo)
        require(v is None or v > 0, f"{field}.{slo}", v, "seconds > 0, or null for no SLO")
    autoscale = _autoscale(f"{field}.autoscale", s)
    arrivals, trace, sampler = _arrivals(field, s, start_hour)
    if sampler is None:
        prompt = _lengths(f"{field}.prompt_tokens", s.prompt_tokens)
        output = _lengths(f"{field}.output_tokens", s.output_tokens)
        sampler = length_sampler(prompt, output)
    if trace is not None:
        longest = int(trace.prompt_tokens.max() + trace.output_tokens.max()) if len(trace.prompt_tokens) else 0
        mean_p, mean_o = float(trace.prompt_tokens.mean()), float(trace.output_tokens.mean())
        median_p = float(np.median(trace.prompt_tokens))
    else:
        p, o = sampler(np.random.default_rng(0), LENGTH_MEAN_SAMPLES)
        mean_p, mean_o, median_p = float(p.mean()), float(o.mean()), float(np.median(p))
        longest = int(p.max() + o.max()) if s.arrivals.process == "servegen" else (
            s.prompt_tokens.max_tokens + s.output_tokens.max_tokens)
    # sliding-window layers hold at most their window: counted at a typical request's context
    kv = max_kv_tokens(model, gpu, s.tp, s.gpu_memory_utilization, context_tokens=mean_p + mean_o)
    need_gb = (model.weight_bytes + longest * model.kv_bytes_per_token_on(s.tp)) / GB_B
    have_gb = s.tp * gpu.hbm_bytes * s.gpu_memory_utilization / GB_B
    require(kv >= longest, f"{field}.tp", s.tp,
            f"a TP degree whose GPU memory holds {model.name}: weights plus the KV cache of the longest request "
            f"need {need_gb:.0f} GB, {s.tp} x {gpu.name} give {have_gb:.0f} GB")
    return ServiceSpec(
        name=name, model=model, replicas=s.replicas, tp=s.tp, arrivals=arrivals, lengths=sampler,
        mean_prompt_tokens=mean_p, mean_output_tokens=mean_o, median_prompt_tokens=median_p, max_num_seqs=s.max_num_seqs,
        max_batch_tokens=s.max_batch_tokens, kv_capacity_tokens=kv, trace=trace,
        prefix_cache_fraction=s.prefix_cache_fraction, prefix_block_tokens=s.prefix_block_tokens,
        prefill_replicas=s.prefill_replicas, kv_transfer_bytes_per_s=s.kv_transfer_gbit_per_s * 1e9 / 8,
        slo_ttft_s=s.slo_ttft_s, slo_tpot_s=s.slo_tpot_s, fidelity=s.fidelity, engine=s.engine, priority=s.priority,
        autoscale=autoscale,
    )


AUTOSCALE_METRICS = ("queue", "utilisation", "slo")


def _autoscale(field: str, s: ServiceConfig) -> Any:
    """The validated autoscaler of a service, or None."""
    from dcsim.workloads.inference.service import Autoscale

    a = s.autoscale
    if not a.enabled:
        return None
    require(a.metric in AUTOSCALE_METRICS, f"{field}.metric", a.metric, f"one of {list(AUTOSCALE_METRICS)}")
    require(a.metric != "slo" or s.slo_ttft_s is not None or s.slo_tpot_s is not None, f"{field}.metric", a.metric,
            "queue or utilisation, or set slo_ttft_s / slo_tpot_s for slo")
    _positive(f"{field}.target", a.target)
    require(a.metric == "queue" or a.metric == "utilisation" and a.target <= 1 or a.metric == "slo" and a.target <= 1,
            f"{field}.target", a.target, "a fraction in (0, 1] for utilisation and slo")
    require(a.min_replicas >= 1, f"{field}.min_replicas", a.min_replicas, "an integer >= 1")
    require(a.max_replicas >= a.min_replicas, f"{field}.max_replicas", a.max_replicas,
            f"an integer >= min_replicas={a.min_replicas}")
    require(a.min_replicas <= s.replicas <= a.max_replicas, f"{field.rpartition('.')[0]}.replicas", s.replicas,
            f"the initial count, within min_replicas={a.min_replicas} and max_replicas={a.max_replicas}")
    _positive(f"{field}.interval_s", a.interval_s, "seconds > 0")
    require(a.model_load_s >= 0, f"{field}.model_load_s", a.model_load_s, "seconds >= 0")
    require(a.scale_down_delay_s >= 0, f"{field}.scale_down_delay_s", a.scale_down_delay_s, "seconds >= 0")
    require(s.fidelity == "request", f"{field}.enabled", a.enabled, "false with fidelity=fluid (request fidelity only)")
    require(s.prefill_replicas == 0, f"{field}.enabled", a.enabled, "false for a disaggregated service (prefill_replicas > 0)")
    return Autoscale(a.metric, a.target, a.min_replicas, a.max_replicas, a.interval_s, a.model_load_s,
                     a.scale_down_delay_s)


def _resilience(field: str, j: TrainingJobConfig, model: LlmSpec) -> dict[str, Any]:
    """Checkpoint and failure parameters of a job (dcsim.hardware.training)."""
    from dcsim.hardware import training as tm

    require(j.checkpoint in ("none", "fixed", "young_daly"), f"{field}.checkpoint", j.checkpoint,
            "none, fixed or young_daly")
    _positive(f"{field}.storage_gbyte_per_s", j.storage_gbyte_per_s, "GB/s > 0")
    require(j.failure_rate_scale >= 0, f"{field}.failure_rate_scale", j.failure_rate_scale, "a factor >= 0")
    require(j.restart_s >= 0, f"{field}.restart_s", j.restart_s, "seconds >= 0")
    require(j.repair_s >= 0, f"{field}.repair_s", j.repair_s, "seconds >= 0")
    require(j.hot_spare_nodes is None or j.hot_spare_nodes >= 0, f"{field}.hot_spare_nodes", j.hot_spare_nodes,
            "an integer >= 0, or null for spares that never run out")
    write_s = _checkpoint_write_s(model, j.storage_gbyte_per_s)
    rate = 0.0
    causes: tuple[tuple[str, float], ...] = ()
    if j.failures and j.failure_rate_scale > 0:
        rate = tm.interruption_rate_per_s(j.gpus) * j.failure_rate_scale
        total = sum(c.per_gpu_hour for c in tm.FAILURE_CAUSES.values())
        causes = tuple((c.name, c.per_gpu_hour / total) for c in tm.FAILURE_CAUSES.values())
    interval = None
    if j.checkpoint == "fixed":
        _positive(f"{field}.checkpoint_interval_s", j.checkpoint_interval_s, "seconds > 0")
        interval = j.checkpoint_interval_s
    elif j.checkpoint == "young_daly":
        require(rate > 0, f"{field}.checkpoint", j.checkpoint, "young_daly needs failures=true (it uses the failure rate)")
        interval = tm.young_daly_interval_s(write_s, 1.0 / rate)
    return dict(checkpoint_interval_s=interval, checkpoint_write_s=write_s if interval else 0.0,
                checkpoint_async=j.checkpoint_async, failure_rate_per_s=rate, failure_causes=causes,
                restart_s=j.restart_s, reload_s=write_s, hot_spare_nodes=j.hot_spare_nodes, repair_s=j.repair_s,
                repair_causes=frozenset(c.name for c in tm.FAILURE_CAUSES.values() if c.sends_node_to_repair))


def _layout(j: TrainingJobConfig):
    from dcsim.hardware import training as tm

    p = j.parallelism
    return tm.Parallelism.for_gpus(j.gpus, tp=p.tp, pp=p.pp, dp=p.dp, cp=p.cp, ep=p.ep, vpp=p.vpp,
                                   vocab_slots=bool(p.vocab_slots))


def _check_parallelism(field: str, j: TrainingJobConfig, model: LlmSpec, gpu: GpuSpec) -> None:
    from dcsim.hardware import training as tm

    p = j.parallelism
    pfield = f"{field}.parallelism"
    layout = f"tp={p.tp} pp={p.pp} dp={p.dp} cp={p.cp}"
    require(j.recompute in tm.RECOMPUTE_CHOICES, f"{field}.recompute", j.recompute, "none, selective or full")
    require(j.zero_stage in (0, 1, 2, 3), f"{field}.zero_stage", j.zero_stage, "0, 1, 2 or 3")
    require(j.seq_len >= 1 and j.micro_batch_seqs >= 1, f"{field}.seq_len", j.seq_len,
            "seq_len and micro_batch_seqs >= 1")
    try:
        par = _layout(j)
        par.check_model(model)
    except ValueError as e:
        raise ConfigError(pfield, f"tp={p.tp} pp={p.pp} dp={p.dp} cp={p.cp} ep={p.ep}", str(e)) from None
    seqs = j.tokens_per_step / j.seq_len / par.dp / j.micro_batch_seqs
    require(seqs >= 1 and abs(seqs - round(seqs)) < 1e-9, f"{field}.tokens_per_step", j.tokens_per_step,
            f"a whole number >= 1 of micro-batches of {j.micro_batch_seqs} x {j.seq_len} tokens per dp={p.dp} replica")

    job_recompute = cast(tm.Recompute, j.recompute)

    def mem(recompute: tm.Recompute = job_recompute, zero_stage: int = j.zero_stage) -> tm.MemoryBreakdown:
        return tm.training_memory_per_gpu_bytes(model, par, j.micro_batch_seqs, j.seq_len, zero_stage=zero_stage,
                                                recompute=recompute, micro_batches=int(round(seqs)))

    m = mem()
    if m.fits(gpu):
        return
    # Name the field whose change alone would make it fit: zero_stage (more sharding over DP
    # costs no FLOPs), then recompute, else the layout.
    need = (f"{m.total / GB_B:.0f} GB per GPU needed ({j.recompute} recomputation, ZeRO stage {j.zero_stage}: "
            f"weights {m.weights / GB_B:.1f}, gradients {m.grads / GB_B:.1f}, optimizer {m.optimizer / GB_B:.1f}, "
            f"activations {m.activations / GB_B:.1f}), {gpu.name} has {gpu.hbm_bytes / GB_B:.0f} GB")
    if j.zero_stage < 3 and mem(zero_stage=3).fits(gpu):
        require(False, f"{field}.zero_stage", j.zero_stage, f"a higher ZeRO stage for this layout: {need}")
    if j.recompute != "full" and mem(recompute="full").fits(gpu):
        lighter = "selective or full" if j.recompute == "none" else "full"
        require(False, f"{field}.recompute", j.recompute, f"{lighter} recomputation for this layout: {need}")
    require(False, pfield, layout, f"a layout whose training state fits {gpu.name}: {need}")


def _step_at(j: TrainingJobConfig, model: LlmSpec, gpu: GpuSpec, slowdown: float,
             scaleout_bytes_per_s: float) -> TrainingStep:
    """A (validated) job's step at a scale-out bandwidth per GPU, compute stretched by a
    cap's ``slowdown``. Module level so that a partial of it pickles."""
    from dcsim.hardware import training as tm

    eff = j.compute_efficiency
    if j.parallelism.tp > 0:
        par = _layout(j)
        kw: dict[str, Any] = {} if eff is None else {"compute_efficiency": eff}
        b = tm.step_time(model, gpu, par, j.tokens_per_step, j.seq_len, j.micro_batch_seqs,
                         scaleout_bytes_per_s_per_gpu=scaleout_bytes_per_s, dp_overlap=j.comm_overlap,
                         recompute=cast(tm.Recompute, j.recompute), **kw)
        step = TrainingStep(b.time_s, b.compute_s, b.time_s - b.compute_s, b.mfu)
    else:
        step = training_step(model, gpu, j.gpus, j.tokens_per_step, 0.40 if eff is None else eff,
                             j.gpus // j.model_parallel, scaleout_bytes_per_s, j.comm_overlap)
    if slowdown != 1.0:  # a power cap lowers the clock: compute stretches, communication does not
        compute_s = step.compute_s * slowdown
        time_s = compute_s + step.exposed_comm_s
        step = TrainingStep(time_s, compute_s, step.exposed_comm_s, step.mfu * step.time_s / time_s)
    return step


def _job(field: str, job_id: int, name: str, j: TrainingJobConfig, topology: Topology, gpu: GpuSpec,
         f: FacilityConfig, device: DeviceModel) -> JobSpec:
    model = _model(f"{field}.model", j.model)
    g = topology.node.gpus_per_node
    require(j.gpus >= 1 and (j.gpus <= g and g % j.gpus == 0 or j.gpus % g == 0), f"{field}.gpus", j.gpus,
            f"a divisor or a multiple of facility.node.gpus_per_node={g}")
    require(j.gpus <= topology.gpus_total, f"{field}.gpus", j.gpus, f"at most the facility's {topology.gpus_total} GPUs")
    require(j.model_parallel >= 1 and j.gpus % j.model_parallel == 0, f"{field}.model_parallel", j.model_parallel,
            f"a divisor of gpus={j.gpus}")
    require(j.submit_time_s >= 0, f"{field}.submit_time_s", j.submit_time_s, "seconds >= 0")
    require(j.steps >= 1, f"{field}.steps", j.steps, "an integer >= 1")
    _positive(f"{field}.tokens_per_step", j.tokens_per_step)
    steps = j.steps
    if j.tokens_to_train is not None:
        _positive(f"{field}.tokens_to_train", j.tokens_to_train, "tokens > 0, or null to give steps")
        steps = math.ceil(j.tokens_to_train / j.tokens_per_step)
    eff = j.compute_efficiency
    require(eff is None or 0 < eff <= 1, f"{field}.compute_efficiency", eff, "a fraction in (0, 1], or null")
    require(0 <= j.comm_overlap <= 1, f"{field}.comm_overlap", j.comm_overlap, "a fraction in [0, 1]")
    _positive("facility.network.scaleout_gbit_per_s_per_gpu", f.network.scaleout_gbit_per_s_per_gpu)
    require(f.network.rack_uplink_oversubscription >= 1.0, "facility.network.rack_uplink_oversubscription",
            f.network.rack_uplink_oversubscription, "a ratio >= 1 (1: non-blocking)")
    scaleout = f.network.scaleout_gbit_per_s_per_gpu * 1e9 / 8
    if j.parallelism.tp > 0:
        _check_parallelism(field, j, model, gpu)
    else:
        state_gb = model.params * TRAINING_BYTES_PER_PARAM / j.gpus / GB_B
        require(state_gb <= gpu.hbm_bytes / GB_B, f"{field}.gpus", j.gpus,
                f"enough GPUs to hold {model.name}'s training state: {state_gb:.0f} GB per GPU sharded over {j.gpus}, "
                f"{gpu.name} has {gpu.hbm_bytes / GB_B:.0f} GB")
    step_at = functools.partial(_step_at, j, model, gpu, device.training_slowdown())
    resilience = _resilience(field, j, model)
    return JobSpec(job_id, name, model, j.gpus, j.submit_time_s, steps, step_at(scaleout), power_swing=j.power_swing,
                   priority=j.priority, preemptible=j.preemptible,
                   preempt_write_s=_checkpoint_write_s(model, j.storage_gbyte_per_s), step_at=step_at,
                   scaleout_bytes_per_s=scaleout, uplink_oversubscription=f.network.rack_uplink_oversubscription,
                   **resilience)


def _checkpoint_write_s(model: LlmSpec, storage_gbyte_per_s: float) -> float:
    """Seconds to write (or read) a model's full training checkpoint."""
    from dcsim.hardware import training as tm

    return tm.checkpoint_write_s(tm.checkpoint_bytes(model), storage_gbyte_per_s * 1e9)


JOB_TRACE_SOURCES = ("philly", "synthetic")


def _trace_jobs(field: str, first_id: int, name: str, t: JobTraceConfig, topology: Topology,
                seed: int) -> tuple[tuple[JobSpec, ...], int]:
    """Duration-defined jobs of a job trace, each holding its GPUs for its traced run time,
    and how many jobs were dropped for asking more GPUs than the facility has."""
    from dcsim.core.rng import RngStreams
    from dcsim.workloads.training import traces as jt

    require(t.source in JOB_TRACE_SOURCES, f"{field}.source", t.source, f"one of {list(JOB_TRACE_SOURCES)}")
    require(t.max_jobs is None or t.max_jobs >= 1, f"{field}.max_jobs", t.max_jobs, "an integer >= 1, or null for all")
    require(t.submit_offset_s >= 0, f"{field}.submit_offset_s", t.submit_offset_s, "seconds >= 0")
    g, total = topology.node.gpus_per_node, topology.gpus_total
    if t.source == "philly":
        for key in ("window_start_s", "window_end_s"):
            v = getattr(t, key)
            require(v is None or v >= 0, f"{field}.{key}", v, "seconds >= 0 from the first submission, or null")
        if t.window_start_s is not None and t.window_end_s is not None:
            require(t.window_end_s > t.window_start_s, f"{field}.window_end_s", t.window_end_s,
                    f"a time after window_start_s={t.window_start_s}")
        try:
            trace = jt.read_philly(resolve_data_path(t.path), t.window_start_s, t.window_end_s, g, total)
        except (OSError, ValueError) as e:
            raise ConfigError(f"{field}.path", t.path, f"a readable Philly job trace: {e}") from None
    else:
        require(t.n_jobs >= 0, f"{field}.n_jobs", t.n_jobs, "an integer >= 0")
        _positive(f"{field}.horizon_s", t.horizon_s, "seconds > 0")
        rng = RngStreams(seed).stream(f"job_trace/{name}")
        trace = jt.synthetic_llm_jobs(rng, t.n_jobs, t.horizon_s, gpus_per_node=g, max_gpus=total, name=name)
    n = len(trace) if t.max_jobs is None else min(len(trace), t.max_jobs)
    return tuple(
        JobSpec(first_id + i, f"{name}/{int(trace.job_id[i])}", None, int(trace.gpus[i]),
                float(trace.t_submit_s[i]) + t.submit_offset_s, 1,
                TrainingStep(float(trace.duration_s[i]), float(trace.duration_s[i]), 0.0, math.nan))
        for i in range(n)
    ), trace.n_dropped
