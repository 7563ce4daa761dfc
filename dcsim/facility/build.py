"""From the facility schema (``dcsim.facility.config``) to the facility's specs.

Each builder takes the typed schema objects (never a DictConfig), checks every value
the schema cannot, and raises :class:`~dcsim.core.errors.ConfigError` naming the exact
field, the value and what is allowed. ``dcsim.config.build`` composes them.
"""

from __future__ import annotations

import dataclasses
import re

from dcsim.core.errors import ConfigError, require
from dcsim.core.fields import positive, require_choice
from dcsim.core.units import KW_W, KWH_J
from dcsim.facility.airflow import AirHandler, rack_movers, server_air_inlet_c, server_fan_ratio
from dcsim.facility.climate import Climate
from dcsim.facility.config import MAX_GPUS, MAX_RACKS, AirDelivery, FacilityConfig, FaultKind, GridSignal, RackFeed
from dcsim.facility.controller import FacilitySpec, Fault
from dcsim.facility.cooling import CoolingPlant
from dcsim.facility.power_path import RACK_FEEDS, PowerPath, StageSpec, usable_units
from dcsim.facility.space import FloorArea, SpaceModel
from dcsim.facility.thermal import RackThermal
from dcsim.facility.topology import Topology
from dcsim.hardware.device import DeviceModel
from dcsim.hardware.gpus import GPUS, GpuSpec
from dcsim.hardware.network import QUANTUM2_NDR, FatTree, NetworkPower, NetworkPowerFigures, fat_tree, network_power
from dcsim.hardware.node import NodeSpec
from dcsim.hardware.performance import Fabric
from dcsim.policies.build import gpu_min_cap_w

# The coldest chilled water a room-air plant is taken to make: the legacy 7.2 C (45 F) design point
# the NVIDIA/Vertiv hybrid-cooling study raised its supply from (docs/cooling.md).
MIN_CHILLED_WATER_C = 7.2


