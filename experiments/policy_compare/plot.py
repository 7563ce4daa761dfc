"""Figure of the policy comparison: one bar per scheduler for each KPI.

    python experiments/policy_compare/plot.py SWEEP_DIR [OUT_PNG]
"""

from __future__ import annotations

import sys
from pathlib import Path

from matplotlib.figure import Figure

from dcsim.analysis import load_sweep
from dcsim.analysis.style import dcsim_style

# (KPI column, axis label, scale)
PANELS = [
    ("slo_attainment", "SLO attainment (%)", 100.0),
    ("ttft_p99_s", "TTFT p99 (s, log)", 1.0),
    ("training_goodput_gpu_hours", "training goodput (GPU-h)", 1.0),
    ("job_wait_mean_s", "training wait, mean (h)", 1 / 3600),
    ("energy_per_output_token_facility_j", "energy per token, facility (J)", 1.0),
    ("training_preemptions", "training preemptions", 1.0),
]


def main(sweep_dir: str, out: str) -> None:
    df = load_sweep(sweep_dir)
    df = df[df["status"] == "ok"]
    names = df["scheduler"].astype(str).tolist()
    with dcsim_style():
        fig = Figure(figsize=(12.0, 6.4), layout="constrained")
        axes = fig.subplots(2, 3)
        for ax, (col, label, scale) in zip(axes.flat, PANELS):
            ax.bar(names, df[col].to_numpy() * scale, color=[f"C{i}" for i in range(len(names))])
            ax.set_ylabel(label)
            if col == "ttft_p99_s":
                ax.set_yscale("log")
            ax.tick_params(axis="x", rotation=20)
        fig.suptitle("Training and inference on one 128-GPU cluster for a day, by scheduler")
        fig.savefig(out, dpi=110)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else str(Path(__file__).with_name("figure.png")))
