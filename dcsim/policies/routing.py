"""Routing policies: which replica of a service takes an arriving request.

A router sees the outstanding requests (queued plus running) of each replica in the
pool and, if it declares ``needs_power``, the IT power of each replica's rack; it
returns the index of one replica.
"""

from __future__ import annotations

from dcsim.policies.registry import ROUTERS, register


@register(ROUTERS, "round_robin")
class RoundRobinRouter:
    """Each replica in turn."""

    needs_power = False

    def __init__(self) -> None:
        self._next = 0

    def route(self, outstanding: tuple[int, ...], power_w: tuple[float, ...] | None = None) -> int:
        i = self._next % len(outstanding)
        self._next = i + 1
        return i


@register(ROUTERS, "least_outstanding")
class LeastOutstandingRouter:
    """The replica with the fewest outstanding requests (lowest index on ties)."""

    needs_power = False

    def route(self, outstanding: tuple[int, ...], power_w: tuple[float, ...] | None = None) -> int:
        return outstanding.index(min(outstanding))


@register(ROUTERS, "power_aware")
class PowerAwareRouter:
    """Among the replicas within ``slack`` requests of the least loaded, the one whose
    rack draws least power: spreads heat and power across racks at little cost in queueing."""

    needs_power = True

    def __init__(self, slack: int = 2) -> None:
        self.slack = slack

    def route(self, outstanding: tuple[int, ...], power_w: tuple[float, ...] | None = None) -> int:
        if power_w is None:
            raise ValueError("power_aware routing needs the rack power of each replica")
        limit = min(outstanding) + self.slack
        candidates = [i for i, n in enumerate(outstanding) if n <= limit]
        return min(candidates, key=lambda i: (power_w[i], outstanding[i], i))
