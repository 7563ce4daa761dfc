"""Training job traces: real (Philly) and synthetic (LLM development cluster) job mixes.

Both come back as one canonical :class:`JobTrace`: duration-defined jobs (submit time,
GPUs, run time) sorted by submit time, first submission at 0 s unless a window says
otherwise. Described in docs/traces.md ("Training job traces").

- :func:`read_philly` reads the Pollux copy of the Microsoft Philly trace
  (``timestamp,duration,num_gpus,gpu_time,cluster``; Jeon et al., ATC 2019; Qiao et
  al., Pollux, OSDI 2021). ``timestamp`` is the job's submission wall-clock time
  (``YYYY-MM-DD HH:MM:SS``, no time zone); rows are not in time order.
- :func:`synthetic_llm_jobs` draws a job mix shaped like the LLM development clusters
  of AcmeTrace (Hu et al., NSDI 2024).

Node rounding: dcsim places work of up to one node's GPUs on one node and larger work
on whole nodes, so a job asking for more than ``gpus_per_node`` GPUs but not a
multiple of it is rounded up to whole nodes (``JobTrace.n_rounded`` counts them).
Jobs larger than ``max_gpus`` (after rounding) are dropped (``JobTrace.n_dropped``).

Any problem with a file is a :class:`JobTraceError`, one line ``path:row: message``
(row = 1-based line number in the file). Files ending in ``.gz`` are read through gzip.
This module imports only the standard library, numpy and the inference trace error it extends.
"""

from __future__ import annotations

import csv
import gzip
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

import numpy as np

from dcsim.workloads.inference.traces import TraceError

PHILLY_COLUMNS = ("timestamp", "duration", "num_gpus")
PHILLY_DURATION_ALIASES = ("duration", "duration (s)")

# Philly cluster size: 2,490 GPUs on 552 servers of 2 or 8 GPUs (Jeon et al., ATC 2019;
# the trace's cluster_machine_list, msr-fiddle/philly-traces). **To re-check**: quoted from
# the literature, not re-counted here (the machine list is not in shared/data).
# See docs/traces.md for the caveats of replaying on a homogeneous 8-GPU-node cluster.
PHILLY_CLUSTER_GPUS = 2490
PHILLY_REPLAY_NODES = 312  # ceil(2490 / 8): the documented 8-GPU-node replay cluster
# One busy week, seconds from the first submission (2017-09-04 10:30:41):
# Mon 2017-10-16 00:00:00 to Mon 2017-10-23 00:00:00, the calendar week with the most
# submissions: 14,185 jobs, 106,787 GPU-hours submitted (after node rounding).
PHILLY_BUSY_WEEK_S = (3_590_959.0, 4_195_759.0)

# AcmeTrace cluster_summary.csv (Hu et al., NSDI 2024; InternLM/AcmeTrace @ 6d6ac9cd):
# GPU jobs' average and median GPU count and run time (s), largest job (GPUs).
ACME_CLUSTERS = {
    "kalos": {"mean_gpus": 26.77, "median_gpus": 1.0, "mean_duration_s": 1259.689,
              "median_duration_s": 124.0, "max_gpus": 1024},
    "seren": {"mean_gpus": 5.68, "median_gpus": 1.0, "mean_duration_s": 1414.335,
              "median_duration_s": 122.0, "max_gpus": 1024},
}
LLM_GPU_CHOICES = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


class JobTraceError(TraceError):
    """A job trace file that cannot be read; ``str()`` is one line: ``path:row: message``."""


@dataclass(frozen=True)
class JobRecord:
    """One duration-defined training job: submit time (s from trace start), GPUs, run time (s)."""

    job_id: int
    t_submit_s: float
    gpus: int
    duration_s: float
    cluster: str


