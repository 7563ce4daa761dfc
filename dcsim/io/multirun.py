"""Sweeps (Hydra multiruns): failure records, resuming complete runs, the summary table.

Every run of a sweep ends with one of two files in its directory: ``summary.json``
(written last by :func:`dcsim.io.writer.write_run`; the run is complete when it says so
and every file it lists is there: :func:`dcsim.io.reader.check_run`) or ``error.json``
(the run was refused or failed: :func:`error_record`). Rerunning the same sweep into the same
sweep directory reuses a run whose ``summary.json`` carries the same overrides and dcsim
version (:func:`reusable_summary`) and runs the rest again.

At the end of a sweep :func:`finish_sweep` (called by the CLI's Hydra callback,
``dcsim.cli.SweepSummary``, registered in ``conf/config.yaml``) prints one row per run
and writes ``sweep_summary.csv`` in the sweep directory. Nothing here imports Hydra: the
runs a sweep asked for come expanded (``dcsim.config.sweep.expand_sweep``). How to use
all this: docs/sweeps.md.
"""

from __future__ import annotations

import csv
import ctypes
import io
import json
import math
import os
import signal
import socket
import sys
import threading
import time
import traceback
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dcsim.io.reader import check_run, complete_summary
from dcsim.io.writer import ERROR, SUMMARY, atomic_write_bytes, clear_run_dir
from dcsim.metrics import registry

SWEEP_SUMMARY = "sweep_summary.csv"
OVERRIDES_YAML = Path(".hydra") / "overrides.yaml"  # written by Hydra when each run starts

# Run statuses. "refused": an impossible config, reported before the sweep started;
# "failed": an error while the run ran (or no result at all); both leave error.json.
OK, SKIPPED, REFUSED, FAILED, NOT_WRITTEN = "ok", "skipped", "refused", "failed", "not written"

# (summary key, table heading, format) of the KPIs in the table and the CSV: the registry's.
KPIS: tuple[tuple[str, str, str], ...] = registry.sweep_table_columns()


# --------------------------------------------------------------------------- failures


def one_line(exc: BaseException) -> str:
    """An exception as one line: its type and the first line of its message."""
    text = str(exc).strip()
    first = text.splitlines()[0] if text else ""
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def error_record(exc: BaseException, overrides: Sequence[str], status: str, message: str,
                 dcsim_version: str) -> dict[str, Any]:
    """The content of error.json: what went wrong in one line, and the traceback apart."""
    return {
        "status": status,
        "error": message,
        "error_type": type(exc).__name__,
        "overrides": list(overrides),
        "dcsim_version": dcsim_version,
        "traceback": "".join(traceback.format_exception(exc)),
    }


# --------------------------------------------------------------------------- resume


def _read_json(path: Path) -> dict[str, Any] | None:
    """A JSON object file, or None if it is missing or unreadable (a damaged run)."""
    try:
        with open(path) as f:
            data = json.load(f)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def reusable_summary(run_dir: str | Path, overrides: Sequence[str], dcsim_version: str) -> dict[str, Any] | None:
    """The run's summary if ``run_dir`` holds a complete run (``dcsim.io.reader.check_run``)
    of these overrides made by this dcsim version (so rerunning it would give the same
    result), else None."""
    summary = complete_summary(run_dir)
    if summary is None:
        return None
    if summary.get("overrides") != list(overrides) or summary.get("dcsim_version") != dcsim_version:
        return None
    return summary


def clear_for_rerun(run_dir: str | Path) -> bool:
    """Before running again in ``run_dir`` (when :func:`reusable_summary` found nothing to
    reuse), remove every output a previous run left (``dcsim.io.writer.clear_run_dir``:
    its summary.json first, its tables, error.json, stale temporary files). Returns True
    if a run's summary.json was removed."""
    return SUMMARY in clear_run_dir(run_dir)


# --------------------------------------------------------------------------- the table


@dataclass
class RunRow:
    """One run of a sweep as the summary table shows it."""

    num: int
    overrides: list[str]
    status: str
    run_dir: Path | None
    summary: dict[str, Any] | None = None
    error: str | None = None


