"""The run directory, written atomically.

Every file is written to a temporary name and renamed into place, and
``summary.json`` comes last: a run directory with a ``summary.json`` is complete.
A run that was refused or failed leaves ``error.json`` instead (``write_error``).
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import pandas as pd

SUMMARY = "summary.json"
ERROR = "error.json"
TABLE_FILES = ("requests", "jobs", "timeseries", "events", "services")


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to a temporary name beside ``path``, sync it, rename it into place."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)  # left only if writing or renaming failed


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "item"):  # numpy scalars
        return _jsonable(value.item())
    return value


def write_table(path: Path, df: pd.DataFrame) -> None:
    """One table as parquet, atomically."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        df.to_parquet(tmp, index=False)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)  # left only if writing or renaming failed


def write_run(run_dir: str | Path, frames: dict[str, pd.DataFrame], summary: dict[str, Any],
              extra_files: dict[str, bytes] | None = None) -> Path:
    """Write the tables, any extra files (report.png) and, last, summary.json."""
    d = Path(run_dir)
    d.mkdir(parents=True, exist_ok=True)
    for name in TABLE_FILES:
        write_table(d / f"{name}.parquet", frames[name])
    for name, data in (extra_files or {}).items():
        atomic_write_bytes(d / name, data)
    text = json.dumps(_jsonable(summary), indent=2, sort_keys=False) + "\n"
    atomic_write_bytes(d / SUMMARY, text.encode())
    return d


def write_error(run_dir: str | Path, record: dict[str, Any]) -> Path:
    """Write ``error.json`` (a refused or failed run's record) atomically; return its path."""
    d = Path(run_dir)
    d.mkdir(parents=True, exist_ok=True)
    path = d / ERROR
    atomic_write_bytes(path, (json.dumps(_jsonable(record), indent=2) + "\n").encode())
    return path
