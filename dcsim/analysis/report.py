"""The one-page dashboard of a run (report.png)."""

from __future__ import annotations

import io
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402


def plot_power_stack(ts: pd.DataFrame, ax: Axes | None = None) -> Axes:
    """Facility power over time, stacked: IT, conversion losses, cooling (kW)."""
    ax = ax or plt.gca()
    f = ts[ts["component"] == "facility"]
    t_h = f["t_s"].to_numpy() / 3600.0
    layers = [f["it_power_w"], f["conversion_loss_power_w"], f["cooling_power_w"]]
    ax.stackplot(t_h, *[np.asarray(v) / 1e3 for v in layers], labels=["IT", "conversion losses", "cooling"],
                 step="post", alpha=0.85)
    ax.set_xlabel("time (h)")
    ax.set_ylabel("power (kW)")
    ax.set_title("Facility power")
    ax.legend(loc="lower right", fontsize=8)
    return ax


def plot_utilisation(ts: pd.DataFrame, gpus_total: int, ax: Axes | None = None) -> Axes:
    """Share of GPUs allocated and busy over time."""
    ax = ax or plt.gca()
    f = ts[ts["component"] == "facility"]
    t_h = f["t_s"].to_numpy() / 3600.0
    ax.step(t_h, f["gpus_allocated"] / gpus_total, where="post", label="allocated")
    ax.step(t_h, f["gpus_busy"] / gpus_total, where="post", label="busy")
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("time (h)")
    ax.set_ylabel("share of GPUs")
    ax.set_title("GPU utilisation")
    ax.legend(loc="lower right", fontsize=8)
    return ax


def plot_latency_cdf(requests: pd.DataFrame, ax: Axes | None = None) -> Axes:
    """Empirical CDFs of TTFT and TPOT of completed requests (s, log scale)."""
    ax = ax or plt.gca()
    done = requests[requests["status"] == "completed"]
    for col, label in (("ttft_s", "TTFT"), ("tpot_s", "TPOT")):
        v = np.sort(done[col].dropna().to_numpy())
        if len(v):
            ax.step(v, np.arange(1, len(v) + 1) / len(v), where="post", label=label)
    if len(done):
        ax.set_xscale("log")
    ax.set_xlabel("latency (s)")
    ax.set_ylabel("share of requests")
    ax.set_title(f"Inference latency ({len(done)} requests)")
    ax.legend(loc="lower right", fontsize=8)
    return ax


def plot_pue(ts: pd.DataFrame, ax: Axes | None = None) -> Axes:
    """PUE per control interval and the outdoor temperature over time."""
    ax = ax or plt.gca()
    f = ts[ts["component"] == "facility"]
    t_h = f["t_s"].to_numpy() / 3600.0
    ax.step(t_h, f["pue"], where="post", color="C3", label="PUE")
    ax.set_xlabel("time (h)")
    ax.set_ylabel("PUE (-)")
    ax.set_title("PUE and outdoor temperature")
    twin = ax.twinx()
    twin.plot(t_h, f["outdoor_temp_c"], color="C7", linestyle="--", label="outdoor")
    twin.set_ylabel("outdoor dry bulb (°C)")
    return ax


def report_figure(frames: dict[str, pd.DataFrame], summary: dict[str, Any]) -> Figure:
    """Four panels: power stack, utilisation, latency CDFs, PUE."""
    fig, axes = plt.subplots(2, 2, figsize=(12, 8), layout="constrained")
    ts = frames["timeseries"]
    plot_power_stack(ts, axes[0, 0])
    plot_utilisation(ts, int(summary["gpus_total"]), axes[0, 1])
    plot_latency_cdf(frames["requests"], axes[1, 0])
    plot_pue(ts, axes[1, 1])
    pue = summary.get("pue")
    ept = summary.get("energy_per_output_token_facility_j")
    fig.suptitle(
        f"dcsim run: {summary['gpus_total']} GPUs, {summary['duration_s'] / 3600:.2f} h, "
        f"PUE {pue:.3f}" + (f", {ept:.2f} J per output token at the meter" if ept == ept and ept else "")
    )
    return fig


def report_png(frames: dict[str, pd.DataFrame], summary: dict[str, Any]) -> bytes:
    """report.png as bytes."""
    fig = report_figure(frames, summary)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return buf.getvalue()
