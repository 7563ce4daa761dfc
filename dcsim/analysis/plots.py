"""Figures of one run and of a sweep.

Every function takes the data (a :class:`~dcsim.analysis.load.Run`, in-process
``Results``, a dict of frames, or the one DataFrame it needs; a DataFrame from
:func:`~dcsim.analysis.sweep.load_sweep` for the sweep plots) and an optional
matplotlib ``ax``; it draws in :func:`~dcsim.analysis.style.dcsim_style` on ``ax`` (a
new figure when None) and returns the Axes. Every axis label carries its unit. Data
without a column a plot needs raises ``ValueError`` naming the column.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from dcsim.analysis.load import Run
from dcsim.analysis.style import COLORS, PALETTE, color, dcsim_style, new_axes
from dcsim.metrics.registry import kpi, registered

HOUR_S = 3600.0
RACK_KW = "rack_nameplate_kw"  # rack_nameplate_w in kW, added to a sweep frame by the density plots

# Unit suffixes of dcsim's column names, longest first ("_per_s" before "_s").
UNIT_SUFFIXES = (
    ("_m2", "m²"), ("_kwh", "kWh"), ("_usd", "USD"), ("_kw", "kW"), ("_mw", "MW"),
    ("_ms", "ms"), ("_kg", "kg"), ("_w", "W"), ("_j", "J"), ("_s", "s"), ("_h", "h"), ("_g", "g"), ("_c", "°C"),
    ("_l", "L"),
)


def _split_unit(name: str) -> tuple[str, str]:
    """(stem, unit) of a column name by its suffix; unit "-" when it has none."""
    for suffix, unit in UNIT_SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)], unit
    return name, "-"


def axis_label(column: str) -> str:
    """An axis label with its unit for a KPI, table column or override key.

    A KPI or request column of the registry (dcsim/metrics/registry.py) has its label and
    unit: ``energy_per_output_token_facility_j`` -> ``energy per output token, facility (J)``.
    Any other name is read by its unit suffix: ``carbon_g_per_kwh`` -> ``carbon g per kwh
    (g/kWh)``; an override key keeps its dotted name: ``workload.jobs.a.checkpoint.interval_s``
    -> ``... (s)``. Names without a unit suffix are counts or ratios: ``(-)``.
    """
    known = registered(column)
    if known is not None:
        return known.axis_label()
    if column == RACK_KW:
        return f"{kpi('rack_nameplate_w').label} (kW per rack)"
    prefix, _, last = column.rpartition(".")
    stem, unit = _split_unit(last)
    if unit != "-" and stem.endswith("_per"):  # output_tokens_per_s (1/s), wue_l_per_kwh (L/kWh)
        _, numerator = _split_unit(stem[: -len("_per")])
        unit = f"{'1' if numerator == '-' else numerator}/{unit}"
        stem = last
    text = column if prefix else stem.replace("_", " ")
    return f"{text} ({unit})"


# --- data access -----------------------------------------------------------------------

def _frame(data: Any, table: str, func: str) -> pd.DataFrame:
    """The ``table`` DataFrame of a Run, Results, dict of frames, or the frame itself."""
    if isinstance(data, pd.DataFrame):
        return data
    if isinstance(data, Run):
        return getattr(data, table)
    if isinstance(data, Mapping):
        if table not in data:
            raise ValueError(f"{func}: the frames have no {table!r} table")
        return data[table]
    if callable(getattr(data, "frames", None)):
        return data.frames()[table]
    raise TypeError(f"{func}: expected a Run, Results, a dict of frames or the {table} DataFrame, "
                    f"not {type(data).__name__}")


def _summary(data: Any) -> dict[str, Any] | None:
    if isinstance(data, Run):
        return data.summary
    if callable(getattr(data, "summary", None)) and callable(getattr(data, "frames", None)):
        return data.summary()
    return None


def _require(df: pd.DataFrame, columns: Sequence[str], func: str, what: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        names = ", ".join(repr(c) for c in missing)
        raise ValueError(f"{func}: the {what} has no column {names}")


def _facility_rows(data: Any, columns: Sequence[str], func: str) -> pd.DataFrame:
    ts = _frame(data, "timeseries", func)
    _require(ts, ["component", "t_s", "interval_s", *columns], func, "timeseries")
    f = ts[ts["component"] == "facility"].sort_values("t_s")
    if f.empty:
        raise ValueError(f"{func}: the timeseries has no facility rows (component == 'facility')")
    return f


def _edges_h(f: pd.DataFrame) -> np.ndarray:
    """Interval start times and the end of the last interval, in hours."""
    t = f["t_s"].to_numpy(dtype=float)
    return np.append(t, t[-1] + float(f["interval_s"].iloc[-1])) / HOUR_S


def _held(values: Any) -> np.ndarray:
    """Per-interval values with the last repeated, to draw steps up to the last interval's end."""
    v = np.asarray(values, dtype=float)
    return np.append(v, v[-1])


