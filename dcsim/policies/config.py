"""Config schema of the scheduler group (``conf/scheduler/*.yaml``)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class SchedulerConfig:
    name: str = "fifo"  # a name in dcsim.policies.SCHEDULERS
