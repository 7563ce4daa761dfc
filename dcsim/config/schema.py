"""The top-level config schema; each group's schema lives beside its component."""

from __future__ import annotations

from dataclasses import dataclass, field

from dcsim.core.fields import bounded
from dcsim.facility.config import FacilityConfig
from dcsim.policies.config import SchedulerConfig
from dcsim.workloads.config import WorkloadConfig


@dataclass
class OutputConfig:
    write: bool = True  # write the run directory
    report: bool = True  # draw report.png
    print_summary: bool = True


@dataclass
class DcsimConfig:
    seed: int = bounded(0, ge=0)
    duration_s: float = bounded(3600.0, gt=0)
    facility: FacilityConfig = field(default_factory=FacilityConfig)
    workload: WorkloadConfig = field(default_factory=WorkloadConfig)
    scheduler: SchedulerConfig = field(default_factory=SchedulerConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
