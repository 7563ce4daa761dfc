"""Config schema of the facility group (``conf/facility/*.yaml``).

Plain dataclasses: Hydra validates YAML and overrides against them, and
``dcsim.config.build`` turns them into the objects of this package.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from dcsim.core.fields import bounded, matching
from dcsim.facility.space import CDU_CAPACITY_KW, CDU_SPARES, SUPPORT_M2_PER_MW
from dcsim.policies.config import PowerPolicyName


@dataclass
class NodeConfig:
    gpu: str = "H100-SXM"  # a name in dcsim.hardware.gpus.GPUS
    gpus_per_node: int = bounded(8, ge=1)
    host_idle_w: float = bounded(1000.0, ge=0)  # AcmeTrace, see dcsim/hardware/node.py
    host_busy_w: float = bounded(1650.0, ge=0)
    gpu_power_cap_w: float | None = bounded(None, gt=0)  # a static per-GPU power cap (slows work, see docs/calibration.md)
    # GPUs joined by NVLink / NVSwitch (the scale-up domain): null is the node (8 in an
    # HGX node); 72 for a GB200 NVL72 rack. A multiple of gpus_per_node dividing
    # rack.gpus_per_rack. A replica's GPUs stay inside one domain (docs/network.md).
    scaleup_domain_gpus: int | None = bounded(None, ge=1)


@dataclass
class RackGroupConfig:
    """Racks of another GPU type beside the facility's ``num_racks`` racks of ``node.gpu``:
    the same node and rack shape (GPUs per node and rack, host power), their own GPU."""

    gpu: str = "H200"  # a name in dcsim.hardware.gpus.GPUS, other than node.gpu and the other groups'
    num_racks: int = bounded(1, ge=1)


@dataclass
class RackConfig:
    gpus_per_rack: int = bounded(32, ge=1)  # a multiple of node.gpus_per_node
    # White space per rack including its share of the aisles: a common planning figure
    # of 25-30 ft^2 (2.3-2.8 m^2) per rack (assumption, see DATA_SOURCES.md).
    floor_area_m2: float = bounded(2.8, gt=0)
    # Racks on one row's busway or row breaker; needed only with facility.power.row_feed_kw
    # (null: no rows are modelled). A row is the full rows' size; the last may be shorter.
    racks_per_row: int | None = bounded(None, ge=1)


@dataclass
class StageConfig:
    """A conversion stage: per-unit loss curve rated * (no_load + proportional x + square x^2),
    redundancy (N, N+1, 2N, ...) over ``units`` units, and the unit rating (null: sized
    so the stage carries the provisioned IT capacity with its redundancy intact)."""

    no_load: float = bounded(0.0, ge=0, lt=1)
    proportional: float = bounded(0.0, ge=0, lt=1)
    square: float = bounded(0.0, ge=0, lt=1)
    redundancy: str = matching("N", r"N|N\+[0-9]+|2N", "N, N+k (k an integer) or 2N")
    units: int = bounded(1, ge=1)
    unit_rating_kw: float | None = bounded(None, gt=0)


def _default_stages() -> dict[str, StageConfig]:
    """Transformer, UPS and PDU of dcsim.facility.power_path.DEFAULT_STAGES. The server
    power supplies are left out: dcsim's IT power is wall-plug power (host power comes
    from AcmeTrace server measurements at the inlet), which already counts their losses."""
    from dcsim.facility.power_path import DEFAULT_STAGES

    return {s.name: StageConfig(s.no_load, s.proportional, s.square, s.redundancy, s.units,
                                None if s.unit_rating_w is None else s.unit_rating_w / 1e3)
            for s in DEFAULT_STAGES if s.name != "psu"}


class OverFeed(StrEnum):
    """What a rack whose nameplate exceeds its feed's rating does."""

    error = "error"  # refused when building
    cap = "cap"  # every GPU statically capped so that the rack at full load stays within the rating