def _axes(ax: Axes | None, size: str = "single") -> Axes:
    return new_axes(size) if ax is None else ax


def _note(ax: Axes, text: str) -> None:
    """A small grey note in the lower right corner of the plot (failed runs left out...)."""
    ax.text(0.99, 0.02, text, transform=ax.transAxes, ha="right", va="bottom", fontsize=8, color=COLORS["note"])


# --- one run ---------------------------------------------------------------------------

def plot_power_stack(run_or_timeseries: Any, ax: Axes | None = None) -> Axes:
    """Facility power over time, stacked: IT, conversion losses, cooling.

    From the facility rows of the timeseries (interval-mean powers, drawn as steps over
    each interval); kW, or MW when the peak reaches 1 MW.
    """
    func = "plot_power_stack"
    layers = ("it_power_w", "conversion_loss_power_w", "cooling_power_w")
    f = _facility_rows(run_or_timeseries, layers, func)
    with dcsim_style():
        ax = _axes(ax, "wide")
        watts = [f[c].to_numpy(dtype=float) for c in layers]
        peak_w = float(np.nanmax(sum(watts))) if len(f) else 0.0
        scale, unit = (1e6, "MW") if peak_w >= 1e6 else (1e3, "kW")
        x_h = _edges_h(f)
        ax.stackplot(x_h, *[_held(w) / scale for w in watts], step="post", linewidth=0, alpha=0.9,
                     labels=["IT", "conversion losses", "cooling"],
                     colors=[COLORS["it"], COLORS["conversion_loss"], COLORS["cooling"]])
        ax.set_xlim(x_h[0], x_h[-1])
        ax.set_ylim(0, 1.18 * peak_w / scale if peak_w > 0 else 1)
        ax.set_xlabel("time (h)")
        ax.set_ylabel(f"power ({unit})")
        ax.set_title("Facility power")
        ax.legend(loc="upper left", ncols=3)
    return ax


def hourly_pue(run_or_timeseries: Any) -> pd.DataFrame:
    """Per hour of simulated time (by the hour each control interval starts in): PUE as
    facility over IT energy (energy-weighted, like the summary's ``pue``) and the
    time-weighted mean outdoor dry-bulb temperature. Columns ``hour``, ``pue``,
    ``outdoor_temp_c``, ``it_energy_j``, ``facility_energy_j``, ``duration_s``."""
    f = _facility_rows(run_or_timeseries, ("it_power_w", "facility_power_w", "outdoor_temp_c"), "hourly_pue")
    dt = f["interval_s"].to_numpy(dtype=float)
    g = pd.DataFrame({
        "hour": np.floor(f["t_s"].to_numpy(dtype=float) / HOUR_S).astype(np.int64),
        "it_energy_j": f["it_power_w"].to_numpy(dtype=float) * dt,
        "facility_energy_j": f["facility_power_w"].to_numpy(dtype=float) * dt,
        "temp_x_s": f["outdoor_temp_c"].to_numpy(dtype=float) * dt,
        "duration_s": dt,
    }).groupby("hour", sort=True).sum().reset_index()
    it = g["it_energy_j"].to_numpy()
    g["pue"] = np.divide(g["facility_energy_j"].to_numpy(), it, out=np.full(len(g), np.nan), where=it > 0)
    g["outdoor_temp_c"] = g["temp_x_s"] / g["duration_s"]
    return g[["hour", "pue", "outdoor_temp_c", "it_energy_j", "facility_energy_j", "duration_s"]]


