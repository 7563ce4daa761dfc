"""Power control: the power policy's caps, the facility budget and thermal throttling.

Every control interval, and whenever work starts or a demand-response window opens or
closes, the controller builds a read-only :class:`PowerView` of the running workloads
(one consumer per replica, replica group or training job), asks the registered power
policy for per-GPU caps, and applies them through each workload's ``set_cap``, which
slows it through its device model. Thermal throttling adds a cap where a rack's GPUs
would run above their temperature limit; the lower cap wins.

With a budget and a policy other than ``none``, the controller guarantees the budget
by construction: the caps it applies satisfy

    (1 + fan ratio) x (worst-case fixed IT power + sum over consumers of GPUs x cap) <= IT budget

where the fixed part is every host at its busy power (without its fans) plus every
unallocated GPU idle, the fan ratio the server fans' watts per watt of the rest of IT
power the facility meters now (``Facility.server_fan_ratio``), and the IT budget is the
facility budget (at the utility meter) less conversion losses and cooling at the current
weather. So the facility meter never exceeds the budget, not only on average. Each cap change is an event in ``events.parquet``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from dcsim.policies.power import PowerConsumer, PowerView
from dcsim.workloads.cluster import Cluster

if TYPE_CHECKING:
    from dcsim.core.simulation import Simulation

PRIORITY = {"inference": 1, "training": 0}  # inference outranks training by default


class PowerController:
    """Applies a power policy's caps to the workloads of a cluster."""

    def __init__(
        self,
        sim: Simulation,
        cluster: Cluster,
        policy: Any,
        policy_name: str,
        it_budget_w: Callable[[float], float | None],
        thermal_cap_w: Callable[[int], float | None],
        interval_s: float,
        gpu_min_cap_w: float,
        fan_ratio: Callable[[], float] = lambda: 0.0,
        network_w: float = 0.0,
    ) -> None:
        self.sim = sim
        self.cluster = cluster
        self.policy = policy
        self.enforce = policy_name != "none"
        self.it_budget_w = it_budget_w  # IT budget now, from the facility budget and demand response
        self.thermal_cap_w = thermal_cap_w  # per-GPU cap for a rack, or None
        self.interval_s = interval_s
        self.fan_ratio = fan_ratio  # server fan watts per watt of the other IT power, now
        self.network_w = network_w  # the scale-out network's constant IT power, outside the servers' fans
        node = cluster.topology.node
        self.gpu_tdp_w = node.gpu.tdp_w
        self.gpu_min_cap_w = gpu_min_cap_w
        self.policy_caps: dict[int, float | None] = {}
        self.applied: dict[int, float | None] = {}
        self._throttled = sim.recorder.monitor("gpus_capped")
        self._thermal = sim.recorder.monitor("gpus_thermally_throttled")
        # the consumers last built: (allocations' key, each allocation's owner then, consumers)
        self._consumers_of: tuple[tuple[int, int], list, dict] | None = None
        cluster.on_start(self._on_start)
        sim.env.process(self._loop())

    def _on_start(self, alloc: Any) -> None:
        """Decide again when work starts, unless nothing can change: without a capping
        policy only thermal caps apply, and a new allocation in racks without one changes
        no cap."""
        if self.enforce or any(self.thermal_cap_w(rack) is not None for rack, _ in alloc.rack_gpus):
            self.decide()

    def _loop(self):
        while True:
            self.decide()
            yield self.sim.env.timeout(self.interval_s)

    def _consumers(self) -> dict[int, tuple[Any, int, set[int]]]:
        """work id of each capping owner -> (owner, GPUs, racks its GPUs are in); rebuilt only
        when allocations came or went (every grant raises the cluster's count of allocations,
        every release lowers the live ones: the pair changes with any change of the set) or an
        allocation's owner changed (a replica that loads its model takes it after the grant)."""
        c = self.cluster
        key = (c._n_allocations, len(c._live))
        last = self._consumers_of
        if last is not None and last[0] == key and all(a.owner is o for a, o in zip(c._live.values(), last[1])):
            return last[2]
        out = self._build_consumers()
        self._consumers_of = (key, [a.owner for a in c._live.values()], out)
        return out

    def _build_consumers(self) -> dict[int, tuple[Any, int, set[int]]]:
        out: dict[int, tuple[Any, int, set[int]]] = {}
        by_owner: dict[int, int] = {}
        for alloc in self.cluster.allocations():
            owner = alloc.owner
            if owner is None or not hasattr(owner, "set_cap"):
                continue
            racks = {rack for rack, _ in alloc.rack_gpus}
            key = by_owner.get(id(owner))
            if key is None:
                key = by_owner[id(owner)] = alloc.work.work_id
                out[key] = (owner, alloc.gpus, racks)
            else:
                o, g, r = out[key]
                out[key] = (o, g + alloc.gpus, r | racks)
        return out

    def _thermal_cap_w(self, racks: set[int]) -> float | None:
        """The lowest thermal cap of the racks an owner runs in: one cap for all its GPUs,
        so its hottest rack stays within its limit (None: no rack has one)."""
        caps = [c for c in map(self.thermal_cap_w, racks) if c is not None]
        return min(caps) if caps else None

    def decide(self) -> None:
        """Ask the policy, add thermal caps, enforce the budget, apply."""
        consumers = self._consumers()
        budget = self.it_budget_w(self.sim.now_s)
        fans = 1.0 + self.fan_ratio()
        fixed_bare = self._fixed_worst_w()
        fixed = fixed_bare * fans + self.network_w
        view = PowerView(
            budget_w=budget,
            it_power_w=self.sim.recorder.ledger.it_power_w(),
            fixed_w=fixed,
            consumers=tuple(
                PowerConsumer(wid, owner.kind, PRIORITY.get(owner.kind, 0), gpus, owner.uncapped_w_per_gpu(),
                              self.policy_caps.get(wid))
                for wid, (owner, gpus, _) in sorted(consumers.items())
            ),
            gpu_min_cap_w=self.gpu_min_cap_w,
            gpu_tdp_w=self.gpu_tdp_w,
        )
        for wid, cap in self.policy.decide(view).items():
            self.policy_caps[wid] = cap
        caps = {wid: self.policy_caps.get(wid) for wid in consumers}
        if budget is not None and self.enforce:
            caps = self._within_budget(caps, consumers, (budget - self.network_w) / fans - fixed_bare)
        capped = thermal = 0
        for wid, (owner, gpus, racks) in sorted(consumers.items()):
            cap = caps[wid]
            hot = self._thermal_cap_w(racks)
            by_heat = hot is not None and (cap is None or hot < cap)
            if by_heat:
                cap = hot
            if cap is not None and cap < owner.uncapped_w_per_gpu():  # throttled: the cap binds
                capped += gpus
                thermal += gpus if by_heat else 0
            if self.applied.get(wid) != cap:
                self.applied[wid] = cap
                owner.set_cap(cap)
                self.sim.recorder.event("cap", f"work/{wid}", "thermal" if hot is not None and cap == hot else
                                        "policy", float("nan") if cap is None else cap)
        self._throttled.set(capped)
        self._thermal.set(thermal)

    def admission_headroom_w(self) -> float:
        """IT power, without server fans, that more work at the minimum cap may still add
        while every GPU allocated now sits at the minimum cap and the budget holds: the
        budget guarantee above with every cap at ``gpu_min_cap_w``. Work of ``g`` GPUs fits
        when ``g x (gpu_min_cap_w - idle) <=`` this; inf without a budget or a capping policy."""
        budget = self.it_budget_w(self.sim.now_s)
        if budget is None or not self.enforce:
            return float("inf")
        c = self.cluster
        allocated = c.topology.gpus_total - c.free_gpus.total
        room_w = (budget - self.network_w) / (1.0 + self.fan_ratio()) - self._fixed_worst_w()
        return room_w - allocated * self.gpu_min_cap_w

    def _fixed_worst_w(self) -> float:
        """IT power no cap can lower, at its highest, without server fans: busy hosts and unallocated idle GPUs."""
        c = self.cluster
        node = c.topology.node
        hosts_w = c.topology.num_nodes * node.host_busy_without_fans_w
        if c.topology.mixed:  # each free GPU at its own rack's idle power
            npr = c.topology.nodes_per_rack
            return hosts_w + sum(len(f) * c.rack_idle_w[n // npr] for n, f in enumerate(c.free))
        return hosts_w + c.free_gpus.total * node.gpu.idle_w

    def _within_budget(self, caps: dict[int, float | None], consumers: dict, room_w: float) -> dict[int, float | None]:
        """Lower caps (never below the minimum) until every GPU at its cap fits ``room_w``."""
        total_gpus = sum(g for _, g, _ in consumers.values())
        if total_gpus == 0:
            return caps
        worst = sum(g * (self.gpu_tdp_w if caps[w] is None else caps[w]) for w, (_, g, _) in consumers.items())
        if worst <= room_w:
            return caps
        floor = self.gpu_min_cap_w * total_gpus
        # scale the part above the minimum by one factor for everyone
        factor = max(0.0, (room_w - floor) / (worst - floor)) if worst > floor else 0.0
        out: dict[int, float | None] = {}
        for w in consumers:
            c = caps[w]
            cap = self.gpu_tdp_w if c is None else c
            out[w] = self.gpu_min_cap_w + (cap - self.gpu_min_cap_w) * factor
        if room_w < floor:
            self.sim.recorder.event("budget_infeasible", "power", "GPUs at their minimum cap exceed the budget",
                                    floor - room_w)
        return out