class RackFeed(StrEnum):
    """How power reaches the servers (dcsim.facility.power_path.RACK_FEEDS, docs/power.md)."""

    ac_415v = "ac_415v"  # AC to every server's own power supplies (the default)
    busbar_48v = "busbar_48v"  # OCP Open Rack V3: a rack power shelf feeds a 48-54 V DC busbar
    dc_800v = "dc_800v"  # NVIDIA 800 VDC sidecar: AC -> 800 V DC rectifier, 800 -> 48 V DC-DC in the rack


@dataclass
class PowerConfig:
    # Stages from the utility to the racks; defaults and sources: docs/power.md.
    stages: dict[str, StageConfig] = field(default_factory=_default_stages)
    oversubscription: float = bounded(1.0, gt=0)  # IT nameplate / provisioned IT capacity of the power path
    budget_kw: float | None = bounded(None, gt=0)  # facility power budget at the utility meter; null: none
    policy: PowerPolicyName = PowerPolicyName("none")  # none, static, proportional, priority (dcsim.policies.POWER_POLICIES)
    static_cap_w: float | None = bounded(None, gt=0)  # per-GPU cap of the static policy
    gpu_min_cap_w: float | None = bounded(None, gt=0)  # lowest settable cap; null: the GPU's catalogue min_power_cap_w
    # Continuous rating of each rack's feed (its breaker, busway tap or rack PDU) in kW;
    # null: no limit. A rack whose nameplate exceeds it is refused, or its GPUs capped
    # (over_feed=cap). The rating is the continuous load the feed may carry (docs/power.md).
    rack_feed_kw: float | None = bounded(None, gt=0)
    # Continuous rating of each row's busway or row breaker in kW (facility.rack.racks_per_row
    # racks share it); null: no limit. Refused or capped like rack_feed_kw (docs/power.md).
    row_feed_kw: float | None = bounded(None, gt=0)
    over_feed: OverFeed = field(default_factory=lambda: OverFeed.error)
    rack_feed: RackFeed = field(default_factory=lambda: RackFeed.ac_415v)  # the servers' feed technology


class Condenser(StrEnum):
    """Heat rejection of the plant (dcsim.facility.cooling.CONDENSERS)."""

    dry = "dry"
    tower = "tower"


class OverDensity(StrEnum):
    """What a rack denser than its cooling technology allows does."""

    error = "error"  # refused when building
    throttle = "throttle"  # its GPUs are capped to what the technology can remove


class AirDelivery(StrEnum):
    """How room air reaches the racks' inlets (dcsim/facility/airflow.py, docs/cooling.md)."""

    contained = "contained"  # contained aisles: the handlers push each rack's whole flow
    open_tiles = "open_tiles"  # open raised floor at a plenum pressure: the rest is recirculated exhaust


@dataclass
class CoolingConfig:
    """The cooling technology and plant (dcsim/facility/cooling.py, sources in docs/cooling.md)."""

    technology: str = "air"  # air, rear_door, direct_liquid, immersion
    condenser: Condenser = Condenser.dry  # dry (dry coolers, no water) or tower (evaporative, wet bulb)
    over_density: OverDensity = OverDensity.error  # a rack denser than the technology allows: error, or throttle its GPUs
    supply_temp_c: float | None = bounded(None, gt=0, lt=100)  # override the technology's facility water supply temperature
    carnot_fraction: float = bounded(0.6, gt=0, le=1)
    evaporator_approach_k: float = bounded(2.0, ge=0)
    tower_condenser_approach_k: float = bounded(11.0, ge=0)
    dry_condenser_approach_k: float = bounded(17.0, ge=0)
    tower_economiser_approach_k: float = bounded(6.0, ge=0)
    dry_economiser_approach_k: float = bounded(8.0, ge=0)
    facility_pump_share: float = bounded(0.02, ge=0, lt=1)
    tower_fan_share: float = bounded(0.01, ge=0, lt=1)
    dry_fan_share: float = bounded(0.03, ge=0, lt=1)
    evaporated_share: float | None = bounded(None, ge=0, le=1)  # null: tower water from psychrometrics
    cycles_of_concentration: float = bounded(4.0, gt=1)
    heat_reuse_min_c: float = bounded(40.0, gt=0, lt=100)
    gpu_limit_c: float | None = bounded(None, gt=0, lt=150)  # GPU throttle temperature; null: the GPU's catalogue throttle_temp_c
    # From a thermal shutdown to the earliest restart of the rack (GPU reset, node health checks,
    # relaunch): an assumption, no published figure (dcsim/facility/thermal.py)
    gpu_restart_delay_s: float = bounded(300.0, ge=0, le=86400)
    # Room air to the racks: contained aisles (default), or open tiles, where a rack gets at most
    # its tiles' flow at the plenum pressure and recirculates the rest (docs/cooling.md)
    air_delivery: AirDelivery = field(default_factory=lambda: AirDelivery.contained)
    # Open tiles: the raised floor's plenum static pressure, the upper end of the 12-30 Pa
    # (0.05-0.12 in. w.c.) a raised-floor plenum runs at (inframetrichub.com, secondary)
    plenum_pressure_pa: float = bounded(30.0, gt=0, le=500)
    tiles_per_rack: float = bounded(1.0, gt=0, le=10)  # perforated tiles in front of each rack (0.18 m2 open each)


