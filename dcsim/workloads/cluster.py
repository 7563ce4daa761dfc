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

Racks lose power (:meth:`Cluster.stop_racks`: a thermal shutdown, a UPS run out, a tripped
PDU) and get it back (:meth:`Cluster.restore_racks`). A stopped rack draws nothing (its
GPUs and hosts), no work is placed on it, and every allocation with a GPU in it is
interrupted: the work's ``interrupt(cause)`` releases the allocation at once (training
loses its progress since the last checkpoint, inference requeues its requests) and
queues again. ``gpus_powered_off`` (a level monitor) counts the GPUs of stopped racks.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from dcsim.facility.topology import Topology
from dcsim.policies.scheduling import ClusterView, FreeGpus, Placement, Preemption, QueuedWork, RunningWork

if TYPE_CHECKING:
    from dcsim.core.simulation import Simulation


@dataclass
class WorkRequest:
    """A request for ``gpus`` GPUs; ``start`` is called with the allocation when granted."""

    work_id: int
    name: str
    gpus: int
    start: Callable[[Allocation], None]
    t_submit_s: float = 0.0
    owner: Any = None  # the workload (replica group or job) the power policy can cap
    kind: str = "training"  # training or inference
    priority: int = 0  # higher first, for priority schedulers
    remaining_s: Callable[[], float] | None = None  # expected run time left from now; None: unknown
    preempt: Callable[[], None] | None = None  # checkpoint, release and requeue; None: not preemptible
    extra_power_w: float = 0.0  # IT power the work adds when running (power admission)
    domain_nodes: int = 1  # nodes of a scale-up domain the work stays within (or fills whole); 1: any nodes
    # Its GPUs lost power (the cause: "thermal", "ups", ...): release the allocation now and queue
    # again; None: the work cannot run where racks stop (stop_racks refuses).
    interrupt: Callable[[str], None] | None = None
    gpu_type: str | None = None  # the GPU it runs on, of a facility with several (None: node.gpu)


class Allocation:
    """GPUs granted to one piece of work, with the exact GPU energy it used."""

    def __init__(self, cluster: Cluster, work: WorkRequest, gpu_ids: tuple[int, ...]) -> None:
        self.cluster = cluster
        self.work = work
        self.gpu_ids = gpu_ids
        topo = cluster.topology
        # its GPUs' idle power: every GPU of an allocation is of one type (placement keeps it to its racks)
        self.idle_w = cluster.rack_idle_w[topo.rack_of_node(topo.node_of_gpu(gpu_ids[0]))] if topo.mixed \
            else cluster.idle_w
        self.power_each_w = self.idle_w  # granted GPUs are idle until the work sets them
        self.busy = False
        self.energy_j = 0.0
        self._t_last_s = self.t_granted_s = cluster.sim.now_s
        self.owner = work.owner  # the workload a power policy caps; set by the workload when it starts
        self.released = False
        self.t_released_s = math.nan
        self.releasing = False  # preempted: checkpointing before it releases
        self.nodes: tuple[tuple[int, int], ...] = ()  # (node, GPUs on it), as placed
        self.busy_s = 0.0  # time the GPUs were busy (computing)
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
        self.cluster.set_group_state([self], power_each_w, busy)

    def busy_now_s(self) -> float:
        """Seconds the GPUs have been busy up to now."""
        if self.busy and not self.released:
            return self.busy_s + self.cluster.sim.now_s - self._t_last_s
        return self.busy_s

    def energy_now_j(self) -> float:
        """GPU energy of this allocation up to now (or up to its release)."""
        if self.released:
            return self.energy_j
        return self.energy_j + self.power_each_w * self.gpus * (self.cluster.sim.now_s - self._t_last_s)


