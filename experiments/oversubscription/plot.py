"""Figure of the oversubscription study: what capping to the provisioned capacity costs
and saves, against the oversubscription ratio, one line per power policy (seeds
averaged, each seed a faint point).

    python experiments/oversubscription/plot.py [SWEEP_DIR] [OUT_PNG]

SWEEP_DIR defaults to experiments/oversubscription/sweep, OUT_PNG to figure.png beside this file.
"""

from __future__ import annotations

import sys
from pathlib import Path

from matplotlib.figure import Figure

from dcsim.analysis import load_sweep, load_sweep_tables, plot_kpi_vs
from dcsim.analysis.style import dcsim_style

HERE = Path(__file__).resolve().parent
RATIO = "facility.power.oversubscription"
POLICY = "facility.power.policy"


def training_slowdown(df):
    """Per run, the mean over its training jobs of the job's run length (start to end, or
    dcsim's projection for a job still running) over the same job's run length in the run
    of the same policy and seed at ratio 1.0 (no caps)."""
    jobs = load_sweep_tables(df, "jobs", columns=["name", "run_length_s"])
    key = [POLICY, "seed", "name"]
    base = jobs[jobs[RATIO] == 1.0].set_index(key)["run_length_s"].rename("uncapped_s")
    jobs = jobs.join(base, on=key)
    return (jobs["run_length_s"] / jobs["uncapped_s"]).groupby(jobs["run_dir"]).mean()
PANELS = [  # (KPI, axis label or None for the default, title)
    ("throttled_gpu_hours", None, "GPU time under a power cap"),
    ("ttft_p99_s", "TTFT p99, chat service (s)", "Inference tail latency"),
    ("training_slowdown", "training job run length / uncapped (-)", "Training slowed by the caps"),
    ("energy_per_output_token_facility_j", None, "Energy per token"),
    ("cost_per_million_tokens_usd", None, "Cost per token (capital + energy)"),
    ("stranded_power_kw", "stranded power: capacity - peak IT (kW)", "Provisioned power never drawn"),
]


def main(sweep_dir: str, out: str) -> None:
    df = load_sweep(sweep_dir)
    df = df.assign(stranded_power_kw=df["stranded_power_w"] / 1e3)
    df["training_slowdown"] = df["run_dir"].map(training_slowdown(df))
    with dcsim_style():
        fig = Figure(figsize=(15.0, 8.2), layout="constrained")
        axes = fig.subplots(2, 3)
        for ax, (kpi, label, title) in zip(axes.flat, PANELS):
            plot_kpi_vs(df, RATIO, kpi, hue=POLICY, ax=ax,
                        xlabel="oversubscription: IT nameplate / provisioned IT capacity (-)", ylabel=label,
                        title=title)
            ax.set_ylim(bottom=0)
            if ax is not axes.flat[0]:
                ax.get_legend().remove()
        axes.flat[0].legend(title="power policy")
        fig.suptitle("128 H100 GPUs, a 70B chat service and a training queue for an hour, "
                     "GPUs capped to the provisioned IT capacity")
        fig.savefig(out, dpi=110)
    print(f"{len(df)} runs, {int((df['status'] == 'ok').sum())} ok -> {out}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else str(HERE / "sweep"),
         sys.argv[2] if len(sys.argv) > 2 else str(HERE / "figure.png"))
