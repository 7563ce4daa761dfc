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

A streamed table (``output.stream_timeseries``, :class:`TableStream`) is written while the
run goes, a row group at a time, to its temporary name; it is renamed into place by
:func:`write_run` with the others, before summary.json, and removed if the run fails. Every
table is written in row groups of :data:`ROW_GROUP_ROWS` rows, so a streamed table's file is
byte for byte the file the same rows would make written at the end.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from dcsim.metrics.frames import to_frame
from dcsim.metrics.table import BLOCK_ROWS, Table, rows_by_code

if TYPE_CHECKING:
    from types import TracebackType

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
# Rows per parquet row group of every table, streamed or not: a streamed table holds this many
# rows in memory at most (~35 MB of time-series columns).
ROW_GROUP_ROWS = 128 * BLOCK_ROWS
# Values of one column the read-back of a streamed table holds at once (64 MB of float64).
READ_BACK_VALUES = 8 << 20


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
        df.to_parquet(tmp, index=False, row_group_size=ROW_GROUP_ROWS)
        return _commit(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)  # left only if writing or renaming failed


def _commit(tmp: Path, path: Path) -> dict[str, Any]:
    """Sync the written ``tmp``, rename it to ``path``; return its manifest entry."""
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    size, sha256 = file_digest(tmp)
    os.replace(tmp, path)
    return manifest_entry(path.name, size, sha256)


class TableStream:
    """A table written to ``NAME.parquet`` in the run directory as the run goes.

    The recorder hands it blocks of :data:`ROW_GROUP_ROWS` rows (a :class:`Table` with a
    sink, :meth:`write`); each becomes a row group of the file, at its temporary name, so a
    run cut short leaves no file that looks written (and ``clear_run_dir`` removes it).
    :meth:`close` writes the footer after the last block; :func:`write_run` renames the file
    into place with the run's other files. Used as a context manager, a failure in between
    removes the file (:meth:`abort`). It keeps a count of the rows of each rack
    (``component`` ``rack/NNN``), so the KPIs over racks can read them back
    (:meth:`rack_series`) without the table in memory.
    """

    def __init__(self, run_dir: str | Path, name: str, columns: Iterable[str]) -> None:
        self.path = Path(run_dir) / f"{name}.parquet"
        self.tmp = tmp_path(self.path)
        self.columns = tuple(columns)
        self.rows_per_group = ROW_GROUP_ROWS
        self.rows = 0
        self.rack_rows: Counter[str] = Counter()  # rows of each rack written
        self._writer: pq.ParquetWriter | None = None
        self._closed = False
        self._committed = False  # renamed into place

    def __enter__(self) -> TableStream:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc_type is not None:
            self.abort()

    def write(self, table: Table) -> None:
        """Append ``table``'s rows (in its columns, those not handed over yet) as a row group."""
        if self._closed:
            raise RuntimeError(f"{self.path.name}: written after it was closed")
        frame = pa.Table.from_pandas(to_frame(table), preserve_index=False)  # as DataFrame.to_parquet does
        if self._writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._writer = pq.ParquetWriter(self.tmp, frame.schema)
        self._writer.write_table(frame, row_group_size=ROW_GROUP_ROWS)
        self.rows += frame.num_rows
        if "component" in self.columns:
            names = Counter(table.data[self.columns.index("component")])
            self.rack_rows.update({n: k for n, k in names.items() if n.startswith("rack/")})

    def close(self) -> None:
        """Write the footer (a table of no rows: the empty file ``to_parquet`` would write)."""
        if self._closed:
            return
        if self._writer is None:
            self.write(Table(self.columns))
        assert self._writer is not None
        self._writer.close()
        self._closed = True

    def commit(self) -> dict[str, Any]:
        """Close, sync and rename the file into place; return its manifest entry."""
        self.close()
        try:
            entry = _commit(self.tmp, self.path)
        finally:
            self.tmp.unlink(missing_ok=True)
        self._committed = True
        return entry

    def abort(self) -> None:
        """Remove the partial file (the run failed or was cut short)."""
        if self._writer is not None and not self._closed:
            try:
                self._writer.close()
            except Exception:  # noqa: BLE001 - the file goes anyway
                pass
        self._closed = True
        self.tmp.unlink(missing_ok=True)

    def rack_series(self, column: str) -> Iterator[np.ndarray]:
        """``column`` of each rack's rows, a float64 array per rack in row order, racks by
        name; read back from the closed file a few racks at a time, each pass over the file
        holding at most :data:`READ_BACK_VALUES` values (or one rack's)."""
        budget_values = READ_BACK_VALUES
        if not self._closed:
            raise RuntimeError(f"{self.path.name}: read back before it was closed")
        names = sorted(self.rack_rows)
        pf = pq.ParquetFile(self.path if self._committed else self.tmp, read_dictionary=["component"])
        i = 0
        while i < len(names):
            j, held = i + 1, self.rack_rows[names[i]]
            while j < len(names) and held + self.rack_rows[names[j]] <= budget_values:
                held += self.rack_rows[names[j]]
                j += 1
            batch = names[i:j]
            code = {n: k for k, n in enumerate(batch)}
            out = [np.empty(self.rack_rows[n]) for n in batch]
            filled = [0] * len(batch)
            for rb in pf.iter_batches(batch_size=ROW_GROUP_ROWS, columns=["component", column]):
                comp = rb.column(0)
                lookup = np.array([code.get(n, -1) for n in comp.dictionary.to_pylist()], dtype=np.int64)
                rack_of_row = lookup[comp.indices.to_numpy(zero_copy_only=False)]
                values = rb.column(1).to_numpy(zero_copy_only=False).astype(np.float64)
                for k, rows in enumerate(rows_by_code(rack_of_row, len(batch))):
                    seg = values[rows]
                    out[k][filled[k]:filled[k] + len(seg)] = seg
                    filled[k] += len(seg)
            yield from out
            i = j


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


