"""Routing policies: which replica of a service takes an arriving request.

A router sees the outstanding requests (queued plus running) of each replica in the
pool, if it declares ``needs_power`` the IT power of each replica's rack, and if it
declares ``needs_prefix`` how many leading prefix-cache blocks of the request each
replica holds now (None when the request carries no block hashes or the pool does not
prefill); it returns the index of one replica. A router with parameters builds itself
from the service's config (``from_config``); the others take none.
"""

from __future__ import annotations

from typing import Any

from dcsim.policies.registry import ROUTERS, register


@register(ROUTERS, "round_robin")
class RoundRobinRouter:
    """Each replica in turn."""

    needs_power = False
    needs_prefix = False

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
    needs_prefix = False

    def route(self, outstanding: tuple[int, ...], power_w: tuple[float, ...] | None = None) -> int:
        return outstanding.index(min(outstanding))


@register(ROUTERS, "power_aware")
class PowerAwareRouter:
    """Among the replicas within ``slack`` requests of the least loaded, the one whose
    rack draws least power: spreads heat and power across racks at little cost in queueing."""

    needs_power = True
    needs_prefix = False

    def __init__(self, slack: int = 2) -> None:
        self.slack = slack

    def route(self, outstanding: tuple[int, ...], power_w: tuple[float, ...] | None = None) -> int:
        if power_w is None:
            raise ValueError("power_aware routing needs the rack power of each replica")
        limit = min(outstanding) + self.slack
        candidates = [i for i, n in enumerate(outstanding) if n <= limit]
        return min(candidates, key=lambda i: (power_w[i], outstanding[i], i))


@register(ROUTERS, "prefix_affinity")
class PrefixAffinityRouter:
    """Cache-aware routing: among the replicas within ``slack`` outstanding requests of the
    least loaded, the one holding the longest cached prefix of the request's blocks (ties:
    fewer outstanding, then lower index). A request whose best cached prefix is no more than
    ``min_match`` of its blocks, or one without block hashes, is routed as by
    least-outstanding.

    The load rule bounds what affinity may cost in queueing, as SGLang's cache-aware router
    falls back to the shortest queue when loads are imbalanced and vLLM production-stack's
    load-aware routing trades the matched share against relative load (docs/traces.md,
    "Cache-aware routing"). The match rule is SGLang's ``cache_threshold`` (default 0.5): a
    request that matches little anywhere (a session's first call, which shares only the
    system prompt) goes where there is room, not to whichever replica already holds the
    shared part, which would otherwise draw every new session while idle replicas stay
    idle. The router reads each replica's cache as it is now (as llm-d's precise
    prefix-cache scorer does from the engines' KV events), not a router-side guess.
    """

    needs_power = False
    needs_prefix = True

    def __init__(self, slack: int = 4, min_match: float = 0.5) -> None:
        self.slack = slack
        self.min_match = min_match

    @classmethod
    def from_config(cls, service: Any) -> PrefixAffinityRouter:
        """The router of a service config (``affinity_slack``, ``affinity_min_match``)."""
        return cls(slack=service.affinity_slack, min_match=service.affinity_min_match)

    def route(self, outstanding: tuple[int, ...], power_w: tuple[float, ...] | None = None,
              cached_blocks: tuple[int, ...] | None = None, request_blocks: int | None = None) -> int:
        """``cached_blocks[i]``: leading blocks of the request replica i holds; ``request_blocks``:
        the request's full blocks (None: the match rule is not applied)."""
        least = min(outstanding)
        if cached_blocks is None or not any(cached_blocks):
            return outstanding.index(least)
        if request_blocks and max(cached_blocks) <= self.min_match * request_blocks:
            return outstanding.index(least)
        limit = least + self.slack
        candidates = [i for i, n in enumerate(outstanding) if n <= limit]
        return min(candidates, key=lambda i: (-cached_blocks[i], outstanding[i], i))


def make_router(name: str, service: Any) -> Any:
    """A new router of the registered ``name`` for a service config."""
    cls = ROUTERS[name]
    return cls.from_config(service) if hasattr(cls, "from_config") else cls()
