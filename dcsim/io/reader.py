"""Reading a run directory back, and telling a complete run from one cut short.

A run directory is complete only when its ``summary.json`` says so (``"complete": true``,
written last by :func:`dcsim.io.writer.write_run`) and every file its manifest lists is
there with the listed size; ``verify_hashes=True`` also checks each output's SHA-256.
The config provenance files it lists (Hydra's ``.hydra/*.yaml``, small) are always
checked by hash, so a summary whose ``.hydra/`` was rewritten for another run is not
taken for that run. Temporary files (``.NAME.tmp``) are never read.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from dcsim.io.writer import (
    COMPLETE_KEY,
    ERROR,
    FILES_KEY,
    OPTIONAL_TABLE_FILES,
    PROVENANCE_KEY,
    SUMMARY,
    TABLE_FILES,
    file_digest,
    is_inside,
)


@dataclass(frozen=True)
class RunCheck:
    """What :func:`check_run` found: complete or not, why not, and the summary it read."""

    complete: bool
    reason: str = ""  # empty when complete
    summary: dict[str, Any] | None = field(default=None, repr=False)  # the parsed summary.json, if readable

    def __bool__(self) -> bool:
        return self.complete


def _entries(summary: dict[str, Any], key: str) -> list[tuple[str, int, str]] | None:
    """(name, size, sha256) of each file a manifest list holds; None if the list is damaged."""
    files = summary.get(key)
    if not isinstance(files, list):
        return None
    out = []
    for f in files:
        if not isinstance(f, dict):
            return None
        name, size, sha256 = f.get("name"), f.get("size_bytes"), f.get("sha256")
        if not (isinstance(name, str) and is_inside(name) and isinstance(size, int) and isinstance(sha256, str)):
            return None
        out.append((name, size, sha256))
    return out


def check_run(run_dir: str | Path, verify_hashes: bool = False) -> RunCheck:
    """Whether ``run_dir`` holds a complete, consistent run (see the module docstring)."""
    d = Path(run_dir)
    try:
        with open(d / SUMMARY) as f:
            summary = json.load(f)
    except FileNotFoundError:
        return RunCheck(False, f"no {SUMMARY}: the run did not finish")
    except (OSError, ValueError) as e:
        return RunCheck(False, f"{SUMMARY} cannot be read: {e}")
    if not isinstance(summary, dict):
        return RunCheck(False, f"{SUMMARY} is not a JSON object")
    if summary.get(COMPLETE_KEY) is not True:
        return RunCheck(False, f"{SUMMARY} does not say the run is complete (written by an older dcsim?)", summary)
    outputs, inputs = _entries(summary, FILES_KEY), _entries(summary, PROVENANCE_KEY)
    if outputs is None or inputs is None:
        return RunCheck(False, f"{SUMMARY} has a damaged file list", summary)
    for (name, size, sha256), hashed in [*((e, verify_hashes) for e in outputs), *((e, True) for e in inputs)]:
        path = d / name
        if not path.is_file():
            return RunCheck(False, f"{name} is missing", summary)
        actual = path.stat().st_size
        if actual != size:
            return RunCheck(False, f"{name} has {actual} bytes, {SUMMARY} lists {size}", summary)
        if hashed and file_digest(path)[1] != sha256:
            return RunCheck(False, f"{name} does not match its SHA-256 in {SUMMARY}", summary)
    return RunCheck(True, "", summary)


def is_complete(run_dir: str | Path, verify_hashes: bool = False) -> bool:
    """True when ``run_dir`` holds a complete, consistent run (:func:`check_run`)."""
    return check_run(run_dir, verify_hashes).complete


def complete_summary(run_dir: str | Path, verify_hashes: bool = False) -> dict[str, Any] | None:
    """The run's summary if the run is complete (:func:`check_run`), else None."""
    check = check_run(run_dir, verify_hashes)
    return check.summary if check.complete else None


def read_summary(run_dir: str | Path) -> dict[str, Any]:
    """The run's summary.json (nulls stand for undefined KPIs), as written: the KPIs and the
    bookkeeping beside them (``complete``, ``files``, ``provenance_files``)."""
    with open(Path(run_dir) / SUMMARY) as f:
        return json.load(f)


def read_error(run_dir: str | Path) -> dict[str, Any]:
    """The run's error.json: status (refused or failed), error, error_type, overrides, traceback."""
    with open(Path(run_dir) / ERROR) as f:
        return json.load(f)


def read_tables(run_dir: str | Path) -> dict[str, pd.DataFrame]:
    """The run's parquet tables by name (the optional ones, such as telemetry, when written)."""
    d = Path(run_dir)
    names = [*TABLE_FILES, *(n for n in OPTIONAL_TABLE_FILES if (d / f"{n}.parquet").is_file())]
    return {name: pd.read_parquet(d / f"{name}.parquet") for name in names}
