"""Reading a run directory back."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from dcsim.io.writer import ERROR, SUMMARY, TABLE_FILES


def is_complete(run_dir: str | Path) -> bool:
    """True when the run directory holds its summary (written last)."""
    return (Path(run_dir) / SUMMARY).is_file()


def read_summary(run_dir: str | Path) -> dict[str, Any]:
    """The run's summary.json (nulls stand for undefined KPIs)."""
    with open(Path(run_dir) / SUMMARY) as f:
        return json.load(f)


def read_error(run_dir: str | Path) -> dict[str, Any]:
    """The run's error.json: status (refused or failed), error, error_type, overrides, traceback."""
    with open(Path(run_dir) / ERROR) as f:
        return json.load(f)


def read_tables(run_dir: str | Path) -> dict[str, pd.DataFrame]:
    """The run's parquet tables by name."""
    d = Path(run_dir)
    return {name: pd.read_parquet(d / f"{name}.parquet") for name in TABLE_FILES}
