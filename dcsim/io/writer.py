"""The run directory, written so that it never looks complete when it is not.

A run directory is complete only when its ``summary.json`` says so (``"complete": true``)
and every file it lists is there with the listed size (and, on request, the listed
SHA-256): :func:`dcsim.io.reader.check_run`. To keep that true whenever a run is cut
short, :func:`write_run`

1. first removes what an earlier run left in the directory (:func:`clear_run_dir`):
   its ``summary.json`` before anything else, then the files it listed, every known
   output name and stale temporary files, so an old summary never sits beside new tables;
2. writes each table and extra file to a temporary name (``.NAME.tmp``), syncs it to
   disk and renames it into place (a temporary file is removed if writing fails, and the
   next run into the directory removes one left by a killed process; readers ignore it);
3. writes ``summary.json`` last, the same way, with the manifest: the name, size and
   SHA-256 of every file written (``files``) and of the config provenance files written
   by others that the run belongs to (``provenance_files``, Hydra's ``.hydra/*.yaml``).

A run that was refused or failed leaves ``error.json`` instead (:func:`write_error`).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

SUMMARY = "summary.json"
ERROR = "error.json"
REPORT = "report.png"
TABLE_FILES = ("requests", "jobs", "timeseries", "events", "services")
# Tables a run has only when asked for (output.telemetry_interval_s): written when present.
OPTIONAL_TABLE_FILES = ("telemetry",)
# Every name dcsim writes in a run directory: what clear_run_dir removes even when the
# old summary.json (and its file list) is gone or damaged.
OUTPUT_NAMES = (SUMMARY, ERROR, *(f"{name}.parquet" for name in (*TABLE_FILES, *OPTIONAL_TABLE_FILES)), REPORT)
# summary.json's bookkeeping keys (beside the KPIs): the completion mark and the manifests.
COMPLETE_KEY = "complete"
FILES_KEY = "files"
PROVENANCE_KEY = "provenance_files"
_CHUNK_BYTES = 1 << 20


def tmp_path(path: Path) -> Path:
    """The temporary name ``path`` is written under before it is renamed into place."""
    return path.with_name(f".{path.name}.tmp")


def _fsync_dir(d: Path) -> None:
    """Make the renames and removals in directory ``d`` durable."""
    fd = os.open(d, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def file_digest(path: Path) -> tuple[int, str]:
    """(size in bytes, SHA-256 hex digest) of a file."""
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK_BYTES):
            h.update(chunk)
            size += len(chunk)
    return size, h.hexdigest()


def manifest_entry(name: str, size_bytes: int, sha256: str) -> dict[str, Any]:
    """One file of a manifest: its path relative to the run directory, size and hash."""
    return {"name": name, "size_bytes": size_bytes, "sha256": sha256}


def atomic_write_bytes(path: Path, data: bytes) -> dict[str, Any]:
    """Write ``data`` to a temporary name beside ``path``, sync it, rename it into place;
    return its manifest entry (named by ``path``'s file name)."""
    tmp = tmp_path(path)
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)  # left only if writing or renaming failed
    return manifest_entry(path.name, len(data), hashlib.sha256(data).hexdigest())


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


def write_table(path: Path, df: pd.DataFrame) -> dict[str, Any]:
    """One table as parquet, atomically (synced before the rename); return its manifest entry."""
    tmp = tmp_path(path)
    try:
        df.to_parquet(tmp, index=False)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        size, sha256 = file_digest(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)  # left only if writing or renaming failed
    return manifest_entry(path.name, size, sha256)


def listed_names(summary: Any) -> list[str]:
    """The file names summary.json's ``files`` lists, those that are plain names inside
    the run directory (anything else in a damaged summary is ignored)."""
    files = summary.get(FILES_KEY) if isinstance(summary, dict) else None
    if not isinstance(files, list):
        return []
    names = [f.get("name") for f in files if isinstance(f, dict)]
    return [n for n in names if isinstance(n, str) and is_inside(n)]


def is_inside(name: str) -> bool:
    """True for a relative path that stays inside the run directory."""
    p = Path(name)
    return bool(name) and not p.is_absolute() and ".." not in p.parts


def clear_run_dir(run_dir: str | Path) -> list[str]:
    """Remove what an earlier run left in ``run_dir`` before a new run writes there.

    Only files dcsim wrote go: those the old summary.json lists, every known output name
    and their stale temporary files; summary.json first, so that a process killed half-way
    leaves a directory that looks incomplete, never one that looks complete. Directories
    and files of others (Hydra's ``.hydra/``, its log) stay. Returns the names removed.
    """
    d = Path(run_dir)
    if not d.is_dir():
        return []
    try:
        with open(d / SUMMARY) as f:
            old: Any = json.load(f)
    except (OSError, ValueError):
        old = None
    names = list(dict.fromkeys([*OUTPUT_NAMES, *listed_names(old)]))
    removed: list[str] = []
    for name in names:  # SUMMARY is the first of OUTPUT_NAMES
        for path in (d / name, tmp_path(d / name)):
            if path.is_file() or path.is_symlink():
                path.unlink()
                removed.append(str(path.relative_to(d)))
        if name == SUMMARY and removed:
            _fsync_dir(d)  # the old run is no longer complete before anything else changes
    return removed


def write_run(run_dir: str | Path, frames: dict[str, pd.DataFrame], summary: dict[str, Any],
              extra_files: dict[str, bytes] | None = None, provenance: Iterable[str] = ()) -> Path:
    """Clear ``run_dir`` of an earlier run, write the tables and any extra files
    (report.png) and, last, summary.json: the KPIs of ``summary`` plus the completion mark
    and the manifest. ``provenance`` names files already in ``run_dir``, written by others
    (Hydra's ``.hydra/config.yaml``), that the manifest lists with their hashes: if one of
    them is rewritten for another run, this run no longer reads as complete."""
    d = Path(run_dir)
    d.mkdir(parents=True, exist_ok=True)
    clear_run_dir(d)
    files = [write_table(d / f"{name}.parquet", frames[name]) for name in TABLE_FILES]
    files += [write_table(d / f"{name}.parquet", frames[name]) for name in OPTIONAL_TABLE_FILES if name in frames]
    files += [{**atomic_write_bytes(d / name, data), "name": name} for name, data in (extra_files or {}).items()]
    inputs = [manifest_entry(name, *file_digest(d / name)) for name in provenance if (d / name).is_file()]
    record = {**_jsonable(summary), COMPLETE_KEY: True, FILES_KEY: files, PROVENANCE_KEY: inputs}
    atomic_write_bytes(d / SUMMARY, (json.dumps(record, indent=2, sort_keys=False) + "\n").encode())
    _fsync_dir(d)
    return d


def write_plan(plan_dir: str | Path, record: dict[str, Any], table: str) -> Path:
    """A capacity plan's directory (``dcsim.analysis.plan``): ``plan.json`` (the record,
    NaN as null) and ``plan.txt`` (its table), each written atomically; returns the directory."""
    d = Path(plan_dir)
    d.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(d / "plan.json", (json.dumps(_jsonable(record), indent=1) + "\n").encode())
    atomic_write_bytes(d / "plan.txt", (table + "\n").encode())
    return d


def write_error(run_dir: str | Path, record: dict[str, Any]) -> Path:
    """Write ``error.json`` (a refused or failed run's record) atomically; return its path."""
    d = Path(run_dir)
    d.mkdir(parents=True, exist_ok=True)
    path = d / ERROR
    atomic_write_bytes(path, (json.dumps(_jsonable(record), indent=2) + "\n").encode())
    return path