def plot_pue_vs_outdoor(run_or_timeseries: Any, ax: Axes | None = None) -> Axes:
    """Hourly PUE against the hour's mean outdoor dry-bulb temperature, one point per
    hour (see :func:`hourly_pue`); hours without IT energy are left out."""
    hours = hourly_pue(run_or_timeseries)
    hours = hours[hours["pue"].notna() & hours["outdoor_temp_c"].notna()]
    with dcsim_style():
        ax = _axes(ax)
        ax.scatter(hours["outdoor_temp_c"], hours["pue"], s=18, color=COLORS["pue"], alpha=0.8,
                   edgecolors="none", label="one hour")
        ax.set_xlabel("outdoor dry-bulb temperature (°C)")
        ax.set_ylabel("PUE, hourly (-)")
        ax.ticklabel_format(axis="y", useOffset=False)
        ax.set_title(f"PUE vs outdoor temperature ({len(hours)} h)")
    return ax


def plot_utilisation(run_or_timeseries: Any, gpus_total: int | None = None, ax: Axes | None = None) -> Axes:
    """Share of the facility's GPUs allocated (to a replica or job) and busy over time,
    interval means drawn as steps. ``gpus_total`` comes from the run's summary when
    the data is a Run or Results; give it with a bare timeseries."""
    func = "plot_utilisation"
    if gpus_total is None:
        summary = _summary(run_or_timeseries)
        gpus_total = None if summary is None else summary.get("gpus_total")
        if gpus_total is None:
            raise ValueError(f"{func}: gpus_total is needed with a bare timeseries (a Run carries it in its summary)")
    if not gpus_total > 0:
        raise ValueError(f"{func}: gpus_total must be positive, got {gpus_total!r}")
    f = _facility_rows(run_or_timeseries, ("gpus_busy", "gpus_allocated"), func)
    with dcsim_style():
        ax = _axes(ax, "wide")
        x_h = _edges_h(f)
        for col, label in (("gpus_allocated", "allocated"), ("gpus_busy", "busy")):
            ax.step(x_h, 100.0 * _held(f[col]) / gpus_total, where="post", label=label,
                    color=COLORS["allocated" if col == "gpus_allocated" else "busy"])
        ax.set_xlim(x_h[0], x_h[-1])
        ax.set_ylim(0, 105)
        ax.set_xlabel("time (h)")
        ax.set_ylabel(f"share of the {int(gpus_total)} GPUs (%)")
        ax.set_title("GPU utilisation")
        ax.legend(loc="lower right")
    return ax


def plot_latency_cdf(run_or_requests: Any, metric: str = "ttft_s", by: str | None = "service",
                     ax: Axes | None = None) -> Axes:
    """Empirical CDF of a latency column (``ttft_s``, ``tpot_s``, ``e2e_s``,
    ``queue_delay_s``) over completed requests, one line per value of ``by`` (None: one
    line for all). Log time axis. A run without completed requests gets a note, not an
    error (fluid-fidelity services have no request rows)."""
    func = "plot_latency_cdf"
    req = _frame(run_or_requests, "requests", func)
    _require(req, ["status", metric] + ([by] if by else []), func, "requests table")
    if not pd.api.types.is_numeric_dtype(req[metric]):
        raise ValueError(f"{func}: column {metric!r} is not numeric ({req[metric].dtype})")
    done = req[req["status"] == "completed"]
    known = registered(metric)
    name = known.label if known is not None else metric
    if by:
        keys = sorted(done[by].dropna().unique(), key=str)
        groups = [(str(k), done.loc[done[by] == k, metric]) for k in keys]
    else:
        groups = [(name, done[metric])]
    with dcsim_style():
        ax = _axes(ax)
        drawn = 0
        positive = True
        for i, (label, values) in enumerate(groups):
            v = np.sort(values.dropna().to_numpy(dtype=float))
            if not len(v):
                continue
            positive &= bool(v[0] > 0)
            ax.step(v, 100.0 * np.arange(1, len(v) + 1) / len(v), where="post", label=label, color=color(i))
            drawn += len(v)
        if drawn and positive:
            ax.set_xscale("log")
        if not drawn:
            ax.text(0.5, 0.5, f"no completed requests with {metric}", transform=ax.transAxes, ha="center",
                    va="center", color=COLORS["note"])
        ax.set_ylim(0, 102)
        ax.set_xlabel(axis_label(metric))
        ax.set_ylabel("completed requests, cumulative (%)")
        ax.set_title(f"{name} of {drawn} completed requests")
        if by and drawn:
            ax.legend(title=by, loc="lower right")
    return ax


