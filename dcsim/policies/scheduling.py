"""Scheduling policies: which queued work starts now, on which GPUs, and what is preempted.

A policy sees a read-only :class:`ClusterView` (free GPUs per node, the queue in
submission order, the running work, rack power and temperature, the power headroom) and
returns decisions: :class:`Placement` (start this work on these nodes) and
:class:`Preemption` (checkpoint and requeue this running work). The cluster applies
them. Policies hold no simulation state and are unit-tested on constructed views.

Two choices are separate:

- the **scheduler** (``SCHEDULERS``) decides the order and who is preempted: ``fifo``,
  ``easy_backfill``, ``priority`` (with preemption) and ``inference_first``;
- the **placement** (``PLACEMENTS``) decides the nodes: ``pack`` (fewest racks:
  topology-aware), ``spread`` (as many racks as possible), ``power_aware`` (lowest rack
  power, never past a rack's limit) and ``thermal_aware`` (coolest racks first).

Work of up to one node's GPUs goes on one node; larger work takes whole free nodes.
Work bound to scale-up domains (``domain_nodes`` > 1, an inference replica in an NVL72
rack) takes whole free nodes of one domain when it fits one, else whole free domains.
With ``power_headroom_w`` finite (power admission), work whose admission power
(``QueuedWork.admission_power_w``: its extra IT power, or with a capping policy its power
at the GPUs' minimum cap) would exceed the headroom is not started.
"""

from __future__ import annotations

import math
from bisect import bisect_left, insort
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from itertools import islice
from typing import Literal, overload

from dcsim.policies.registry import PLACEMENTS, SCHEDULERS, register

Nodes = tuple[tuple[int, int], ...]  # (node, GPUs on it)


@dataclass(frozen=True, slots=True)
class QueuedWork:
    """A queued request for GPUs."""

    work_id: int
    gpus: int
    kind: str = "training"  # training or inference
    priority: int = 0  # higher goes first (priority schedulers)
    t_submit_s: float = 0.0
    runtime_s: float = math.inf  # expected run time once started (backfill); inf: unknown
    extra_power_w: float = 0.0  # IT power the work adds when it runs (power admission)
    domain_nodes: int = 1  # nodes of one scale-up domain the work stays within (or fills whole); 1: any nodes
    # IT power power admission counts for the work: at the GPUs' minimum cap when a capping
    # policy holds the budget (it caps what admission lets in); None: extra_power_w
    admit_power_w: float | None = None

    @property
    def admission_power_w(self) -> float:
        """The IT power admission needs room for before the work starts."""
        return self.extra_power_w if self.admit_power_w is None else self.admit_power_w


@dataclass(frozen=True, slots=True)
class RunningWork:
    """Work holding GPUs."""

    work_id: int
    gpus: int
    kind: str
    priority: int
    nodes: Nodes
    expected_end_s: float = math.inf  # inf: unknown (an inference replica)
    t_start_s: float = 0.0
    preemptible: bool = False
    releasing: bool = False  # preempted, checkpointing: its GPUs come back soon


@dataclass(frozen=True, slots=True)
class ClusterView:
    """What a scheduler may see."""

    gpus_per_node: int
    free_by_node: Sequence[int]  # a tuple, or the cluster's FreeGpus (read-only here)
    queue: tuple[QueuedWork, ...]
    now_s: float = 0.0
    running: tuple[RunningWork, ...] = ()
    nodes_per_rack: int = 1
    rack_power_w: tuple[float, ...] = ()  # IT power per rack now (power-aware placement)
    rack_limit_w: float = math.inf  # a rack's power limit
    rack_temp_c: tuple[float, ...] = ()  # hottest GPU per rack now (thermal-aware placement)
    power_headroom_w: float = math.inf  # IT power admission may still let in; inf: no admission control

    def rack_of(self, node: int) -> int:
        return node // self.nodes_per_rack


