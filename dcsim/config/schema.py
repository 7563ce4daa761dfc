"""The top-level config schema; each group's schema lives beside its component."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from dcsim.core.fields import bounded
from dcsim.facility.config import FacilityConfig
from dcsim.policies.config import SchedulerConfig
from dcsim.workloads.config import WorkloadConfig


class TimeseriesLevel(StrEnum):
    rack = "rack"  # the facility row and one row per rack each control interval (as before)
    group = "group"  # the facility row and one row per timeseries_group_racks consecutive racks
    facility = "facility"  # the facility row (and the network's) only


@dataclass
class OutputConfig:
    write: bool = True  # write the run directory
    report: bool = True  # draw report.png
    print_summary: bool = True
    # Per-node telemetry (dcsim/metrics/telemetry.py): power, utilisation and temperature of every
    # node every this many seconds, in telemetry.parquet; null: off (no table).
    telemetry_interval_s: float | None = bounded(None, gt=0)
    telemetry_per_gpu: bool = False  # with telemetry: a row per GPU as well
    # Rows of timeseries.parquet per control interval (docs/performance.md, "Facility scale"):
    # rack (every rack), group (racks aggregated timeseries_group_racks at a time, a hall or a
    # row of them: IT power summed, inlet and GPU temperatures the hottest), facility.
    timeseries_level: TimeseriesLevel = TimeseriesLevel.rack
    timeseries_group_racks: int = bounded(32, ge=1)
    # Write timeseries.parquet as the run goes (docs/performance.md, "Facility scale"), a row group
    # of 131,072 rows at a time, instead of holding every row until the end: the file is the same,
    # byte for byte; memory holds one row group and the rows that are not of racks (the facility's,
    # for the KPIs and report.png). For long runs at the rack level (a 100k-GPU year: 27M rows,
    # ~7 GB held). The dcsim command only (needs output.write); dcsim.run() writes nothing and
    # keeps the whole table. Results.frames()["timeseries"] then has only the rows not of racks.
    # Per-node telemetry (telemetry_interval_s) streams to telemetry.parquet the same way, and its
    # in-memory row cap no longer applies.
    stream_timeseries: bool = False


@dataclass
class OptimizeConfig:
    """What a run returns to a sweeper that optimises (``dcsim -m hydra/sweeper=optuna``,
    docs/sweeps.md "Design-space search"); the run itself does not change.

    ``objectives``: summary KPIs (dcsim/metrics/registry.py) the run returns, one number each
    (a list of them for several). ``directions``: minimize or maximize each (default: minimize
    all), used only for the penalty's sign. ``constraints``: conditions on summary KPIs such as
    ``ttft_p99_s<2`` (operators <, <=, >, >=); a run that breaks one, was refused, failed or has
    no value of an objective returns ``penalty`` for every objective (minus it for maximize).
    """
    objectives: list[str] = field(default_factory=list)
    directions: list[str] = field(default_factory=list)
    constraints: list[str] = field(default_factory=list)
    penalty: float = bounded(1e12, gt=0)  # large and finite: samplers ignore NaN/inf badly


# Plausibility bound of a run's simulated time: ten 365-day years. Longer runs are refused
# before anything is allocated (the request stream, the facility's time series).
MAX_DURATION_S = 10 * 365 * 86400.0


@dataclass
class DcsimConfig:
    seed: int = bounded(0, ge=0)
    duration_s: float = bounded(3600.0, gt=0)  # and at most MAX_DURATION_S (checked by build)
    facility: FacilityConfig = field(default_factory=FacilityConfig)
    workload: WorkloadConfig = field(default_factory=WorkloadConfig)
    scheduler: SchedulerConfig = field(default_factory=SchedulerConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    optimize: OptimizeConfig = field(default_factory=OptimizeConfig)
