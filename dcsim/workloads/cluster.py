"""The cluster: every GPU's state and power, and the queue of work waiting for GPUs.

Work (an inference replica or a training job) is submitted with a GPU count and a
start callback. Whenever the queue or the free GPUs change, the scheduling policy
sees a read-only view and returns placements, which the cluster applies: it grants
an :class:`Allocation` and calls the work's start callback.

Power metering: each rack has a meter for its unallocated GPUs (idle) and one for its
hosts' idle power. Each allocation has two *spread* meters (``EnergyLedger.spread_meter``)
split over its racks by GPU count: its GPUs' power, and the busy part of its hosts'
power (a host draws idle power plus a share per busy GPU, ``NodeSpec.host_power_w`` is
linear). A power change of work spanning hundreds of racks is therefore O(1).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from dcsim.facility.topology import Topology
from dcsim.policies.scheduling import ClusterView, Placement, QueuedWork

if TYPE_CHECKING:
    from dcsim.core.simulation import Simulation


@dataclass
class WorkRequest:
    """A request for ``gpus`` GPUs; ``start`` is called with the allocation when granted."""

    work_id: int
    name: str
    gpus: int
    start: Callable[["Allocation"], None]
    t_submit_s: float = 0.0
    owner: Any = None  # the workload (replica group or job) the power policy can cap


class Allocation:
    """GPUs granted to one piece of work, with the exact GPU energy it used."""

    def __init__(self, cluster: "Cluster", work: WorkRequest, gpu_ids: tuple[int, ...]) -> None:
        self.cluster = cluster
        self.work = work
        self.gpu_ids = gpu_ids
        self.power_each_w = cluster.idle_w  # granted GPUs are idle until the work sets them
        self.busy = False
        self.energy_j = 0.0
        self._t_last_s = self.t_granted_s = cluster.sim.now_s
        self.owner = work.owner  # the workload a power policy caps; set by the workload when it starts
        self.released = False
        topo = cluster.topology
        per_rack: dict[int, int] = {}
        for g in gpu_ids:
            r = topo.rack_of_node(topo.node_of_gpu(g))
            per_rack[r] = per_rack.get(r, 0) + 1
        self.rack_gpus = tuple(sorted(per_rack.items()))  # (rack, GPUs of this allocation in it)
        n = len(gpu_ids)
        shares = tuple((topo.rack_name(r), count / n) for r, count in self.rack_gpus)
        led = cluster.ledger
        tag = f"{work.name}#{cluster._n_allocations}"
        self.gpu_meter = led.spread_meter(f"gpus/{tag}", "gpu", shares)
        self.host_meter = led.spread_meter(f"hosts/{tag}", "host", shares)

    @property
    def gpus(self) -> int:
        return len(self.gpu_ids)

    def set_state(self, power_each_w: float, busy: bool) -> None:
        """Every GPU of the allocation draws ``power_each_w`` from now on; ``busy`` if computing."""
        changes = self._account(power_each_w, busy)
        if changes:
            self.cluster.ledger.set_powers(changes)

    def _account(self, power_each_w: float, busy: bool) -> list:
        """Close the energy account to now and take the new state; the meters' new powers."""
        if self.released:
            raise RuntimeError(f"work {self.work.name}: allocation used after release")
        c = self.cluster
        now = c.sim.now_s
        self.energy_j += self.power_each_w * self.gpus * (now - self._t_last_s)
        self._t_last_s = now
        out = []
        if busy != self.busy:
            self.busy = busy
            c._busy.add(self.gpus if busy else -self.gpus)
            out.append((self.host_meter, c._host_w_per_busy_gpu * self.gpus if busy else 0.0))
        if power_each_w != self.power_each_w:
            self.power_each_w = power_each_w
            out.append((self.gpu_meter, power_each_w * self.gpus))
        return out

    def energy_now_j(self) -> float:
        """GPU energy of this allocation up to now (or up to its release)."""
        if self.released:
            return self.energy_j
        return self.energy_j + self.power_each_w * self.gpus * (self.cluster.sim.now_s - self._t_last_s)


