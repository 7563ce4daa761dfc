"""Config schema of the facility group (``conf/facility/*.yaml``).

Plain dataclasses: Hydra validates YAML and overrides against them (types, enum
choices), each numeric field declares its allowed range beside its default
(``dcsim.core.fields.ranged``), and ``dcsim.facility.build`` turns them into the objects
of this package.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from dcsim.core.fields import Range, ranged
from dcsim.policies.config import PowerPolicyName

_COUNT = Range(1, what="an integer")
_SECONDS = Range(0, what="seconds")
_DURATION = Range(0, low_open=True, what="seconds")
_LOSS = Range(0, 0.5, high_open=True, what="a loss fraction")


@dataclass
class NodeConfig:
    gpu: str = "H100-SXM"  # a name in dcsim.hardware.gpus.GPUS
    gpus_per_node: int = ranged(8, _COUNT)
    host_idle_w: float = ranged(1000.0, Range(0, what="watts", note="at most host_busy_w"))  # AcmeTrace, dcsim/hardware/node.py
    host_busy_w: float = 1650.0
    gpu_power_cap_w: float | None = None  # a static per-GPU power cap (slows work, see docs/calibration.md)


@dataclass
class RackConfig:
    gpus_per_rack: int = 32  # a multiple of node.gpus_per_node
    # White space per rack including its share of the aisles: a common planning figure
    # of 25-30 ft^2 (2.3-2.8 m^2) per rack (assumption, see DATA_SOURCES.md).
    floor_area_m2: float = ranged(2.8, Range(0, low_open=True, what="square metres per rack"))


@dataclass
class StageConfig:
    """A conversion stage: per-unit loss curve rated * (no_load + proportional x + square x^2),
    redundancy (N, N+1, 2N, ...) over ``units`` units, and the unit rating (null: sized
    so the stage carries the provisioned IT capacity with its redundancy intact)."""

    no_load: float = ranged(0.0, _LOSS)
    proportional: float = ranged(0.0, _LOSS)
    square: float = ranged(0.0, _LOSS)
    redundancy: str = "N"  # N, N+k or 2N
    units: int = ranged(1, _COUNT)
    unit_rating_kw: float | None = ranged(None, Range(0, low_open=True, what="kW", optional=True,
                                                      note="null: sized to the provisioned IT capacity"))


def _default_stages() -> dict[str, StageConfig]:
    """Transformer, UPS and PDU of dcsim.facility.power_path.DEFAULT_STAGES. The server
    power supplies are left out: dcsim's IT power is wall-plug power (host power comes
    from AcmeTrace server measurements at the inlet), which already counts their losses."""
    from dcsim.facility.power_path import DEFAULT_STAGES

    return {s.name: StageConfig(s.no_load, s.proportional, s.square, s.redundancy, s.units,
                                None if s.unit_rating_w is None else s.unit_rating_w / 1e3)
            for s in DEFAULT_STAGES if s.name != "psu"}


@dataclass
class PowerConfig:
    # Stages from the utility to the racks; defaults and sources: docs/power.md.
    stages: dict[str, StageConfig] = field(default_factory=_default_stages)
    oversubscription: float = ranged(1.0, Range(1, what="a ratio", note="IT nameplate / provisioned IT capacity"))
    # facility power budget at the utility meter; null: none
    budget_kw: float | None = ranged(None, Range(0, low_open=True, what="kW at the utility meter", optional=True))
    policy: PowerPolicyName = PowerPolicyName("none")  # none, static, proportional, priority (dcsim.policies.POWER_POLICIES)
    static_cap_w: float | None = None  # per-GPU cap of the static policy
    gpu_min_cap_w: float | None = None  # lowest settable cap; null: the GPU's catalogue min_power_cap_w


class Condenser(StrEnum):
    """Heat rejection of the plant (dcsim.facility.cooling.CONDENSERS)."""

    dry = "dry"
    tower = "tower"


class OverDensity(StrEnum):
    """What a rack denser than its cooling technology allows does."""

    error = "error"  # refused when building
    throttle = "throttle"  # its GPUs are capped to what the technology can remove


_APPROACH = Range(0, None, what="kelvin")  # a temperature approach of the plant
_POWER_SHARE = Range(0, 1, what="watts per watt of heat")


@dataclass
class CoolingConfig:
    """The cooling technology and plant (dcsim/facility/cooling.py, sources in docs/cooling.md)."""

    technology: str = "air"  # air, rear_door, direct_liquid, immersion
    condenser: Condenser = Condenser.dry  # dry (dry coolers, no water) or tower (evaporative, wet bulb)
    over_density: OverDensity = OverDensity.error  # a rack denser than the technology allows: error, or throttle its GPUs
    supply_temp_c: float | None = None  # override the technology's facility water supply temperature
    # The plant's parameters (dcsim.facility.cooling.CoolingPlant, which says what each is).
    carnot_fraction: float = ranged(0.6, Range(0, 1, low_open=True, what="a fraction of the Carnot COP"))
    evaporator_approach_k: float = ranged(2.0, _APPROACH)
    tower_condenser_approach_k: float = ranged(11.0, _APPROACH)
    dry_condenser_approach_k: float = ranged(17.0, _APPROACH)
    tower_economiser_approach_k: float = ranged(6.0, _APPROACH)
    dry_economiser_approach_k: float = ranged(8.0, _APPROACH)
    facility_pump_share: float = ranged(0.02, _POWER_SHARE)
    tower_fan_share: float = ranged(0.01, _POWER_SHARE)
    dry_fan_share: float = ranged(0.03, _POWER_SHARE)
    evaporated_share: float = ranged(0.85, Range(0, 1, what="a share of the tower's heat"))
    cycles_of_concentration: float = ranged(4.0, Range(1, None, low_open=True, what="a ratio",
                                                       note="blowdown = evaporation / (cycles - 1)"))
    heat_reuse_min_c: float = ranged(40.0, Range(what="degrees C"))
    gpu_limit_c: float | None = None  # GPU throttle temperature; null: the GPU's catalogue throttle_temp_c


@dataclass
class ClimateConfig:
    # A named climate (leesburg_va, phoenix_az, seattle_wa, piedmont_it; shipped) or an
    # EnergyPlus EPW path; null: Leesburg, VA.
    epw_path: str | None = None
    start_day_of_year: int = ranged(196, Range(1, 365, what="a day of the year"))  # 15 July
    start_hour: float = ranged(12.0, Range(0, 24, high_open=True, what="an hour"))


@dataclass
class DemandResponseConfig:
    start_s: float = ranged(0.0, _SECONDS)
    duration_s: float = ranged(3600.0, _DURATION)
    limit_kw: float = ranged(0.0, Range(0, what="kW"))  # facility power limit at the utility meter during the window


@dataclass
class GridConfig:
    carbon: str = "pjm"  # pjm, ciso, erco (EIA-930 2022, shipped) or a number of gCO2/kWh
    price: str = "flat"  # flat, tou, or a CSV path (docs/grid_and_cost.md)
    price_usd_per_kwh: float = 0.08  # flat price; TOU off-peak price
    tou_peak_usd_per_kwh: float = 0.16
    tou_peak_start_hour: int = 16
    tou_peak_end_hour: int = 21
    renewable_share: float = ranged(0.0, Range(0, 1, what="a fraction"))  # on-site carbon-free share of facility energy
    demand_response: list[DemandResponseConfig] = field(default_factory=list)


class FaultKind(StrEnum):
    chiller = "chiller"
    utility = "utility"


@dataclass
class FaultConfig:
    kind: FaultKind = FaultKind.chiller  # chiller (or CDU) loss, or utility (feed loss: cooling off until the generator runs)
    start_s: float = ranged(0.0, _SECONDS)
    duration_s: float = ranged(600.0, _DURATION)
    # chiller: the share of mechanical cooling left during the fault
    capacity_share: float = ranged(0.0, Range(0, 1, high_open=True, what="a share"))


@dataclass
class NetworkConfig:
    scaleout_gbit_per_s_per_gpu: float = ranged(400.0, Range(0, low_open=True, what="Gbit/s per GPU"))  # one 400G NIC (DGX H100)
    # Rack (leaf) uplink capacity against the bandwidth of the GPUs below it: 1 is a
    # non-blocking fat tree; Meta's Llama 3 RoCE cluster has 1:7 between pods (Dubey et al.
    # 2024, sec. 3.3.1). Above 1, jobs spread over racks get less scale-out bandwidth.
    rack_uplink_oversubscription: float = ranged(1.0, Range(1, what="a ratio", note="1: non-blocking"))


@dataclass
class StorageConfig:
    """On-site energy storage (battery or UPS) that smooths the facility's draw for the grid:
    the grid sees a first-order low-pass of facility power with time constant ``tau_s``;
    the battery supplies or absorbs the difference within its power and energy."""

    capacity_kwh: float = ranged(0.0, Range(0, what="kWh", note="0: no storage"))
    max_power_kw: float = ranged(0.0, Range(0, low_open=True, what="kW", note="with storage"))  # checked with storage only
    tau_s: float = ranged(60.0, _DURATION)
    round_trip_efficiency: float = ranged(0.9, Range(0, 1, low_open=True, what="a fraction"))  # typical Li-ion, assumption


_USD = Range(0, what="USD", optional=True, note="null: the cited default")


@dataclass
class CostConfig:
    """Overrides of dcsim.facility.cost.CostModel (null: its cited default)."""

    gpu_usd: float | None = ranged(None, Range(0, what="USD", optional=True, note="null: the GPU's catalogue price_usd"))
    server_usd: float | None = ranged(None, _USD)
    facility_usd_per_w: float | None = ranged(None, Range(0, what="USD per watt", optional=True, note="null: the cited default"))
    cost_of_capital: float | None = ranged(None, Range(0, what="a yearly rate", optional=True, note="null: the cited default"))


# Plausibility bounds of a facility, checked before anything is built: the largest
# announced AI campuses hold a few hundred thousand GPUs; a typo (an extra zero or
# three) should stop in a second, not allocate for minutes.
MAX_RACKS = 100_000
MAX_GPUS = 1_000_000
# Control-loop steps per run: duration_s / control_interval_s (ten years at 60 s is 5.3 M).
MAX_CONTROL_STEPS = 10_000_000


@dataclass
class FacilityConfig:
    num_racks: int = 4  # 1..MAX_RACKS, and at most MAX_GPUS GPUs in all
    node: NodeConfig = field(default_factory=NodeConfig)
    rack: RackConfig = field(default_factory=RackConfig)
    power: PowerConfig = field(default_factory=PowerConfig)
    cooling: CoolingConfig = field(default_factory=CoolingConfig)
    climate: ClimateConfig = field(default_factory=ClimateConfig)
    network: NetworkConfig = field(default_factory=NetworkConfig)
    grid: GridConfig = field(default_factory=GridConfig)
    cost: CostConfig = field(default_factory=CostConfig)
    faults: list[FaultConfig] = field(default_factory=list)
    storage: StorageConfig = field(default_factory=StorageConfig)
    generator_start_s: float = ranged(10.0, _DURATION)  # NFPA 110 Type 10: standby power within 10 s
    ups_ride_through_s: float = ranged(300.0, _DURATION)  # battery autonomy at full load (typical 5 min)
    control_interval_s: float = ranged(60.0, _DURATION)
