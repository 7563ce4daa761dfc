"""Config schema of the scheduler group (``conf/scheduler/*.yaml``)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class SchedulerConfig:
    name: str = "fifo"  # a name in dcsim.policies.SCHEDULERS: fifo, easy_backfill, priority, inference_first
    placement: str = "pack"  # a name in dcsim.policies.PLACEMENTS: pack, spread, power_aware, thermal_aware
    # Refuse to start work whose extra IT power would exceed the facility's IT budget now
    # (facility.power.budget_kw, demand response); it waits until there is room.
    power_admission: bool = False