class Cluster:
    """GPUs, their allocation to work, and the scheduling queue."""

    def __init__(self, sim: Simulation, topology: Topology, scheduler: Any,
                 power_headroom_w: Callable[[], float] | None = None,
                 rack_temp_c: Callable[[int], float] | None = None, rack_limit_w: float = math.inf,
                 admission_w_per_gpu: float | None = None) -> None:
        self.sim = sim
        self.topology = topology
        self.scheduler = scheduler
        self.power_headroom_w = power_headroom_w  # None: no power admission
        # power admission counts GPUs x this (a GPU at its minimum cap less idle) when a
        # capping policy holds the budget; None: the work's own extra_power_w
        self.admission_w_per_gpu = admission_w_per_gpu
        self.rack_temp_c = rack_temp_c
        self.rack_limit_w = rack_limit_w
        self._next_work_id = 0
        node = topology.node
        led = self.ledger = sim.recorder.ledger
        self.idle_w = node.gpu.idle_w
        self.rack_idle_w = [topology.node_of_rack(r).gpu.idle_w for r in range(topology.num_racks)] \
            if topology.mixed else [self.idle_w] * topology.num_racks  # each rack's GPUs idle
        # One GPU meter and one host meter per rack: the rack's GPUs (hosts) together. A
        # host draws idle power plus a share per busy GPU (NodeSpec.host_power_w is linear).
        # Without the server fans: the facility meters them from the heat and the inlet.
        self.host_w_per_busy_gpu = (node.host_busy_without_fans_w - node.host_idle_without_fans_w) / node.gpus_per_node
        self.free_gpu_meters = []  # per rack: its unallocated GPUs, idle
        self.host_meters = []  # per rack: its hosts' idle power
        self.free_by_rack = [topology.gpus_per_rack] * topology.num_racks
        self.rack_up = [True] * topology.num_racks  # False: the rack has no power (stop_racks)
        self._off_s = [0.0] * topology.num_racks  # per rack: seconds without power before its last switch
        self._t_switch_s = [0.0] * topology.num_racks  # when it last stopped (or 0)
        for r in range(topology.num_racks):
            rack = topology.rack_name(r)
            m = led.meter(f"gpus/{rack}/free", "gpu", rack)
            m.set_power(self.rack_idle_w[r] * topology.gpus_per_rack)
            self.free_gpu_meters.append(m)
            h = led.meter(f"hosts/{rack}", "host", rack)
            h.set_power(node.host_idle_without_fans_w * topology.nodes_per_rack)
            self.host_meters.append(h)
        # per rack: the allocations with GPUs in it (for the hottest GPU)
        self.rack_allocs: list[dict[int, Allocation]] = [{} for _ in range(topology.num_racks)]
        self.free: list[list[int]] = [list(topology.gpus_of_node(n)) for n in range(topology.num_nodes)]
        # the free GPUs per node the scheduler sees, indexed (kept equal to len(self.free[n]) by _freed)
        self.free_gpus = FreeGpus([len(f) for f in self.free], node.gpus_per_node, topology.nodes_per_rack)
        self._n_allocations = 0
        self.queue: list[WorkRequest] = []
        self._queued: dict[int, tuple[WorkRequest, QueuedWork]] = {}  # work id -> queued work, its view
        self._queue_view: tuple[QueuedWork, ...] | None = ()  # None: rebuild from the queue
        self._live: dict[int, Allocation] = {}
        self._start_hooks: list[Callable[[Allocation], None]] = []
        self._busy = sim.recorder.monitor("gpus_busy")
        self._allocated = sim.recorder.monitor("gpus_allocated")
        self._off = sim.recorder.monitor("gpus_powered_off")
        sim.recorder.run_info.gpus_total = topology.gpus_total

    def on_start(self, fn: Callable[[Allocation], None]) -> None:
        """Call ``fn(allocation)`` right after any work starts."""
        self._start_hooks.append(fn)

    def new_work_id(self) -> int:
        """A work id no other work has (for work created during the run)."""
        self._next_work_id += 1
        return self._next_work_id - 1

    def reserve_work_ids(self, n: int) -> None:
        """Ids below ``n`` are taken by work configured up front."""
        self._next_work_id = max(self._next_work_id, n)

    # -- queue and placement -------------------------------------------------------
    def submit(self, work: WorkRequest) -> None:
        """Queue ``work`` and start whatever the policy places."""
        if work.work_id in self._queued or work.work_id in self._live:
            raise RuntimeError(f"work {work.name} (id {work.work_id}) is already queued or running")
        if self.topology.mixed and work.gpu_type is not None and not self.topology.racks_of_type(work.gpu_type):
            raise ValueError(f"work {work.name} asks for {work.gpu_type}, which no rack holds")
        work.t_submit_s = self.sim.now_s
        self.queue.append(work)
        runtime = work.remaining_s() if work.remaining_s is not None else math.inf
        admit_w = None if self.admission_w_per_gpu is None else work.gpus * self.admission_w_per_gpu
        self._queued[work.work_id] = (work, QueuedWork(work.work_id, work.gpus, work.kind, work.priority,
                                                       work.t_submit_s, runtime, work.extra_power_w,
                                                       work.domain_nodes, admit_w))
        self._queue_view = None
        self.sim.recorder.event("submit", work.name, f"gpus={work.gpus}", work.gpus)
        self.schedule()

    def cancel(self, work_id: int) -> bool:
        """Take queued work out of the queue; False if it is not queued."""
        queued = self._queued.pop(work_id, None)
        if queued is None:
            return False
        self.queue.remove(queued[0])
        self._queue_view = None
        self.sim.recorder.event("cancel", queued[0].name, "", queued[0].gpus)
        return True

    def view(self, gpu_type: str | None = None) -> ClusterView:
        """The read-only view the scheduler decides on; with ``gpu_type`` (a mixed fleet), that of
        the racks of one GPU type: its queued work, its free GPUs, the work running on it."""
        if self._queue_view is None:
            self._queue_view = tuple(self._queued[w.work_id][1] for w in self.queue)
        if gpu_type is not None:
            return self._view_of_type(gpu_type)
        topo = self.topology
        sched = self.scheduler
        placement = getattr(sched, "placement", None)
        running: tuple[RunningWork, ...] = ()
        if getattr(sched, "needs_running", False):
            now = self.sim.now_s
            running = tuple(
                RunningWork(a.work.work_id, a.gpus, a.work.kind, a.work.priority, a.nodes,
                            expected_end_s=now + a.work.remaining_s() if a.work.remaining_s is not None else math.inf,
                            t_start_s=a.t_granted_s, preemptible=a.work.preempt is not None, releasing=a.releasing)
                for a in self._live.values()
            )
        rack_power: tuple[float, ...] = ()
        if getattr(placement, "needs_racks_power", False):
            rack_power = tuple(self.ledger.group_power_w(topo.rack_name(r)) for r in range(topo.num_racks))
        rack_temp: tuple[float, ...] = ()
        if getattr(placement, "needs_racks_temp", False) and self.rack_temp_c is not None:
            rack_temp = tuple(self.rack_temp_c(r) for r in range(topo.num_racks))
        return ClusterView(
            gpus_per_node=topo.node.gpus_per_node,
            free_by_node=self.free_gpus,
            queue=self._queue_view,
            now_s=self.sim.now_s,
            running=running,
            nodes_per_rack=topo.nodes_per_rack,
            rack_power_w=rack_power,
            rack_limit_w=self.rack_limit_w,
            rack_temp_c=rack_temp,
            power_headroom_w=self.power_headroom_w() if self.power_headroom_w is not None else math.inf,
        )

    def _view_of_type(self, gpu_type: str) -> ClusterView:
        """The view of the racks of one GPU type: the policy places work only on the nodes of its
        type (the others look full) and sees only the work queued for them and running on them."""
        topo = self.topology
        nodes = topo.nodes_of_type(gpu_type)
        base = topo.node.gpu.name
        view = self.view()
        on_type = {w.work_id for w in self.queue if (w.gpu_type or base) == gpu_type}
        free = tuple(f if n in nodes else 0 for n, f in enumerate(view.free_by_node))
        running = tuple(r for r in view.running if r.nodes and r.nodes[0][0] in nodes)
        return replace(view, free_by_node=free, queue=tuple(q for q in view.queue if q.work_id in on_type),
                       running=running)

    def schedule(self) -> None:
        """Ask the policy for decisions and apply them (on a mixed fleet, per GPU type: work
        runs only on the racks of its own type, so each type's racks are scheduled apart)."""
        if not self.queue:
            return
        if not getattr(self.scheduler, "preempts", False) and self.free_gpus.total == 0:
            return  # nothing can start and nothing is preempted: skip building the view
        types = [g.name for g in self.topology.gpu_types] if self.topology.mixed else [None]
        for gpu_type in types:
            for decision in self.scheduler.decide(self.view(gpu_type)):
                if isinstance(decision, Preemption):
                    self._preempt(decision)
                else:
                    self._apply(decision)

    def _preempt(self, p: Preemption) -> None:
        alloc = self._live.get(p.work_id)
        if alloc is None or alloc.work.preempt is None or alloc.releasing:
            raise RuntimeError(f"policy preempted work {p.work_id}, which is not running preemptible work")
        alloc.releasing = True
        self.sim.recorder.event("preempt", alloc.work.name, p.reason, alloc.gpus)
        alloc.work.preempt()

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
            self._freed(node)
        if len(gpu_ids) != work.gpus:
            raise RuntimeError(f"policy gave work {work.name} {len(gpu_ids)} GPUs, it asked for {work.gpus}")
        self.queue.remove(work)
        del self._queued[work.work_id]
        self._queue_view = None
        self._allocated.add(work.gpus)
        alloc = Allocation(self, work, tuple(gpu_ids))
        alloc.nodes = tuple(p.nodes)
        self._n_allocations += 1
        self._live[work.work_id] = alloc
        self._move_idle(alloc, -1)
        self.sim.recorder.event("start", work.name, f"gpus={gpu_ids[0]}..{gpu_ids[-1]}", work.gpus)
        work.start(alloc)
        for fn in self._start_hooks:
            fn(alloc)

    def _freed(self, node: int) -> None:
        """``self.free[node]`` changed: update the index the scheduler sees."""
        self.free_gpus.set(node, len(self.free[node]))

    def release(self, alloc: Allocation) -> None:
        """Return an allocation's GPUs (idle from now on) and schedule again."""
        alloc.set_state(alloc.idle_w, busy=False)
        alloc.released = True
        alloc.t_released_s = self.sim.now_s
        del self._live[alloc.work.work_id]
        self.ledger.retire(alloc.gpu_meter)
        self.ledger.retire(alloc.host_meter)
        self._move_idle(alloc, +1)
        topo = self.topology
        back: set[int] = set()
        for g in alloc.gpu_ids:
            node = topo.node_of_gpu(g)
            if self.rack_up[topo.rack_of_node(node)]:  # a stopped rack's GPUs come back when it does
                self.free[node].append(g)
                back.add(node)
        for node in back:
            self.free[node].sort()
            self._freed(node)
        self._allocated.add(-alloc.gpus)
        self.sim.recorder.event("end", alloc.work.name, "", alloc.gpus)
        self.schedule()

    # -- power ---------------------------------------------------------------------
    def allocations(self) -> list[Allocation]:
        """Allocations in use, in the order they were granted."""
        return list(self._live.values())

    def set_group_state(self, allocs: list[Allocation], power_each_w: float, busy: bool) -> None:
        """Set many allocations to one state at once (:meth:`Allocation.set_state` of each, in
        one pass: a fluid service sets hundreds of replicas every control tick): close each
        one's energy account to now, take the new state, and change the meters of those whose
        power or busy state changed in one ledger call (IT listeners hear of it once)."""
        now = self.sim.now_s
        host_w = self.host_w_per_busy_gpu
        changes: list = []
        busy_gpus = 0
        for a in allocs:
            if a.released:
                raise RuntimeError(f"work {a.work.name}: allocation used after release")
            n = len(a.gpu_ids)
            dt = now - a._t_last_s
            a.energy_j += a.power_each_w * n * dt
            if a.busy:
                a.busy_s += dt
            a._t_last_s = now
            if busy != a.busy:
                a.busy = busy
                busy_gpus += n
                changes.append((a.host_meter, host_w * n if busy else 0.0))
            if power_each_w != a.power_each_w:
                a.power_each_w = power_each_w
                changes.append((a.gpu_meter, power_each_w * n))
        if busy_gpus:  # one change of the level, all the same sign: the same integral and maximum
            self._busy.add(busy_gpus if busy else -busy_gpus)
        if changes:
            self.ledger.set_powers(changes)

    def _move_idle(self, alloc: Allocation, sign: int) -> None:
        """Take an allocation's GPUs out of (-1) or back into (+1) its racks' free meters."""
        wid = alloc.work.work_id
        changes = [(alloc.gpu_meter, alloc.power_each_w * alloc.gpus)] if sign < 0 else []
        for rack, count in alloc.rack_gpus:
            self.free_by_rack[rack] += sign * count
            changes.append(self._free_meter_power(rack))
            if sign < 0:
                self.rack_allocs[rack][wid] = alloc
            else:
                del self.rack_allocs[rack][wid]
        self.ledger.set_powers(changes)

    def _free_meter_power(self, rack: int) -> tuple[Any, float]:
        """A rack's free-GPU meter and its power: its unallocated GPUs idle, nothing while stopped."""
        return self.free_gpu_meters[rack], self.rack_idle_w[rack] * self.free_by_rack[rack] if self.rack_up[rack] \
            else 0.0

    # -- racks losing and regaining power ------------------------------------------------
    def stop_racks(self, racks: list[int], cause: str) -> None:
        """Racks lose power now: they draw nothing, no work is placed on them, and every
        allocation with a GPU in one is interrupted (its work releases it and queues again).
        Racks already stopped are left as they are."""
        topo = self.topology
        racks = sorted({r for r in racks if self.rack_up[r]})
        if not racks:
            return
        changes: list = []
        now = self.sim.now_s
        for r in racks:
            self.rack_up[r] = False
            self._t_switch_s[r] = now
            for n in range(r * topo.nodes_per_rack, (r + 1) * topo.nodes_per_rack):
                self.free[n] = []
                self._freed(n)
            changes += [self._free_meter_power(r), (self.host_meters[r], 0.0)]
        self.ledger.set_powers(changes)
        self._off.add(len(racks) * topo.gpus_per_rack)
        hit = {wid: a for r in racks for wid, a in self.rack_allocs[r].items()}
        for wid in sorted(hit):
            alloc = hit[wid]
            if alloc.released:
                continue
            if alloc.work.interrupt is None:
                raise RuntimeError(f"work {alloc.work.name} cannot be interrupted, and its rack stopped ({cause})")
            self.sim.recorder.event("interrupt", alloc.work.name, cause, alloc.gpus)
            alloc.work.interrupt(cause)
            if not alloc.released:
                raise RuntimeError(f"work {alloc.work.name} kept its allocation when interrupted ({cause})")
        self.schedule()

    def restore_racks(self, racks: list[int], cause: str) -> None:
        """Stopped racks have power again: their GPUs and hosts idle, free for work."""
        topo = self.topology
        racks = sorted({r for r in racks if not self.rack_up[r]})
        if not racks:
            return
        changes: list = []
        idle_host_w = topo.node.host_idle_without_fans_w * topo.nodes_per_rack
        now = self.sim.now_s
        for r in racks:
            self.rack_up[r] = True
            self._off_s[r] += now - self._t_switch_s[r]
            for n in range(r * topo.nodes_per_rack, (r + 1) * topo.nodes_per_rack):
                self.free[n] = list(topo.gpus_of_node(n))  # every allocation there was interrupted
                self._freed(n)
            changes += [self._free_meter_power(r), (self.host_meters[r], idle_host_w)]
        self.ledger.set_powers(changes)
        self._off.add(-len(racks) * topo.gpus_per_rack)
        self.schedule()

    def rack_off_s(self, rack: int) -> float:
        """Seconds the rack has been without power up to now."""
        off = self._off_s[rack]
        return off if self.rack_up[rack] else off + self.sim.now_s - self._t_switch_s[rack]

    def hottest_gpu_w(self, rack: int) -> float:
        """Per-GPU power of the most power-hungry allocation in a rack (idle if none, 0 W stopped)."""
        if not self.rack_up[rack]:
            return 0.0
        allocs = self.rack_allocs[rack]
        return max((a.power_each_w for a in allocs.values()), default=self.rack_idle_w[rack])

    def hottest_gpus_w(self) -> list[float]:
        """:meth:`hottest_gpu_w` of every rack, in one pass over the allocations in use."""
        hottest = [-math.inf] * self.topology.num_racks
        for a in self._live.values():
            power_w = a.power_each_w
            for rack, _ in a.rack_gpus:
                if power_w > hottest[rack]:
                    hottest[rack] = power_w
        return [(p if p != -math.inf else idle_w) if up else 0.0
                for p, idle_w, up in zip(hottest, self.rack_idle_w, self.rack_up)]

    def rack_power_w(self, alloc: Allocation) -> float:
        """IT power now of the rack holding an allocation's first GPU."""
        return self.ledger.group_power_w(self.topology.rack_name(alloc.rack_gpus[0][0]))
