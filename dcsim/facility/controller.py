"""The facility: power path, cooling plant, racks' temperatures, weather and grid.

Conversion losses and cooling follow the IT power exactly: the ledger tells the
facility of every change of IT power, and the loss and cooling meters are set at
once. Cooling power is linear in the heat it removes (IT power plus conversion losses,
all dissipated in the building) with coefficients the plant computes from the weather,
its state (a failed chiller) and its part load (the heat at the tick over its design heat,
chillers staged for it) at each control tick, so each component's energy in
an interval is its coefficient times the heat energy of the interval: exact.

Every ``control_interval_s`` the facility closes the interval just ended: it records one
timeseries row for the facility (powers by component, water, reusable heat, weather,
carbon and price, temperatures) and one per rack (IT power, inlet and hottest-GPU
temperature), advances each rack's temperature over the interval with the plant's
shortfall, and computes the coefficients and thermal caps for the next interval.
Faults act from their own start and repair times: the facility closes its interval
there. A utility loss feeds the building from the UPS battery, then the generator (or
nothing, if the battery empties first: every rack loses power); a power-tree unit fault
runs a stage on fewer units, shedding racks when they cannot carry the load
(docs/power.md, "Faults").

Racks lose and regain power through one API, :meth:`Facility.power_off_racks` and
:meth:`Facility.power_on_racks`, each with a cause (``"thermal"`` for a thermal
shutdown, ``"ups"``, ``"pdu/..."`` for the power tree): a rack is off while any cause
holds it off, and the cluster (``watch_rack_power``) stops its work and its draw.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from dcsim.core.runinfo import FacilityInfo
from dcsim.core.units import KWH_J
from dcsim.facility.airflow import air_server_fans, server_air_inlet_c, server_fan_ratio
from dcsim.facility.climate import Climate
from dcsim.facility.cooling import CoolingCoefficients, CoolingPlant
from dcsim.facility.cost import CostModel
from dcsim.facility.grid import (
    CarbonIntensity,
    DemandMeter,
    DemandResponse,
    DemandResponseEvent,
    ElectricityPrice,
    SignalLimit,
)
from dcsim.facility.power_path import PowerPath
from dcsim.facility.space import FloorArea
from dcsim.facility.thermal import RackThermal
from dcsim.facility.topology import Topology

if TYPE_CHECKING:
    import simpy

    from dcsim.core.simulation import Simulation

NETWORK = "network"  # the scale-out network's meter, ledger group and timeseries component
# A GPU within this of its shutdown temperature counts as at it: the tick _watch_shutdown sets at
# the crossing lands there up to the rounding of the exponential's inverse.
SHUTDOWN_TOLERANCE_K = 1e-6


@dataclass(frozen=True)
class Fault:
    """A chiller loss leaving ``capacity_share`` of mechanical cooling, a loss of ``units``
    CDUs, a utility feed loss (the UPS battery carries the load until the generator runs),
    or the loss of ``units`` units of the power path's stage ``stage`` (kind ``power_unit``)."""

    kind: str
    start_s: float
    duration_s: float
    capacity_share: float = 0.0
    stage: str | None = None  # power_unit: the power-path stage whose units fail
    units: int = 1  # cdu: CDUs lost; power_unit: units of the stage lost


# What feeds the facility (docs/power.md, "Faults"): the utility; the UPS battery (after a
# feed loss, until the generator runs); the generator; nothing (the battery ran out first:
# the IT load is lost and the building is dark).
UTILITY, BATTERY, GENERATOR, DARK = "utility", "battery", "generator", "dark"
# Why a rack lost its power: the UPS battery ran out, or racks were shed to fit a degraded power path.
EXHAUSTED, SHED = "ups", "power_path"


@dataclass(frozen=True)
class Storage:
    """A battery smoothing the grid draw (see ``StorageConfig``)."""

    capacity_j: float
    max_power_w: float
    tau_s: float
    round_trip_efficiency: float


@dataclass(frozen=True)
class FacilitySpec:
    """Everything the building needs, validated (``dcsim.config.build``)."""

    topology: Topology
    power_path: PowerPath
    it_capacity_w: float  # provisioned IT capacity of the power path
    budget_w: float | None  # facility power budget at the utility meter
    plant: CoolingPlant
    thermal: RackThermal
    density_cap_w: float | None  # per-GPU cap of racks denser than the technology allows (throttle mode)
    climate: Climate
    carbon: CarbonIntensity
    price: ElectricityPrice
    renewable_share: float
    demand_response: DemandResponse
    cost: CostModel
    faults: tuple[Fault, ...]
    generator_start_s: float
    ups_ride_through_s: float
    control_interval_s: float
    space: FloorArea  # white space (racks and CDUs), power and mechanical rooms, gross building area
    storage: Storage | None = None
    network_power_w: float = 0.0  # the scale-out fabric's switches and optics, constant (docs/network.md)
    ups_energy_j: float = 0.0  # usable UPS battery energy (a utility fault needs it)
    ups_recharge_time_factor: float = 10.0  # recharge time / discharge time after an outage (Eaton)
    cooling_on_ups: bool = True  # pumps, CDUs and air handlers ride on the UPS; chillers and heat rejection never
    chiller_restart_s: float = 0.0  # chillers run again this long after power returns
    cdu_capacity_w: float = 0.0  # heat one CDU carries; its count is space.cdus (N + spares, a shared manifold)
    liquid_design_heat_w: float = 0.0  # the racks' design heat on liquid, which N CDUs carry
    # a mixed fleet (Topology.rack_groups): the rack model of each other GPU type's racks (thermal: node.gpu's)
    thermal_by_gpu: dict[str, RackThermal] = field(default_factory=dict)


