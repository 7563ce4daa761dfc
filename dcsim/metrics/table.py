"""Columnar record tables: rows go in one at a time, stored as typed arrays.

A million request rows as tuples of Python objects take ~0.5 GB; as columns of
8-byte machine values they take ~150 MB, and turn into DataFrames without copying
element by element.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable

import numpy as np

# Columns that are labels, not numbers; integer columns; everything else is float64.
CATEGORICAL = frozenset({"service", "status", "record_type", "component", "name", "model", "detail", "job_kind"})
INTEGER = frozenset({"request_id", "replica", "prompt_tokens", "output_tokens", "generated_tokens", "job_id", "gpus",
                     "steps", "steps_done", "restarts", "preemptions", "cached_tokens", "replicas", "saturated",
                     "node", "rack", "gpu", "session_id", "call_index"})


class Table:
    """Rows with fixed columns, appended in column order."""

    def __init__(self, columns: Iterable[str]) -> None:
        self.columns = tuple(columns)
        self.data: list = [
            [] if c in CATEGORICAL else array("q") if c in INTEGER else array("d") for c in self.columns
        ]
        self._n = 0

    def append(self, row: tuple) -> None:
        """Add one row (values in column order)."""
        if len(row) != len(self.columns):
            raise ValueError(f"row of {len(row)} values for {len(self.columns)} columns")
        for col, value in zip(self.data, row):
            col.append(value)
        self._n += 1

    def __len__(self) -> int:
        return self._n

    def column(self, name: str) -> np.ndarray:
        """One column as a new numpy array: float64, int64, or object (labels), also when empty."""
        data = self.data[self.columns.index(name)]
        if name in CATEGORICAL:
            return np.array(data, dtype=object)
        dtype = np.int64 if name in INTEGER else np.float64
        return np.frombuffer(data, dtype=dtype).copy() if len(data) else np.empty(0, dtype=dtype)
