"""The run-info record: what a run's components tell the KPIs beyond the record tables.

Each part has one writer, named below, and is written once; ``dcsim.metrics.kpis`` reads
the parts when the run is over. A part nobody wrote is not read as a default: reading it
raises :class:`RunInfoMissing` naming the part and its writer. The record lives in
``core`` so that the facility and the workloads, which write it, may import it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")


class RunInfoMissing(RuntimeError):
    """A part of the run-info record was read before (or without) being written."""


@dataclass(frozen=True)
class ScenarioInfo:
    """Written by the scenario (``dcsim.scenario.Scenario.run``) before any component is built."""

    control_interval_s: float  # the facility control loop's period; the fluid services step at it
    gpu_peak_flops_per_s: float  # one GPU's dense BF16 peak
    described: dict[str, str]  # what the run simulates, by name (GPU, cooling, climate, policies, engine)
    trace_jobs_dropped: int  # trace jobs larger than the facility, left out
    # the facility's peak, every GPU's own summed (a mixed fleet); None: GPUs x gpu_peak_flops_per_s
    peak_flops_per_s: float | None = None


@dataclass
class FacilityInfo:
    """Written by the facility controller when it is built; it raises the two maxima at each tick."""

    it_capacity_w: float
    it_nameplate_w: float
    budget_w: float | None  # facility power budget at the utility meter; None: no budget
    floor_area_m2: float  # white space: the racks and the CDUs in their rows, aisles included
    gross_floor_area_m2: float  # white space + power and mechanical rooms (dcsim/facility/space.py)
    max_inlet_temp_c: float  # highest rack inlet temperature so far
    max_gpu_temp_c: float  # hottest GPU so far
    network_power_w: float = 0.0  # the scale-out network's constant draw, inside it_nameplate_w, outside the racks
    num_racks: int = 0  # racks in the facility (0: count the timeseries' rack rows)
    peak_demand_w: float = 0.0  # highest mean grid draw over a demand interval (set when the run ends)
    demand_charge_usd: float = 0.0  # its demand charge, prorated to the run (set when the run ends)
    air_recirculation_share: float = 0.0  # open tiles: the racks' inlet air that is their own exhaust, at design heat
    air_coil_supply_c: float = float("nan")  # chilled water the room-air coils get; NaN: no room air


@dataclass(frozen=True)
class ServiceTotals:
    """A service's totals over the run, written by the service when the run ends."""

    prompt_tokens: float  # prompt tokens of the requests that got their first token (fluid: served x mean)
    model_flops: float  # 2 x active params x (prompt + generated tokens)
    output_tokens: float  # generated (an int at request fidelity)
    gpu_energy_j: float  # of the GPUs while allocated to the service, idle time included
    gpu_s: float  # GPU-seconds the service's replicas held
    preemptions: int | None = None  # request fidelity only
    requests_served: float | None = None  # fluid fidelity only
    requests_arrived: float | None = None  # fluid fidelity only
    itl: Any = None  # every inter-token gap (TokenGaps, dcsim.workloads.inference.requests); request fidelity only
    requests_requeued: float = 0  # taken from a replica that lost power and served elsewhere (fluid: its in-flight share)
    requests_lost: int = 0  # streaming on a replica when it lost power (request fidelity)
    kv_cpu_tier_hit_tokens: int = 0  # prompt tokens reloaded from the replicas' CPU-memory KV tier (request fidelity)
    kv_cpu_tier_reloads: int = 0  # admissions that reloaded prefix blocks from it
    cached_prompt_tokens: float = 0.0  # fluid fidelity: served x the modelled cached tokens per request (sessions)


@dataclass
class ServiceInfo:
    """One inference service: its SLO and fidelity when it is built, its totals at the end."""

    slo_ttft_s: float | None
    slo_tpot_s: float | None
    fidelity: str  # "request" or "fluid"
    totals: ServiceTotals | None = None
    gpu: str = ""  # its GPU type(s) on a mixed fleet (prefill/decode when they differ); "": the facility's one

    def final(self, name: str) -> ServiceTotals:
        """The totals, which the service writes when the run ends."""
        return _written(self.totals, f"services[{name!r}].totals", f"service {name!r} when the run ends")


def _written(value: T | None, part: str, writer: str) -> T:
    if value is None:
        raise RunInfoMissing(f"run info: {part} was never written (it is written by {writer})")
    return value


class RunInfo:
    """The record of one run (``recorder.run_info``): parts set once by their writers."""

    def __init__(self) -> None:
        self._scenario: ScenarioInfo | None = None
        self._gpus_total: int | None = None
        self._facility: FacilityInfo | None = None
        self._capex_usd: dict[str, float] | None = None
        self._services: dict[str, ServiceInfo] = {}

    def _set_once(self, attr: str, value: Any) -> None:
        if getattr(self, attr) is not None:
            raise RuntimeError(f"run info: {attr.lstrip('_')} is written once, and was already")
        setattr(self, attr, value)

    @property
    def scenario(self) -> ScenarioInfo:
        """The scenario's figures (control interval, GPU peak, what it simulates)."""
        return _written(self._scenario, "scenario", "the scenario before any component is built")

    @scenario.setter
    def scenario(self, value: ScenarioInfo) -> None:
        self._set_once("_scenario", value)

    @property
    def gpus_total(self) -> int:
        """GPUs in the facility."""
        return _written(self._gpus_total, "gpus_total", "the cluster when it is built")

    @gpus_total.setter
    def gpus_total(self, value: int) -> None:
        self._set_once("_gpus_total", value)

    @property
    def facility(self) -> FacilityInfo:
        """The facility's capacities, budget, floor area and temperature maxima."""
        return _written(self._facility, "facility", "the facility controller when it is built")

    @facility.setter
    def facility(self, value: FacilityInfo) -> None:
        self._set_once("_facility", value)

    @property
    def capex_usd(self) -> dict[str, float]:
        """Capital cost amortised over the run, by asset class (``gpu_usd``, ``server_usd``, ...)."""
        return _written(self._capex_usd, "capex_usd", "the facility controller when the run ends")

    @capex_usd.setter
    def capex_usd(self, value: dict[str, float]) -> None:
        self._set_once("_capex_usd", value)

    @property
    def services(self) -> dict[str, ServiceInfo]:
        """The inference services by name, in the order they were built (a copy)."""
        return dict(self._services)

    def add_service(self, name: str, info: ServiceInfo) -> ServiceInfo:
        """Register a service as it is built; returns its record, for its totals at the end."""
        if name in self._services:
            raise RuntimeError(f"run info: a service named {name!r} is already registered")
        self._services[name] = info
        return info
