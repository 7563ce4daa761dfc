"""Columnar record tables: rows go in one at a time, stored as typed arrays.

A million request rows as tuples of Python objects take ~0.5 GB; as columns of
8-byte machine values they take ~150 MB, and turn into DataFrames without copying
element by element. Rows wait in a short list and go into the columns a block at a time
(one transposition and one C-level extend per column, not a Python loop per value).

A table with a ``sink`` (a streamed table, ``output.stream_timeseries``) keeps no more than
``sink_rows`` rows: each time that many are in its columns it hands itself to the sink
(which writes them out) and starts empty columns, so its memory stays bounded however
long the run; ``len()`` still counts every row appended, ``data`` and ``column()`` give the
rows not yet handed over.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterable

import numpy as np

# Columns that are labels, not numbers; integer columns; everything else is float64.
CATEGORICAL = frozenset({"service", "status", "record_type", "component", "name", "model", "detail", "job_kind"})
INTEGER = frozenset({"request_id", "replica", "prompt_tokens", "output_tokens", "generated_tokens", "job_id", "gpus",
                     "steps", "steps_done", "restarts", "preemptions", "cached_tokens", "replicas", "saturated",
                     "node", "rack", "gpu", "session_id", "call_index", "turn_index"})


BLOCK_ROWS = 1024  # rows held as tuples before they go into the columns


def rows_by_code(codes: np.ndarray, n: int) -> list[np.ndarray]:
    """The row indices of each code ``0 .. n-1`` in ``codes`` (other codes: none), each in row
    order, found in one stable sort (a mask per code is codes x rows: hours for 100k GPUs' racks)."""
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(n + 1))
    return [order[bounds[i]:bounds[i + 1]] for i in range(n)]


class Table:
    """Rows with fixed columns, appended in column order."""

    def __init__(self, columns: Iterable[str], sink: Callable[[Table], None] | None = None,
                 sink_rows: int = 128 * BLOCK_ROWS) -> None:
        if sink is not None and (sink_rows < BLOCK_ROWS or sink_rows % BLOCK_ROWS):
            raise ValueError(f"a streamed table hands over {sink_rows} rows at a time: a multiple of {BLOCK_ROWS}")
        self.columns = tuple(columns)
        self._data: list = self._empty()
        self._pending: list[tuple] = []
        self._n = 0
        self._sink = sink
        self._sink_rows = sink_rows
        self._stored = 0  # rows in the columns (not handed to the sink yet)

    def _empty(self) -> list:
        return [[] if c in CATEGORICAL else array("q") if c in INTEGER else array("d") for c in self.columns]

    @property
    def data(self) -> list:
        """The columns (a list, or an ``array`` of int64 or float64 values, per column)."""
        self._flush()
        return self._data

    def append(self, row: tuple) -> None:
        """Add one row (values in column order)."""
        if len(row) != len(self.columns):
            raise ValueError(f"row of {len(row)} values for {len(self.columns)} columns")
        self._pending.append(row)
        self._n += 1
        if len(self._pending) >= BLOCK_ROWS:
            self._flush()

    def _flush(self) -> None:
        if self._pending:
            rows, self._pending = self._pending, []
            for col, values in zip(self._data, zip(*rows)):
                col.extend(values)
            self._stored += len(rows)
            if self._sink is not None and self._stored >= self._sink_rows:  # exactly sink_rows (blocks divide it)
                self._hand_over(self._sink)

    def _hand_over(self, sink: Callable[[Table], None]) -> None:
        sink(self)
        self._data = self._empty()
        self._stored = 0

    def finish(self) -> None:
        """A streamed table: hand the rows not yet handed over to the sink (none: nothing)."""
        self._flush()
        if self._sink is not None and self._stored:
            self._hand_over(self._sink)

    def __len__(self) -> int:
        return self._n

    def column(self, name: str) -> np.ndarray:
        """One column as a new numpy array: float64, int64, or object (labels), also when empty."""
        data = self.data[self.columns.index(name)]
        if name in CATEGORICAL:
            return np.array(data, dtype=object)
        dtype = np.int64 if name in INTEGER else np.float64
        return np.frombuffer(data, dtype=dtype).copy() if len(data) else np.empty(0, dtype=dtype)
