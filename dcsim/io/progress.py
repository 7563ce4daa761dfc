"""Progress of a sweep across its runs, on every launcher: done / total, failed, refused,
running (with how far each is), elapsed and estimated remaining time.

The runs tell it through their directories, so it works wherever the launcher runs them
(joblib workers, Ray, Slurm on a shared file system): Hydra writes a run's
``.hydra/overrides.yaml`` when it starts, a running run keeps the share of its simulated
time that is done in ``.progress`` (:class:`RunProgressFile`, about once a second of wall
time), and it ends with ``summary.json`` or ``error.json`` (``dcsim.io.multirun``).
:class:`SweepProgress` polls the sweep directory from the process that launched the
sweep, prints one updating line on a terminal (nothing when stderr is not a terminal) and
appends a line to ``progress.log`` in the sweep directory whenever a run ends.
"""

from __future__ import annotations

import json
import math
import os
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from dcsim.io.writer import ERROR, SUMMARY

PROGRESS_FILE = ".progress"
PROGRESS_LOG = "progress.log"
OVERRIDES = Path(".hydra") / "overrides.yaml"


class RunProgressFile:
    """A run's share of simulated time done, written to ``run_dir/.progress`` at most every
    ``min_wall_s`` of wall time, looked at every ``step_s`` simulated seconds
    (``Simulation.observe``: it only reads the clock, so the run's results do not change)."""

    def __init__(self, run_dir: Path, duration_s: float, step_s: float, min_wall_s: float = 1.0) -> None:
        self.path = Path(run_dir) / PROGRESS_FILE
        self.duration_s, self.step_s, self.min_wall_s = duration_s, step_s, min_wall_s
        self._last_wall = -math.inf

    def attach(self, sim: Any) -> None:
        sim.observe(self.step_s, self._advance)

    def _advance(self, now_s: float) -> None:
        wall = time.monotonic()
        if wall - self._last_wall >= self.min_wall_s:
            self._last_wall = wall
            self._write(min(now_s / self.duration_s, 1.0))

    def _write(self, share: float) -> None:
        tmp = self.path.with_name(self.path.name + ".tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(f"{share:.4f}\n")
            os.replace(tmp, self.path)
        except OSError:  # progress is a courtesy: never fail a run for it
            pass

    def close(self) -> None:
        """The simulation ended (its tables are being written): all done."""
        self._write(1.0)

    def remove(self) -> None:
        """The run directory is complete: the file has told what it had to."""
        try:
            self.path.unlink(missing_ok=True)
        except OSError:
            pass


def _duration(seconds: float) -> str:
    s = int(round(seconds))
    h, rest = divmod(s, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else f"{m}m{s:02d}s" if m else f"{s}s"


class SweepProgress:
    """Watches ``sweep_dir`` for the runs ``runs`` (override lists, in job order)."""

    def __init__(self, sweep_dir: str | Path, runs: Sequence[Sequence[str]], stream: TextIO | None = None,
                 interactive: bool | None = None, poll_s: float = 1.0) -> None:
        self.sweep_dir = Path(sweep_dir)
        self.wanted = {tuple(str(o) for o in r): i for i, r in enumerate(runs)}
        self.total = len(self.wanted)
        self.stream = stream if stream is not None else sys.stderr
        self.interactive = self.stream.isatty() if interactive is None else interactive
        self.poll_s = poll_s
        self._dirs: dict[Path, tuple[float, tuple[str, ...] | None]] = {}  # run dir -> (mtime, overrides)
        self._t0 = time.monotonic()
        self._done_at_start: int | None = None
        self._logged: tuple[int, int, int] | None = None
        self._width = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- reading the sweep directory ----------------------------------------------------
    def _overrides(self, run_dir: Path) -> tuple[str, ...] | None:
        marker = run_dir / OVERRIDES
        try:
            mtime = marker.stat().st_mtime
        except OSError:
            return None
        cached = self._dirs.get(run_dir)
        if cached is not None and cached[0] == mtime:
            return cached[1]
        import yaml

        try:
            with open(marker) as f:
                data = yaml.safe_load(f) or []
        except (OSError, yaml.YAMLError):
            return None
        key = tuple(str(o) for o in data) if isinstance(data, list) else None
        self._dirs[run_dir] = (mtime, key)
        return key

    def state(self) -> dict[str, Any]:
        """Counts of the requested runs: done (ok or reused), failed, refused, and the
        running ones' shares of simulated time done, by job number."""
        done = failed = refused = 0
        running: dict[int, float] = {}
        try:
            entries = [e for e in os.scandir(self.sweep_dir) if e.is_dir() and not e.name.startswith(".")]
        except OSError:
            entries = []
        for e in entries:
            d = Path(e.path)
            key = self._overrides(d)
            num = self.wanted.get(key) if key is not None else None
            if num is None:
                continue
            if (d / SUMMARY).is_file():
                done += 1
            elif (d / ERROR).is_file():
                try:
                    status = json.loads((d / ERROR).read_text()).get("status")
                except (OSError, ValueError):
                    status = None
                if status == "refused":
                    refused += 1
                else:
                    failed += 1
            else:
                try:
                    running[num] = float((d / PROGRESS_FILE).read_text())
                except (OSError, ValueError):
                    running[num] = 0.0
        return {"done": done, "failed": failed, "refused": refused, "running": running}

    # -- telling ------------------------------------------------------------------------
    def line(self, st: dict[str, Any], elapsed_s: float) -> str:
        """One line: done / total, failed, refused, running, elapsed, estimated remaining."""
        ended = st["done"] + st["failed"] + st["refused"]
        if self._done_at_start is None:
            self._done_at_start = ended  # reused runs of an earlier invocation: no time spent here
        running = st["running"]
        parts = [f"sweep {ended}/{self.total} done", f"{st['failed']} failed", f"{st['refused']} refused"]
        if running:
            shown = ", ".join(f"#{n} {100 * f:.0f} %" for n, f in sorted(running.items())[:4])
            more = ", ..." if len(running) > 4 else ""
            parts.append(f"{len(running)} running ({shown}{more})")
        parts.append(f"{_duration(elapsed_s)} elapsed")
        work = ended - self._done_at_start + sum(running.values())
        left = self.total - ended - sum(running.values())
        if ended < self.total and work > 0 and elapsed_s > 0:
            parts.append(f"~{_duration(left * elapsed_s / work)} left")
        return "dcsim: " + ", ".join(parts)

    def update(self) -> dict[str, Any]:
        """Poll once: redraw the terminal line, log a line when a run has ended."""
        st = self.state()
        text = self.line(st, time.monotonic() - self._t0)
        counts = (st["done"], st["failed"], st["refused"])
        if counts != self._logged:
            self._logged = counts
            self._log(text)
        if self.interactive:
            pad = max(self._width - len(text), 0)
            self.stream.write("\r" + text + " " * pad)
            self.stream.flush()
            self._width = len(text)
        return st

    def _log(self, text: str) -> None:
        try:
            self.sweep_dir.mkdir(parents=True, exist_ok=True)
            with open(self.sweep_dir / PROGRESS_LOG, "a") as f:
                f.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {text.removeprefix('dcsim: ')}\n")
        except OSError:
            pass

    # -- the watching thread ------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._watch, name="dcsim-sweep-progress", daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._stop.wait(self.poll_s):
            self.update()

    def stop(self) -> None:
        """Stop watching; the final state goes to the log (and ends the terminal line)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.update()
        if self.interactive:
            self.stream.write("\n")
            self.stream.flush()
