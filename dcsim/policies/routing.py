"""Routing policies: which replica of a service takes an arriving request.

A router sees the outstanding requests (queued plus running) of each active
replica and returns the index of one.
"""

from __future__ import annotations

from dcsim.policies.registry import ROUTERS, register


@register(ROUTERS, "round_robin")
class RoundRobinRouter:
    """Each replica in turn."""

    def __init__(self) -> None:
        self._next = 0

    def route(self, outstanding: tuple[int, ...]) -> int:
        i = self._next % len(outstanding)
        self._next = i + 1
        return i


@register(ROUTERS, "least_outstanding")
class LeastOutstandingRouter:
    """The replica with the fewest outstanding requests (lowest index on ties)."""

    def route(self, outstanding: tuple[int, ...]) -> int:
        return min(range(len(outstanding)), key=outstanding.__getitem__)