# --- a sweep ---------------------------------------------------------------------------

def plot_kpi_vs(sweep_df: pd.DataFrame, x: str, y: str, hue: str | None = None, ax: Axes | None = None,
                xlabel: str | None = None, ylabel: str | None = None, title: str | None = None) -> Axes:
    """A KPI (``y``) against a sweep parameter or KPI (``x``), one line per value of
    ``hue``, from :func:`~dcsim.analysis.sweep.load_sweep`'s frame.

    Each line joins the mean of ``y`` at each ``x`` (several seeds average); when some
    ``x`` has several runs, the runs are also drawn as faint points. Failed runs and
    runs without a value of ``x`` or ``y`` are left out with a note on the plot.
    """
    return _kpi_vs(sweep_df, x, y, hue, ax, xlabel, ylabel, title, "plot_kpi_vs")


def _kpi_vs(df: pd.DataFrame, x: str, y: str, hue: str | None, ax: Axes | None, xlabel: str | None,
            ylabel: str | None, title: str | None, func: str) -> Axes:
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"{func}: expected the DataFrame of load_sweep, not {type(df).__name__}")
    _require(df, [x, y] + ([hue] if hue else []), func, "sweep frame")
    failed = (df["status"] == "failed").fillna(False).to_numpy(dtype=bool) if "status" in df.columns \
        else np.zeros(len(df), dtype=bool)
    ok = df[~failed]
    if not pd.api.types.is_numeric_dtype(ok[y]) or pd.api.types.is_bool_dtype(ok[y]):
        raise ValueError(f"{func}: column {y!r} is not numeric ({ok[y].dtype})")
    x_numeric = pd.api.types.is_numeric_dtype(ok[x]) and not pd.api.types.is_bool_dtype(ok[x])
    y_v = ok[y].to_numpy(dtype=float, na_value=np.nan)
    if x_numeric:
        x_v: np.ndarray = ok[x].to_numpy(dtype=float, na_value=np.nan)
        x_ok = ~np.isnan(x_v)
    else:
        x_v = ok[x].astype("string").to_numpy(dtype=object, na_value=None)
        x_ok = np.array([v is not None for v in x_v], dtype=bool)
    valid = x_ok & ~np.isnan(y_v)
    hue_v = (ok[hue].astype("string").fillna("n/a").to_numpy(dtype=object) if hue
             else np.full(len(ok), "", dtype=object))
    plotted = pd.DataFrame({"x": x_v[valid], "y": y_v[valid], "hue": hue_v[valid]})
    if hue and pd.api.types.is_numeric_dtype(ok[hue]) and not pd.api.types.is_bool_dtype(ok[hue]):
        numeric_hue = ok[hue].to_numpy(dtype=float, na_value=np.inf)[valid]  # n/a last
        order = list(dict.fromkeys(plotted["hue"].to_numpy()[np.argsort(numeric_hue, kind="stable")]))
    else:
        order = list(dict.fromkeys(plotted["hue"]))
    with dcsim_style():
        ax = _axes(ax)
        for i, key in enumerate(order):
            sub = plotted[plotted["hue"] == key]
            means = sub.groupby("x", sort=x_numeric)["y"].mean()
            ax.plot(means.index.to_numpy(), means.to_numpy(), marker="o", color=color(i),
                    label=str(key) if hue else None)
            if (sub.groupby("x", sort=False).size() > 1).any():
                ax.scatter(sub["x"], sub["y"], s=12, color=color(i), alpha=0.35, edgecolors="none")
        notes = []
        # refused (impossible, never ran) apart from failed (an error while running)
        kinds = df["failure"].astype("string").fillna("failed").to_numpy(dtype=object)[failed] \
            if "failure" in df.columns else np.full(int(failed.sum()), "failed", dtype=object)
        for kind in ("refused", "failed"):
            n = int((kinds == kind).sum())
            if n:
                notes.append(f"{n} {kind} run{'s' if n != 1 else ''} not shown")
        n_missing = int((~valid).sum())
        if n_missing:
            notes.append(f"{n_missing} run{'s' if n_missing != 1 else ''} without {x if (~x_ok).any() else y} "
                         f"not shown")
        if not len(plotted):
            notes.append("no run to show")
        if notes:
            _note(ax, "; ".join(notes))
        ax.set_xlabel(xlabel or axis_label(x))
        ax.set_ylabel(ylabel or axis_label(y))
        if title:
            ax.set_title(title)
        if hue and order:
            ax.legend(title=hue)
    return ax


