"""The top-level config schema; each group's schema lives beside its component."""

from __future__ import annotations

from dataclasses import dataclass, field

from dcsim.facility.config import FacilityConfig
from dcsim.policies.config import SchedulerConfig
from dcsim.workloads.config import WorkloadConfig


@dataclass
class OutputConfig:
    write: bool = True  # write the run directory
    report: bool = True  # draw report.png
    print_summary: bool = True


# Plausibility bound of a run's simulated time: ten 365-day years. Longer runs are refused
# before anything is allocated (the request stream, the facility's time series).
MAX_DURATION_S = 10 * 365 * 86400.0


@dataclass
class DcsimConfig:
    seed: int = 0
    duration_s: float = 3600.0  # in (0, MAX_DURATION_S]
    facility: FacilityConfig = field(default_factory=FacilityConfig)
    workload: WorkloadConfig = field(default_factory=WorkloadConfig)
    scheduler: SchedulerConfig = field(default_factory=SchedulerConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