def _job_dirs(sweep_dir: Path) -> dict[tuple[str, ...], tuple[Path, float | None]]:
    """Run directories under ``sweep_dir`` by their overrides: (dir, start time).

    A run directory is found by Hydra's ``.hydra/overrides.yaml`` (rewritten each time the
    run starts, so its time tells this sweep's runs from older ones) or, without it, by the
    overrides in its summary.json or error.json. Where two directories ran the same
    overrides (a reused sweep directory), the one started last wins.
    """
    import yaml

    found: dict[tuple[str, ...], tuple[Path, float | None]] = {}
    for dirpath, dirnames, filenames in os.walk(sweep_dir):
        d = Path(dirpath)
        overrides: Any = None
        started: float | None = None
        marker = d / OVERRIDES_YAML
        if marker.is_file():
            with open(marker) as f:
                overrides = yaml.safe_load(f) or []
            started = marker.stat().st_mtime
        else:
            for name in (SUMMARY, ERROR):
                if name in filenames:
                    overrides = (_read_json(d / name) or {}).get("overrides")
                    break
        if isinstance(overrides, list) and d != sweep_dir:
            key = tuple(str(o) for o in overrides)
            best = found.get(key)
            if best is None or (started or 0.0) >= (best[1] or 0.0):
                found[key] = (d, started)
            dirnames[:] = []  # nothing below a run directory is another run
        else:
            dirnames[:] = [n for n in dirnames if not n.startswith(".")]
    return found


def collect(sweep_dir: str | Path, runs: Sequence[Sequence[str]], written: bool = True) -> list[RunRow]:
    """One row per requested run (in job order) from what the runs left in ``sweep_dir``.

    ``written`` is the sweep's ``output.write``: when False a run without a record is
    "not written" rather than failed.
    """
    dirs = _job_dirs(Path(sweep_dir))
    rows: list[RunRow] = []
    for num, overrides in enumerate(runs):
        overrides = list(overrides)
        where = dirs.get(tuple(overrides))
        if where is None:
            rows.append(RunRow(num, overrides, FAILED if written else NOT_WRITTEN, None,
                               error=None if not written else "no run directory: the run never started"))
            continue
        d, started = where
        check = check_run(d)
        summary = check.summary if check.complete else None
        if summary is not None and summary.get("overrides", overrides) == overrides:
            skipped = started is not None and (d / SUMMARY).stat().st_mtime < started
            rows.append(RunRow(num, overrides, SKIPPED if skipped else OK, d, summary))
            continue
        record = _read_json(d / ERROR)
        if record is not None:
            status = str(record["status"]) if record.get("status") in (REFUSED, FAILED) else FAILED
            rows.append(RunRow(num, overrides, status, d, error=str(record.get("error", ""))))
        elif written:
            why = f"no {SUMMARY} or {ERROR} in {d}" if check.summary is None and not (d / SUMMARY).exists() \
                else f"{d}: {check.reason}"
            rows.append(RunRow(num, overrides, FAILED, d, error=f"{why}: the run did not finish"))
        else:
            rows.append(RunRow(num, overrides, NOT_WRITTEN, d))
    return rows


def _key(override: str) -> str:
    return override.split("=", 1)[0]


def _swept_keys(rows: Sequence[RunRow]) -> tuple[list[str], list[str]]:
    """(keys whose value differs between runs, overrides every run shares)."""
    keys: list[str] = []
    for row in rows:
        for o in row.overrides:
            if _key(o) not in keys:
                keys.append(_key(o))
    values = [{_key(o): o.split("=", 1)[1] if "=" in o else "" for o in row.overrides} for row in rows]
    swept = [k for k in keys if len({v.get(k) for v in values}) > 1]
    common = [o for o in (rows[0].overrides if rows else []) if _key(o) not in swept]
    return swept, common


