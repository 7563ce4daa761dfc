"""Scheduling policies: which queued work starts now, and on which GPUs.

A policy sees a :class:`ClusterView` (free GPUs per node and the queue, oldest
first) and returns :class:`Placement` decisions; the cluster applies them. Work that
needs at most one node's GPUs goes on one node; larger work takes whole free nodes.
"""

from __future__ import annotations

from dataclasses import dataclass

from dcsim.policies.registry import SCHEDULERS, register


@dataclass(frozen=True, slots=True)
class QueuedWork:
    """A queued request for GPUs."""

    work_id: int
    gpus: int


@dataclass(frozen=True, slots=True)
class ClusterView:
    """What a scheduler may see: free GPUs per node and the queue in submission order."""

    gpus_per_node: int
    free_by_node: tuple[int, ...]
    queue: tuple[QueuedWork, ...]


@dataclass(frozen=True, slots=True)
class Placement:
    """Start ``work_id`` with ``count`` GPUs on each listed node."""

    work_id: int
    nodes: tuple[tuple[int, int], ...]  # (node, gpus on that node)


def fit_on_free(gpus: int, gpus_per_node: int, free: list[int]) -> tuple[tuple[int, int], ...] | None:
    """First-fit nodes for ``gpus`` GPUs given free GPUs per node, or None.

    Up to one node's worth goes on the first node with room (packing partial nodes);
    more takes the first whole free nodes.
    """
    if gpus <= gpus_per_node:
        for node, n_free in enumerate(free):
            if n_free >= gpus:
                return ((node, gpus),)
        return None
    need = gpus // gpus_per_node
    whole = [node for node, n_free in enumerate(free) if n_free == gpus_per_node][:need]
    return tuple((node, gpus_per_node) for node in whole) if len(whole) == need else None


@register(SCHEDULERS, "fifo")
class FifoScheduler:
    """Strict first-in first-out: start queued work in order until the head does not fit."""

    def decide(self, view: ClusterView) -> list[Placement]:
        free = list(view.free_by_node)
        out: list[Placement] = []
        for work in view.queue:
            nodes = fit_on_free(work.gpus, view.gpus_per_node, free)
            if nodes is None:
                break
            for node, count in nodes:
                free[node] -= count
            out.append(Placement(work.work_id, nodes))
        return out