def topology_from_config(f: FacilityConfig) -> tuple[Topology, GpuSpec]:
    """The racks, nodes and GPUs of a facility, and its GPU's catalogue entry."""
    require(f.node.gpu in GPUS, "facility.node.gpu", f.node.gpu, f"one of {sorted(GPUS)}")
    gpu = GPUS[f.node.gpu]
    require(1 <= f.num_racks <= MAX_RACKS, "facility.num_racks", f.num_racks, f"an integer in 1..{MAX_RACKS:,}")
    positive("facility.node.gpus_per_node", f.node.gpus_per_node, "an integer >= 1")
    g = f.node.gpus_per_node
    require(f.rack.gpus_per_rack >= g and f.rack.gpus_per_rack % g == 0, "facility.rack.gpus_per_rack",
            f.rack.gpus_per_rack, f"a positive multiple of facility.node.gpus_per_node={g}")
    require(f.rack.gpus_per_rack <= MAX_GPUS, "facility.rack.gpus_per_rack", f.rack.gpus_per_rack,
            f"at most {MAX_GPUS:,} GPUs (the bound on a facility's GPUs)")
    groups = _rack_groups(f)
    racks = f.num_racks + sum(n for _, n in groups)
    require(racks <= MAX_RACKS, "facility.rack_groups", [f"{g.name}: {n}" for g, n in groups],
            f"at most {MAX_RACKS:,} racks in all, facility.num_racks={f.num_racks} included (this is {racks:,})")
    gpus = racks * f.rack.gpus_per_rack
    require(gpus <= MAX_GPUS, "facility.num_racks", f.num_racks,
            f"at most {MAX_GPUS // f.rack.gpus_per_rack:,} racks of {f.rack.gpus_per_rack} GPUs "
            f"(at most {MAX_GPUS:,} GPUs in all; this is {gpus:,})")
    require(0 <= f.node.host_idle_w <= f.node.host_busy_w, "facility.node.host_idle_w", f.node.host_idle_w,
            f"between 0 and facility.node.host_busy_w={f.node.host_busy_w}")
    positive("facility.control_interval_s", f.control_interval_s, "an interval in seconds > 0")
    positive("facility.rack.floor_area_m2", f.rack.floor_area_m2, "square metres per rack > 0")
    node = NodeSpec(gpu, g, f.node.host_idle_w, f.node.host_busy_w)
    d, r = f.node.scaleup_domain_gpus, f.rack.gpus_per_rack
    sizes = [m for m in range(g, r + 1, g) if r % m == 0]
    require(d is None or d in sizes, "facility.node.scaleup_domain_gpus", d,
            f"null (the node) or whole nodes of facility.node.gpus_per_node={g} dividing "
            f"facility.rack.gpus_per_rack={r}: one of {sizes}")
    return Topology(racks, r // g, node, d, groups), gpu


def _rack_groups(f: FacilityConfig) -> tuple[tuple[GpuSpec, int], ...]:
    """The racks of other GPU types (``facility.rack_groups``), validated: known and distinct GPUs."""
    out: list[tuple[GpuSpec, int]] = []
    seen = [f.node.gpu]
    for i, grp in enumerate(f.rack_groups):
        field = f"facility.rack_groups.{i}"
        require(grp.gpu in GPUS and grp.gpu not in seen, f"{field}.gpu", grp.gpu,
                f"one of {sorted(set(GPUS) - set(seen))} (a GPU other than facility.node.gpu and the groups' before it)")
        require(1 <= grp.num_racks <= MAX_RACKS, f"{field}.num_racks", grp.num_racks,
                f"an integer in 1..{MAX_RACKS:,}")
        seen.append(grp.gpu)
        out.append((GPUS[grp.gpu], grp.num_racks))
    return tuple(out)


def rack_feed_cap_w(f: FacilityConfig, topology: Topology, gpu: GpuSpec) -> float | None:
    """The per-GPU cap the rack and row feeds' ratings impose (None: every nameplate fits).

    A rack at full load draws its nameplate, nodes x (GPUs x TDP + busy host); a row of
    ``racks_per_row`` racks draws that many nameplates. A feed whose load exceeds its rating
    is refused, or with ``over_feed=cap`` each GPU is capped so that a rack at full load draws
    the tighter of the rack rating and the row rating over the row's racks (docs/power.md)."""
    p, node = f.power, topology.node
    rack_kw = topology.nodes_per_rack * node.nameplate_w / KW_W
    # (field, rating in kW, racks it feeds, its load at nameplate described): one per feed that is over
    over: list[tuple[str, float, int, str]] = []
    if p.rack_feed_kw is not None and rack_kw > p.rack_feed_kw:
        over.append(("facility.power.rack_feed_kw", p.rack_feed_kw, 1,
                     f"the rack's nameplate, {rack_kw:.1f} kW ({topology.nodes_per_rack} nodes x "
                     f"{node.nameplate_w / KW_W:.2f} kW)"))
    if p.row_feed_kw is not None:
        per_row = f.rack.racks_per_row
        if per_row is None:
            raise ConfigError("facility.rack.racks_per_row", per_row,
                              "an integer >= 1 (the racks on one row feed) with facility.power.row_feed_kw set")
        racks = min(per_row, topology.num_racks)  # the fullest row
        if racks * rack_kw > p.row_feed_kw:
            over.append(("facility.power.row_feed_kw", p.row_feed_kw, racks,
                         f"the row's nameplate, {racks * rack_kw:.1f} kW ({racks} racks x {rack_kw:.1f} kW)"))
    if not over:
        return None
    for name, rating_kw, _, load in over:
        require(p.over_feed == "cap", name, rating_kw,
                f"at least {load}, or facility.power.over_feed=cap to cap its GPUs")
    name, rating_kw, racks, _ = min(over, key=lambda o: o[1] / o[2])  # the tightest per rack
    fan_ratio = _nominal_fan_ratio(f)
    cap_w = _gpu_w_for_rack_w(rating_kw * KW_W / racks, topology, fan_ratio)
    min_w = gpu_min_cap_w(p, gpu)
    require(cap_w >= min_w, name, rating_kw,
            f"a rating whose GPU cap, {cap_w:.0f} W, is at least {gpu.name}'s lowest settable cap ({min_w:g} W): "
            f"at least {racks * _rack_w_at_gpu_w(min_w, topology, fan_ratio) / KW_W:.1f} kW")
    return cap_w


def _technology(f: FacilityConfig):
    """The facility's cooling technology, its supply temperature overridden if the config does."""
    from dcsim.facility.cooling import TECHNOLOGIES

    c = f.cooling
    require(c.technology in TECHNOLOGIES, "facility.cooling.technology", c.technology, f"one of {sorted(TECHNOLOGIES)}")
    tech = TECHNOLOGIES[c.technology]
    if c.supply_temp_c is not None:
        tech = dataclasses.replace(tech, supply_temp_c=c.supply_temp_c)
    return tech


def _nominal_fan_ratio(f: FacilityConfig) -> float:
    """Server fan watts per watt of the rest of a server's power at the technology's nominal inlet."""
    tech = _technology(f)
    return server_fan_ratio(tech, server_air_inlet_c(tech, tech.rack_inlet_c))


def _gpu_w_for_rack_w(rack_w: float, topology: Topology, fan_ratio: float) -> float:
    """Per-GPU power at which a rack of busy nodes draws ``rack_w``, the server fans included:
    nodes x (1 + fan ratio) x (GPUs x cap + busy host without its fans) = rack_w."""
    node = topology.node
    node_w = rack_w / topology.nodes_per_rack / (1.0 + fan_ratio)
    return (node_w - node.host_busy_without_fans_w) / node.gpus_per_node


def _rack_w_at_gpu_w(gpu_w: float, topology: Topology, fan_ratio: float) -> float:
    """A rack of busy nodes with every GPU at ``gpu_w``, the server fans included (inverse of the above)."""
    node = topology.node
    return topology.nodes_per_rack * (1.0 + fan_ratio) * (node.gpus_per_node * gpu_w + node.host_busy_without_fans_w)


def device_from_config(f: FacilityConfig, topology: Topology, gpu: GpuSpec) -> DeviceModel:
    """The GPU's performance and power model under its static power cap, if any: the node's
    ``gpu_power_cap_w`` or the rack feed's cap, whichever is lower."""
    cap = f.node.gpu_power_cap_w
    require(cap is None or gpu.idle_w < cap, "facility.node.gpu_power_cap_w", cap,
            f"watts above {gpu.name}'s idle power ({gpu.idle_w:g} W), or null for no cap")
    feed = rack_feed_cap_w(f, topology, gpu)
    if feed is not None:
        cap = feed if cap is None else min(cap, feed)
    return DeviceModel.for_gpu(gpu, cap, fabric=fabric_from_config(f, topology))


def devices_from_config(f: FacilityConfig, topology: Topology) -> dict[str, DeviceModel]:
    """Each GPU type's device model (:func:`device_from_config` on its racks), ``node.gpu`` first."""
    return {gpu.name: device_from_config(f, topology.of_type(gpu.name), gpu) for gpu in topology.gpu_types}


def fabric_from_config(f: FacilityConfig, topology: Topology) -> Fabric:
    """The networks a replica's collectives cross: the scale-up domain, the NICs and the rack uplinks."""
    n = f.network
    return Fabric(topology.domain_gpus, n.scaleout_gbit_per_s_per_gpu * 1e9 / 8, n.rack_uplink_oversubscription,
                  topology.gpus_per_rack)


def scaleout_fabric(f: FacilityConfig, topology: Topology,
                    figures: NetworkPowerFigures = QUANTUM2_NDR) -> tuple[FatTree, NetworkPower] | None:
    """The facility's scale-out fat tree and its power, or None with ``facility.network.power=false``.

    Every GPU of the facility is an endpoint with ``scaleout_gbit_per_s_per_gpu / 400`` NIC
    ports (the figures' port speed); the leaves' oversubscription is the rack uplinks';
    the GPUs of one scale-up domain (``facility.node.scaleup_domain_gpus``) talk over its copper
    NVLink, so a facility of one domain has no fabric. Formulas and sources: docs/network.md.
    """
    n = f.network
    if not n.power:
        return None
    field = "facility.network"
    ports_per_gpu = n.scaleout_gbit_per_s_per_gpu / figures.port_gbit_per_s
    gpus = topology.gpus_total
    require(abs(gpus * ports_per_gpu - round(gpus * ports_per_gpu)) < 1e-9, f"{field}.scaleout_gbit_per_s_per_gpu",
            n.scaleout_gbit_per_s_per_gpu,
            f"a bandwidth that gives the facility's {gpus} GPUs a whole number of {figures.port_gbit_per_s:g} Gb/s "
            f"NIC ports (or {field}.power=false)")
    try:
        tree = fat_tree(gpus, ports_per_gpu, n.switch_radix, n.rack_uplink_oversubscription,
                        domain_gpus=topology.domain_gpus, nic_links_optical=n.nic_links_optical)
    except ConfigError as e:
        raise ConfigError("facility.num_racks", f.num_racks, f"{e.field}={e.value!r}: {e.allowed}; or a larger "
                          f"{field}.switch_radix, or {field}.power=false") from None
    return tree, network_power(tree, figures)


def facility_from_config(f: FacilityConfig, topology: Topology, gpu: GpuSpec) -> FacilitySpec:
    """The building: power path, cooling plant, climate, grid, cost, faults, storage and network power."""
    fabric = scaleout_fabric(f, topology)
    network_w = 0.0 if fabric is None else fabric[1].total_w
    path, it_capacity_w = _power_path(f, topology, network_w)
    budget_kw = f.power.budget_kw
    # Idle draw at the meter (every GPU and host idle, the network on, through the power path,
    # before cooling): no cap brings the facility below it, so a budget under it cannot be held.
    idle_kw = path.input_w(idle_gpus_w(topology) + topology.num_nodes * topology.node.host_idle_w
                           + network_w) / KW_W
    require(budget_kw is None or budget_kw > idle_kw, "facility.power.budget_kw", budget_kw,
            f"kW above the facility's idle draw at the meter ({idle_kw:,.1f} kW with every GPU and host idle and "
            f"the network on, before cooling), or null")
    plant, thermal, density_cap_w = _cooling(f, topology, gpu)
    thermal_by_gpu = {g.name: _cooling(f, topology.of_type(g.name), g, group=i)[1]
                      for i, g in enumerate(topology.gpu_types[1:])}
    space = space_from_config(f, topology, it_capacity_w)
    climate = _climate(f)
    carbon, price, dr = _grid(f, climate)
    return FacilitySpec(
        topology=topology, power_path=path, it_capacity_w=it_capacity_w,
        budget_w=None if f.power.budget_kw is None else f.power.budget_kw * KW_W,
        plant=plant, thermal=thermal, density_cap_w=density_cap_w, climate=climate, carbon=carbon, price=price,
        renewable_share=f.grid.renewable_share, demand_response=dr, cost=_cost(f, topology), faults=_faults(f, path),
        generator_start_s=f.generator_start_s, ups_ride_through_s=f.ups_ride_through_s,
        ups_energy_j=_ups_energy_j(f, path), ups_recharge_time_factor=f.ups_recharge_time_factor,
        cooling_on_ups=f.cooling_on_ups, chiller_restart_s=f.chiller_restart_s,
        control_interval_s=f.control_interval_s, space=space, storage=_storage(f), network_power_w=network_w,
        cdu_capacity_w=f.space.cdu_capacity_kw * KW_W, liquid_design_heat_w=_liquid_design_heat_w(f, topology),
        thermal_by_gpu=thermal_by_gpu,
    )


def idle_gpus_w(topology: Topology) -> float:
    """Every GPU of the facility idle: each rack's GPUs at their own idle power."""
    if not topology.mixed:
        return topology.gpus_total * topology.node.gpu.idle_w
    return sum(topology.of_type(g.name).gpus_total * g.idle_w for g in topology.gpu_types)


def _rack_design_heat_w(f: FacilityConfig, topology: Topology) -> float:
    """A rack's design heat: its nameplate, or the technology's limit a throttled rack is held to
    (of a mixed fleet: the mean over its racks)."""
    if topology.mixed:
        return sum(_rack_design_heat_w(f, t) * t.num_racks
                   for t in map(topology.of_type, (g.name for g in topology.gpu_types))) / topology.num_racks
    return min(topology.nodes_per_rack * topology.node.nameplate_w, _technology(f).max_rack_kw * KW_W)


def _liquid_design_heat_w(f: FacilityConfig, topology: Topology) -> float:
    """The racks' design heat on liquid: what N CDUs carry (space_from_config counts them from it)."""
    return topology.num_racks * _rack_design_heat_w(f, topology) * _technology(f).liquid_fraction


def space_from_config(f: FacilityConfig, topology: Topology, it_capacity_w: float) -> FloorArea:
    """The facility's floor areas (dcsim/facility/space.py), refused when they exceed
    ``facility.floor_area_m2``. The CDUs carry the racks' design heat on liquid: nameplate,
    or the technology's limit a throttled rack is held to."""
    tech = _technology(f)
    sp = f.space
    model = SpaceModel(f.rack.floor_area_m2, sp.support_m2_per_mw, sp.cdu_capacity_kw, sp.cdu_spares)
    area = model.area(topology.num_racks, _rack_design_heat_w(f, topology), tech.liquid_fraction, it_capacity_w)
    limit = f.floor_area_m2
    require(limit is None or area.gross_m2 <= limit, "facility.floor_area_m2", limit,
            f"at least {area.gross_m2:,.1f} m2 for {topology.num_racks} racks ({area.describe()}), or null for "
            f"no limit")
    return area


def _power_path(f: FacilityConfig, topology: Topology, network_w: float = 0.0) -> tuple[PowerPath, float]:
    """The power path sized for the provisioned IT capacity (the nodes' nameplate and the
    network's constant draw, over the oversubscription), and that capacity."""
    require(f.power.oversubscription >= 1.0, "facility.power.oversubscription", f.power.oversubscription,
            "a ratio >= 1 of IT nameplate to provisioned IT capacity")
    it_capacity_w = (topology.it_nameplate_w + network_w) / f.power.oversubscription
    specs = []
    for name, s in f.power.stages.items():
        field = f"facility.power.stages.{name}"
        for coef in ("no_load", "proportional", "square"):
            v = getattr(s, coef)
            require(0 <= v < 0.5, f"{field}.{coef}", v, "a loss fraction in [0, 0.5)")
        require(s.units >= 1, f"{field}.units", s.units, "an integer >= 1")
        scheme = s.redundancy.replace(" ", "").upper()
        require(scheme in ("N", "2N") or re.fullmatch(r"N\+[0-9]+", scheme) is not None, f"{field}.redundancy",
                s.redundancy, "N, N+k (k spare units, e.g. N+1) or 2N")
        try:
            usable_units(s.redundancy, s.units)
        except ValueError as e:
            raise ConfigError(f"{field}.units", s.units, str(e)) from None
        specs.append(StageSpec(name, s.no_load, s.proportional, s.square, s.redundancy, s.units,
                               None if s.unit_rating_kw is None else s.unit_rating_kw * KW_W))
    require_choice("facility.power.rack_feed", f.power.rack_feed, RackFeed)
    feed = RACK_FEEDS[str(f.power.rack_feed)]
    require(not feed.stages or "psu" not in f.power.stages, "facility.power.rack_feed", str(f.power.rack_feed),
            "ac_415v while facility.power.stages has a psu stage (the IT power then leaves out the servers' "
            "supplies, which this feed would replace a second time)")
    try:
        path = PowerPath.build(it_capacity_w, specs, feed.stages, rack_capacity_w=topology.it_nameplate_w)
    except ValueError as e:
        raise ConfigError("facility.power.stages", [s.name for s in specs], f"{e} (redundancy: N, N+k or 2N)") from None
    return path, it_capacity_w


def _cooling(f: FacilityConfig, topology: Topology, gpu: GpuSpec,
             group: int | None = None) -> tuple[CoolingPlant, RackThermal, float | None]:
    """The plant, the rack thermal model and the per-GPU density cap (throttle mode); with
    ``group``, of the racks of ``facility.rack_groups.<group>`` (``topology`` their own), which
    must fit the technology (throttling is for the racks of ``node.gpu``)."""
    from dcsim.facility.thermal import RackThermal

    c = f.cooling
    require(c.condenser in ("dry", "tower"), "facility.cooling.condenser", c.condenser, "dry or tower")
    require(c.over_density in ("error", "throttle"), "facility.cooling.over_density", c.over_density,
            "error or throttle")
    require_choice("facility.cooling.air_delivery", c.air_delivery, AirDelivery)
    tech = _technology(f)
    rack_kw = topology.nodes_per_rack * topology.node.nameplate_w / KW_W
    density_cap_w = None
    if group is not None:
        require(rack_kw <= tech.max_rack_kw, f"facility.rack_groups.{group}.gpu", gpu.name,
                f"a GPU whose rack fits {tech.name} cooling: at most {tech.max_rack_kw:g} kW per rack, a rack of "
                f"{gpu.name} is {rack_kw:.1f} kW at nameplate (over_density=throttle is for the racks of "
                f"facility.node.gpu only)")
    elif rack_kw > tech.max_rack_kw:
        require(c.over_density == "throttle", "facility.rack.gpus_per_rack", f.rack.gpus_per_rack,
                f"at most {tech.max_rack_kw:g} kW per rack with {tech.name} cooling: this rack is {rack_kw:.1f} kW at "
                f"nameplate (use fewer GPUs per rack, another facility.cooling.technology, or "
                f"facility.cooling.over_density=throttle)")
        density_cap_w = _gpu_w_for_rack_w(tech.max_rack_kw * KW_W, topology, _nominal_fan_ratio(f))
        require(density_cap_w > gpu.idle_w, "facility.rack.gpus_per_rack", f.rack.gpus_per_rack,
                f"a density whose GPUs can run under the {tech.max_rack_kw:g} kW rack limit")
    plant_fields = {k: getattr(c, k) for k in (
        "condenser", "carnot_fraction", "evaporator_approach_k", "tower_condenser_approach_k",
        "dry_condenser_approach_k", "tower_economiser_approach_k", "dry_economiser_approach_k",
        "facility_pump_share", "tower_fan_share", "dry_fan_share", "evaporated_share", "cycles_of_concentration",
        "heat_reuse_min_c")}
    # The racks' design heat (nameplate, or the technology's limit a throttled rack is held to) sets
    # the air and liquid flow per rack, so the handlers' and pumps' power per watt (docs/cooling.md).
    rack_heat_w = min(rack_kw, tech.max_rack_kw) * KW_W
    handler = AirHandler(delivery_area_m2=AirHandler().delivery_area_m2 * c.tiles_per_rack)
    open_tiles = c.air_delivery == AirDelivery.open_tiles
    movers = rack_movers(tech, rack_heat_w, server_air_inlet_c(tech, tech.rack_inlet_c), handler=handler,
                         plenum_pa=c.plenum_pressure_pa if open_tiles else None)
    try:
        plant = CoolingPlant(tech, **plant_fields, movers=movers)
    except ValueError as e:
        raise ConfigError("facility.cooling", c.technology, str(e)) from None
    coil_c = plant.air_coil_supply_c
    require(coil_c >= MIN_CHILLED_WATER_C, "facility.rack.gpus_per_rack" if group is None
            else f"facility.rack_groups.{group}.gpu", f.rack.gpus_per_rack if group is None else gpu.name,
            f"a density whose open tiles can feed it: a {rack_heat_w / KW_W:.1f} kW rack recirculates "
            f"{movers.recirculation:.0%} of its inlet air and needs {coil_c:.1f} C chilled water, below "
            f"{MIN_CHILLED_WATER_C:g} C (use fewer GPUs per rack, more facility.cooling.tiles_per_rack, or "
            "facility.cooling.air_delivery=contained)")
    require(c.gpu_limit_c is None or 0 < c.gpu_limit_c < gpu.shutdown_temp_c, "facility.cooling.gpu_limit_c",
            c.gpu_limit_c, f"degrees C > 0 and below {gpu.name}'s shutdown temperature ({gpu.shutdown_temp_c:g} C), "
                           f"or null for its throttle temperature ({gpu.throttle_temp_c:g} C)")
    thermal = RackThermal.for_gpu(tech, gpu, c.gpu_limit_c, restart_delay_s=c.gpu_restart_delay_s,
                                  gpu_min_cap_w=gpu_min_cap_w(f.power, gpu))
    return plant, thermal, density_cap_w


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
    from dcsim.facility.grid import CarbonIntensity, DemandResponse, DemandResponseEvent, ElectricityPrice, SignalLimit

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
    require(g.price != "tou" or g.tou_peak_end_hour != g.tou_peak_start_hour, "facility.grid.tou_peak_end_hour",
            g.tou_peak_end_hour, f"an hour distinct from tou_peak_start_hour={g.tou_peak_start_hour} (the peak window "
                                 "would be empty)")
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
    for dr in g.demand_response:
        events.append(DemandResponseEvent(dr.start_s, dr.duration_s, limit_w=dr.limit_kw * KW_W))
    for i, cu in enumerate(g.curtailments):
        require(cu.notice_s <= cu.start_s, f"facility.grid.curtailments.{i}.notice_s", cu.notice_s,
                f"seconds in [0, start_s={cu.start_s:g}] (the notice cannot come before the run starts)")
        events.append(DemandResponseEvent(cu.start_s, cu.duration_s, limit_w=cu.limit_kw * KW_W, kind="curtailment",
                                          notice_s=cu.notice_s))
    signals = []
    for i, sl in enumerate(g.signal_limits):
        require_choice(f"facility.grid.signal_limits.{i}.signal", sl.signal, GridSignal)
        series = price.series if sl.signal == "price" else carbon.series
        signals.append(SignalLimit(str(sl.signal), series, sl.above, sl.it_limit_kw * KW_W))
    return carbon, price, DemandResponse(tuple(events), signal_limits=tuple(signals))


def _cost(f: FacilityConfig, topology: Topology):
    """Unit costs; a mixed fleet's GPU price is the mean over its GPUs (GPUs x it = the sum of
    each type's GPUs x its catalogue price), unless facility.cost.gpu_usd sets one for all."""
    from dcsim.facility.cost import CostModel

    overrides = {k: v for k, v in dataclasses.asdict(f.cost).items() if v is not None}
    overrides.setdefault("energy_usd_per_kwh", f.grid.price_usd_per_kwh)
    if topology.mixed:
        overrides.setdefault("gpu_usd", sum(topology.of_type(g.name).gpus_total * g.price_usd
                                            for g in topology.gpu_types) / topology.gpus_total)
    try:
        return CostModel.for_gpu(topology.node.gpu, **overrides)
    except ValueError as e:
        raise ConfigError("facility.cost", overrides, str(e)) from None


def _faults(f: FacilityConfig, path: PowerPath) -> tuple[Fault, ...]:
    out = []
    stages = [s.name for s in path.stages]
    for i, x in enumerate(f.faults):
        field = f"facility.faults.{i}"
        require_choice(f"{field}.kind", x.kind, FaultKind)
        require(x.start_s >= 0, f"{field}.start_s", x.start_s, "seconds >= 0")
        require(x.duration_s > 0, f"{field}.duration_s", x.duration_s, "seconds > 0")
        require(0 <= x.capacity_share < 1, f"{field}.capacity_share", x.capacity_share, "a share in [0, 1)")
        if x.kind == FaultKind.power_unit:
            require(x.stage in stages, f"{field}.stage", x.stage, f"a stage of facility.power.stages: one of {stages}")
            units = path.stage(str(x.stage)).units
            require(1 <= x.units <= units, f"{field}.units", x.units,
                    f"an integer in 1..{units} (stage {x.stage} has {units} units)")
        else:
            require(x.stage is None, f"{field}.stage", x.stage, "null unless kind is power_unit")
        if x.kind == FaultKind.utility:
            require("ups" in stages, f"{field}.kind", str(x.kind),
                    f"a fault of a path with a stage named ups (facility.power.stages: {stages}) to ride it through")
        if x.kind == "cdu":
            require(_technology(f).liquid_fraction > 0, f"{field}.kind", str(x.kind),
                    f"chiller or utility: {f.cooling.technology} cooling has no CDUs (no liquid at the racks)")
        out.append(Fault(str(x.kind), x.start_s, x.duration_s, x.capacity_share, x.stage, x.units))
    positive("facility.generator_start_s", f.generator_start_s, "seconds > 0")
    positive("facility.ups_ride_through_s", f.ups_ride_through_s, "seconds > 0")
    return tuple(out)


def _ups_energy_j(f: FacilityConfig, path: PowerPath) -> float:
    """Usable UPS battery energy: ``facility.ups_energy_kwh``, or the ride-through at the UPS
    stage's full rated load (its usable rating plus its losses there); 0 without a UPS stage."""
    if f.ups_energy_kwh is not None:
        return f.ups_energy_kwh * KWH_J
    if "ups" not in [s.name for s in path.stages]:
        return 0.0
    ups = path.stage("ups")
    return f.ups_ride_through_s * (ups.usable_w + ups.loss_w(ups.usable_w))


def _storage(f: FacilityConfig):
    from dcsim.facility.controller import Storage

    st = f.storage
    if st.capacity_kwh == 0:
        return None
    require(st.capacity_kwh > 0, "facility.storage.capacity_kwh", st.capacity_kwh, "kWh >= 0 (0: no storage)")
    positive("facility.storage.max_power_kw", st.max_power_kw, "kW > 0 with storage")
    positive("facility.storage.tau_s", st.tau_s, "seconds > 0")
    require(0 < st.round_trip_efficiency <= 1, "facility.storage.round_trip_efficiency", st.round_trip_efficiency,
            "a fraction in (0, 1]")
    return Storage(st.capacity_kwh * 3.6e6, st.max_power_kw * KW_W, st.tau_s, st.round_trip_efficiency)
