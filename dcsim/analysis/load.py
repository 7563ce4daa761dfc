"""Load a run directory into DataFrames."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from dcsim.io.reader import check_run, read_tables


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


def load_run(path: str | Path, verify_hashes: bool = False) -> Run:
    """Read a complete run directory: its summary.json says complete and every file it
    lists is there with the listed size (and SHA-256, with ``verify_hashes``); otherwise
    FileNotFoundError says what is missing or wrong (``dcsim.io.reader.check_run``)."""
    p = Path(path)
    check = check_run(p, verify_hashes)
    if not check.complete or check.summary is None:
        raise FileNotFoundError(f"{p} is not a complete dcsim run directory: {check.reason}")
    t = read_tables(p)
    return Run(p, check.summary, t["requests"], t["jobs"], t["timeseries"], t["events"], t["services"])