def _with_rack_kw(sweep_df: pd.DataFrame, func: str) -> pd.DataFrame:
    _require(sweep_df, ["rack_nameplate_w"], func, "sweep frame")
    return sweep_df.assign(**{RACK_KW: sweep_df["rack_nameplate_w"] / 1e3})


def plot_energy_per_token_vs_density(sweep_df: pd.DataFrame, ax: Axes | None = None,
                                     hue: str | None = "facility.cooling.technology") -> Axes:
    """Energy per output token at the meter (J) against rack density (nameplate kW per
    rack), one line per cooling technology by default."""
    func = "plot_energy_per_token_vs_density"
    return _kpi_vs(_with_rack_kw(sweep_df, func), RACK_KW, "energy_per_output_token_facility_j", hue,
                   ax, None, None, "Energy per token vs rack density", func)


def plot_cost_per_token_vs_density(sweep_df: pd.DataFrame, ax: Axes | None = None,
                                   hue: str | None = "facility.cooling.technology") -> Axes:
    """Cost per million output tokens (USD: amortised capital and energy) against rack
    density (nameplate kW per rack), one line per cooling technology by default."""
    func = "plot_cost_per_token_vs_density"
    return _kpi_vs(_with_rack_kw(sweep_df, func), RACK_KW, "cost_per_million_tokens_usd", hue,
                   ax, None, None, "Cost per token vs rack density", func)


# Where a facility's joules go, as summary columns: each part is a column or a column less others
# (host energy holds the server fans' meter). The parts sum to facility_energy_j; a run without a
# column (an older run, or one without that meter) leaves its part out and the rest of IT shows as
# "other IT".
IT_PARTS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("GPUs", "gpu_energy_j", ()),
    ("hosts", "host_energy_j", ("server_fan_energy_j", "network_energy_j")),  # the host KPI meters both
    ("server fans", "server_fan_energy_j", ()),
    ("network", "network_energy_j", ()),
)
ENERGY_PARTS: tuple[tuple[str, str, tuple[str, ...]], ...] = IT_PARTS + (
    ("power conversion", "conversion_loss_energy_j", ()),
    ("chillers", "chiller_energy_j", ()),
    ("heat rejection", "heat_rejection_energy_j", ()),
    ("pumps", "pumps_energy_j", ()),
    ("air and rack movers", "air_energy_j", ()),  # CRAH fans, CDU pumps and rear-door fans
)


