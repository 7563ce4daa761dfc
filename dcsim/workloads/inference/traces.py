"""Readers for public LLM inference traces, into one canonical :class:`Trace`.

Formats (described in docs/traces.md, with the quirks of the real files):

- ``azure``: Azure LLM inference trace 2023 CSV (``TIMESTAMP,ContextTokens,GeneratedTokens``);
- ``mooncake``: Mooncake JSONL (``timestamp`` in ms, ``input_length``, ``output_length``, ``hash_ids``);
- ``generic``: dcsim's own CSV, ``t_arrival_s,prompt_tokens,output_tokens[,hash_ids]``;
- ServeGen per-client workload descriptions, read by :func:`read_servegen` into a
  :class:`ServeGenWorkload`, an arrival process that also samples token lengths.

Any problem with a file is a :class:`TraceError` whose message is one line naming the
file and, where there is one, the 1-based line number. Files ending in ``.gz`` are
read through gzip.
"""

from __future__ import annotations

import ast
import csv
import gzip
import json
import math
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import IO

import numpy as np

from dcsim.core.errors import require
from dcsim.workloads.inference.arrivals import window_arrival_times

TRACE_FORMATS = ("auto", "azure", "mooncake", "generic")
AZURE_COLUMNS = ("TIMESTAMP", "ContextTokens", "GeneratedTokens")
MOONCAKE_KEYS = ("timestamp", "input_length", "output_length")
GENERIC_COLUMNS = ("t_arrival_s", "prompt_tokens", "output_tokens")
SERVEGEN_PATTERNS = {"Gamma": "gamma", "Weibull": "weibull"}
SERVEGEN_INTERARRIVALS = ("fitted", "gamma")


class TraceError(ValueError):
    """A trace file that cannot be read; ``str()`` is one line: ``path:row: message``."""

    def __init__(self, path: str | os.PathLike, message: str, row: int | None = None) -> None:
        self.path = str(path)
        self.row = row
        self.message = " ".join(str(message).split())
        where = self.path if row is None else f"{self.path}:{row}"
        super().__init__(f"{where}: {self.message}")


@dataclass(frozen=True)
class Trace:
    """Requests in arrival order: times from 0 (s) and token counts, one entry per request.

    ``hash_ids`` are Mooncake's prefix-cache block ids (one per 512-token block of the
    prompt; equal ids mean equal prefixes), or None when the source has none. The
    arrays are read-only copies.
    """

    name: str
    t_arrival_s: np.ndarray
    prompt_tokens: np.ndarray
    output_tokens: np.ndarray
    hash_ids: tuple[tuple[int, ...], ...] | None = None
    # The line of the file each request was read from (1-based), for errors that blame one
    # request on its row; None for a trace not read from a file.
    rows: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        t = np.array(self.t_arrival_s, dtype=np.float64)
        prompt = np.array(self.prompt_tokens, dtype=np.int64)
        output = np.array(self.output_tokens, dtype=np.int64)
        n = t.size
        if t.ndim != 1 or prompt.shape != (n,) or output.shape != (n,):
            raise ValueError(f"Trace {self.name!r}: t_arrival_s, prompt_tokens and output_tokens must be 1-D "
                             f"arrays of one length, got shapes {t.shape}, {prompt.shape}, {output.shape}")
        if n and (not np.all(np.isfinite(t)) or t[0] != 0.0 or np.any(np.diff(t) < 0)):
            raise ValueError(f"Trace {self.name!r}: t_arrival_s must be finite, start at 0.0 and never decrease")
        if n and (prompt.min() < 1 or output.min() < 1):
            raise ValueError(f"Trace {self.name!r}: prompt_tokens and output_tokens must be >= 1")
        if self.hash_ids is not None and len(self.hash_ids) != n:
            raise ValueError(f"Trace {self.name!r}: hash_ids has {len(self.hash_ids)} entries for {n} requests")
        if self.rows is not None and len(self.rows) != n:
            raise ValueError(f"Trace {self.name!r}: rows has {len(self.rows)} entries for {n} requests")
        for name, arr in (("t_arrival_s", t), ("prompt_tokens", prompt), ("output_tokens", output)):
            arr.flags.writeable = False
            object.__setattr__(self, name, arr)

    def __len__(self) -> int:
        return int(self.t_arrival_s.size)

    @property
    def duration_s(self) -> float:
        """Time of the last arrival (0 for an empty trace)."""
        return float(self.t_arrival_s[-1]) if len(self) else 0.0

    def __repr__(self) -> str:
        return (f"Trace(name={self.name!r}, requests={len(self)}, duration_s={self.duration_s:.1f}, "
                f"hash_ids={'yes' if self.hash_ids is not None else 'no'})")