@dataclass
class ClimateConfig:
    # A named climate (leesburg_va, phoenix_az, seattle_wa, piedmont_it; shipped) or an
    # EnergyPlus EPW path; null: Leesburg, VA.
    epw_path: str | None = None
    start_day_of_year: int = bounded(196, ge=1, le=365)  # 15 July
    start_hour: float = bounded(12.0, ge=0, lt=24)


@dataclass
class DemandResponseConfig:
    start_s: float = bounded(0.0, ge=0)
    duration_s: float = bounded(3600.0, gt=0)
    limit_kw: float = bounded(0.0, ge=0)  # facility power limit at the utility meter during the window


class GridSignal(StrEnum):
    """A grid signal a demand-response limit can follow (dcsim.facility.grid.SignalLimit)."""

    price = "price"  # facility.grid.price, $/kWh
    carbon = "carbon"  # facility.grid.carbon, gCO2/kWh


@dataclass
class SignalLimitConfig:
    """An IT power limit while the grid's price or carbon intensity is above a threshold."""

    signal: GridSignal = GridSignal.price
    # The limit holds while the signal is strictly above this: $/kWh for price, gCO2/kWh for carbon.
    above: float = bounded(0.0, ge=0, le=10_000)
    it_limit_kw: float = bounded(1.0, gt=0)  # IT power allowed meanwhile (enforced by the power policy)


@dataclass
class CurtailmentConfig:
    """A utility's curtailment call: the facility at or under ``limit_kw`` at the meter from
    ``start_s`` for ``duration_s``, announced ``notice_s`` ahead (logged as events)."""

    start_s: float = bounded(0.0, ge=0)
    duration_s: float = bounded(3600.0, gt=0)
    limit_kw: float = bounded(0.0, ge=0)
    notice_s: float = bounded(0.0, ge=0)


@dataclass
class GridConfig:
    carbon: str = "pjm"  # pjm, ciso, erco (EIA-930 2022, shipped) or a number of gCO2/kWh
    price: str = "flat"  # flat, tou, or a CSV path (docs/grid_and_cost.md)
    price_usd_per_kwh: float = bounded(0.08, ge=0)  # flat price; TOU off-peak price
    tou_peak_usd_per_kwh: float = bounded(0.16, ge=0)
    tou_peak_start_hour: int = bounded(16, ge=0, le=24)
    tou_peak_end_hour: int = bounded(21, ge=0, le=24)
    renewable_share: float = bounded(0.0, ge=0, le=1)  # on-site carbon-free share of facility energy
    demand_response: list[DemandResponseConfig] = field(default_factory=list)
    signal_limits: list[SignalLimitConfig] = field(default_factory=list)  # limits that follow price or carbon
    curtailments: list[CurtailmentConfig] = field(default_factory=list)  # a utility's curtailment events