@dataclass(frozen=True)
class JobTrace:
    """Jobs in submit order (ties keep file order); arrays are read-only copies.

    ``gpus`` is after node rounding; ``gpus_requested`` is what the source asked for.
    ``n_rounded`` jobs were rounded up to whole nodes, ``n_dropped`` jobs were larger
    than ``max_gpus`` and are not in the arrays.
    """

    name: str
    job_id: np.ndarray
    t_submit_s: np.ndarray
    gpus: np.ndarray
    duration_s: np.ndarray
    cluster: tuple[str, ...]
    gpus_requested: np.ndarray
    n_rounded: int = 0
    n_dropped: int = 0
    gpus_per_node: int = 8

    def __post_init__(self) -> None:
        arrays = {
            "job_id": np.array(self.job_id, dtype=np.int64),
            "t_submit_s": np.array(self.t_submit_s, dtype=np.float64),
            "gpus": np.array(self.gpus, dtype=np.int64),
            "duration_s": np.array(self.duration_s, dtype=np.float64),
            "gpus_requested": np.array(self.gpus_requested, dtype=np.int64),
        }
        n = arrays["job_id"].size
        if any(a.shape != (n,) for a in arrays.values()) or len(self.cluster) != n:
            raise ValueError(f"JobTrace {self.name!r}: all columns must be 1-D of one length")
        t, g, d = arrays["t_submit_s"], arrays["gpus"], arrays["duration_s"]
        if n and (not np.all(np.isfinite(t)) or np.any(np.diff(t) < 0)):
            raise ValueError(f"JobTrace {self.name!r}: t_submit_s must be finite and never decrease")
        if n and (g.min() < 1 or not np.all(np.isfinite(d)) or d.min() < 0):
            raise ValueError(f"JobTrace {self.name!r}: gpus must be >= 1 and duration_s finite and >= 0")
        for key, a in arrays.items():
            a.setflags(write=False)
            object.__setattr__(self, key, a)
        object.__setattr__(self, "cluster", tuple(self.cluster))

    def __len__(self) -> int:
        return int(self.job_id.size)

    def __getitem__(self, i: int) -> JobRecord:
        return JobRecord(int(self.job_id[i]), float(self.t_submit_s[i]), int(self.gpus[i]),
                         float(self.duration_s[i]), self.cluster[i])

    def __iter__(self) -> Iterator[JobRecord]:
        return (self[i] for i in range(len(self)))

    @property
    def n_jobs(self) -> int:
        return len(self)

    @property
    def gpu_hours(self) -> float:
        """Sum of gpus x duration over the jobs kept, in GPU-hours (after node rounding)."""
        return float(np.sum(self.gpus * self.duration_s) / 3600.0)

    @property
    def span_s(self) -> float:
        """From the first submission to the last submission (s)."""
        return float(self.t_submit_s[-1] - self.t_submit_s[0]) if len(self) else 0.0

    @property
    def makespan_s(self) -> float:
        """From the first submission to the last job's end with no queueing (s)."""
        return float(np.max(self.t_submit_s + self.duration_s) - self.t_submit_s[0]) if len(self) else 0.0

    def summary(self) -> dict[str, float | int]:
        """Counts and totals, for logs and docs."""
        return {"jobs": self.n_jobs, "gpu_hours": self.gpu_hours, "span_s": self.span_s,
                "makespan_s": self.makespan_s, "rounded": self.n_rounded, "dropped": self.n_dropped,
                "mean_gpus": float(self.gpus.mean()) if len(self) else 0.0,
                "max_gpus": int(self.gpus.max()) if len(self) else 0}


