"""Figure of the checkpoint-interval study: the job's effective training share against
its fixed checkpoint interval (seeds averaged, each seed a faint point), with the
Young/Daly interval and dcsim's first-order expected waste for the same job.

    python experiments/checkpoint_interval/plot.py [SWEEP_DIR] [OUT_PNG]

SWEEP_DIR defaults to experiments/checkpoint_interval/sweep, OUT_PNG to figure.png beside this file.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, NullFormatter
from omegaconf import OmegaConf

from dcsim.analysis import load_sweep, plot_goodput_vs_checkpoint_interval
from dcsim.analysis.style import dcsim_style
from dcsim.hardware import training as tm
from dcsim.hardware.models import MODELS

HERE = Path(__file__).resolve().parent
JOB = "llama3_405b"
X = f"workload.training.{JOB}.checkpoint_interval_s"


def job_times_s(run_dir: str) -> tuple[float, float, float]:
    """(checkpoint write C, restart R incl. the reload, mean time between interruptions M)
    of the job, from the config Hydra saved in the run directory and dcsim's training model
    (the same formulas dcsim.workloads.training.build applies)."""
    job = OmegaConf.load(Path(run_dir) / ".hydra" / "config.yaml").workload.training[JOB]
    c = tm.checkpoint_write_s(tm.checkpoint_bytes(MODELS[job.model]), job.storage_gbyte_per_s * 1e9)
    m = 1.0 / (tm.interruption_rate_per_s(job.gpus) * job.failure_rate_scale)
    return c, job.restart_s + c, m


def main(sweep_dir: str, out: str) -> None:
    df = load_sweep(sweep_dir)
    c, r, m = job_times_s(df.loc[df["status"] == "ok", "run_dir"].iloc[0])
    young_daly_s = tm.young_daly_interval_s(c, m)
    with dcsim_style():
        fig = Figure(figsize=(8.0, 5.0), layout="constrained")
        ax = fig.subplots()
        plot_goodput_vs_checkpoint_interval(df, x=X, ax=ax)
        ax.get_lines()[0].set_label(f"dcsim: mean of {df['seed'].nunique()} seeds (faint: each seed)")
        tau = np.geomspace(df[X].min(), df[X].max(), 200)
        ax.plot(tau, [1.0 - tm.expected_waste_fraction(t, c, r, m) for t in tau], color="#555555", linestyle="--",
                linewidth=1.0, label="first order: 1 - C/τ - (R + τ/2)/M")
        ax.axvline(young_daly_s, color="#D55E00", linestyle=":",
                   label=f"Young/Daly √(2CM) = {young_daly_s:.0f} s")
        ax.set_xscale("log")
        ax.set_xticks(sorted(df[X].unique()))  # the swept intervals
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("checkpoint interval τ (s of running time)")
        ax.set_title(f"Llama 3.1 405B on 16,384 H100s, {df['duration_s'].max() / 86400:.0f} days: "
                     f"C = {c:.1f} s, R = {r:.0f} s, M = {m / 3600:.2f} h", fontsize=10)
        ax.legend(loc="lower left")
        fig.savefig(out, dpi=120)
    print(f"{len(df)} runs, {int((df['status'] == 'ok').sum())} ok; Young/Daly {young_daly_s:.0f} s -> {out}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else str(HERE / "sweep"),
         sys.argv[2] if len(sys.argv) > 2 else str(HERE / "figure.png"))