class FaultKind(StrEnum):
    chiller = "chiller"
    utility = "utility"
    power_unit = "power_unit"
    cdu = "cdu"


@dataclass
class FaultConfig:
    """A fault from ``start_s`` for ``duration_s``: chiller loss leaving ``capacity_share`` of
    mechanical cooling; cdu: ``units`` coolant distribution units of a liquid-cooled hall lost
    (N + facility.space.cdu_spares of them); utility feed loss (the UPS battery carries IT and the
    cooling on it until the generator runs); power_unit: ``units`` units of the power path's stage
    ``stage`` (transformer, ups, pdu, ... as in facility.power.stages) fail (docs/power.md, "Faults")."""

    kind: FaultKind = FaultKind.chiller
    start_s: float = bounded(0.0, ge=0)
    duration_s: float = bounded(600.0, gt=0)
    capacity_share: float = bounded(0.0, ge=0, le=1)  # chiller: the share of mechanical cooling left during the fault
    stage: str | None = None  # power_unit: the stage whose units fail (a key of facility.power.stages)
    units: int = bounded(1, ge=1)  # cdu: CDUs lost; power_unit: units of the stage lost (at most its units)


@dataclass
class NetworkConfig:
    scaleout_gbit_per_s_per_gpu: float = bounded(400.0, gt=0)  # one 400G NIC per GPU (DGX H100 datasheet)
    # Rack (leaf) uplink capacity against the bandwidth of the GPUs below it: 1 is a
    # non-blocking fat tree; Meta's Llama 3 RoCE cluster has 1:7 between pods (Dubey et al.
    # 2024, sec. 3.3.1). Above 1, jobs spread over racks get less scale-out bandwidth.
    rack_uplink_oversubscription: float = bounded(1.0, ge=1)  # 1: non-blocking
    # Network power (docs/network.md): the fat tree joining the facility's scale-up domains,
    # its switches and optics drawn as IT power on the facility's "network" meter.
    power: bool = True  # false: no network meter (for comparisons)
    switch_radix: int = bounded(64, ge=2)  # 400G ports per switch: NVIDIA Quantum-2 QM9700, 64 x NDR 400G
    nic_links_optical: bool = True  # NIC-to-leaf links on optics (DGX SuperPOD); false: copper DAC in the rack


@dataclass
class StorageConfig:
    """On-site energy storage (battery or UPS) that smooths the facility's draw for the grid:
    the grid sees a first-order low-pass of facility power with time constant ``tau_s``;
    the battery supplies or absorbs the difference within its power and energy."""

    capacity_kwh: float = bounded(0.0, ge=0)  # 0: no storage
    max_power_kw: float = bounded(0.0, ge=0)
    tau_s: float = bounded(60.0, gt=0)
    round_trip_efficiency: float = bounded(0.9, gt=0, le=1)  # typical Li-ion, assumption


@dataclass
class CostConfig:
    """Overrides of dcsim.facility.cost.CostModel (null: its cited default)."""

    gpu_usd: float | None = bounded(None, ge=0)  # price of one GPU; null: the GPU's catalogue price_usd
    server_usd: float | None = bounded(None, ge=0)
    building_usd_per_m2: float | None = bounded(None, ge=0)  # shell, core and support fit-out per m^2 of gross area
    electrical_usd_per_w: float | None = bounded(None, ge=0)  # electrical plant and white-space fit-out per W critical
    cost_of_capital: float | None = bounded(None, ge=0)
    # Demand charge in $ per kW of peak demand per month, prorated to the run (null: 0, no demand
    # charge; sourced example tariffs in docs/grid_and_cost.md, "Demand charges").
    demand_charge_usd_per_kw_month: float | None = bounded(None, ge=0, le=1000)
    demand_interval_s: float | None = bounded(None, ge=60, le=3600)  # the utility's demand interval; null: 900 s


