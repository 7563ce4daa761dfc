"""The results of one run: raw records, energy totals, and their views."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dcsim.core.runinfo import RunInfo

if TYPE_CHECKING:
    import pandas as pd

    from dcsim.metrics.table import Table


@dataclass
class Results:
    """Everything a run produced, before any file is written.

    ``frames()`` gives the tidy tables as DataFrames; ``summary()`` the KPIs;
    ``run_info`` what the components reported beyond the tables (``dcsim.core.runinfo``).
    """

    until_s: float
    seed: int
    tables: dict[str, Table]
    energy_j: dict[str, float]
    meter_energy_j: dict[str, tuple[str, float]]
    group_energy_j: dict[str, float]
    monitor_means: dict[str, float]
    monitor_max: dict[str, float]
    run_info: RunInfo = field(default_factory=RunInfo)
    events_processed: int = 0
    # the timeseries streamed to a file (dcsim.io.writer.TableStream, output.stream_timeseries):
    # tables["timeseries"] then holds only the rows that are not of racks; None: all of it
    timeseries_stream: Any = None
    _frames: dict[str, pd.DataFrame] | None = field(default=None, repr=False)

    def frames(self) -> dict[str, pd.DataFrame]:
        """The run's tables (requests, jobs, events, timeseries) as typed DataFrames."""
        if self._frames is None:
            from dcsim.metrics.frames import to_frames

            self._frames = to_frames(self)
        return self._frames

    def summary(self) -> dict[str, Any]:
        """The run's KPIs, keys with units (see docs/metrics.md)."""
        from dcsim.metrics.kpis import summarise

        return summarise(self)