def _value(row: RunRow, key: str) -> str:
    for o in row.overrides:
        if _key(o) == key:
            return o.split("=", 1)[1] if "=" in o else "(deleted)"
    return ""


def _kpi_text(value: Any, fmt: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if fmt == "%":
        return format(100 * value, ".1f")
    return format(value, fmt)


def format_table(rows: Sequence[RunRow], sweep_dir: str | Path) -> str:
    """The sweep summary as aligned text: a headline, shared overrides, one row per run,
    then the one-line error of each refused or failed run."""
    counts = {s: sum(r.status == s for r in rows) for s in (OK, SKIPPED, REFUSED, FAILED, NOT_WRITTEN)}
    told = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    lines = [f"dcsim sweep: {len(rows)} runs ({told}) -> {sweep_dir}"]
    swept, common = _swept_keys(rows)
    if common:
        lines.append(f"  every run: {' '.join(common)}")
    header = ["#", *swept, "status", *(h for _, h, _ in KPIS)]
    body = []
    for r in rows:
        kpis = [_kpi_text(r.summary.get(k), fmt) if r.summary is not None else "-" for k, _, fmt in KPIS]
        body.append([str(r.num), *(_value(r, k) for k in swept), r.status, *kpis])
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]
    numeric = set(range(len(header) - len(KPIS), len(header))) | {0}
    for line in [header, *body]:
        cells = [c.rjust(w) if i in numeric else c.ljust(w) for i, (c, w) in enumerate(zip(line, widths))]
        lines.append("  " + "  ".join(cells).rstrip())
    for r in rows:
        if r.error:
            lines.append(f"  #{r.num} {r.status}: {r.error}")
    return "\n".join(lines)


def csv_text(rows: Sequence[RunRow]) -> str:
    """The sweep summary as CSV: run, status, overrides, one column per swept key, the
    KPIs (summary.json's unit-named keys), wall time, run directory and error."""
    swept, _ = _swept_keys(rows)
    fixed = ["run", "status", "overrides", *(k for k, _, _ in KPIS), "wall_time_s", "run_dir", "error"]
    swept = [k for k in swept if k not in fixed]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(fixed[:3] + swept + fixed[3:])
    for r in rows:
        s = r.summary or {}
        kpis = ["" if s.get(k) is None else s[k] for k, _, _ in KPIS]
        writer.writerow([r.num, r.status, " ".join(r.overrides), *(_value(r, k) for k in swept), *kpis,
                         "" if s.get("wall_time_s") is None else s["wall_time_s"],
                         "" if r.run_dir is None else str(r.run_dir), r.error or ""])
    return out.getvalue()


def failures(rows: Iterable[RunRow]) -> int:
    """How many runs failed (refused runs do not count: they were reported up front)."""
    return sum(r.status == FAILED for r in rows)


# --------------------------------------------------------------------------- the end of a sweep


def finish_sweep(sweep_dir: str | Path, runs: Sequence[Sequence[str]], written: bool = True) -> list[RunRow]:
    """After a sweep: print the table of every requested run and write sweep_summary.csv
    in ``sweep_dir`` (a line on stderr if it cannot be written); return the rows."""
    sweep_dir = Path(sweep_dir)
    rows = collect(sweep_dir, runs, written=written)
    print(format_table(rows, sweep_dir), flush=True)
    try:
        atomic_write_bytes(sweep_dir / SWEEP_SUMMARY, csv_text(rows).encode())
    except OSError as e:
        print(f"dcsim: could not write {sweep_dir / SWEEP_SUMMARY}: {one_line(e)}", file=sys.stderr)
    return rows


# --------------------------------------------------------------------------- workers and Ctrl-C

# How often a sweep's worker process checks that the sweep's main process is still there.
PARENT_POLL_S = 0.1
_PR_SET_PDEATHSIG = 1  # linux/prctl.h
_watched_parent: int | None = None  # the parent this worker process already watches