@dataclass
class SpaceConfig:
    """Floor space beyond the racks' own (dcsim/facility/space.py; sources in docs/grid_and_cost.md)."""

    support_m2_per_mw: float = bounded(SUPPORT_M2_PER_MW, ge=0)  # power and mechanical rooms per MW of critical IT
    cdu_capacity_kw: float = bounded(CDU_CAPACITY_KW, gt=0)  # liquid heat per row CDU (one rack position each)
    cdu_spares: int = bounded(CDU_SPARES, ge=0)  # spare CDUs (N+1: 1)


# Plausibility bounds of a facility, checked before anything is built: the largest
# announced AI campuses hold a few hundred thousand GPUs; a typo (an extra zero or
# three) should stop in a second, not allocate for minutes.
MAX_RACKS = 100_000
MAX_GPUS = 1_000_000
# Control-loop steps per run: duration_s / control_interval_s (ten years at 60 s is 5.3 M).
MAX_CONTROL_STEPS = 10_000_000


@dataclass
class FacilityConfig:
    num_racks: int = bounded(4, ge=1)  # racks of node.gpu; at most MAX_RACKS, and at most MAX_GPUS GPUs in all
    node: NodeConfig = field(default_factory=NodeConfig)
    # Racks of other GPU types, after the num_racks racks of node.gpu (a mixed fleet; docs/power.md,
    # "Mixed GPU types"): e.g. [{gpu: H200, num_racks: 2}]. A service picks its type with its gpu.
    rack_groups: list[RackGroupConfig] = field(default_factory=list)
    rack: RackConfig = field(default_factory=RackConfig)
    power: PowerConfig = field(default_factory=PowerConfig)
    cooling: CoolingConfig = field(default_factory=CoolingConfig)
    climate: ClimateConfig = field(default_factory=ClimateConfig)
    network: NetworkConfig = field(default_factory=NetworkConfig)
    grid: GridConfig = field(default_factory=GridConfig)
    cost: CostConfig = field(default_factory=CostConfig)
    faults: list[FaultConfig] = field(default_factory=list)
    storage: StorageConfig = field(default_factory=StorageConfig)
    space: SpaceConfig = field(default_factory=SpaceConfig)
    # Gross building area available (land or an existing building), m^2; null: unlimited. A facility
    # whose racks, CDUs and power and mechanical rooms need more is refused (dcsim/facility/space.py).
    floor_area_m2: float | None = bounded(None, gt=0)
    generator_start_s: float = bounded(10.0, ge=0)  # NFPA 110 Type 10: standby power within 10 s
    ups_ride_through_s: float = bounded(300.0, ge=0)  # battery autonomy at full load (typical 5 min)
    # Usable energy of the UPS batteries, kWh; null: ups_ride_through_s at the UPS stage's full rated
    # load (its rating plus its own losses there). At a partial load it lasts energy / load.
    ups_energy_kwh: float | None = bounded(None, gt=0)
    # After an outage the UPS recharges its battery for this many times the discharge's duration,
    # at a constant draw (the energy it gave / that time) on top of the facility's load: "on average,
    # it takes 10 times the discharge time for the UPS batteries to recover" (Eaton, "How long does
    # it take for the UPS batteries to recharge?", pqcustomersupport.eaton.com). Charging losses are
    # not modelled (the recharge restores exactly the energy drawn).
    ups_recharge_time_factor: float = bounded(10.0, gt=0)
    # Pumps, CDU pumps and air handlers (CRAH/CRAC fans) on the UPS through a utility loss ("continuous
    # cooling", Uptime Institute 2017, recommended above 4 kW per rack); chillers and heat rejection
    # never are. false: all cooling stops until the generator runs (docs/power.md, "Faults").
    cooling_on_ups: bool = True
    # Chillers restart this long after power returns (generator or utility); pumps and fans at once.
    # Range in docs/power.md ("Faults"): ~45 s to first compressor (Trane RTAE rapid start) to ~30 min.
    chiller_restart_s: float = bounded(600.0, ge=0)
    control_interval_s: float = bounded(60.0, gt=0)
