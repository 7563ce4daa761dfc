"""One registry per kind of policy: adding a policy is one class and one decorator."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

SCHEDULERS: dict[str, type] = {}
PLACEMENTS: dict[str, type] = {}
ROUTERS: dict[str, type] = {}
POWER_POLICIES: dict[str, type] = {}


def register(registry: dict[str, type], name: str) -> Callable[[T], T]:
    """Class decorator: make ``cls`` selectable as ``name`` in ``registry``."""

    def deco(cls: T) -> T:
        if name in registry:
            raise ValueError(f"policy name {name!r} registered twice")
        registry[name] = cls  # type: ignore[assignment]
        return cls

    return deco


# Import the policy modules so their decorators run.
from dcsim.policies import power, routing, scheduling  # noqa: E402,F401
