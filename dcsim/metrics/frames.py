"""Records to tidy, typed DataFrames."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from dcsim.metrics.table import CATEGORICAL, INTEGER, Table

if TYPE_CHECKING:
    from dcsim.metrics.results import Results


def to_frame(table: Table) -> pd.DataFrame:
    """One table as a DataFrame with stable dtypes (string, int64, float64), also when empty."""
    cols = {}
    for name, data in zip(table.columns, table.data):
        if name in CATEGORICAL:
            cols[name] = pd.array(data, dtype="string")
        else:
            cols[name] = np.frombuffer(data, dtype=np.int64 if name in INTEGER else np.float64).copy() \
                if len(data) else np.empty(0, dtype=np.int64 if name in INTEGER else np.float64)
    return pd.DataFrame(cols, columns=list(table.columns))


def to_frames(results: Results) -> dict[str, pd.DataFrame]:
    """All tables of a run."""
    return {name: to_frame(table) for name, table in results.tables.items()}
