"""Figure of the four-workloads study: energy per response and per task, cost per task,
SLO attainment and energy per output token against load, one line per workload.

    python experiments/four_workloads/plot.py [SWEEP_DIR] [OUT_PNG]

SWEEP_DIR defaults to experiments/four_workloads/sweep, OUT_PNG to figure.png beside this
file. Also prints the table of experiments/four_workloads/README.md.
"""

from __future__ import annotations

import sys
from pathlib import Path

from matplotlib.figure import Figure

from dcsim.analysis import load_sweep
from dcsim.analysis.style import dcsim_style

HERE = Path(__file__).resolve().parent
LOAD = "workload.rate_multiplier"
ORDER = ("chat", "reasoning", "multimodal_chat", "agentic_coding")


def task_columns(df):
    """Energy and cost per task: a session for agentic coding, a response for the others."""
    agentic = df["workload"] == "agentic_coding"
    return (df["energy_per_session_facility_j"].where(agentic, df["energy_per_response_facility_j"]),
            df["cost_per_session_usd"].where(agentic, df["cost_per_response_usd"]))


def main(sweep_dir: str, out: str) -> None:
    df = load_sweep(sweep_dir)
    task_j, task_usd = task_columns(df)
    df = df.assign(task_j=task_j, task_usd=task_usd, slo_pct=100 * df["slo_attainment"])
    with dcsim_style():
        fig = Figure(figsize=(14.0, 9.0), layout="constrained")
        axes = fig.subplots(2, 2)
        panels = (("energy_per_response_facility_j", "J per response (call), facility", "Energy per response", True),
                  ("task_usd", "$ per task (agentic: per session)", "Cost per task (capital + energy)", True),
                  ("slo_pct", "SLO attainment (%)", "Service level (TTFT and TPOT targets of each preset)", False),
                  ("energy_per_output_token_facility_j", "J per output token, facility", "Energy per output token",
                   True))
        for ax, (col, ylabel, title, log) in zip(axes.flat, panels, strict=True):
            for w in ORDER:
                d = df[df["workload"] == w].sort_values(LOAD)
                ax.plot(d[LOAD] * 50, d[col], marker="o", label=w.replace("_", " "))
            if col == "energy_per_response_facility_j":
                d = df[df["workload"] == "agentic_coding"].sort_values(LOAD)
                ax.plot(d[LOAD] * 50, d["energy_per_session_facility_j"], marker="s", linestyle="--",
                        color="C3", label="agentic coding, per session (task)")
            ax.set_xlabel("load (% of the fleet's measured saturated throughput; agentic: x 0.4 sessions/s)")
            ax.set_ylabel(ylabel)
            ax.set_title(title)
            ax.set_xticks([25, 50, 75, 100])
            if log:
                ax.set_yscale("log")
        handles, labels = axes[0, 0].get_legend_handles_labels()
        axes[1, 0].legend(handles, labels, loc="lower left")  # the empty corner of the SLO panel
        fig.suptitle("One rack of 32 H100s (16 x TP 2, the Qwen3-30B-A3B architecture), four workloads")
        fig.savefig(out, dpi=110)
    print(f"{len(df)} runs, {int((df['status'] == 'ok').sum())} ok -> {out}\n")
    print("| workload | load | J per response, facility | J per task, facility | $ per 1,000 tasks "
          "| J per output token, facility | SLO attainment | TTFT p99 | GPU busy | prompt tokens cached |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for w in ORDER:
        for _, r in df[df["workload"] == w].sort_values(LOAD).iterrows():
            print(f"| {w} | {50 * r[LOAD]:.0f} % | {r['energy_per_response_facility_j']:,.0f} | {r['task_j']:,.0f} "
                  f"| {1000 * r['task_usd']:.2f} | {r['energy_per_output_token_facility_j']:.3f} | {r['slo_pct']:.1f} % "
                  f"| {r['ttft_p99_s']:.3f} s | {100 * r['gpu_utilisation']:.1f} % "
                  f"| {100 * r['prompt_tokens_cached_share']:.1f} % |")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else str(HERE / "sweep"),
         sys.argv[2] if len(sys.argv) > 2 else str(HERE / "figure.png"))