def per_token_decomposition(sweep_df: pd.DataFrame, kind: str = "energy") -> pd.DataFrame:
    """Each run's facility energy per output token (``kind="energy"``, J) or cost per million
    output tokens (``kind="cost"``, USD) split into its parts, one column per part.

    Energy: :data:`ENERGY_PARTS` scaled by ``energy_per_output_token_facility_j /
    facility_energy_j``; the parts sum to the KPI (a residual between IT and its metered parts
    shows as "other IT"). Cost: every ``capex_*_usd`` column and ``energy_cost_usd`` scaled by
    ``cost_per_million_tokens_usd / cost_total_usd``; they sum to the KPI. Failed runs are
    dropped; the frame keeps the input's index.
    """
    func = "per_token_decomposition"
    if kind not in ("energy", "cost"):
        raise ValueError(f"{func}: kind must be 'energy' or 'cost', not {kind!r}")
    ok = sweep_df[sweep_df["status"] != "failed"] if "status" in sweep_df.columns else sweep_df
    if kind == "energy":
        _require(ok, ["facility_energy_j", "it_energy_j", "energy_per_output_token_facility_j"], func, "sweep frame")
        scale = ok["energy_per_output_token_facility_j"] / ok["facility_energy_j"]
        parts: dict[str, pd.Series] = {}
        it_parts = pd.Series(0.0, index=ok.index)
        for part in ENERGY_PARTS:
            label, column, less = part
            if column not in ok.columns:
                continue
            joules = ok[column] - sum((ok[c] for c in less if c in ok.columns), pd.Series(0.0, index=ok.index))
            parts[label] = joules * scale
            if part in IT_PARTS:
                it_parts = it_parts + joules
        other = ok["it_energy_j"] - it_parts
        if (other.abs() > 1e-9 * ok["it_energy_j"]).any():
            parts["other IT"] = other * scale
        return pd.DataFrame(parts)
    _require(ok, ["cost_total_usd", "cost_per_million_tokens_usd", "energy_cost_usd"], func, "sweep frame")
    scale = ok["cost_per_million_tokens_usd"] / ok["cost_total_usd"]
    columns = [c for c in ok.columns if c.startswith("capex_") and c.endswith("_usd")] + ["energy_cost_usd"]
    names = {c: c.removeprefix("capex_").removesuffix("_usd").replace("_", " ") for c in columns}
    names["energy_cost_usd"] = "energy"
    return pd.DataFrame({names[c]: ok[c] * scale for c in columns})


def part_color(i: int) -> str:
    """The ``i``-th part's colour: the palette, then two greys, so nine or ten parts stay distinct."""
    extra = ("#999999", "#5A5A5A")
    return color(i) if i < len(PALETTE) else extra[(i - len(PALETTE)) % len(extra)]


def plot_decomposition_vs(sweep_df: pd.DataFrame, x: str, kind: str = "energy", ax: Axes | None = None,
                          title: str | None = None) -> Axes:
    """Stacked bars of :func:`per_token_decomposition` against ``x`` (one bar per value, the
    mean over runs at that value): where the joules (or dollars) of a token go."""
    func = "plot_decomposition_vs"
    _require(sweep_df, [x], func, "sweep frame")
    parts = per_token_decomposition(sweep_df, kind)
    parts = parts.assign(_x=sweep_df.loc[parts.index, x]).groupby("_x").mean()
    with dcsim_style():
        ax = _axes(ax)
        xs = parts.index.to_numpy(dtype=float)
        width = 0.7 * float(np.min(np.diff(xs))) if len(xs) > 1 else 1.0
        bottom = np.zeros(len(xs))
        for i, label in enumerate(parts.columns):
            v = parts[label].to_numpy(dtype=float)
            if not np.any(v):
                continue
            ax.bar(xs, v, width=width, bottom=bottom, color=part_color(i), label=label)
            bottom += v
        ax.set_xlabel(axis_label(x))
        ax.set_ylabel("energy per output token (J)" if kind == "energy" else "cost per million tokens (USD)")
        if title:
            ax.set_title(title)
    return ax


def plot_goodput_vs_checkpoint_interval(sweep_df: pd.DataFrame, x: str, y: str = "training_effective_share_mean",
                                        hue: str | None = None, ax: Axes | None = None) -> Axes:
    """Training goodput (by default the mean effective share of the jobs: the share of
    wall time spent on steps that count) against the checkpoint interval, ``x`` being
    the override column the sweep varied (``workload.jobs.NAME.checkpoint.interval_s``)."""
    func = "plot_goodput_vs_checkpoint_interval"
    return _kpi_vs(sweep_df, x, y, hue, ax, None, None, "Training goodput vs checkpoint interval", func)