class Facility:
    """The building around the IT load."""

    def __init__(self, sim: Simulation, spec: FacilitySpec) -> None:
        self.sim = sim
        self.spec = spec
        topology = spec.topology
        self.topology = topology
        self.power_path = spec.power_path
        self.plant = spec.plant
        self.thermal = spec.thermal
        # each rack's thermal model: its GPU's (one object for every rack of a single GPU type)
        self.rack_thermal = [spec.thermal] * topology.num_racks
        for gpu in topology.gpu_types[1:]:
            for r in topology.racks_of_type(gpu.name):
                self.rack_thermal[r] = spec.thermal_by_gpu[gpu.name]
        self._rack_thermal_ids = [id(th) for th in self.rack_thermal]
        self._one_rack_model = len(set(self._rack_thermal_ids)) == 1
        self.climate = spec.climate
        self.control_interval_s = spec.control_interval_s
        rec = sim.recorder
        self._ledger = rec.ledger
        self._loss = self._ledger.meter("conversion_loss", "conversion_loss")
        self._cooling = self._ledger.meter("cooling", "cooling")
        # Server fans (IT power, kind host): the hosts' meters draw host power without the reference
        # fans, this meter the fan model's, fan_ratio x the other IT power, set with it (so it does not
        # notify again); attributed to the racks in equal shares.
        shares = tuple((topology.rack_name(r), 1.0 / topology.num_racks) for r in range(topology.num_racks))
        self._fans = self._ledger.spread_meter("server_fans", "host", shares, notifies=False)
        self._server_fans = air_server_fans()
        # The scale-out network (IT power, kind host, docs/network.md): switches and optics at the
        # constant draw of their sourced typical figures, in a group of its own (the switches stand in
        # network racks, not in the compute racks whose density the cooling limits); outside the
        # servers, so the server fans do not follow it. None without network power.
        self._network = (self._ledger.meter(NETWORK, "host", NETWORK) if spec.network_power_w > 0 else None)
        self._overloaded: list[str] = []
        self._no_overload_below_w = spec.power_path.max_output_w()
        self._busy = rec.monitor("gpus_busy")
        self._allocated = rec.monitor("gpus_allocated")
        self._capped = rec.monitor("gpus_capped")
        self._rack_names = [topology.rack_name(r) for r in range(topology.num_racks)]
        self._hottest_gpu_w = lambda rack: 0.0  # per-GPU power of a rack's hottest GPU, set by the cluster
        self._hottest_gpus_w: Callable[[], list[float]] | None = None  # the same for every rack at once
        # a timeseries row per rack each interval (False: the recorder drops them, so neither the
        # racks' energies nor their rows are computed; Recorder.timeseries_level "facility")
        self._rack_rows = True
        self.inlet_c = [spec.thermal.nominal_inlet_c] * topology.num_racks
        self.gpu_temp_c = list(self.inlet_c)
        # the density cap (throttle mode) holds the racks of node.gpu; rack_groups' racks fit the technology
        self._rack_density_cap_w = [spec.density_cap_w if r < topology.base_racks else None
                                    for r in range(topology.num_racks)]
        self._thermal_caps: list[float | None] = list(self._rack_density_cap_w)
        # per rack: the unremoved share of its heat this interval (plant, CDUs; 0 for a stopped rack)
        self._rack_shortfall = [0.0] * topology.num_racks
        self._shutdown_token = 0  # voids a pending shutdown tick (_watch_shutdown)
        self._no_flow = False  # every CDU down: the liquid loop does not flow (thermal.RackThermal.heat_up)
        self._thermal_off_s = [math.nan] * topology.num_racks  # when each rack last shut down past its limit
        self._thermal_off = rec.monitor("gpus_thermal_shutdown")
        self._thermal_held: set[int] = set()  # racks a thermal shutdown holds off
        self._chiller_share = 1.0
        self._cdus_failed = 0
        # power faults (docs/power.md, "Faults"): what feeds the building, the part of the power path
        # energised now (None: nothing), failed units by stage, the IT power a degraded path carries,
        # chillers running (0 while restarting after a power loss)
        self._source = UTILITY
        self._path_now: PowerPath | None = spec.power_path
        self._failed_units: dict[str, int] = {}
        self._capacity_w = math.inf
        self._restart_share = 1.0
        self._restart_token: object | None = None
        self._power_change: simpy.Event | None = None  # fired at each IT power change while on battery
        self._weather = spec.climate.weather(0.0)
        cap_w = spec.it_capacity_w
        self._design_heat_w = cap_w + spec.power_path.loss_w(cap_w)  # the heat the plant is sized for
        self._coeffs = spec.plant.coefficients(self._weather.dry_bulb_c, self._weather.wet_bulb_c)
        tech = spec.plant.technology
        self._fan_ratio = server_fan_ratio(tech, server_air_inlet_c(tech, max(self.inlet_c)), self._server_fans)
        self._ledger.follow_it_power(self._it_followers)
        if self._network is not None:
            self._network.set_power(spec.network_power_w)  # losses, cooling and fans follow at once
        self._grid_w: float | None = None  # smoothed grid draw (with storage)
        self._soc_j = spec.storage.capacity_j / 2 if spec.storage else 0.0
        # the UPS battery's energy drawn and not yet restored, and the draw that restores it
        self._ups_owed_j = 0.0
        self._ups_recharge_w = 0.0
        self._demand = DemandMeter(spec.cost.demand_interval_s)  # peak demand, for the demand charge
        self._last = self._snapshot()
        self._info = FacilityInfo(
            it_capacity_w=spec.it_capacity_w, it_nameplate_w=topology.it_nameplate_w + spec.network_power_w,
            budget_w=spec.budget_w, floor_area_m2=spec.space.white_m2, gross_floor_area_m2=spec.space.gross_m2,
            max_inlet_temp_c=self.inlet_c[0], max_gpu_temp_c=self.inlet_c[0], network_power_w=spec.network_power_w,
            num_racks=topology.num_racks,
        )
        if tech.liquid_fraction < 1.0:  # some heat on room air
            self._info.air_recirculation_share = spec.plant.movers.recirculation if spec.plant.movers else 0.0
            self._info.air_coil_supply_c = spec.plant.air_coil_supply_c
        rec.run_info.facility = self._info
        self._on_limit_change: list = []
        # per rack: the causes holding it off (empty: powered); the cluster's stop and restore
        self._off_causes: list[set[str]] = [set() for _ in range(topology.num_racks)]
        self._rack_switch: tuple[Callable[[list[int], str], None], Callable[[list[int], str], None]] | None = None
        for fault in spec.faults:
            sim.env.process(self._fault(fault))
        for event in spec.demand_response.events:
            if event.kind == "curtailment":
                sim.env.process(self._curtailment(event))
        for limit in spec.demand_response.signal_limits:
            sim.env.process(self._signal_limit(limit))
        sim.env.process(self._control_loop())
        sim.on_finish(self._close_interval)
        sim.on_finish(self._finish_costs)

    # -- wiring --------------------------------------------------------------------------
    def on_limit_change(self, callback) -> None:
        """``callback()`` whenever a grid-signal limit switches on or off (re-decide the caps)."""
        self._on_limit_change.append(callback)

    def watch_hottest_gpu(self, hottest_gpu_w, all_racks: Callable[[], list[float]] | None = None) -> None:
        """``hottest_gpu_w(rack)``: per-GPU power of a rack's hottest GPU, for its temperature;
        ``all_racks()``, if given, the same for every rack in one call (the control tick's)."""
        self._hottest_gpu_w = hottest_gpu_w
        self._hottest_gpus_w = all_racks

    def record_rack_rows(self, on: bool) -> None:
        """Whether each control interval records a timeseries row per rack (the default); off when
        the recorder keeps no rack rows (``output.timeseries_level=facility``), which spares the
        control tick every rack's energy. Nothing else changes: temperatures, caps and shutdowns
        are computed the same. Set it before the run starts."""
        if self.sim.now_s > 0:
            raise RuntimeError("record_rack_rows is set before the run starts")
        self._rack_rows = on

    def _hottest_by_rack_w(self) -> list[float]:
        """Per-GPU power of every rack's hottest GPU."""
        if self._hottest_gpus_w is not None:
            return self._hottest_gpus_w()
        return [self._hottest_gpu_w(r) for r in range(self.topology.num_racks)]

    def watch_rack_power(self, stop: Callable[[list[int], str], None],
                         restore: Callable[[list[int], str], None]) -> None:
        """``stop(racks, cause)`` when racks lose power, ``restore(racks, cause)`` when they get it back
        (the cluster's ``stop_racks`` and ``restore_racks``)."""
        self._rack_switch = (stop, restore)

    # -- racks losing and regaining power: the one API for thermal shutdown and power faults --
    def power_off_racks(self, racks: Iterable[int], cause: str) -> list[int]:
        """Racks lose power now because of ``cause`` ("thermal", "ups", "pdu/<name>", ...).

        A rack stays off while any cause holds it; only racks that were on are switched off
        (an event ``power_off`` each): their GPUs and hosts draw nothing, their work is
        interrupted and requeued (training loses its progress since the last checkpoint,
        inference requeues its requests). Returns the racks switched off now."""
        off, touched = [], self._racks(racks)
        for r in touched:
            if not self._off_causes[r]:
                off.append(r)
            self._off_causes[r].add(cause)
        self._switched(off, touched, cause, "power_off")
        return off

    def power_on_racks(self, racks: Iterable[int], cause: str) -> list[int]:
        """``cause`` no longer holds racks off; those no other cause holds get power back now
        (an event ``power_on`` each; GPUs idle, free for work). Returns the racks switched on."""
        on, touched = [], self._racks(racks)
        for r in touched:
            held = self._off_causes[r]
            if cause in held:
                held.discard(cause)
                if not held:
                    on.append(r)
        self._switched(on, touched, cause, "power_on")
        return on

    def _switched(self, racks: list[int], touched: list[int], cause: str, record_type: str) -> None:
        """Log racks switched off or on, count the GPUs a thermal shutdown holds (of the racks
        whose causes changed, ``touched``), tell the cluster."""
        for r in racks:
            self.sim.recorder.event(record_type, self._rack_names[r], cause, self.topology.gpus_per_rack)
        self._thermal_held = {r for r in self._thermal_held | set(touched) if "thermal" in self._off_causes[r]}
        self._thermal_off.set(len(self._thermal_held) * self.topology.gpus_per_rack)
        if racks and self._rack_switch is not None:
            self._rack_switch[record_type == "power_on"](racks, cause)

    def rack_powered(self, rack: int) -> bool:
        """True unless some cause holds the rack off."""
        return not self._off_causes[rack]

    def rack_off_causes(self, rack: int) -> frozenset[str]:
        """The causes holding a rack off (empty: it has power)."""
        return frozenset(self._off_causes[rack])

    def _protect_racks(self) -> None:
        """Stop racks whose hottest GPU is past its shutdown temperature; restart those a
        thermal shutdown holds once the restart delay has passed and their GPUs could run
        at their lowest cap within the throttle limit."""
        now, ths = self.sim.now_s, self.rack_thermal
        hot = [r for r, t in enumerate(self.gpu_temp_c)
               if t >= ths[r].gpu_shutdown_c - SHUTDOWN_TOLERANCE_K and self.rack_powered(r)]
        cool = [r for r in sorted(self._thermal_held)
                if now - self._thermal_off_s[r] >= ths[r].restart_delay_s and ths[r].can_restart(self.inlet_c[r])]
        if cool:
            self.power_on_racks(cool, "thermal")
        for r in hot:
            self._thermal_off_s[r] = now
        if hot:
            self.power_off_racks(hot, "thermal")

    def cdu_capacity_share(self) -> float:
        """Share of the racks' design liquid heat the working CDUs can carry (1: all of it)."""
        spec = self.spec
        if self._cdus_failed == 0 or spec.liquid_design_heat_w <= 0:
            return 1.0
        working = max(spec.space.cdus - self._cdus_failed, 0)
        return min(1.0, working * spec.cdu_capacity_w / spec.liquid_design_heat_w)

    def _racks(self, racks: Iterable[int]) -> list[int]:
        out = sorted(set(racks))
        n = self.topology.num_racks
        if any(not 0 <= r < n for r in out):
            raise ValueError(f"racks {out} are not all in 0..{n - 1}")
        return out

    @property
    def server_fan_ratio(self) -> float:
        """Server fan power per watt of the other IT power, for this control interval."""
        return self._fan_ratio

    def thermal_cap_w(self, rack: int) -> float | None:
        """Per-GPU cap that keeps the rack's GPUs at or under their temperature limit (None: no need)."""
        return self._thermal_caps[rack]

    def it_budget_w(self, t_s: float) -> float:
        """The IT power allowed now: the power path's provisioned IT capacity, lowered by the
        facility budget and any demand-response limit at the utility meter, converted at
        the present losses and cooling coefficients, and by any IT limit of a grid signal."""
        dr = self.spec.demand_response
        limits = [lim for lim in (self.spec.budget_w, dr.limit_w(t_s)) if lim is not None]
        it_w = self.spec.it_capacity_w
        if limits:
            it_w = min(it_w, self._it_for_facility_w(min(limits)))
        if dr.signal_limits and (signal_w := dr.it_limit_w(t_s)) is not None:
            it_w = min(it_w, signal_w)
        return min(it_w, self._capacity_w)  # a power path with failed units carries less

    def facility_power_w(self, it_w: float) -> float:
        """Facility power at an IT power, with the present cooling coefficients."""
        loss_w = self.power_path.loss_w(it_w)
        return (it_w + loss_w) * (1.0 + self._coeffs.total)

    def _it_for_facility_w(self, facility_w: float) -> float:
        lo, hi = 0.0, max(facility_w, 1.0)
        if self.facility_power_w(0.0) >= facility_w:
            return 0.0
        for _ in range(60):
            mid = 0.5 * (lo + hi)
            lo, hi = (mid, hi) if self.facility_power_w(mid) <= facility_w else (lo, mid)
        return lo

    # -- continuous: losses and cooling follow IT power -----------------------------------
    def _follow_it_power(self, it_w: float) -> None:
        self._ledger.set_powers(self._it_followers(it_w))

    def _it_followers(self, it_w: float) -> tuple[tuple[Any, float], ...]:  # (ledger meter, power)
        """The fans', losses' and cooling's powers at an IT power of ``it_w`` (the ledger's
        follower: it applies them), the power-change event and the overload records."""
        # (called at every IT power change: max() written out, the same values, -0.0 included)
        network_w = 0.0 if self._network is None else self._network.power_w
        fans_w = self._fans.power_w
        # (clipped at 0: with every rack off the rest of IT power is 0 up to rounding)
        fan_w = (it_w - fans_w - network_w) * self._fan_ratio
        if not fan_w > 0.0:
            fan_w = 0.0
        it_w = it_w + fan_w - fans_w
        if it_w < 0.0:
            it_w = 0.0  # 0 to rounding with every rack off
        path = self._path_now
        loss_w = 0.0 if path is None else path.input_w(it_w) - it_w
        changes = ((self._fans, fan_w), (self._loss, loss_w), (self._cooling, (it_w + loss_w) * self._coeffs.total))
        if self._power_change is not None and not self._power_change.triggered:
            self._power_change.succeed()
        if path is None or not path.reaches_racks or (it_w <= self._no_overload_below_w and not self._overloaded):
            return changes
        over = path.overloaded(it_w)
        if over != self._overloaded:
            for name in over:  # in the path's stage order (a set's order varies between processes)
                if name not in self._overloaded:
                    self.sim.recorder.event("overload", f"power/{name}", "stage output above its rating", it_w)
            self._overloaded = over
        return changes

    # -- faults ---------------------------------------------------------------------------
    def _fault(self, fault: Fault):
        if fault.kind == "utility":
            return self._utility_fault(fault)
        if fault.kind == "power_unit":
            return self._unit_fault(fault)
        if fault.kind == "cdu":
            return self._cdu_fault(fault)
        return self._chiller_fault(fault)

    def _chiller_fault(self, fault: Fault):
        env, rec = self.sim.env, self.sim.recorder
        yield env.timeout(fault.start_s)
        rec.event("fault", "cooling/chiller", f"capacity share {fault.capacity_share:g}", fault.capacity_share)
        self._chiller_share = fault.capacity_share
        self._tick_now()
        yield env.timeout(fault.duration_s)
        self._chiller_share = 1.0
        self._tick_now()
        rec.event("repair", "cooling/chiller", "capacity restored", 1.0)

    def _cdu_fault(self, fault: Fault):
        """``fault.units`` CDUs fail from the fault's start for its duration (cdu_capacity_share)."""
        env, rec = self.sim.env, self.sim.recorder
        yield env.timeout(fault.start_s)
        cdus = self.spec.space.cdus
        self._cdus_failed += fault.units
        share = self.cdu_capacity_share()
        outcome = ("survived: the others carry the design heat" if share >= 1.0 else
                   f"the others carry {share:.0%} of the racks' liquid heat")
        rec.event("fault", "cooling/cdu", f"{fault.units} of {cdus} CDUs lost; {outcome}", share)
        self._tick_now()
        yield env.timeout(fault.duration_s)
        self._cdus_failed -= fault.units
        self._tick_now()
        rec.event("repair", "cooling/cdu", "CDUs restored", self.cdu_capacity_share())

    def _utility_fault(self, fault: Fault):
        """A utility feed loss (docs/power.md, "Faults"): the UPS battery carries the IT load
        and the cooling on the UPS until the generator runs (``generator_start_s``) or the
        feed returns; if it runs out first, every rack loses power until then. Chillers
        stop with the power and restart ``chiller_restart_s`` after it returns."""
        env, rec, spec = self.sim.env, self.sim.recorder, self.spec
        yield env.timeout(fault.start_s)
        t_repair = fault.start_s + fault.duration_s
        t_generator = fault.start_s + spec.generator_start_s
        on_battery_until = min(t_repair, t_generator)
        rec.event("fault", "power/utility", "feed lost; the UPS battery carries the load, generator starting",
                  fault.duration_s)
        self._switch_supply(BATTERY)
        yield from self._discharge(on_battery_until)
        if self._source == DARK:
            rec.event("outage", "power/ups", "battery exhausted before the generator ran: IT load lost",
                      on_battery_until - env.now)
            yield env.timeout(on_battery_until - env.now)
        if t_generator < t_repair:
            rec.event("generator", "power/generator", "running; load transferred to the generator",
                      spec.generator_start_s)
            self._switch_supply(GENERATOR)
            yield env.timeout(t_repair - env.now)
        rec.event("repair", "power/utility", "feed restored; load transferred back to the utility",
                  fault.duration_s)
        self._switch_supply(UTILITY)

    def _discharge(self, until_s: float):
        """Run on the battery until ``until_s`` or until its energy is spent (then go dark):
        the battery delivers the facility's whole draw, which the ledger integrates, so the
        instant it empties is found exactly by waking at each change of IT power."""
        env, led = self.sim.env, self._ledger
        full_j = self.spec.ups_energy_j
        budget_j = max(0.0, full_j - self._ups_owed_j)  # a battery still recharging holds less
        start_j, start_s = led.energy_now_j(None), env.now
        while env.now < until_s:
            left_j = budget_j - (led.energy_now_j(None) - start_j)
            power_w = led.facility.power_w
            if left_j <= 1e-12 * full_j or (power_w > 0 and left_j < 1e-9 * power_w):  # spent (to 1 ns)
                self._owe(led.energy_now_j(None) - start_j, env.now - start_s)
                self._switch_supply(DARK)
                return
            wait_s = until_s - env.now if power_w <= 0 else min(until_s - env.now, left_j / power_w)
            self._power_change = env.event()
            yield env.timeout(wait_s) | self._power_change
            self._power_change = None
        self._owe(led.energy_now_j(None) - start_j, env.now - start_s)

    def _owe(self, drawn_j: float, discharge_s: float) -> None:
        """The battery gave ``drawn_j`` over ``discharge_s``: it owes that energy, restored at a
        constant draw over ``ups_recharge_time_factor`` times the discharge (docs/power.md)."""
        if drawn_j <= 0 or discharge_s <= 0:
            return
        self._ups_owed_j += drawn_j
        self._ups_recharge_w = self._ups_owed_j / (self.spec.ups_recharge_time_factor * discharge_s)

    def _switch_supply(self, source: str) -> None:
        """Close the interval under the old supply, then feed the building from ``source``:
        the energised part of the power path, the cooling that runs, and the racks' power."""
        self._close_interval(self.sim.now_s)
        was = self._source
        self._source = source
        if source in (BATTERY, DARK):
            self._restart_share = 0.0  # chillers stop with their power
            self._restart_token = None
        elif was in (BATTERY, DARK):  # power back (generator or utility): chillers restart later
            self._restart_chillers()
        self._set_path()
        if source == DARK:
            self.power_off_racks(range(self.topology.num_racks), EXHAUSTED)
        elif was == DARK:
            self.power_on_racks(range(self.topology.num_racks), EXHAUSTED)
            self._hold_capacity()
        self._tick_now()  # the interval is closed: this takes the plant and racks as they now are

    def _restart_chillers(self) -> None:
        if self.spec.chiller_restart_s <= 0:
            self._restart_share = 1.0
            return
        token = self._restart_token = object()

        def restart():
            yield self.sim.env.timeout(self.spec.chiller_restart_s)
            if self._restart_token is token:
                self.sim.recorder.event("restart", "cooling/chiller", "chillers running again after the power loss",
                                        self.spec.chiller_restart_s)
                self._close_interval(self.sim.now_s)
                self._restart_share = 1.0
                self._tick_now()

        self.sim.env.process(restart())

    def _supply_coefficients(self, c: CoolingCoefficients) -> CoolingCoefficients:
        """The plant's coefficients under the present supply: on the battery only the movers on
        the UPS run (no heat leaves the building: all of it is shortfall), dark nothing runs
        and nothing heats; on the generator or the utility the plant as it is."""
        if self._source == UTILITY or self._source == GENERATOR:
            return c
        zero = dict(chiller=0.0, heat_rejection_fans=0.0, water_l_per_j=0.0, economiser_share=0.0,
                    reusable_heat_share=0.0)
        if self._source == DARK:
            return replace(c, **zero, pumps=0.0, rack_side=0.0, air_fans=0.0, shortfall_share=0.0,
                           gpu_shortfall_share=0.0)
        movers = c if self.spec.cooling_on_ups else replace(c, pumps=0.0, rack_side=0.0, air_fans=0.0)
        # pumps at their normal draw (with the plant up they run at share x the heat removed)
        pumps = self.plant.facility_pump_share if self.spec.cooling_on_ups else 0.0
        return replace(movers, **zero, pumps=pumps, shortfall_share=1.0, gpu_shortfall_share=1.0)

    def _unit_fault(self, fault: Fault):
        """``units`` units of a power-path stage out of service (docs/power.md, "Faults"): the
        others carry the load; within the stage's spare units the redundancy is lost, beyond
        them its capacity falls and racks are powered off until the load fits, until the path
        is whole again."""
        env, rec = self.sim.env, self.sim.recorder
        name = str(fault.stage)
        stage = self.power_path.stage(name)
        yield env.timeout(fault.start_s)
        self._failed_units[name] = failed = self._failed_units.get(name, 0) + fault.units
        left = max(stage.units - failed, 0)
        component = f"power/{name}"
        self._close_interval(self.sim.now_s)
        self._set_path()
        if left >= stage.usable_units:
            rec.event("fault", component, f"{failed} of {stage.units} units out: redundancy "
                      f"{'lost' if left == stage.usable_units else 'reduced'}, {left} carry the load", failed)
            if left == stage.usable_units:
                rec.event("redundancy_lost", component, f"{stage.redundancy} with {left} of {stage.units} units",
                          left)
        else:
            rec.event("fault", component, f"{failed} of {stage.units} units out: capacity "
                      f"{self._capacity_w / 1e3:.1f} kW of IT, below the design", self._capacity_w)
        self._hold_capacity()
        self._tick_now()
        yield env.timeout(fault.duration_s)
        self._failed_units[name] -= fault.units
        rec.event("repair", component, f"{fault.units} units back in service", self._failed_units[name])
        self._close_interval(self.sim.now_s)
        self._set_path()
        if self._capacity_w == math.inf:  # the shed racks come back once the path is whole again
            self.power_on_racks(range(self.topology.num_racks), SHED)
        self._tick_now()

    def _set_path(self) -> None:
        """The energised part of the power path under the present supply and failed units (on
        the battery: from the UPS down; dark: none), and the IT power it can carry while a
        stage has fewer units than its design may load (``inf`` otherwise)."""
        design = self.power_path
        failed = {name: min(n, design.stage(name).units) for name, n in self._failed_units.items()}  # overlapping
        path = design.with_failed_units(failed)
        self._capacity_w = math.inf
        if not path.reaches_racks:
            self._capacity_w = 0.0
        elif design.degraded(failed):
            self._capacity_w = path.usable_capacity_w()
        if self._source == BATTERY and any(s.name == "ups" for s in path.stages):
            path = path.fed_at("ups")
        self._path_now = None if self._source == DARK else path
        live = self._path_now is not None and path.reaches_racks
        self._no_overload_below_w = path.max_output_w() if live else math.inf
        if self._network is not None:  # the network's switches lose power with the racks' feed
            self._network.set_power(self.spec.network_power_w if live else 0.0)

    def _hold_capacity(self) -> None:
        """Power racks off, the last first, while the IT power is above what a degraded power
        path can carry (rack 0 is the last to go: the racks' order is their shedding order)."""
        if self._capacity_w == math.inf or self._source == DARK:
            return
        for r in reversed(range(self.topology.num_racks)):
            if self._ledger.it_power_w() <= self._capacity_w * (1.0 + 1e-12):
                return
            if SHED not in self._off_causes[r]:
                self.power_off_racks([r], SHED)

    def _supply_w(self, facility_w: float, dt_s: float) -> tuple[float, float, float, float]:
        """(grid, UPS battery, generator, UPS recharge) mean powers of an interval under one
        supply: the generator or the grid also carries the battery's recharge after an outage."""
        if self._source == BATTERY:
            return 0.0, facility_w, 0.0, 0.0
        if self._source == DARK:
            return 0.0, 0.0, 0.0, 0.0
        recharge_w = 0.0
        if self._ups_owed_j > 0:
            recharge_w = min(self._ups_recharge_w, self._ups_owed_j / dt_s)
            self._ups_owed_j = max(0.0, self._ups_owed_j - recharge_w * dt_s)
        if self._source == GENERATOR:
            return 0.0, 0.0, facility_w + recharge_w, recharge_w
        return self._grid_draw_w(facility_w + recharge_w, dt_s), 0.0, 0.0, recharge_w

    # -- demand response: the events a site operator sees ---------------------------------
    def _curtailment(self, event: DemandResponseEvent):
        """Log a utility curtailment's notice, start and end (the limit itself is in it_budget_w)."""
        env, rec = self.sim.env, self.sim.recorder
        limit_w = event.limit_w if event.limit_w is not None else math.nan
        yield env.timeout(event.start_s - event.notice_s)
        if event.notice_s > 0:
            rec.event("notice", "grid/curtailment", f"limit from t={event.start_s:g} s for {event.duration_s:g} s",
                      limit_w)
            yield env.timeout(event.notice_s)
        rec.event("curtailment", "grid/curtailment", "facility held under the limit", limit_w)
        yield env.timeout(event.duration_s)
        rec.event("end", "grid/curtailment", "limit lifted", limit_w)

    def _signal_limit(self, limit: SignalLimit):
        """Log each time a signal limit switches on (signal above its threshold) or off."""
        env, rec = self.sim.env, self.sim.recorder
        component = f"grid/{limit.signal}_limit"
        if limit.active(0.0):
            rec.event("limit_on", component, f"{limit.signal} above {limit.threshold:g}", limit.it_limit_w)
        t = limit.next_change_s(0.0)
        while t is not None:
            yield env.timeout(t - env.now)
            on = limit.active(t)
            rec.event("limit_on" if on else "limit_off", component,
                      f"{limit.signal} {'above' if on else 'at or below'} {limit.threshold:g}", limit.it_limit_w)
            for callback in self._on_limit_change:
                callback()
            t = limit.next_change_s(t)

    def _grid_draw_w(self, facility_w: float, dt_s: float) -> float:
        """Mean grid draw over an interval: facility power, or with storage its low-pass
        (the battery discharges, or charges at its round-trip efficiency, the difference,
        within its power and state of charge)."""
        st = self.spec.storage
        if st is None:
            return facility_w
        if self._grid_w is None:
            self._grid_w = facility_w
        target = self._grid_w + (facility_w - self._grid_w) * (1.0 - math.exp(-dt_s / st.tau_s))
        battery_w = max(-st.max_power_w, min(st.max_power_w, facility_w - target))  # > 0: discharging
        if battery_w > 0:
            battery_w = min(battery_w, self._soc_j / dt_s)
            self._soc_j -= battery_w * dt_s
            grid_w = facility_w - battery_w
        else:
            charge_w = min(-battery_w, (st.capacity_j - self._soc_j) / (dt_s * st.round_trip_efficiency))
            self._soc_j += charge_w * dt_s * st.round_trip_efficiency
            grid_w = facility_w + charge_w
        self._grid_w = grid_w
        return grid_w

    # -- carbon and cost of an interval (energy drawn evenly over it; hourly steps split exactly)
    def _carbon_kg(self, t0_s: float, dt_s: float, energy_j: float) -> float:
        g_per_kwh = self.spec.carbon.series.mean(t0_s, t0_s + dt_s)
        return energy_j / KWH_J * g_per_kwh * (1.0 - self.spec.renewable_share) / 1000.0

    def _energy_cost_usd(self, t0_s: float, dt_s: float, energy_j: float) -> float:
        return energy_j / KWH_J * self.spec.price.series.mean(t0_s, t0_s + dt_s)

    def _finish_costs(self, until_s: float) -> None:
        """Amortised capital cost of the run's duration, by asset class, and the demand charge."""
        topo, spec = self.topology, self.spec
        capex = spec.cost.capex_breakdown_per_s(topo.gpus_total, topo.num_nodes, spec.it_capacity_w,
                                                spec.plant.technology.name, floor_area_m2=spec.space.gross_m2)
        self.sim.recorder.run_info.capex_usd = {k: v * until_s for k, v in capex.items()}
        peak_w = self._demand.peak_w  # the peak of the grid draw's demand-interval means
        self._info.peak_demand_w = peak_w
        self._info.demand_charge_usd = spec.cost.demand_charge_usd(peak_w, until_s)

    # -- the control loop -----------------------------------------------------------------
    def _snapshot(self) -> dict[str, float]:
        led = self._ledger
        snap = {kind: led.energy_now_j(kind) for kind in led.kind_totals}
        snap["facility"] = led.energy_now_j(None)
        snap["busy"] = self._busy.integral()
        snap["allocated"] = self._allocated.integral()
        snap["capped"] = self._capped.integral()
        if self._rack_rows:
            snap.update(zip(self._rack_names, led.group_energies_now_j(self._rack_names)))
        if self._network is not None:
            snap[NETWORK] = led.group_energy_now_j(NETWORK)
        snap["t"] = self.sim.now_s
        return snap

    def _control_loop(self):
        env = self.sim.env
        while True:
            self._set_coefficients()
            yield env.timeout(self.control_interval_s)
            self._close_interval(self.sim.now_s)
            self._hold_capacity()
            self._protect_racks()

    def _tick_now(self) -> None:
        """Close the interval at this instant and take the plant as it now is: a fault or a
        repair between two control ticks acts from its own time, not from the next tick
        (the time series gets a shorter row; ``interval_s`` gives every row's length), and
        the power controller re-decides the caps at once."""
        self._close_interval(self.sim.now_s)
        self._protect_racks()
        self._set_coefficients()
        for callback in self._on_limit_change:
            callback()

    def _set_coefficients(self) -> None:
        now = self.sim.now_s
        self._weather = self.climate.weather(now)
        self._coeffs = self._supply_coefficients(self.plant.coefficients(
            self._weather.dry_bulb_c, self._weather.wet_bulb_c,
            chiller_capacity_share=min(self._chiller_share, self._restart_share),
            heat_load_share=self._heat_load_share()))
        tech = self.plant.technology
        self._fan_ratio = server_fan_ratio(tech, server_air_inlet_c(tech, max(self.inlet_c)), self._server_fans)
        self._follow_it_power(self._ledger.it_power_w())
        # the GPUs' loop: the plant's unremoved share, and what the working CDUs cannot carry
        loop = self._coeffs.gpu_shortfall_share
        cdu_share = self.cdu_capacity_share() if tech.gpus_on_liquid else 1.0
        loop = 1.0 - (1.0 - loop) * cdu_share
        self._no_flow = cdu_share == 0.0
        topo = self.topology
        hottest_inlet_c: dict[int, tuple[RackThermal, float, float]] = {}  # per rack model: it, its TDP, its hottest inlet
        # a stopped rack adds no heat; a running one is capped for the inlet at the end of
        # the interval, its highest over it (the relaxation and the no-flow heat-up are monotone)
        self._rack_shortfall[:] = [0.0 if held else loop for held in self._off_causes]
        # (inlet, shortfall, rack model) -> cap: racks alike are alike, computed at the first of
        # them (without flow, at every rack: its heat-up depends on whether it runs)
        keys = list(zip(self.inlet_c, self._rack_shortfall, self._rack_thermal_ids))
        n = topo.num_racks
        if self._no_flow:
            first: Iterable[int] = range(n)
        elif self._racks_alike():
            first = (0,)
        else:
            first = sorted(dict(zip(reversed(keys), range(n - 1, -1, -1))).values())
        caps: dict[int, float | None] = {}  # rack -> its cap, at the racks computed
        for r in first:
            th = self.rack_thermal[r]
            tdp = topo.node_of_rack(r).gpu.tdp_w if topo.mixed else topo.node.gpu.tdp_w
            inlet_c = max(self.inlet_c[r], self._inlet_after(r, self.control_interval_s))
            hottest = hottest_inlet_c.get(id(th))
            if hottest is None or inlet_c > hottest[2]:
                hottest_inlet_c[id(th)] = (th, tdp, inlet_c)
            # never below the lowest settable cap: past that the GPU heats toward its shutdown
            cap = max((th.gpu_limit_c - inlet_c) / th.gpu_resistance_k_per_w, th.gpu_min_cap_w)
            thermal = cap if cap < tdp else None
            dens = self._rack_density_cap_w[r]
            caps[r] = min((c for c in (thermal, dens) if c is not None), default=None)
        if self._no_flow:
            self._thermal_caps[:] = [caps[r] for r in range(n)]
        else:
            seen = {keys[r]: cap for r, cap in caps.items()}
            self._thermal_caps[:] = [seen[key] for key in keys]
        # a GPU draws at most its TDP: unless one at TDP would reach the shutdown temperature
        # within the interval, none will
        if any(inlet_c + th.gpu_resistance_k_per_w * tdp >= th.gpu_shutdown_c - SHUTDOWN_TOLERANCE_K
               for th, tdp, inlet_c in hottest_inlet_c.values()):
            self._watch_shutdown()
        else:
            self._shutdown_token += 1

    def _racks_alike(self) -> bool:
        """Whether every rack has the same inlet, shortfall, power state and rack model: then
        what the tick computes at rack 0 holds for every rack (the memoised paths' result)."""
        inlet, short, off, n = self.inlet_c, self._rack_shortfall, self._off_causes, self.topology.num_racks
        return (self._one_rack_model and inlet.count(inlet[0]) == n and short.count(short[0]) == n
                and (not any(off) or all(off)))

    def _watch_shutdown(self) -> None:
        """Tick at the moment, within the next interval, the first running rack's hottest GPU
        reaches its shutdown temperature at its power now (under its cap), so that it stops then
        and not at the next tick. A later tick or fault that recomputes the cooling voids it."""
        self._shutdown_token += 1
        first_s = math.inf
        for r in range(self.topology.num_racks):
            if not self.rack_powered(r):
                continue
            th = self.rack_thermal[r]
            cap = self._thermal_caps[r]
            power_w = self._hottest_gpu_w(r) if cap is None else min(self._hottest_gpu_w(r), cap)
            inlet_at_c = th.gpu_shutdown_c - th.gpu_resistance_k_per_w * power_w  # the inlet that shuts it down
            first_s = min(first_s, self._time_to_inlet_s(r, inlet_at_c))
        if first_s < self.control_interval_s:
            token = self._shutdown_token
            self.sim.env.timeout(first_s).callbacks.append(
                lambda _ev: self._tick_now() if token == self._shutdown_token else None)

    def _time_to_inlet_s(self, rack: int, inlet_c: float) -> float:
        """Seconds until a rack's inlet passes ``inlet_c`` under this interval's cooling (inf: never)."""
        now_c = self.inlet_c[rack]
        if now_c > inlet_c:
            return 0.0
        if self._no_flow:
            return (inlet_c - now_c) / self.thermal.no_flow_k_per_s
        target_c = self.thermal.target_c(self._rack_shortfall[rack])
        if target_c <= inlet_c:
            return math.inf
        return self.thermal.tau_s * math.log((target_c - now_c) / (target_c - inlet_c))

    def _inlet_after(self, rack: int, dt_s: float) -> float:
        """A rack's inlet / coolant after ``dt_s`` of this interval's cooling."""
        if self._no_flow:
            return self.thermal.heat_up(self.inlet_c[rack], dt_s, running=self.rack_powered(rack))
        return self.thermal.advance(self.inlet_c[rack], self._rack_shortfall[rack], dt_s)

    def _heat_load_share(self) -> float:
        """The building's heat now (IT power and conversion losses) over the plant's design heat, the
        heat at the power path's provisioned IT capacity: the chillers are staged for it at each tick
        and run at part load for the interval (``CoolingPlant.chiller_part_load_ratio``)."""
        it_w = self._ledger.it_power_w()
        heat_w = it_w + self.power_path.loss_w(it_w)
        return min(1.0, heat_w / self._design_heat_w) if self._design_heat_w > 0 else 1.0

    def _close_interval(self, now_s: float) -> None:
        """Record the interval since the last tick and advance the racks' temperatures."""
        start, end = self._last, self._snapshot()
        dt = end["t"] - start["t"]
        if dt <= 0:
            return
        d = {k: (end[k] - start[k]) / dt for k in end if k != "t"}
        c: CoolingCoefficients = self._coeffs
        it_w = d["gpu"] + d["host"]
        heat_w = it_w + d["conversion_loss"]
        t0 = start["t"]
        w = self._weather
        # temperatures: each rack relaxes toward the target of this interval's shortfall
        # (racks alike relax alike: one computation per distinct (inlet, shortfall, powered))
        if self._racks_alike():  # (the usual case: one computation, at rack 0)
            self.inlet_c[:] = [self._inlet_after(0, dt)] * self.topology.num_racks
        else:
            keys = list(zip(self.inlet_c, self._rack_shortfall, [not held for held in self._off_causes]))
            seen: dict[tuple[float, float, bool], float] = {}
            for r, key in enumerate(keys):
                if key not in seen:
                    seen[key] = self._inlet_after(r, dt)
            self.inlet_c[:] = [seen[key] for key in keys]
        # the GPU temperature at the rack's hottest GPU (RackThermal.gpu_temp_c, written out)
        self.gpu_temp_c[:] = [inlet + th.gpu_resistance_k_per_w * power_w for inlet, th, power_w
                              in zip(self.inlet_c, self.rack_thermal, self._hottest_by_rack_w())]
        info = self._info
        info.max_inlet_temp_c = max(info.max_inlet_temp_c, max(self.inlet_c))
        info.max_gpu_temp_c = max(info.max_gpu_temp_c, max(self.gpu_temp_c))
        grid_w, battery_w, generator_w, recharge_w = self._supply_w(d["facility"], dt)
        self._demand.add(t0, dt, grid_w)
        self.sim.recorder.record("timeseries", (
            t0, "facility", it_w, d["gpu"], d["host"], d["conversion_loss"], d["cooling"], d["facility"],
            d["facility"] / it_w if it_w > 0 else math.nan, w.dry_bulb_c,
            d["busy"], d["allocated"],
            heat_w * c.chiller, heat_w * c.heat_rejection_fans, heat_w * c.pumps, heat_w * (c.rack_side + c.air_fans),
            heat_w * c.water_l_per_j * dt, (it_w - d.get(NETWORK, 0.0)) * c.reusable_heat_share, c.economiser_share, w.wet_bulb_c,
            self.spec.carbon.intensity_g_per_kwh(t0), self.spec.price.price_per_kwh(t0),
            max(self.inlet_c), max(self.gpu_temp_c), d["capped"], self.it_budget_w(t0), dt,
            self._carbon_kg(t0, dt, grid_w * dt), self._energy_cost_usd(t0, dt, grid_w * dt), grid_w, self._soc_j,
            battery_w, generator_w, recharge_w,
        ))
        nan = math.nan
        for r, name in enumerate(self._rack_names if self._rack_rows else ()):
            self.sim.recorder.record("timeseries", (
                t0, name, d[name], nan, nan, nan, nan, nan, nan, nan, nan, nan,
                nan, nan, nan, nan, nan, nan, nan, nan, nan, nan,
                self.inlet_c[r], self.gpu_temp_c[r], nan, nan, dt, nan, nan, nan, nan, nan, nan, nan,
            ))
        if self._network is not None:
            self.sim.recorder.record("timeseries", (
                t0, NETWORK, d[NETWORK], nan, nan, nan, nan, nan, nan, nan, nan, nan,
                nan, nan, nan, nan, nan, nan, nan, nan, nan, nan,
                nan, nan, nan, nan, dt, nan, nan, nan, nan, nan, nan, nan,
            ))
        self._last = end