def clear_run_dir(run_dir: str | Path, keep: Iterable[Path] = ()) -> list[str]:
    """Remove what an earlier run left in ``run_dir`` before a new run writes there.

    Only files dcsim wrote go: those the old summary.json lists, every known output name
    and their stale temporary files; summary.json first, so that a process killed half-way
    leaves a directory that looks incomplete, never one that looks complete. Directories
    and files of others (Hydra's ``.hydra/``, its log) stay, and so do the paths ``keep``
    names (the temporary files of this run's streamed tables). Returns the names removed.
    """
    kept = {Path(p) for p in keep}
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
            if path not in kept and (path.is_file() or path.is_symlink()):
                path.unlink()
                removed.append(str(path.relative_to(d)))
        if name == SUMMARY and removed:
            _fsync_dir(d)  # the old run is no longer complete before anything else changes
    return removed


def write_run(run_dir: str | Path, frames: dict[str, pd.DataFrame], summary: dict[str, Any],
              extra_files: dict[str, bytes] | None = None, provenance: Iterable[str] = (),
              streamed: dict[str, TableStream] | None = None) -> Path:
    """Clear ``run_dir`` of an earlier run, write the tables and any extra files
    (report.png) and, last, summary.json: the KPIs of ``summary`` plus the completion mark
    and the manifest. ``provenance`` names files already in ``run_dir``, written by others
    (Hydra's ``.hydra/config.yaml``), that the manifest lists with their hashes: if one of
    them is rewritten for another run, this run no longer reads as complete. ``streamed``:
    tables written as the run went (:class:`TableStream`, in ``run_dir``), renamed into place
    in their turn instead of written from ``frames``."""
    d = Path(run_dir)
    d.mkdir(parents=True, exist_ok=True)
    streamed = streamed or {}
    clear_run_dir(d, keep=[s.tmp for s in streamed.values()])
    files = [streamed[name].commit() if name in streamed else write_table(d / f"{name}.parquet", frames[name])
             for name in TABLE_FILES]
    files += [streamed[name].commit() if name in streamed else write_table(d / f"{name}.parquet", frames[name])
              for name in OPTIONAL_TABLE_FILES if name in frames or name in streamed]
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
