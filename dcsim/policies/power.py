"""Power-capping policies: per-GPU caps that keep the IT power within a budget.

A policy sees a :class:`PowerView` (the budget, the power no policy can change, and
each workload's GPUs, uncapped draw and current cap) and returns the new per-GPU cap
of each workload whose cap changes (``None`` lifts it). The facility applies them.

Power model shared by every policy: a workload capped at ``c`` W per GPU draws
``gpus * min(uncapped_w_per_gpu, c)``; a cap never goes below ``gpu_min_cap_w`` nor
above ``gpu_tdp_w``. So the power a cap can take from a workload is its draw above
the floor, ``gpus * (uncapped - gpu_min_cap_w)`` (its *dynamic* power here).

Rules of the budget policies (``proportional``, ``priority``), with demand
``D = fixed_w + sum(uncapped)`` and the power ``P`` at the current caps:

- ``P > budget``: fit new caps to the budget (tighten).
- ``D <= budget * (1 - hysteresis)``: lift every cap.
- otherwise (hysteresis band): caps only rise, towards the caps that fit
  ``budget * (1 - hysteresis)``; if raising them one by one would break the
  budget, those fitted caps are applied as they are. So a demand that wobbles around
  the budget does not switch caps on and off every interval.

Caps are rounded down to ``cap_step_w`` (1 W, what ``nvidia-smi -pl`` takes), which
keeps power under the budget and makes "unchanged" an exact comparison.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Protocol

from dcsim.policies.registry import POWER_POLICIES, register

DEFAULT_PRIORITY = {"training": 0, "inference": 1}
"""Priorities the facility gives workloads unless configured: training is slowed first."""

_REL_TOL = 1e-9


@dataclass(frozen=True, slots=True)
class PowerConsumer:
    """One workload (an inference replica or a training job) as a power policy sees it."""

    work_id: int
    kind: str  # "inference" | "training"
    priority: int  # higher = more important
    gpus: int
    uncapped_w_per_gpu: float  # what it would draw now without a cap
    cap_w_per_gpu: float | None  # its current cap, None = uncapped


@dataclass(frozen=True, slots=True)
class PowerView:
    """What a power policy may see."""

    budget_w: float | None  # the IT power budget (after demand response), None = unlimited
    it_power_w: float  # measured IT power now (mean over the last interval)
    fixed_w: float  # IT power no policy can change (hosts, idle GPUs)
    consumers: tuple[PowerConsumer, ...]
    gpu_min_cap_w: float  # the lowest cap a GPU accepts
    gpu_tdp_w: float


@dataclass(frozen=True)
class PowerPlan:
    """A policy's full answer: the cap of every consumer and what it leads to."""

    caps: dict[int, float | None]  # every consumer's cap after the decision
    projected_w: float  # fixed_w + consumers' draw under ``caps``
    shortfall_w: float  # how far ``projected_w`` stays above the budget (0 when met)
    changes: dict[int, float | None] = field(default_factory=dict)  # only the caps that change


class PowerPolicy(Protocol):
    def decide(self, view: PowerView) -> dict[int, float | None]: ...


def draw_w(c: PowerConsumer, cap_w: float | None) -> float:
    """Power of ``c`` at per-GPU cap ``cap_w`` (None = uncapped)."""
    per_gpu = c.uncapped_w_per_gpu if cap_w is None else min(c.uncapped_w_per_gpu, cap_w)
    return c.gpus * per_gpu


def projected_w(view: PowerView, caps: dict[int, float | None]) -> float:
    """IT power under ``caps`` (consumers missing from ``caps`` keep their current cap)."""
    return view.fixed_w + sum(draw_w(c, caps.get(c.work_id, c.cap_w_per_gpu)) for c in view.consumers)


def _clamp(view: PowerView, cap_w: float, step_w: float) -> float:
    """Round down to the step, then keep within [min cap, TDP]."""
    if step_w > 0:
        cap_w = math.floor(cap_w / step_w + _REL_TOL) * step_w
    return min(view.gpu_tdp_w, max(view.gpu_min_cap_w, cap_w))


def _plan(view: PowerView, caps: dict[int, float | None]) -> PowerPlan:
    p = projected_w(view, caps)
    budget = view.budget_w
    shortfall = max(0.0, p - budget) if budget is not None else 0.0
    changes = {c.work_id: caps[c.work_id] for c in view.consumers if caps[c.work_id] != c.cap_w_per_gpu}
    return PowerPlan(dict(caps), p, shortfall, changes)


class _Planned:
    """Shared ``decide``: a policy implements ``plan``; ``last_plan`` keeps the shortfall."""

    last_plan: PowerPlan | None = None

    def plan(self, view: PowerView) -> PowerPlan:  # pragma: no cover - overridden
        raise NotImplementedError

    def decide(self, view: PowerView) -> dict[int, float | None]:
        """New cap per work_id, only for caps that change (None = uncapped)."""
        self.last_plan = self.plan(view)
        return dict(self.last_plan.changes)