@dataclass(frozen=True, slots=True)
class Placement:
    """Start ``work_id`` with ``count`` GPUs on each listed node."""

    work_id: int
    nodes: Nodes


@dataclass(frozen=True, slots=True)
class Preemption:
    """Checkpoint ``work_id``, release its GPUs and requeue it."""

    work_id: int
    reason: str = ""


# -- free GPUs per node, indexed ----------------------------------------------------------------
class _Groups:
    """Contiguous node spans (racks, or scale-up domains) by their count of whole free nodes."""

    def __init__(self, spans: list[tuple[int, int]], counts: Sequence[int], g: int) -> None:
        self.spans = spans
        self.of_node: list[list[int]] = [[] for _ in range(len(counts))]
        for i, (a, b) in enumerate(spans):
            for n in range(a, b):
                self.of_node[n].append(i)
        self.whole = [sum(1 for n in range(a, b) if counts[n] == g) for a, b in spans]
        self.by_whole: list[list[int]] = [[] for _ in range(max((b - a for a, b in spans), default=0) + 1)]
        for i, w in enumerate(self.whole):
            self.by_whole[w].append(i)

    def move(self, node: int, delta: int) -> None:
        """``node`` became whole free (+1) or stopped being so (-1)."""
        for i in self.of_node[node]:
            w = self.whole[i]
            b = self.by_whole[w]
            del b[bisect_left(b, i)]
            self.whole[i] = w + delta
            insort(self.by_whole[w + delta], i)