def round_to_nodes(gpus: np.ndarray, gpus_per_node: int) -> np.ndarray:
    """GPU counts above one node rounded up to a multiple of ``gpus_per_node``."""
    gpus = np.asarray(gpus, dtype=np.int64)
    whole = -(-gpus // gpus_per_node) * gpus_per_node
    return np.where(gpus > gpus_per_node, whole, gpus)


def _finish(name: str, job_id: np.ndarray, t: np.ndarray, gpus: np.ndarray, dur: np.ndarray,
            cluster: list[str], gpus_per_node: int, max_gpus: int | None) -> JobTrace:
    """Round to nodes, drop oversize jobs, build the trace (inputs already in submit order)."""
    placed = round_to_nodes(gpus, gpus_per_node)
    n_rounded = int(np.count_nonzero(placed != gpus))
    keep = np.ones(gpus.size, dtype=bool) if max_gpus is None else placed <= max_gpus
    idx = np.flatnonzero(keep)
    return JobTrace(name, job_id[idx], t[idx], placed[idx], dur[idx], tuple(cluster[i] for i in idx),
                    gpus[idx], n_rounded=n_rounded, n_dropped=int(gpus.size - idx.size),
                    gpus_per_node=gpus_per_node)


def _open_text(path: Path) -> IO[str]:
    if path.name.endswith(".gz"):
        return gzip.open(path, "rt", newline="", encoding="utf-8")
    return open(path, newline="", encoding="utf-8")


def _number(path: Path, row: int, column: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise JobTraceError(path, f"{column} {text!r} is not a number", row) from None
    if not math.isfinite(value):
        raise JobTraceError(path, f"{column} {text!r} is not finite", row)
    if value < 0:
        raise JobTraceError(path, f"{column} {text!r} is negative", row)
    return value


def _timestamp_s(path: Path, row: int, text: str) -> float:
    """Seconds: a number as is, or a naive ``YYYY-MM-DD HH:MM:SS`` read as UTC (no DST)."""
    try:
        return _number(path, row, "timestamp", text)
    except JobTraceError as e:
        if "not a number" not in e.message:
            raise
    try:
        stamp = datetime.fromisoformat(text.strip())
    except ValueError:
        raise JobTraceError(path, f"timestamp {text!r} is neither seconds nor YYYY-MM-DD HH:MM:SS", row) from None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return stamp.timestamp()


def read_philly(path: str | os.PathLike, window_start_s: float | None = None,
                window_end_s: float | None = None, gpus_per_node: int = 8,
                max_gpus: int | None = None) -> JobTrace:
    """Read a Pollux/Philly job CSV (``timestamp,duration,num_gpus[,gpu_time][,cluster]``).

    Times are seconds from the earliest submission in the file. With a window, jobs
    submitted in ``[window_start_s, window_end_s)`` are kept and their times are made
    relative to ``window_start_s``; without one, the first job is at 0. Rows may be in
    any order (the Philly file is not sorted): the trace is sorted by submit time,
    ties in file order. ``job_id`` is the 0-based data row in the file.
    """
    path = Path(path)
    if gpus_per_node < 1:
        raise ValueError(f"gpus_per_node must be >= 1, got {gpus_per_node}")
    if max_gpus is not None and max_gpus < 1:
        raise ValueError(f"max_gpus must be >= 1 or None, got {max_gpus}")
    if window_start_s is not None and window_end_s is not None and window_end_s <= window_start_s:
        raise ValueError(f"window_end_s ({window_end_s}) must be after window_start_s ({window_start_s})")
    if not path.is_file():
        raise JobTraceError(path, "no such file")
    times: list[float] = []
    gpus: list[int] = []
    durations: list[float] = []
    clusters: list[str] = []
    try:
        with _open_text(path) as f:
            reader = csv.reader(f)
            header = next(reader, None)
            if header is None:
                raise JobTraceError(path, "empty file", 1)
            header = [h.strip() for h in header]
            missing = [c for c in PHILLY_COLUMNS if c != "duration" and c not in header]
            dur_col = next((c for c in PHILLY_DURATION_ALIASES if c in header), None)
            if dur_col is None:
                missing.insert(1, "duration")
            if missing:
                raise JobTraceError(path, f"missing column(s) {missing}; header is {header}", 1)
            assert dur_col is not None  # else "duration" is among the missing columns
            i_t, i_d, i_g = header.index("timestamp"), header.index(dur_col), header.index("num_gpus")
            i_gt = header.index("gpu_time") if "gpu_time" in header else None
            i_c = header.index("cluster") if "cluster" in header else None
            width = len(header)
            for fields in reader:
                row = reader.line_num
                if not fields or all(not x.strip() for x in fields):
                    continue
                if len(fields) != width:
                    raise JobTraceError(path, f"{len(fields)} fields, expected {width}", row)
                t = _timestamp_s(path, row, fields[i_t])
                d = _number(path, row, dur_col, fields[i_d])
                g = _number(path, row, "num_gpus", fields[i_g])
                if g < 1 or g != int(g):
                    raise JobTraceError(path, f"num_gpus {fields[i_g]!r} is not a whole number >= 1", row)
                if i_gt is not None:
                    gt = _number(path, row, "gpu_time", fields[i_gt])
                    if abs(gt - g * d) > 1e-6 * max(1.0, gt) + 1.0:
                        raise JobTraceError(path, f"gpu_time {gt:g} != num_gpus x duration = {g * d:g}", row)
                times.append(t)
                durations.append(d)
                gpus.append(int(g))
                clusters.append(fields[i_c].strip() if i_c is not None else "")
    except (OSError, EOFError, UnicodeDecodeError, csv.Error) as e:
        raise JobTraceError(path, f"cannot read: {e}") from None
    if not times:
        raise JobTraceError(path, "no jobs")
    t_abs = np.array(times, dtype=np.float64)
    order = np.argsort(t_abs, kind="stable")
    t_rel = t_abs[order] - t_abs[order[0]]
    lo = -np.inf if window_start_s is None else float(window_start_s)
    hi = np.inf if window_end_s is None else float(window_end_s)
    sel = order[(t_rel >= lo) & (t_rel < hi)]
    t = t_abs[sel] - t_abs[order[0]] - (0.0 if window_start_s is None else float(window_start_s))
    return _finish(path.name, sel.astype(np.int64), t, np.array(gpus, dtype=np.int64)[sel],
                   np.array(durations, dtype=np.float64)[sel], [clusters[i] for i in sel],
                   gpus_per_node, max_gpus)


def llm_gpu_probabilities(gpus_choices: tuple[int, ...] = LLM_GPU_CHOICES, mean_gpus: float = 26.77,
                          p_single: float = 0.6) -> np.ndarray:
    """Probabilities over ``gpus_choices``: ``p_single`` on the smallest choice, the rest a
    power law ``g**-alpha`` over the larger choices with alpha solved (bisection) so the
    mean GPU count is ``mean_gpus``."""
    g = np.asarray(gpus_choices, dtype=np.float64)
    if g.ndim != 1 or g.size < 2 or np.any(np.diff(g) <= 0) or g[0] < 1:
        raise ValueError(f"gpus_choices must be >= 2 increasing counts >= 1, got {gpus_choices}")
    if not 0.0 <= p_single < 1.0:
        raise ValueError(f"p_single must be in [0, 1), got {p_single}")
    tail = g[1:]
    lo_mean = p_single * g[0] + (1 - p_single) * tail[0]
    hi_mean = p_single * g[0] + (1 - p_single) * tail[-1]
    if not lo_mean < mean_gpus < hi_mean:
        raise ValueError(f"mean_gpus {mean_gpus} not reachable with p_single {p_single} and choices "
                         f"{gpus_choices}: must be in ({lo_mean:g}, {hi_mean:g})")

    def probs(alpha: float) -> np.ndarray:
        w = np.exp(-alpha * np.log(tail) - np.max(-alpha * np.log(tail)))
        return np.concatenate(([p_single], (1 - p_single) * w / w.sum()))

    lo, hi = -50.0, 50.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if float(probs(mid) @ g) > mean_gpus:
            lo = mid
        else:
            hi = mid
    return probs(0.5 * (lo + hi))


def synthetic_llm_jobs(rng: np.random.Generator, n_jobs: int, horizon_s: float,
                       gpus_choices: tuple[int, ...] = LLM_GPU_CHOICES, mean_gpus: float = 26.77,
                       p_single: float = 0.6, median_duration_s: float = 124.0,
                       mean_duration_s: float = 1259.689, gpus_per_node: int = 8,
                       max_gpus: int | None = None, name: str = "synthetic-llm") -> JobTrace:
    """A synthetic LLM-development job mix (defaults: AcmeTrace Kalos, Hu et al., NSDI 2024).

    Submissions: a Poisson process over ``[0, horizon_s)`` conditioned on ``n_jobs``
    arrivals (sorted uniform times). GPUs: :func:`llm_gpu_probabilities` (mostly single-GPU
    jobs, power-law tail of large pre-training jobs; mean ``mean_gpus``). Durations:
    log-normal with the given median and mean (mu = ln median, sigma = sqrt(2 ln(mean /
    median))), independent of the GPU count. Node rounding and ``max_gpus`` as in
    :func:`read_philly`.
    """
    if n_jobs < 0 or horizon_s <= 0:
        raise ValueError(f"need n_jobs >= 0 and horizon_s > 0, got {n_jobs}, {horizon_s}")
    if not 0 < median_duration_s <= mean_duration_s:
        raise ValueError(f"need 0 < median_duration_s <= mean_duration_s, got {median_duration_s}, {mean_duration_s}")
    p = llm_gpu_probabilities(tuple(gpus_choices), mean_gpus, p_single)
    t = np.sort(rng.uniform(0.0, horizon_s, size=n_jobs))
    gpus = np.asarray(gpus_choices, dtype=np.int64)[rng.choice(len(p), size=n_jobs, p=p)]
    sigma = math.sqrt(2.0 * math.log(mean_duration_s / median_duration_s))
    dur = rng.lognormal(math.log(median_duration_s), sigma, size=n_jobs)
    return _finish(name, np.arange(n_jobs, dtype=np.int64), t, gpus, dur, [name] * n_jobs,
                   gpus_per_node, max_gpus)
