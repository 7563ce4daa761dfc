"""Load a run directory into DataFrames."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from dcsim.io.reader import is_complete, read_summary, read_tables


@dataclass(frozen=True)
class Run:
    """One run's outputs: its summary KPIs and its tables."""

    path: Path
    summary: dict[str, Any]
    requests: pd.DataFrame
    jobs: pd.DataFrame
    timeseries: pd.DataFrame
    events: pd.DataFrame
    services: pd.DataFrame  # fluid fidelity: one row per control interval and service


def load_run(path: str | Path) -> Run:
    """Read a complete run directory (one with summary.json)."""
    p = Path(path)
    if not is_complete(p):
        raise FileNotFoundError(f"{p} is not a complete dcsim run directory (no summary.json)")
    t = read_tables(p)
    return Run(p, read_summary(p), t["requests"], t["jobs"], t["timeseries"], t["events"], t["services"])