class EmpiricalLengths:
    """A discrete distribution of token counts: ``values`` with ``probabilities``."""

    def __init__(self, values, probabilities) -> None:
        v = np.asarray(values)
        p = np.asarray(probabilities, dtype=np.float64)
        require(v.ndim == 1 and v.size > 0, "values", values, "a non-empty 1-D sequence of token counts")
        require(p.shape == v.shape, "probabilities", f"<{p.size} entries>", f"one per value ({v.size})")
        vi = v.astype(np.int64)
        require(bool(np.all(vi == v)) and vi.min() >= 1, "values", v.min(), "integers >= 1")
        require(bool(np.all(np.isfinite(p))) and p.min() >= 0, "probabilities", p.min(), "finite numbers >= 0")
        require(abs(p.sum() - 1.0) <= 1e-6, "probabilities", f"<sum {p.sum():.9g}>", "summing to 1 (within 1e-6)")
        order = np.argsort(vi, kind="stable")
        self.values = vi[order]
        self.probabilities = p[order] / p.sum()
        self._cdf = np.cumsum(self.probabilities)
        self._cdf[-1] = 1.0

    @property
    def mean(self) -> float:
        """Expected token count."""
        return float(np.dot(self.values, self.probabilities))

    def sample_many(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` independent draws as int64."""
        idx = np.searchsorted(self._cdf, rng.random(n), side="right")
        return self.values[np.minimum(idx, self.values.size - 1)]

    def sample(self, rng: np.random.Generator) -> int:
        """One draw."""
        return int(self.sample_many(rng, 1)[0])

    def __repr__(self) -> str:
        return (f"EmpiricalLengths({self.values.size} values in [{self.values[0]}, {self.values[-1]}], "
                f"mean={self.mean:.1f})")


# --------------------------------------------------------------------------- reading

def _open_text(path: Path) -> IO[str]:
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8", newline="")
    return open(path, encoding="utf-8", newline="")


def _strip_gz(path: Path) -> str:
    """The last real extension: ``.csv`` for ``x.csv.gz``."""
    return (path.with_suffix("") if path.suffix == ".gz" else path).suffix.lower()


def _count(text, path: Path, row: int, column: str) -> int:
    """A token count >= 1 from a CSV cell or a JSON value."""
    value = None
    if isinstance(text, bool):
        value = None
    elif isinstance(text, int):
        value = text
    elif isinstance(text, float) and text.is_integer():
        value = int(text)
    elif isinstance(text, str):
        try:
            value = int(text)
        except ValueError:
            try:
                f = float(text)
                value = int(f) if f.is_integer() else None
            except ValueError:
                value = None
    if value is None or value < 1:
        raise TraceError(path, f"{column}={text!r} is not allowed: an integer >= 1", row)
    return value


def _csv_rows(path: Path, stream: IO[str], required: tuple[str, ...]) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, row as a dict) for every non-blank data row, after checking the header."""
    reader = csv.reader(stream)
    header = next(reader, None)
    while header is not None and not any(cell.strip() for cell in header):
        header = next(reader, None)
    if header is None:
        raise TraceError(path, "empty file")
    header = [cell.strip().lstrip("\ufeff") for cell in header]
    missing = [c for c in required if c not in header]
    if missing:
        raise TraceError(path, f"missing column(s) {', '.join(missing)}; the header has {', '.join(header)}",
                         reader.line_num)
    for cells in reader:
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) != len(header):
            raise TraceError(path, f"{len(cells)} fields, the header has {len(header)}", reader.line_num)
        yield reader.line_num, dict(zip(header, (cell.strip() for cell in cells)))


_AZURE_TIME = re.compile(r"(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?")


def _azure_ns(text: str, path: Path, row: int) -> int:
    """Nanoseconds since 0001-01-01 of a naive wall-clock TIMESTAMP (exact integer)."""
    m = _AZURE_TIME.fullmatch(text)
    try:
        if m is None:
            raise ValueError
        y, mo, d, hh, mm, ss = (int(g) for g in m.groups()[:6])
        if hh > 23 or mm > 59 or ss > 59:
            raise ValueError
        frac = int((m.group(7) or "0").ljust(9, "0"))
        return ((date(y, mo, d).toordinal() * 86400 + hh * 3600 + mm * 60 + ss) * 1_000_000_000) + frac
    except ValueError:
        raise TraceError(path, f"TIMESTAMP={text!r} is not allowed: 'YYYY-MM-DD HH:MM:SS[.fffffff]'", row) from None


def _read_azure(path: Path, stream: IO[str]) -> Trace:
    times_ns: list[int] = []
    prompt: list[int] = []
    output: list[int] = []
    rows: list[int] = []
    for row, cells in _csv_rows(path, stream, AZURE_COLUMNS):
        rows.append(row)
        ns = _azure_ns(cells["TIMESTAMP"], path, row)
        if times_ns and ns < times_ns[-1]:
            raise TraceError(path, f"TIMESTAMP {cells['TIMESTAMP']} is earlier than the row before; "
                                   "timestamps must never decrease", row)
        times_ns.append(ns)
        prompt.append(_count(cells["ContextTokens"], path, row, "ContextTokens"))
        output.append(_count(cells["GeneratedTokens"], path, row, "GeneratedTokens"))
    if not times_ns:
        raise TraceError(path, "no requests after the header")
    t = np.array([ns - times_ns[0] for ns in times_ns], dtype=np.float64) / 1e9
    return Trace(path.name, t, np.array(prompt, dtype=np.int64), np.array(output, dtype=np.int64), rows=tuple(rows))


def _read_generic(path: Path, stream: IO[str]) -> Trace:
    times: list[float] = []
    prompt: list[int] = []
    output: list[int] = []
    hashes: list[tuple[int, ...]] = []
    has_hashes: bool | None = None
    rows: list[int] = []
    for row, cells in _csv_rows(path, stream, GENERIC_COLUMNS):
        rows.append(row)
        if has_hashes is None:
            has_hashes = "hash_ids" in cells
        text = cells["t_arrival_s"]
        try:
            t = float(text)
        except ValueError:
            t = math.nan
        if not math.isfinite(t) or t < 0:
            raise TraceError(path, f"t_arrival_s={text!r} is not allowed: a finite number of seconds >= 0", row)
        if times and t < times[-1]:
            raise TraceError(path, f"t_arrival_s={text} is earlier than the row before ({times[-1]!r}); "
                                   "times must never decrease", row)
        times.append(t)
        prompt.append(_count(cells["prompt_tokens"], path, row, "prompt_tokens"))
        output.append(_count(cells["output_tokens"], path, row, "output_tokens"))
        if has_hashes:
            try:
                ids = tuple(int(x) for x in cells["hash_ids"].split())
            except ValueError:
                ids = (-1,)
            if any(i < 0 for i in ids):
                raise TraceError(path, f"hash_ids={cells['hash_ids']!r} is not allowed: "
                                       "space-separated integers >= 0", row)
            hashes.append(ids)
    if not times:
        raise TraceError(path, "no requests after the header")
    t_s = np.array(times, dtype=np.float64)
    return Trace(path.name, t_s - t_s[0], np.array(prompt, dtype=np.int64), np.array(output, dtype=np.int64),
                 tuple(hashes) if has_hashes else None, rows=tuple(rows))


def _read_mooncake(path: Path, stream: IO[str]) -> Trace:
    times: list[float] = []
    prompt: list[int] = []
    output: list[int] = []
    hashes: list[tuple[int, ...]] = []
    has_hashes: bool | None = None
    rows: list[int] = []
    for row, line in enumerate(stream, start=1):
        if not line.strip():
            continue
        rows.append(row)
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as exc:
            raise TraceError(path, f"not a JSON object: {exc.msg}", row) from None
        if not isinstance(rec, dict):
            raise TraceError(path, "not a JSON object", row)
        missing = [k for k in MOONCAKE_KEYS if k not in rec]
        if has_hashes is None:
            has_hashes = "hash_ids" in rec
        elif has_hashes and "hash_ids" not in rec:
            missing.append("hash_ids")
        if missing:
            raise TraceError(path, f"missing key(s) {', '.join(missing)}", row)
        ms = rec["timestamp"]
        if isinstance(ms, bool) or not isinstance(ms, (int, float)) or not math.isfinite(ms) or ms < 0:
            raise TraceError(path, f"timestamp={ms!r} is not allowed: milliseconds >= 0", row)
        if times and ms < times[-1]:
            raise TraceError(path, f"timestamp={ms} is earlier than the row before ({times[-1]}); "
                                   "timestamps must never decrease", row)
        times.append(ms)
        prompt.append(_count(rec["input_length"], path, row, "input_length"))
        output.append(_count(rec["output_length"], path, row, "output_length"))
        if has_hashes:
            ids = rec["hash_ids"]
            if not isinstance(ids, list) or not all(isinstance(i, int) and not isinstance(i, bool) and i >= 0
                                                    for i in ids):
                raise TraceError(path, "hash_ids is not allowed: a list of integers >= 0", row)
            hashes.append(tuple(ids))
    if not times:
        raise TraceError(path, "empty file")
    t_s = np.array(times, dtype=np.float64) / 1e3
    return Trace(path.name, t_s - t_s[0], np.array(prompt, dtype=np.int64), np.array(output, dtype=np.int64),
                 tuple(hashes) if has_hashes else None, rows=tuple(rows))


def _sniff(path: Path) -> str:
    """The format of ``path`` from its extension, else its first non-blank line."""
    ext = _strip_gz(path)
    if ext in (".jsonl", ".json", ".ndjson"):
        return "mooncake"
    with _open_text(path) as stream:
        first = next((line for line in stream if line.strip()), None)
    if first is None:
        raise TraceError(path, "empty file")
    if first.lstrip().startswith("{"):
        return "mooncake"
    header = {cell.strip().lstrip("\ufeff") for cell in next(csv.reader([first]))}
    if "TIMESTAMP" in header or {"ContextTokens", "GeneratedTokens"} & header:
        return "azure"
    if header & set(GENERIC_COLUMNS):
        return "generic"
    raise TraceError(path, f"cannot tell the format from the header {','.join(sorted(header))}; "
                           f"expected {','.join(AZURE_COLUMNS)} (azure) or {','.join(GENERIC_COLUMNS)} (generic), "
                           "or pass fmt=", 1)


_READERS = {"azure": _read_azure, "mooncake": _read_mooncake, "generic": _read_generic}


def read_trace(path: str | os.PathLike, fmt: str = "auto") -> Trace:
    """Read an inference trace: ``fmt`` is "auto" (by extension, then header), "azure",
    "mooncake" or "generic". Times start at 0.0 (the first request); see docs/traces.md."""
    p = Path(path)
    if fmt not in TRACE_FORMATS:
        raise TraceError(p, f"fmt={fmt!r} is not allowed: one of {', '.join(TRACE_FORMATS)}")
    if not p.is_file():
        raise TraceError(p, "no such file")
    try:
        kind = _sniff(p) if fmt == "auto" else fmt
        with _open_text(p) as stream:
            return _READERS[kind](p, stream)
    except UnicodeDecodeError:
        raise TraceError(p, "not UTF-8 text") from None
    except (OSError, EOFError, csv.Error) as exc:
        raise TraceError(p, f"cannot read: {exc}") from None


# --------------------------------------------------------------------------- ServeGen

class ServeGenWorkload:
    """An arrival process and length sampler built from ServeGen per-client descriptions.

    Time is cut into windows of ``window_s`` (600 s) over ``duration_s`` (14 days for
    the published data). In window w client c sends exactly ``rate_per_s[c, w] *
    window_s`` requests (the recorded count; a fractional part is a Bernoulli draw),
    spaced like a renewal process conditioned on that count: with
    ``interarrival="fitted"`` the gaps follow the family (gamma or Weibull) and shape
    fitted in the description, as ServeGen's generator does; with
    ``interarrival="gamma"`` they are gamma with the window's measured CV. The
    aggregate is the superposition over clients. There are no arrivals after
    ``duration_s``. ``mean_rate_per_s`` integrates the piecewise-constant rates, so it
    is exact over whole windows and interpolates linearly inside one.

    Token lengths come from the clients that ship a dataset file, mixed over their
    6-hour length windows in proportion to their expected requests;
    ``length_coverage`` is the fraction of all expected requests those clients send.
    """

    def __init__(self, name: str, window_s: float, client_ids: tuple[int, ...], rate_per_s: np.ndarray,
                 cv: np.ndarray, family: np.ndarray, shape: np.ndarray, interarrival: str = "fitted",
                 prompt_lengths: EmpiricalLengths | None = None, output_lengths: EmpiricalLengths | None = None,
                 length_coverage: float = 0.0) -> None:
        require(math.isfinite(window_s) and window_s > 0, "window_s", window_s, "a finite number of seconds > 0")
        require(interarrival in SERVEGEN_INTERARRIVALS, "interarrival", interarrival,
                f"one of {', '.join(SERVEGEN_INTERARRIVALS)}")
        rate = np.asarray(rate_per_s, dtype=np.float64)
        require(rate.ndim == 2 and rate.shape[0] == len(client_ids), "rate_per_s", f"<shape {rate.shape}>",
                "a (clients x windows) array")
        require(bool(np.all(np.isfinite(rate))) and rate.min(initial=0) >= 0, "rate_per_s", rate.min(initial=0),
                "finite rates >= 0")
        self.name = name
        self.window_s = float(window_s)
        self.client_ids = tuple(client_ids)
        self.rate_per_s = rate
        self.cv = np.asarray(cv, dtype=np.float64)
        self.family = np.asarray(family, dtype=object)
        self.shape = np.asarray(shape, dtype=np.float64)
        self.interarrival = interarrival
        self.prompt_lengths = prompt_lengths
        self.output_lengths = output_lengths
        self.length_coverage = float(length_coverage)
        self.total_rate_per_s = rate.sum(axis=0)
        self._edges_s = np.arange(rate.shape[1] + 1) * self.window_s
        self._cum = np.concatenate([[0.0], np.cumsum(self.total_rate_per_s * self.window_s)])

    @property
    def n_windows(self) -> int:
        return int(self.rate_per_s.shape[1])

    @property
    def duration_s(self) -> float:
        """End of the last window: no arrivals after it."""
        return float(self._edges_s[-1])

    def expected_arrivals(self, t_s: float | np.ndarray) -> float | np.ndarray:
        """Expected arrivals in [0, t_s), summed over clients (exact for piecewise-constant rates)."""
        return np.interp(t_s, self._edges_s, self._cum)

    def mean_rate_per_s(self, t0_s: float, t1_s: float) -> float:
        """Expected arrivals per second over [t0_s, t1_s), summed over clients."""
        require(math.isfinite(t0_s), "t0_s", t0_s, "a finite number of seconds")
        require(math.isfinite(t1_s) and t1_s > t0_s, "t1_s", t1_s, f"a finite number of seconds > t0_s={t0_s}")
        return float(self.expected_arrivals(t1_s) - self.expected_arrivals(t0_s)) / (t1_s - t0_s)

    def arrival_times_s(self, rng: np.random.Generator, until_s: float) -> np.ndarray:
        """Sorted arrival times in [0, until_s) of all clients together."""
        require(math.isfinite(until_s) and until_s >= 0, "until_s", until_s, "a finite number of seconds >= 0")
        end_s = min(float(until_s), self.duration_s)
        n_win = int(math.ceil(end_s / self.window_s))
        rate = self.rate_per_s[:, :n_win]
        out = []
        for fam in ("gamma", "weibull"):
            if self.interarrival == "gamma":
                if fam == "weibull":
                    continue
                sel = rate > 0
                shape = np.clip(self.cv[:, :n_win][sel], 1e-2, 1e2) ** -2.0
            else:
                sel = (rate > 0) & (self.family[:, :n_win] == fam)
                shape = self.shape[:, :n_win][sel]
            if not sel.any():
                continue
            _, win = np.nonzero(sel)
            expected = rate[sel] * self.window_s
            count = np.floor(expected).astype(np.int64)
            count += rng.random(count.size) < expected - count  # integer counts in the data: no-op
            seg, t = window_arrival_times(rng, fam, shape, count, self._edges_s[win],
                                          np.full(count.size, self.window_s))
            out.append(t)
        if not out:
            return np.empty(0)
        t = np.sort(np.concatenate(out))
        return t[t < end_s]

    def sample_lengths(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
        """``n`` (prompt_tokens, output_tokens) pairs, drawn independently from the mixed PDFs."""
        if self.prompt_lengths is None or self.output_lengths is None:
            raise ValueError(f"ServeGen workload {self.name!r} has no chunk-N-dataset.json among its clients "
                             f"{list(self.client_ids)}: no token lengths to sample")
        return self.prompt_lengths.sample_many(rng, n), self.output_lengths.sample_many(rng, n)

    def __repr__(self) -> str:
        return (f"ServeGenWorkload(name={self.name!r}, clients={len(self.client_ids)}, windows={self.n_windows} "
                f"x {self.window_s:g} s, mean_rate_per_s={self.mean_rate_per_s(0, self.duration_s):.1f}, "
                f"interarrival={self.interarrival!r})")


_CHUNK_TRACE = re.compile(r"chunk-(\d+)-trace\.csv")


def _read_servegen_trace(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Window starts, rates, CVs, families and shapes of one ``chunk-N-trace.csv``."""
    starts: list[int] = []
    rates: list[float] = []
    cvs: list[float] = []
    fams: list[str] = []
    shapes: list[float] = []
    with open(path, encoding="utf-8", newline="") as stream:
        reader = csv.reader(stream)
        for cells in reader:
            row = reader.line_num
            if not any(c.strip() for c in cells):
                continue
            if len(cells) != 6:
                raise TraceError(path, f"{len(cells)} fields; expected 6: window_start_s,rate_per_s,cv,"
                                       "pattern,shape,scale", row)
            try:
                start, rate, cv, shape, _scale = int(cells[0]), float(cells[1]), float(cells[2]), \
                    float(cells[4]), float(cells[5])
            except ValueError:
                raise TraceError(path, f"non-numeric field in {','.join(cells)!r}", row) from None
            pat = cells[3].strip()
            if not (math.isfinite(rate) and rate >= 0):
                raise TraceError(path, f"rate={cells[1]!r} is not allowed: a finite number >= 0", row)
            if pat and pat not in SERVEGEN_PATTERNS:
                raise TraceError(path, f"pattern={pat!r} is not allowed: one of {', '.join(SERVEGEN_PATTERNS)} "
                                       "or empty", row)
            if rate > 0 and not pat:
                raise TraceError(path, f"rate={cells[1]} > 0 but no inter-arrival pattern", row)
            if rate > 0 and not (math.isfinite(shape) and shape > 0 and math.isfinite(cv) and cv >= 0):
                raise TraceError(path, f"shape={cells[4]!r}, cv={cells[2]!r} are not allowed: shape > 0, cv >= 0", row)
            if starts and start <= starts[-1]:
                raise TraceError(path, f"window start {start} is not after the previous one ({starts[-1]})", row)
            starts.append(start)
            rates.append(rate)
            cvs.append(cv if math.isfinite(cv) else 0.0)
            fams.append(SERVEGEN_PATTERNS.get(pat, ""))
            shapes.append(shape if rate > 0 else 1.0)
    if not starts:
        raise TraceError(path, "empty file")
    return np.array(starts), np.array(rates), np.array(cvs), np.array(fams, dtype=object), np.array(shapes)


def _parse_pdf(text: str, path: Path, key: str) -> dict[int, float]:
    """A ServeGen PDF: the string of a Python dict {token_count: probability}."""
    try:
        pdf = ast.literal_eval(text) if isinstance(text, str) else text
    except (ValueError, SyntaxError):
        pdf = None
    if not isinstance(pdf, dict) or not all(
            isinstance(k, int) and k >= 0 and isinstance(v, (int, float)) and v >= 0 for k, v in pdf.items()):
        raise TraceError(path, f"{key}: not a PDF {{token_count: probability}}")
    if pdf and abs(sum(pdf.values()) - 1.0) > 1e-6:
        raise TraceError(path, f"{key}: probabilities sum to {sum(pdf.values()):.9g}, not 1")
    return pdf


def _read_servegen_dataset(path: Path) -> dict[int, dict[str, dict[int, float]]]:
    """Length windows of one ``chunk-N-dataset.json``: start -> {field: PDF}, empty windows dropped."""
    try:
        with open(path, encoding="utf-8") as stream:
            raw = json.load(stream)
    except json.JSONDecodeError as exc:
        raise TraceError(path, f"not JSON: {exc.msg}", exc.lineno) from None
    if not isinstance(raw, dict):
        raise TraceError(path, "not a JSON object {window_start: {input_tokens, output_tokens}}")
    out = {}
    for ts, fields in raw.items():
        if not isinstance(fields, dict) or not {"input_tokens", "output_tokens"} <= set(fields):
            raise TraceError(path, f"window {ts}: missing input_tokens or output_tokens")
        try:
            start = int(ts)
        except ValueError:
            raise TraceError(path, f"window {ts!r}: not an integer start in seconds") from None
        pdfs = {f: _parse_pdf(fields[f], path, f"window {ts} {f}") for f in ("input_tokens", "output_tokens")}
        if all(pdfs.values()):
            out[start] = pdfs
    return dict(sorted(out.items()))


def _mix(parts: list[tuple[float, dict[int, float]]]) -> EmpiricalLengths:
    """Weighted mixture of PDFs; a 0-token bin (none in the published data) counts as 1 token."""
    total = sum(w for w, _ in parts)
    acc: dict[int, float] = {}
    for w, pdf in parts:
        for k, p in pdf.items():
            acc[max(k, 1)] = acc.get(max(k, 1), 0.0) + w * p / total
    values = np.fromiter(acc.keys(), dtype=np.int64)
    probs = np.fromiter(acc.values(), dtype=np.float64)
    return EmpiricalLengths(values, probs / probs.sum())


def read_servegen(directory: str | os.PathLike, chunks: list[int] | None = None,
                  interarrival: str = "fitted") -> ServeGenWorkload:
    """Read ServeGen client descriptions (``chunk-N-trace.csv`` and, where present,
    ``chunk-N-dataset.json``) from ``directory``; ``chunks`` picks clients (default all)."""
    d = Path(directory)
    if not d.is_dir():
        raise TraceError(d, "no such directory")
    found = {int(m.group(1)): d / m.group(0) for p in d.iterdir() if (m := _CHUNK_TRACE.fullmatch(p.name))}
    if chunks is None:
        ids = sorted(found)
        if not ids:
            raise TraceError(d, "no chunk-N-trace.csv files")
    else:
        ids = [int(c) for c in chunks]
        if not ids:
            raise TraceError(d, "chunks=[] selects no client")
        for c in ids:
            if c not in found:
                raise TraceError(d / f"chunk-{c}-trace.csv", "no such file")
    if interarrival not in SERVEGEN_INTERARRIVALS:
        raise TraceError(d, f"interarrival={interarrival!r} is not allowed: one of {', '.join(SERVEGEN_INTERARRIVALS)}")

    starts0 = None
    rates, cvs, fams, shapes = [], [], [], []
    for c in ids:
        starts, rate, cv, fam, shape = _read_servegen_trace(found[c])
        if starts0 is None:
            steps = np.diff(starts)
            if starts[0] != 0 or (steps.size and np.any(steps != steps[0])):
                raise TraceError(found[c], "window starts must be 0, w, 2w, ... (equal windows from 0)")
            starts0 = starts
        elif starts.shape != starts0.shape or np.any(starts != starts0):
            raise TraceError(found[c], f"windows differ from those of chunk-{ids[0]}-trace.csv")
        rates.append(rate)
        cvs.append(cv)
        fams.append(fam)
        shapes.append(shape)
    assert starts0 is not None  # ids is not empty (checked above)
    window_s = float(starts0[1] - starts0[0]) if starts0.size > 1 else 600.0
    rate = np.vstack(rates)

    # Lengths: each trace window of a client with a dataset takes the latest non-empty
    # length window at or before it (as ServeGen does), weighted by its expected requests.
    prompt_parts, output_parts, covered = [], [], 0.0
    for i, c in enumerate(ids):
        path = d / f"chunk-{c}-dataset.json"
        if not path.is_file():
            continue
        windows = _read_servegen_dataset(path)
        if not windows:
            continue
        keys = np.array(list(windows))
        which = np.searchsorted(keys, starts0, side="right") - 1
        for j, key in enumerate(keys):
            expected = float(rate[i][which == j].sum() * window_s)
            if expected > 0:
                prompt_parts.append((expected, windows[int(key)]["input_tokens"]))
                output_parts.append((expected, windows[int(key)]["output_tokens"]))
                covered += expected
    total = float(rate.sum() * window_s)
    prompt_lengths = _mix(prompt_parts) if prompt_parts else None
    output_lengths = _mix(output_parts) if output_parts else None
    return ServeGenWorkload(
        name=d.name, window_s=window_s, client_ids=tuple(ids), rate_per_s=rate, cv=np.vstack(cvs),
        family=np.vstack(fams), shape=np.vstack(shapes), interarrival=interarrival,
        prompt_lengths=prompt_lengths, output_lengths=output_lengths,
        length_coverage=covered / total if total > 0 else 0.0,
    )
