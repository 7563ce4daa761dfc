"""Records to tidy, typed DataFrames."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:
    from dcsim.metrics.results import Results

# Columns that are labels, not numbers; everything else is float64 or int64.
CATEGORICAL = {"service", "status", "record_type", "component", "name", "model", "detail"}
INTEGER = {"request_id", "replica", "prompt_tokens", "output_tokens", "generated_tokens", "job_id", "gpus",
           "steps", "steps_done", "restarts", "preemptions", "cached_tokens", "replicas", "saturated"}


def to_frame(rows: list[tuple], columns: tuple[str, ...]) -> pd.DataFrame:
    """One table as a DataFrame with stable dtypes, also when empty."""
    df = pd.DataFrame.from_records(rows, columns=list(columns))
    for col in columns:
        if col in CATEGORICAL:
            df[col] = df[col].astype("string")
        elif col in INTEGER:
            df[col] = df[col].astype("int64")
        else:
            df[col] = df[col].astype("float64")
    return df


def to_frames(results: "Results") -> dict[str, pd.DataFrame]:
    """All tables of a run."""
    return {name: to_frame(results.rows[name], cols) for name, cols in results.columns.items()}