# The reaper: a small process that outlives the sweep's main process by a moment and then
# SIGKILLs every process started with the sweep's marker in its environment (the
# launcher's workers, idle or busy, and the pools' resource trackers). It waits on a pipe
# whose only writer is the main process, so it wakes when the main process is gone, however
# it went (exit, exception, SIGKILL). Plain Python, no dcsim import: it starts in ~20 ms.
_REAPER = """
import os, signal, sys
marker = sys.argv[1].encode()
sys.stdin.buffer.read()
me = os.getpid()
for p in os.listdir("/proc"):
    if p.isdigit() and int(p) != me:
        try:
            with open(f"/proc/{p}/environ", "rb") as f:
                found = marker in f.read().split(b"\\0")
        except OSError:
            continue
        if found:
            try:
                os.kill(int(p), signal.SIGKILL)
            except OSError:
                pass
"""
_reaper: Any = None  # the reaper's Popen: its stdin pipe is held open while the sweep runs


def start_reaper(marker: str) -> None:
    """Start the reaper of processes whose environment holds ``marker`` (``KEY=VALUE``),
    for when this process (the sweep's main process) ends. Linux (``/proc``) only; elsewhere
    the workers' own watch (:func:`die_with_parent`) is all there is."""
    global _reaper
    if _reaper is not None or not os.path.isdir("/proc"):
        return
    import subprocess

    _reaper = subprocess.Popen([sys.executable, "-c", _REAPER, marker], stdin=subprocess.PIPE,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, close_fds=True,
                               start_new_session=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def die_with_parent(parent_pid: int, parent_host: str | None = None) -> bool:
    """In a launcher's worker process (a direct child of the sweep's main process
    ``parent_pid``): make the process exit as soon as that parent is gone, so that after
    the sweep's main process is killed no worker goes on running and writing into the
    sweep directory. Also leaves Ctrl-C (SIGINT, sent to the whole process group) to the
    parent, which stops the sweep and kills its workers itself.

    On Linux the kernel sends SIGKILL when the parent dies (``PR_SET_PDEATHSIG``; the
    joblib/loky pool starts its workers from the parent's main thread, and the manager
    thread that may replace one lives as long as the pool); everywhere, a daemon thread
    checks ``os.getppid()`` every :data:`PARENT_POLL_S`. Returns False (and does nothing)
    in a process that is not a direct child of ``parent_pid`` (the parent itself, a Ray or
    Slurm worker, which their own launchers supervise). A worker on the parent's host
    (``parent_host``) whose parent is already gone when its run begins (a run queued
    before the sweep's main process was killed) exits at once instead.
    """
    global _watched_parent
    if os.getpid() == parent_pid:
        return False
    if os.getppid() != parent_pid:
        if parent_host == socket.gethostname() and not _alive(parent_pid):
            os._exit(1)  # orphaned before this run began: nothing may be written for a dead sweep
        return False
    if _watched_parent == parent_pid:
        return True
    if threading.current_thread() is threading.main_thread():  # signal handlers can only be set there
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        except (OSError, AttributeError):  # no libc prctl: the thread below still watches
            pass
    if os.getppid() != parent_pid:  # the parent died before the kernel was told to watch it
        os._exit(1)
    threading.Thread(target=_exit_when_orphaned, args=(parent_pid,), name="dcsim-parent-watch", daemon=True).start()
    _watched_parent = parent_pid
    return True


def _exit_when_orphaned(parent_pid: int) -> None:
    while os.getppid() == parent_pid:
        time.sleep(PARENT_POLL_S)
    os._exit(1)  # at once: no cleanup that could write into the sweep directory


def interrupted_line(sweep_dir: str | Path, runs: Sequence[Sequence[str]]) -> str:
    """The one line a sweep stopped by Ctrl-C ends with: how many of its runs finished
    (complete, kept; the others are incomplete and run again when the sweep is rerun)."""
    rows = collect(sweep_dir, runs)
    finished = sum(r.status in (OK, SKIPPED) for r in rows)
    where = f"kept in {sweep_dir}" if finished else f"in {sweep_dir}"
    return f"interrupted: {finished} of {len(rows)} runs finished, {where}"
