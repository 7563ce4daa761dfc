"""Load a sweep (a Hydra multirun, or any tree of run directories) into one DataFrame.

A run directory is one holding ``summary.json`` (a complete run) or ``error.json`` (a
point the sweep refused). ``load_sweep`` reads only those small JSON files, so a sweep
of hundreds of runs loads in well under a second; ``load_sweep_tables`` reads one
parquet table of every complete run, only the columns asked for.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from dcsim.config.overrides import parse_override, scalar_leaves
from dcsim.io.reader import check_run
from dcsim.io.writer import SUMMARY, TABLE_FILES

ERROR = "error.json"  # written by the CLI for a run refused or failed (dcsim/cli.py)
OVERRIDES_YAML = Path(".hydra") / "overrides.yaml"
# Columns every row has, before the override and KPI columns.
RUN_COLUMNS = ("run_dir", "status", "failure", "error", "overrides")
# What error.json says happened ("status"): refused (an impossible config) or failed.
FAILURES = ("refused", "failed")
# Keys of summary.json that describe the run directory, not the run (dcsim.io.writer).
RUN_BOOKKEEPING = ("complete", "files", "provenance_files")

_MISSING = object()


def find_run_dirs(root: str | Path) -> list[Path]:
    """Every run directory under ``root`` (``root`` itself included), in run order.

    Run order sorts the path below ``root`` part by part, numeric names as numbers, so
    ``multirun/DAY/TIME/10`` comes after ``.../9``. Hidden directories (``.hydra``) are
    not searched, nor is anything below a run directory.
    """
    root = Path(root)
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        if SUMMARY in filenames or ERROR in filenames:
            found.append(Path(dirpath))
            dirnames[:] = []
        else:
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
    return sorted(found, key=lambda d: _run_order(d.relative_to(root)))


def _run_order(rel: Path) -> tuple:
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in rel.parts)


def load_sweep(path: str | Path) -> pd.DataFrame:
    """One row per run directory under ``path``, in run order.

    Columns: ``run_dir`` (absolute path), ``status`` (``"ok"`` or ``"failed"``),
    ``failure`` (``"refused"`` or ``"failed"`` as error.json tells, NA for complete
    runs), ``error`` (the one-line error, NA for complete runs), ``overrides`` (the run's Hydra
    overrides joined by spaces), one typed column per override key (a dict override's
    scalar leaves too, ``facility={num_racks:4}`` giving ``facility.num_racks``), then every KPI of
    ``summary.json`` (nested dicts flattened with dots, ``services.chat.output_tokens``).
    Failed runs have NA KPIs. Typing and the other rules: docs/analysis.md.
    """
    root = Path(path)
    if not root.is_dir():
        raise FileNotFoundError(f"load_sweep: {root} is not a directory")
    run_dirs = find_run_dirs(root)
    if not run_dirs:
        raise ValueError(f"load_sweep: no run directories (with {SUMMARY} or {ERROR}) under {root}")

    base: dict[str, list[Any]] = {name: [] for name in RUN_COLUMNS}
    run_overrides: list[dict[str, Any]] = []
    run_kpis: list[dict[str, Any]] = []
    for run_dir in run_dirs:
        status, failure, error, overrides, kpis = _read_run(run_dir)
        base["run_dir"].append(os.path.abspath(run_dir))
        base["status"].append(status)
        base["failure"].append(failure)
        base["error"].append(error)
        base["overrides"].append(" ".join(overrides))
        run_overrides.append(_parse_overrides(run_dir, overrides))
        run_kpis.append(kpis)

    columns: dict[str, pd.Series] = {name: pd.Series(base[name], dtype="string") for name in RUN_COLUMNS}
    override_keys = [k for k in dict.fromkeys(k for d in run_overrides for k in d) if k not in RUN_COLUMNS]
    kpi_keys = [k for k in dict.fromkeys(k for d in run_kpis for k in d) if k not in RUN_COLUMNS]
    for key in override_keys:
        # seed, duration_s are overrides and KPIs: the override, or the summary's value where not overridden
        values = [o.get(key, k.get(key, _MISSING)) for o, k in zip(run_overrides, run_kpis)]
        columns[key] = typed_column(values)
    for key in kpi_keys:
        if key not in columns:
            columns[key] = typed_column([k.get(key, _MISSING) for k in run_kpis])
    df = pd.DataFrame(columns, index=pd.RangeIndex(len(run_dirs)))
    df.attrs["override_columns"] = override_keys
    return df


def _read_run(run_dir: Path) -> tuple[str, str | None, str | None, list[str], dict[str, Any]]:
    """(status, failure, error, overrides, flat KPIs) of one run directory."""
    summary_path = run_dir / SUMMARY
    if summary_path.is_file():
        _read_json(summary_path)  # not JSON, or not an object: a clear error naming the file
        check = check_run(run_dir)
        if check.complete:  # even if an error.json of an earlier attempt is left
            assert check.summary is not None
            summary = {k: v for k, v in check.summary.items() if k not in RUN_BOOKKEEPING}
            overrides = summary.pop("overrides", _MISSING)
            return "ok", None, None, _overrides_of(run_dir, overrides), dict(scalar_leaves(summary))
        if not (run_dir / ERROR).is_file():  # a summary that does not say complete, or a listed file missing
            return "failed", "incomplete", check.reason, _overrides_of(run_dir, _MISSING), {}
    record = _read_json(run_dir / ERROR)
    failure = record.get("status") if record.get("status") in FAILURES else "failed"
    error = "" if record.get("error") is None else str(record["error"])
    return "failed", failure, error, _overrides_of(run_dir, record.get("overrides", _MISSING)), {}


def _read_json(path: Path) -> dict[str, Any]:
    try:
        with open(path) as f:
            data = json.load(f)
    except json.JSONDecodeError as e:
        raise ValueError(f"load_sweep: {path} is not valid JSON ({e})") from None
    if not isinstance(data, dict):
        raise ValueError(f"load_sweep: {path} holds a {type(data).__name__}, not a JSON object")
    return data


def _overrides_of(run_dir: Path, overrides: Any) -> list[str]:
    """The run's override strings: from its JSON record, else from ``.hydra/overrides.yaml``."""
    if overrides is _MISSING:
        path = run_dir / OVERRIDES_YAML
        if not path.is_file():
            return []
        import yaml

        with open(path) as f:
            overrides = yaml.load(f, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        if overrides is None:
            return []
    if not isinstance(overrides, list) or not all(isinstance(o, str) for o in overrides):
        raise ValueError(f"load_sweep: the overrides of {run_dir} are not a list of strings: {overrides!r}")
    return overrides


def _parse_overrides(run_dir: Path, overrides: Sequence[str]) -> dict[str, Any]:
    """Override key -> typed value, parsed by Hydra's override grammar (as Hydra applied it)."""
    out: dict[str, Any] = {}
    for text in overrides:
        try:
            parsed = parse_override(text)
        except ValueError as e:
            raise ValueError(f"load_sweep: run {run_dir}: {e}") from None
        out.update(parsed)
    return out


def _is_na(v: Any) -> bool:
    return v is _MISSING or v is None or (isinstance(v, float) and math.isnan(v))


def typed_column(values: Sequence[Any]) -> pd.Series:
    """One column from JSON/Hydra values, missing ones NA.

    All bools: ``bool`` (``boolean`` with NA); all ints: ``int64`` (``Int64`` with NA);
    ints and floats: ``float64``; anything else (strings, or a mix of strings and
    numbers): ``string``. No values at all: ``float64`` NaN.
    """
    clean = [None if _is_na(v) else v for v in values]
    types = {type(v) for v in clean} - {type(None)}
    has_na = None in clean
    if not types:
        return pd.Series([math.nan] * len(values), dtype="float64")
    if types == {bool}:
        return pd.Series(clean, dtype="boolean" if has_na else "bool")
    if types == {int}:
        return pd.Series(clean, dtype="Int64" if has_na else "int64")
    if types <= {int, float}:
        return pd.Series([math.nan if v is None else float(v) for v in clean], dtype="float64")
    return pd.Series([None if v is None else (v if isinstance(v, str) else _text(v)) for v in clean],
                     dtype="string")


def _text(v: Any) -> str:
    """A non-string value as it would be written in an override (``true``, ``32``)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def load_sweep_tables(sweep: str | Path | pd.DataFrame, table: str = "requests",
                      columns: Sequence[str] | None = None, filters: Any = None,
                      attach: Sequence[str] | None = None) -> pd.DataFrame:
    """One parquet table of every complete run of a sweep, concatenated.

    ``sweep`` is a sweep directory or a DataFrame from :func:`load_sweep` (select rows
    first to read fewer runs). ``columns`` limits the table's columns read; ``filters``
    is passed to ``pyarrow.parquet.read_table`` (``[("status", "==", "completed")]`` or a
    ``pyarrow.compute`` expression) so unwanted rows are never materialised. Each row
    gets ``run_dir`` and the run's ``attach`` columns of the sweep frame in front
    (default: its override columns). Failed runs have no tables and are skipped.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    if table not in TABLE_FILES:
        raise ValueError(f"load_sweep_tables: unknown table {table!r}: one of {list(TABLE_FILES)}")
    runs = load_sweep(sweep) if isinstance(sweep, (str, Path)) else sweep
    if not isinstance(runs, pd.DataFrame):
        raise TypeError(f"load_sweep_tables: sweep must be a path or a DataFrame from load_sweep, "
                        f"not {type(sweep).__name__}")
    if attach is None:
        if "override_columns" not in runs.attrs:
            raise ValueError("load_sweep_tables: this DataFrame does not come from load_sweep "
                             "(no override_columns); pass attach=[...] to name the columns to attach")
        attach = runs.attrs["override_columns"]
    attach = ["run_dir"] + [c for c in attach if c != "run_dir"]
    missing = [c for c in attach + ["status"] if c not in runs.columns]
    if missing:
        raise ValueError(f"load_sweep_tables: the sweep frame has no column {missing[0]!r}")
    if columns is not None:
        columns = list(columns)

    tables: list[pa.Table] = []
    positions: list[int] = []
    for pos, (run_dir, status) in enumerate(zip(runs["run_dir"], runs["status"])):
        if status != "ok":
            continue
        path = Path(run_dir) / f"{table}.parquet"
        if not path.is_file():
            raise FileNotFoundError(f"load_sweep_tables: {path} is missing (an incomplete or damaged run)")
        names = pq.read_schema(path).names
        absent = [c for c in columns or () if c not in names]
        if absent:
            raise ValueError(f"load_sweep_tables: {path} has no column {absent[0]!r}")
        clash = [c for c in attach if c in (columns or names)]
        if clash:
            raise ValueError(f"load_sweep_tables: column {clash[0]!r} is both in the {table} table and attached "
                             f"from the sweep; leave it out of attach")
        try:
            t = pq.read_table(path, columns=columns, filters=filters)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, TypeError, ValueError) as e:
            first = str(e).strip().splitlines()[0]
            raise ValueError(f"load_sweep_tables: reading {path} with filters={filters!r}: {first}") from None
        tables.append(t)
        positions += [pos] * t.num_rows
    if not tables:
        raise ValueError(f"load_sweep_tables: no complete run (status ok) to read {table} from")
    data = pa.concat_tables(tables, promote_options="permissive").to_pandas()
    front = runs[attach].iloc[positions].reset_index(drop=True)
    return pd.concat([front, data], axis=1)