@register(POWER_POLICIES, "none")
class NoCapping(_Planned):
    """Never caps; lifts any cap it finds."""

    def plan(self, view: PowerView) -> PowerPlan:
        return _plan(view, {c.work_id: None for c in view.consumers})


@register(POWER_POLICIES, "static")
class StaticCap(_Planned):
    """One fixed per-GPU cap for every workload, whatever the budget (clamped to [min cap, TDP])."""

    def __init__(self, cap_w: float) -> None:
        if not cap_w > 0:
            raise ValueError(f"static power cap must be > 0 W, got {cap_w}")
        self.cap_w = cap_w

    def plan(self, view: PowerView) -> PowerPlan:
        cap = min(view.gpu_tdp_w, max(view.gpu_min_cap_w, self.cap_w))
        return _plan(view, {c.work_id: cap for c in view.consumers})


class _BudgetCapping(_Planned):
    """Fits caps to the budget by the rules of the module docstring; subclasses say who gives power."""

    def __init__(self, hysteresis: float = 0.05, cap_step_w: float = 1.0) -> None:
        if not 0 <= hysteresis < 1:
            raise ValueError(f"hysteresis must be in [0, 1), got {hysteresis}")
        if cap_step_w < 0:
            raise ValueError(f"cap_step_w must be >= 0, got {cap_step_w}")
        self.hysteresis = hysteresis
        self.cap_step_w = cap_step_w

    def _classes(self, consumers: tuple[PowerConsumer, ...]) -> list[list[PowerConsumer]]:
        """Groups that give up power in turn, the first group first."""
        raise NotImplementedError

    def fit(self, view: PowerView, target_w: float) -> dict[int, float | None]:
        """Caps that bring the IT power to at most ``target_w`` (or every cap at the floor)."""
        floor = view.gpu_min_cap_w
        excess = view.fixed_w + sum(draw_w(c, None) for c in view.consumers) - target_w
        caps: dict[int, float | None] = {c.work_id: None for c in view.consumers}
        for group in self._classes(view.consumers):
            if excess <= 0:
                break
            give = [c for c in group if c.uncapped_w_per_gpu > floor]
            available = sum(c.gpus * (c.uncapped_w_per_gpu - floor) for c in give)
            if available <= 0:
                continue
            keep = max(0.0, 1.0 - excess / available)  # share of each one's dynamic power it keeps
            for c in give:
                cap = floor + keep * (c.uncapped_w_per_gpu - floor)
                caps[c.work_id] = _clamp(view, cap, self.cap_step_w)
            excess -= available
        # A cap at or above the draw does nothing: leave it off (and never above TDP).
        for c in view.consumers:
            set_cap = caps[c.work_id]
            if set_cap is not None and set_cap >= c.uncapped_w_per_gpu:
                caps[c.work_id] = None
        return caps

    def plan(self, view: PowerView) -> PowerPlan:
        budget = view.budget_w
        current = {c.work_id: c.cap_w_per_gpu for c in view.consumers}
        if budget is None:
            return _plan(view, {c.work_id: None for c in view.consumers})
        demand = projected_w(view, {c.work_id: None for c in view.consumers})
        now = projected_w(view, current)
        if now > budget * (1 + _REL_TOL):
            return _plan(view, self.fit(view, budget))
        low = budget * (1 - self.hysteresis)
        if demand <= low:
            return _plan(view, {c.work_id: None for c in view.consumers})
        fitted = self.fit(view, low)
        raised: dict[int, float | None] = {}
        for c in view.consumers:
            old, new = current[c.work_id], fitted[c.work_id]
            raised[c.work_id] = None if old is None or new is None else max(old, new)
        if projected_w(view, raised) <= budget * (1 + _REL_TOL):
            return _plan(view, raised)
        return _plan(view, fitted)


@register(POWER_POLICIES, "proportional")
class ProportionalCapping(_BudgetCapping):
    """Every workload keeps the same share of its dynamic power (its draw above the minimum cap)."""

    def _classes(self, consumers: tuple[PowerConsumer, ...]) -> list[list[PowerConsumer]]:
        return [list(consumers)]


@register(POWER_POLICIES, "priority")
class PriorityCapping(_BudgetCapping):
    """Lowest priority first: a class goes down to the minimum cap before the next one gives anything.

    Within a class the power is taken as in ``proportional``. With
    :data:`DEFAULT_PRIORITY`, training is slowed before inference.
    """

    def _classes(self, consumers: tuple[PowerConsumer, ...]) -> list[list[PowerConsumer]]:
        levels = sorted({c.priority for c in consumers})
        return [[c for c in consumers if c.priority == p] for p in levels]


__all__ = [
    "DEFAULT_PRIORITY", "NoCapping", "PowerConsumer", "PowerPlan", "PowerPolicy", "PowerView", "PriorityCapping",
    "ProportionalCapping", "StaticCap", "draw_w", "projected_w",
]
