"""The one-page dashboard of a run (report.png).

Drawn on a bare ``matplotlib.figure.Figure``: no pyplot, no backend chosen or changed,
so writing reports (in sweep workers too) leaves matplotlib's global state alone.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from dcsim.analysis.plots import _edges_h, _facility_rows, _held, plot_latency_cdf, plot_power_stack, plot_utilisation
from dcsim.analysis.style import COLORS, FIGSIZE_IN, dcsim_style


def _plot_pue_timeline(ts: pd.DataFrame, ax: Axes) -> Axes:
    """PUE per control interval and the outdoor dry-bulb temperature over time."""
    f = _facility_rows(ts, ("pue", "outdoor_temp_c"), "report")
    x_h = _edges_h(f)
    ax.step(x_h, _held(f["pue"]), where="post", color=COLORS["pue"], label="PUE")
    ax.set_xlim(x_h[0], x_h[-1])
    ax.set_xlabel("time (h)")
    ax.set_ylabel("PUE per interval (-)")
    ax.ticklabel_format(axis="y", useOffset=False)
    ax.set_title("PUE and outdoor temperature")
    twin = ax.twinx()
    twin.spines["right"].set_visible(True)
    twin.grid(False)
    twin.plot(x_h[:-1], f["outdoor_temp_c"], color=COLORS["outdoor"], linestyle="--", label="outdoor")
    twin.set_ylabel("outdoor dry bulb (°C)")
    twin.ticklabel_format(axis="y", useOffset=False)
    return ax


def _plot_latency(requests: pd.DataFrame, ax: Axes) -> Axes:
    """TTFT and TPOT CDFs of completed requests on one axis."""
    done = int((requests["status"] == "completed").sum()) if "status" in requests.columns else 0
    if not done:
        return plot_latency_cdf(requests, "ttft_s", by=None, ax=ax)
    for metric in ("ttft_s", "tpot_s"):
        plot_latency_cdf(requests, metric, by=None, ax=ax)
    for line, c in zip(ax.get_lines(), (COLORS["it"], COLORS["busy"])):
        line.set_color(c)
    ax.set_xlabel("latency (s)")
    ax.set_title(f"Inference latency ({done} completed requests)")
    ax.legend(loc="lower right")
    return ax


def report_figure(frames: dict[str, pd.DataFrame], summary: dict[str, Any]) -> Figure:
    """Four panels: power stack, utilisation, latency CDFs, PUE."""
    with dcsim_style():
        fig = Figure(figsize=FIGSIZE_IN["report"], layout="constrained")
        axes = fig.subplots(2, 2)
        ts = frames["timeseries"]
        plot_power_stack(ts, axes[0, 0])
        plot_utilisation(ts, int(summary["gpus_total"]), axes[0, 1])
        _plot_latency(frames["requests"], axes[1, 0])
        _plot_pue_timeline(ts, axes[1, 1])
        pue = summary.get("pue")
        ept = summary.get("energy_per_output_token_facility_j")
        fig.suptitle(
            f"dcsim run: {summary['gpus_total']} GPUs, {summary['duration_s'] / 3600:.2f} h"
            + (f", PUE {pue:.3f}" if pue is not None and np.isfinite(pue) else "")
            + (f", {ept:.2f} J per output token at the meter" if ept is not None and np.isfinite(ept) and ept else "")
        )
    return fig


def report_png(frames: dict[str, pd.DataFrame], summary: dict[str, Any]) -> bytes:
    """report.png as bytes."""
    fig = report_figure(frames, summary)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    return buf.getvalue()
