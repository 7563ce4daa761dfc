"""Config schema of the scheduler group (``conf/scheduler/*.yaml``).

The policy names are enums made from the policy registries (``dcsim.policies.registry``),
so Hydra refuses an unknown name when composing and lists the registered ones; adding a
policy stays one class and one registry line.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from dcsim.policies.registry import PLACEMENTS, POWER_POLICIES, ROUTERS, SCHEDULERS

# mypy cannot list the members of an enum made from a registry; the registries are the source.
SchedulerName = StrEnum("SchedulerName", [(n, n) for n in SCHEDULERS], module=__name__)  # type: ignore[misc]
PlacementName = StrEnum("PlacementName", [(n, n) for n in PLACEMENTS], module=__name__)  # type: ignore[misc]
RouterName = StrEnum("RouterName", [(n, n) for n in ROUTERS], module=__name__)  # type: ignore[misc]
PowerPolicyName = StrEnum("PowerPolicyName", [(n, n) for n in POWER_POLICIES], module=__name__)  # type: ignore[misc]


@dataclass
class SchedulerConfig:
    name: SchedulerName = SchedulerName("fifo")  # dcsim.policies.SCHEDULERS: fifo, easy_backfill, priority, inference_first
    placement: PlacementName = PlacementName("pack")  # dcsim.policies.PLACEMENTS: pack, spread, power_aware, thermal_aware
    # Refuse to start work whose extra IT power would exceed the facility's IT budget now
    # (facility.power.budget_kw, demand response); it waits until there is room.
    power_admission: bool = False