class FreeGpus(Sequence[int]):
    """Free GPUs per node, a read-only sequence with an index, so :class:`PackPlacement`
    finds nodes without scanning them all: the nodes of each free count and the racks (and
    scale-up domains) of each count of whole free nodes, in index order. The cluster keeps
    one up to date (:meth:`set`); a decision takes GPUs from a :meth:`fork` (its own counts
    over the cluster's). Answers are those of the scan over a plain sequence of the counts.
    """

    def __init__(self, counts: Sequence[int], gpus_per_node: int, nodes_per_rack: int) -> None:
        self._base = self
        self._over: dict[int, int] = {}  # a fork's counts that differ from the base's
        self._counts = list(counts)
        self.gpus_per_node = gpus_per_node
        self.nodes_per_rack = nodes_per_rack
        self._by_count: list[list[int]] = [[] for _ in range(gpus_per_node + 1)]
        for n, c in enumerate(self._counts):
            self._by_count[c].append(n)
        self.total = sum(self._counts)  # free GPUs in all
        self._groups: dict[int, _Groups] = {}  # domain nodes (0: racks) -> index, built when first asked

    def fork(self) -> FreeGpus:
        """A copy to take GPUs from (``free[node] -= count``), in O(1); the base stays as it is."""
        f = object.__new__(FreeGpus)
        f._base, f._over, f._counts, f.total = self._base, dict(self._over), self._base._counts, self.total
        f.gpus_per_node, f.nodes_per_rack = self.gpus_per_node, self.nodes_per_rack
        return f

    def __len__(self) -> int:
        return len(self._counts)

    @overload
    def __getitem__(self, i: int) -> int: ...
    @overload
    def __getitem__(self, i: slice) -> list[int]: ...
    def __getitem__(self, i: int | slice) -> int | list[int]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self._counts)))]
        if not self._over:
            return self._counts[i]
        return self._over.get(i if i >= 0 else i + len(self._counts), self._counts[i])

    def __iter__(self) -> Iterator[int]:
        if not self._over:
            return iter(self._counts)
        return (self._over.get(n, c) for n, c in enumerate(self._counts))

    def __setitem__(self, node: int, count: int) -> None:
        if self._base is self:
            raise TypeError("the cluster's free GPUs change through set(); take from a fork()")
        node = node if node >= 0 else node + len(self._counts)
        self.total += count - self[node]
        self._over[node] = count

    def set(self, node: int, count: int) -> None:
        """The cluster's node ``node`` has ``count`` free GPUs now."""
        old = self._counts[node]
        if old == count:
            return
        b = self._by_count[old]
        del b[bisect_left(b, node)]
        insort(self._by_count[count], node)
        self._counts[node] = count
        self.total += count - old
        g = self.gpus_per_node
        if (old == g) != (count == g):
            for groups in self._groups.values():
                groups.move(node, 1 if count == g else -1)

    def fullest_fit(self, gpus: int) -> int | None:
        """The node with the fewest free GPUs, at least ``gpus`` (the lowest such index), or None."""
        over = self._over
        best: tuple[int, int] | None = None
        for c in range(gpus, self.gpus_per_node + 1):
            n = next((n for n in self._base._by_count[c] if n not in over), None)
            if n is not None:
                best = (c, n)
                break
        for n, c in over.items():
            if c >= gpus and (best is None or (c, n) < best):
                best = (c, n)
        return None if best is None else best[1]

    def _group_index(self, domain_nodes: int) -> _Groups:
        base = self._base
        groups = base._groups.get(domain_nodes)
        if groups is None:
            n, npr = len(base._counts), base.nodes_per_rack
            racks = [(r * npr, min((r + 1) * npr, n)) for r in range(-(-n // npr))]
            spans = racks if domain_nodes == 0 else [
                (first, min(first + domain_nodes, n)) for a, b in racks for first in range(a, b, domain_nodes)]
            groups = base._groups[domain_nodes] = _Groups(spans, base._counts, base.gpus_per_node)
        return groups

    def _whole(self, span: tuple[int, int]) -> list[int]:
        g = self.gpus_per_node
        return [n for n in range(*span) if self[n] == g]

    def best_group(self, domain_nodes: int, need: int) -> list[int] | None:
        """The whole free nodes of the rack (``domain_nodes`` 0) or domain with the fewest of
        them that are at least ``need`` (the first such), or None."""
        groups = self._group_index(domain_nodes)
        touched = {i for n in self._over for i in groups.of_node[n]}
        best: tuple[int, int] | None = None
        for k in range(need, len(groups.by_whole)):
            i = next((i for i in groups.by_whole[k] if i not in touched), None)
            if i is not None:
                best = (k, i)
                break
        for i in touched:
            k = len(self._whole(groups.spans[i]))
            if k >= need and (best is None or (k, i) < best):
                best = (k, i)
        return None if best is None else self._whole(groups.spans[best[1]])

    def whole_domains(self, domain_nodes: int, count: int) -> list[list[int]]:
        """The first ``count`` (or fewer) domains of ``domain_nodes`` nodes all free, their nodes."""
        groups = self._group_index(domain_nodes)
        touched = {i for n in self._over for i in groups.of_node[n]}
        full = groups.by_whole[domain_nodes] if domain_nodes < len(groups.by_whole) else []
        picked = list(islice((i for i in full if i not in touched), count))
        picked += [i for i in touched if len(self._whole(groups.spans[i])) == domain_nodes]
        return [list(range(*groups.spans[i])) for i in sorted(picked)[:count]]


# -- placements -------------------------------------------------------------------------------
class _Placement:
    """Choose nodes for ``gpus`` GPUs given free GPUs per node, or None.

    Subclasses order candidate racks (``rack_order``); within a rack nodes go in index
    order. Partial-node work goes on the first node, in rack order, that has room (the
    fullest such node within a rack, keeping whole nodes free for large work).
    """

    needs_racks_power = False
    needs_racks_temp = False

    def place(self, gpus: int, free: Sequence[int], view: ClusterView, extra_w: float = 0.0,
              domain_nodes: int = 1) -> Nodes | None:
        """Nodes for ``gpus`` GPUs that add ``extra_w`` of IT power, or None; with ``domain_nodes`` > 1,
        inside one scale-up domain of that many nodes (or on whole domains)."""
        g = view.gpus_per_node
        npr = view.nodes_per_rack
        n_racks = -(-len(free) // npr)
        order = self.rack_order(gpus, free, view, n_racks, extra_w)
        if domain_nodes > 1 and gpus > g:
            return self.place_in_domains(gpus, free, view, order, domain_nodes)
        if gpus <= g:
            for r in order:
                nodes = [n for n in range(r * npr, min((r + 1) * npr, len(free))) if free[n] >= gpus]
                if nodes:
                    return ((min(nodes, key=lambda n: (free[n], n)), gpus),)
            return None
        need = gpus // g
        whole = {r: [n for n in range(r * npr, min((r + 1) * npr, len(free))) if free[n] == g] for r in order}
        chosen = self.take_whole(need, order, whole)
        return tuple((n, g) for n in sorted(chosen)) if chosen is not None else None

    def rack_order(self, gpus: int, free: Sequence[int], view: ClusterView, n_racks: int,
                   extra_w: float) -> list[int]:
        return list(range(n_racks))

    def place_in_domains(self, gpus: int, free: Sequence[int], view: ClusterView, order: list[int],
                         domain_nodes: int) -> Nodes | None:
        """Whole free nodes of one domain of ``domain_nodes`` nodes (the first that fits, racks
        in order), or, for work larger than a domain, the first whole free domains."""
        g, npr = view.gpus_per_node, view.nodes_per_rack
        need = gpus // g
        domains = [[n for n in range(first, min(first + domain_nodes, len(free))) if free[n] == g]
                   for r in order for first in range(r * npr, min((r + 1) * npr, len(free)), domain_nodes)]
        if need <= domain_nodes:
            fits = [d for d in domains if len(d) >= need]
            return tuple((n, g) for n in self.pick_domain(fits)[:need]) if fits else None
        whole = [d for d in domains if len(d) == domain_nodes][: need // domain_nodes]
        if len(whole) * domain_nodes < need:
            return None
        return tuple((n, g) for n in sorted(n for d in whole for n in d))

    def pick_domain(self, fits: list[list[int]]) -> list[int]:
        """The domain (its whole free nodes) work that fits one goes to: the first."""
        return fits[0]

    def take_whole(self, need: int, order: list[int], whole: dict[int, list[int]]) -> list[int] | None:
        """First whole free nodes, racks in order."""
        out: list[int] = []
        for r in order:
            out += whole[r][: need - len(out)]
            if len(out) == need:
                return out
        return None


@register(PLACEMENTS, "pack")
class PackPlacement(_Placement):
    """Topology-aware: a job's nodes in as few racks as possible.

    If one rack has enough whole free nodes, the rack with the fewest that suffice (best
    fit, leaving larger holes for larger jobs); otherwise racks with the most whole free
    nodes first. Partial-node work goes to the fullest node that fits.
    """

    def place(self, gpus: int, free: Sequence[int], view: ClusterView, extra_w: float = 0.0,
              domain_nodes: int = 1) -> Nodes | None:
        if isinstance(free, FreeGpus):
            found = self.place_indexed(gpus, free, view.gpus_per_node, domain_nodes)
            if found is not False:
                return found
        if gpus <= view.gpus_per_node:
            fits = [n for n, f in enumerate(free) if f >= gpus]
            return ((min(fits, key=lambda n: (free[n], n)), gpus),) if fits else None
        return super().place(gpus, free, view, extra_w, domain_nodes)

    def place_indexed(self, gpus: int, free: FreeGpus, g: int, domain_nodes: int) -> Nodes | None | Literal[False]:
        """What :meth:`place` decides, from the index (O(GPUs per node + nodes per rack) for
        work on one node, one rack or in domains); False: work spanning racks, scan."""
        if domain_nodes > 1 and gpus > g:
            need = gpus // g
            if need <= domain_nodes:
                nodes = free.best_group(domain_nodes, need)
                return tuple((n, g) for n in nodes[:need]) if nodes is not None else None
            domains = free.whole_domains(domain_nodes, need // domain_nodes)
            if len(domains) * domain_nodes < need:
                return None
            return tuple((n, g) for n in sorted(n for d in domains for n in d))
        if gpus <= g:
            node = free.fullest_fit(gpus)
            return ((node, gpus),) if node is not None else None
        need = gpus // g
        nodes = free.best_group(0, need)
        return tuple((n, g) for n in sorted(nodes[:need])) if nodes is not None else False

    def take_whole(self, need: int, order: list[int], whole: dict[int, list[int]]) -> list[int] | None:
        single = [r for r in order if len(whole[r]) >= need]
        if single:
            best = min(single, key=lambda r: (len(whole[r]), r))
            return whole[best][:need]
        by_size = sorted(order, key=lambda r: (-len(whole[r]), r))
        return super().take_whole(need, by_size, whole)

    def pick_domain(self, fits: list[list[int]]) -> list[int]:
        """Best fit: the domain with the fewest whole free nodes that suffice."""
        return min(fits, key=len)


@register(PLACEMENTS, "spread")
class SpreadPlacement(_Placement):
    """As many racks as possible: one node per rack in turn (the opposite of packing)."""

    def rack_order(self, gpus: int, free: Sequence[int], view: ClusterView, n_racks: int,
                   extra_w: float) -> list[int]:
        npr = view.nodes_per_rack
        # emptiest racks first for partial-node work
        return sorted(range(n_racks), key=lambda r: (-sum(free[r * npr:(r + 1) * npr]), r))

    def take_whole(self, need: int, order: list[int], whole: dict[int, list[int]]) -> list[int] | None:
        if sum(len(v) for v in whole.values()) < need:
            return None
        out: list[int] = []
        depth = 0
        racks = sorted(whole)
        while len(out) < need:
            for r in racks:
                if depth < len(whole[r]) and len(out) < need:
                    out.append(whole[r][depth])
            depth += 1
        return out


@register(PLACEMENTS, "power_aware")
class PowerAwarePlacement(_Placement):
    """Racks with the lowest power first; a rack the work would push past its limit is
    skipped (the work's extra power is split evenly over its GPUs)."""

    needs_racks_power = True

    def rack_order(self, gpus: int, free: Sequence[int], view: ClusterView, n_racks: int,
                   extra_w: float) -> list[int]:
        power = view.rack_power_w or (0.0,) * n_racks
        add = extra_w / gpus * min(gpus, view.gpus_per_node * view.nodes_per_rack)
        ok = [r for r in range(n_racks) if power[r] + add <= view.rack_limit_w]
        return sorted(ok, key=lambda r: (power[r], r))


@register(PLACEMENTS, "thermal_aware")
class ThermalAwarePlacement(_Placement):
    """Coolest racks first (hottest GPU per rack), so heat does not pile up."""

    needs_racks_temp = True

    def rack_order(self, gpus: int, free: Sequence[int], view: ClusterView, n_racks: int,
                   extra_w: float) -> list[int]:
        temp = view.rack_temp_c or (0.0,) * n_racks
        return sorted(range(n_racks), key=lambda r: (temp[r], r))


# -- schedulers -------------------------------------------------------------------------------
class _Room:
    """What is left during one decision: free GPUs per node, power headroom, rack power."""

    def __init__(self, view: ClusterView, free: Sequence[int] | None = None) -> None:
        self.view = view
        free = view.free_by_node if free is None else free
        self.free = free.fork() if isinstance(free, FreeGpus) else list(free)
        self.headroom_w = view.power_headroom_w
        self.rack_power_w = list(view.rack_power_w)

    def find(self, placement: _Placement, work: QueuedWork) -> Nodes | None:
        """Nodes for ``work`` in what is left, within the power headroom (nothing is taken)."""
        if work.admission_power_w > self.headroom_w:
            return None
        view = self.view
        if self.rack_power_w and placement.needs_racks_power:
            view = replace(view, rack_power_w=tuple(self.rack_power_w))
        return placement.place(work.gpus, self.free, view, work.extra_power_w, work.domain_nodes)

    def take(self, work: QueuedWork, nodes: Nodes) -> None:
        for node, count in nodes:
            self.free[node] -= count
            if self.rack_power_w:
                self.rack_power_w[self.view.rack_of(node)] += work.extra_power_w * count / work.gpus
        self.headroom_w -= work.admission_power_w


@dataclass
class _Scheduler:
    placement: _Placement = field(default_factory=PackPlacement)
    needs_running = False  # the view must list running work
    preempts = False  # may decide something with no GPU free

    def _try(self, work: QueuedWork, room: _Room) -> Nodes | None:
        """Nodes for ``work`` now, taken from ``room``; None if it does not fit."""
        nodes = room.find(self.placement, work)
        if nodes is not None:
            room.take(work, nodes)
        return nodes


@register(SCHEDULERS, "fifo")
class FifoScheduler(_Scheduler):
    """Strict first-in first-out: start queued work in order until the head does not fit."""

    def decide(self, view: ClusterView) -> list[Placement | Preemption]:
        room = _Room(view)
        out: list[Placement | Preemption] = []
        for work in view.queue:
            nodes = self._try(work, room)
            if nodes is None:
                break
            out.append(Placement(work.work_id, nodes))
        return out


@register(SCHEDULERS, "easy_backfill")
class EasyBackfillScheduler(_Scheduler):
    """FIFO with EASY backfilling (Lifka 1995; Mu'alem and Feitelson, IEEE TPDS 2001).

    When the head of the queue does not fit, it gets a reservation: the earliest time
    (the *shadow time*) at which running work's expected ends (and those of work started
    in this decision) free enough nodes for it, on the nodes the placement would then
    choose. Later work may start now only if it fits now and either ends before the shadow
    time or leaves the head's reservation intact (it fits on nodes the head will not
    need). Work with an unknown run time (inference replicas) ends at infinity.
    """

    needs_running = True

    def decide(self, view: ClusterView) -> list[Placement | Preemption]:
        return self.decide_in(view, _Room(view))

    def decide_in(self, view: ClusterView, room: _Room) -> list[Placement | Preemption]:
        placed: list[Placement] = []
        queue = list(view.queue)
        i = 0
        while i < len(queue):
            nodes = self._try(queue[i], room)
            if nodes is None:
                break
            placed.append(Placement(queue[i].work_id, nodes))
            i += 1
        out: list[Placement | Preemption] = list(placed)
        if i >= len(queue):
            return out
        head, rest = queue[i], queue[i + 1:]
        started = tuple(RunningWork(p.work_id, w.gpus, w.kind, w.priority, p.nodes, view.now_s + w.runtime_s,
                                    t_start_s=view.now_s) for p, w in zip(placed, queue))
        shadow_s, at_shadow = self.reservation(head, room.free, replace(view, running=view.running + started))
        smallest = min((w.gpus for w in rest), default=0)
        for work in rest:
            free_gpus = room.free.total if isinstance(room.free, FreeGpus) else sum(room.free)
            if free_gpus < smallest:
                break  # nothing left fits: stop scanning a long queue
            if work.gpus > free_gpus:
                continue
            nodes = room.find(self.placement, work)
            if nodes is None:
                continue
            if view.now_s + work.runtime_s > shadow_s or shadow_s == math.inf:
                later = list(at_shadow)
                for node, count in nodes:
                    later[node] -= count
                if shadow_s < math.inf and self.placement.place(head.gpus, later, view, head.extra_power_w,
                                                                head.domain_nodes) is None:
                    continue  # would delay the head's reservation
                at_shadow = later
            room.take(work, nodes)
            out.append(Placement(work.work_id, nodes))
        return out

    def reservation(self, head: QueuedWork, free: Sequence[int], view: ClusterView) -> tuple[float, list[int]]:
        """The head's shadow time and the free GPUs per node then (inf and the free GPUs
        once all finite work ended, if it never fits)."""
        at = list(free)
        for run in sorted(view.running, key=lambda r: (r.expected_end_s, r.work_id)):
            if run.expected_end_s == math.inf:
                break
            for node, count in run.nodes:
                at[node] += count
            if self.placement.place(head.gpus, at, view, head.extra_power_w, head.domain_nodes) is not None:
                return run.expected_end_s, at
        return math.inf, at


@register(SCHEDULERS, "priority")
class PriorityScheduler(_Scheduler):
    """Highest priority first (then submission order). When the top queued work does not
    fit, lower-priority preemptible work is preempted to make room (lowest priority, then
    the latest started, first); nothing of lower priority starts meanwhile."""

    needs_running = True
    preempts = True

    def rank(self, work: QueuedWork | RunningWork) -> int:
        return work.priority

    def decide(self, view: ClusterView) -> list[Placement | Preemption]:
        room = _Room(view)
        out: list[Placement | Preemption] = []
        queue = sorted(view.queue, key=lambda w: (-self.rank(w), w.t_submit_s, w.work_id))
        for work in queue:
            nodes = self._try(work, room)
            if nodes is not None:
                out.append(Placement(work.work_id, nodes))
                continue
            out += self.make_room(work, room.free, view)
            break
        return out

    def make_room(self, work: QueuedWork, free: Sequence[int], view: ClusterView) -> list[Preemption]:
        """Preempt the fewest lower-ranked running work that lets ``work`` fit; [] if none does.

        GPUs of work already releasing count as free (they come back after its checkpoint)."""
        at = list(free)
        for run in view.running:
            if run.releasing:
                for node, count in run.nodes:
                    at[node] += count
        if self.placement.place(work.gpus, at, view, work.extra_power_w, work.domain_nodes) is not None:
            return []  # room is on its way
        victims = sorted((r for r in view.running if r.preemptible and not r.releasing
                          and self.rank(r) < self.rank(work)),
                         key=lambda r: (self.rank(r), -r.t_start_s, -r.work_id))
        chosen: list[RunningWork] = []
        for run in victims:
            chosen.append(run)
            for node, count in run.nodes:
                at[node] += count
            if self.placement.place(work.gpus, at, view, work.extra_power_w, work.domain_nodes) is not None:
                break
        else:
            return []
        for run in reversed(chosen[:-1]):  # drop victims the work can fit without
            trial = list(at)
            for node, count in run.nodes:
                trial[node] -= count
            if self.placement.place(work.gpus, trial, view, work.extra_power_w, work.domain_nodes) is not None:
                chosen.remove(run)
                at = trial
        return [Preemption(r.work_id, f"for work {work.work_id}") for r in chosen]


@register(SCHEDULERS, "inference_first")
class InferenceFirstScheduler(PriorityScheduler):
    """Inference before training. Queued inference starts first, in submission order, and
    preempts training (checkpointed and requeued) when it does not fit. Training then
    runs on what is left with EASY backfilling, so it harvests GPUs inference releases;
    while an inference replica waits for GPUs, no training starts."""

    def rank(self, work: QueuedWork | RunningWork) -> int:
        return 1 if work.kind == "inference" else 0

    def decide(self, view: ClusterView) -> list[Placement | Preemption]:
        room = _Room(view)
        out: list[Placement | Preemption] = []
        for work in (w for w in view.queue if w.kind == "inference"):
            nodes = self._try(work, room)
            if nodes is None:
                return out + self.make_room(work, room.free, view)
            out.append(Placement(work.work_id, nodes))
        training = tuple(w for w in view.queue if w.kind != "inference")
        if training:
            out += EasyBackfillScheduler(self.placement).decide_in(replace(view, queue=training), room)
        return out