class Cluster:
    """GPUs, their allocation to work, and the scheduling queue."""

    def __init__(self, sim: "Simulation", topology: Topology, scheduler: Any) -> None:
        self.sim = sim
        self.topology = topology
        self.scheduler = scheduler
        node = topology.node
        led = self.ledger = sim.recorder.ledger
        self.idle_w = node.gpu.idle_w
        # One GPU meter and one host meter per rack: the rack's GPUs (hosts) together. A
        # host draws idle power plus a share per busy GPU (NodeSpec.host_power_w is linear).
        self._host_w_per_busy_gpu = (node.host_busy_w - node.host_idle_w) / node.gpus_per_node
        self.free_gpu_meters = []  # per rack: its unallocated GPUs, idle
        self.free_by_rack = [topology.gpus_per_rack] * topology.num_racks
        for r in range(topology.num_racks):
            rack = topology.rack_name(r)
            m = led.meter(f"gpus/{rack}/free", "gpu", rack)
            m.set_power(self.idle_w * topology.gpus_per_rack)
            self.free_gpu_meters.append(m)
            h = led.meter(f"hosts/{rack}", "host", rack)
            h.set_power(node.host_idle_w * topology.nodes_per_rack)
        # per rack: the allocations with GPUs in it (for the hottest GPU)
        self.rack_allocs: list[dict[int, Allocation]] = [{} for _ in range(topology.num_racks)]
        self.free: list[list[int]] = [list(topology.gpus_of_node(n)) for n in range(topology.num_nodes)]
        self._n_allocations = 0
        self.queue: list[WorkRequest] = []
        self._queued: dict[int, tuple[WorkRequest, QueuedWork]] = {}  # work id -> queued work, its view
        self._queue_view: tuple[QueuedWork, ...] | None = ()  # None: rebuild from the queue
        self._live: dict[int, Allocation] = {}
        self._start_hooks: list[Callable[[Allocation], None]] = []
        self._busy = sim.recorder.monitor("gpus_busy")
        self._allocated = sim.recorder.monitor("gpus_allocated")
        sim.recorder.meta["gpus_total"] = topology.gpus_total

    def on_start(self, fn: Callable[["Allocation"], None]) -> None:
        """Call ``fn(allocation)`` right after any work starts."""
        self._start_hooks.append(fn)

    # -- queue and placement -------------------------------------------------------
    def submit(self, work: WorkRequest) -> None:
        """Queue ``work`` and start whatever the policy places."""
        work.t_submit_s = self.sim.now_s
        self.queue.append(work)
        self._queued[work.work_id] = (work, QueuedWork(work.work_id, work.gpus))
        self._queue_view = None
        self.sim.recorder.event("submit", work.name, f"gpus={work.gpus}", work.gpus)
        self.schedule()

    def schedule(self) -> None:
        """Ask the policy for placements and apply them."""
        if not self.queue:
            return
        if self._queue_view is None:
            self._queue_view = tuple(self._queued[w.work_id][1] for w in self.queue)
        view = ClusterView(
            gpus_per_node=self.topology.node.gpus_per_node,
            free_by_node=tuple(len(f) for f in self.free),
            queue=self._queue_view,
        )
        for placement in self.scheduler.decide(view):
            self._apply(placement)

    def _apply(self, p: Placement) -> None:
        queued = self._queued.get(p.work_id)
        if queued is None:
            raise RuntimeError(f"policy placed work {p.work_id}, which is not queued")
        work = queued[0]
        gpu_ids: list[int] = []
        for node, count in p.nodes:
            if count > len(self.free[node]):
                raise RuntimeError(f"policy placed {count} GPUs on node {node}, which has {len(self.free[node])} free")
            gpu_ids += self.free[node][:count]
            del self.free[node][:count]
        if len(gpu_ids) != work.gpus:
            raise RuntimeError(f"policy gave work {work.name} {len(gpu_ids)} GPUs, it asked for {work.gpus}")
        self.queue.remove(work)
        del self._queued[work.work_id]
        self._queue_view = None
        self._allocated.add(work.gpus)
        alloc = Allocation(self, work, tuple(gpu_ids))
        self._n_allocations += 1
        self._live[work.work_id] = alloc
        self._move_idle(alloc, -1)
        self.sim.recorder.event("start", work.name, f"gpus={gpu_ids[0]}..{gpu_ids[-1]}", work.gpus)
        work.start(alloc)
        for fn in self._start_hooks:
            fn(alloc)

    def release(self, alloc: Allocation) -> None:
        """Return an allocation's GPUs (idle from now on) and schedule again."""
        alloc.set_state(self.idle_w, busy=False)
        alloc.released = True
        del self._live[alloc.work.work_id]
        self.ledger.retire(alloc.gpu_meter)
        self.ledger.retire(alloc.host_meter)
        self._move_idle(alloc, +1)
        for g in alloc.gpu_ids:
            self.free[self.topology.node_of_gpu(g)].append(g)
        for f in self.free:
            f.sort()
        self._allocated.add(-alloc.gpus)
        self.sim.recorder.event("end", alloc.work.name, "", alloc.gpus)
        self.schedule()

    # -- power ---------------------------------------------------------------------
    def allocations(self) -> list[Allocation]:
        """Allocations in use, in the order they were granted."""
        return list(self._live.values())

    def set_group_state(self, allocs: list[Allocation], power_each_w: float, busy: bool) -> None:
        """Set many allocations to one state at once (IT listeners hear of it once)."""
        changes: list = []
        for a in allocs:
            changes += a._account(power_each_w, busy)
        if changes:
            self.ledger.set_powers(changes)

    def _move_idle(self, alloc: Allocation, sign: int) -> None:
        """Take an allocation's GPUs out of (-1) or back into (+1) its racks' free meters."""
        wid = alloc.work.work_id
        changes = [(alloc.gpu_meter, alloc.power_each_w * alloc.gpus)] if sign < 0 else []
        for rack, count in alloc.rack_gpus:
            self.free_by_rack[rack] += sign * count
            changes.append((self.free_gpu_meters[rack], self.idle_w * self.free_by_rack[rack]))
            if sign < 0:
                self.rack_allocs[rack][wid] = alloc
            else:
                del self.rack_allocs[rack][wid]
        self.ledger.set_powers(changes)

    def hottest_gpu_w(self, rack: int) -> float:
        """Per-GPU power of the most power-hungry allocation in a rack (idle if none)."""
        allocs = self.rack_allocs[rack]
        return max((a.power_each_w for a in allocs.values()), default=self.idle_w)

    def rack_power_w(self, alloc: Allocation) -> float:
        """IT power now of the rack holding an allocation's first GPU."""
        return self.ledger.group_power_w(self.topology.rack_name(alloc.rack_gpus[0][0]))
