"""Figure of the design-space study: the Pareto fronts of energy per output token against
TTFT p99, and of cost per million tokens against output tokens per second per facility MW,
over the runs within the study's TTFT p99 limit (figure.png); the fronts' runs are printed.

    python experiments/design_search/plot.py [SWEEP_DIR] [OUT_PNG]

SWEEP_DIR defaults to experiments/design_search/sweep, OUT_PNG to figure.png beside this file.
"""

from __future__ import annotations

import sys
from pathlib import Path

from matplotlib.figure import Figure

from dcsim.analysis import load_sweep, pareto_front, plot_pareto
from dcsim.analysis.style import dcsim_style

HERE = Path(__file__).resolve().parent
TTFT_LIMIT_S = 2.0  # optimize.constraints of conf/experiment/design_search.yaml
KNOBS = ["workload.services.chat.max_num_seqs", "workload.services.chat.tp", "workload.services.chat.replicas",
         "facility.rack.gpus_per_rack"]
PAIRS = (("energy_per_output_token_facility_j", "ttft_p99_s", ("minimize", "minimize")),
         ("output_tokens_per_s_per_facility_mw", "cost_per_million_tokens_usd", ("maximize", "minimize")))


def main(sweep_dir: str, out: str) -> None:
    df = load_sweep(sweep_dir)
    ok = df[(df["status"] == "ok") & (df["ttft_p99_s"] < TTFT_LIMIT_S)]
    knobs = [k for k in KNOBS if k in ok.columns]
    print(f"{len(df)} runs, {len(ok)} within TTFT p99 < {TTFT_LIMIT_S:g} s, "
          f"{len(ok.drop_duplicates(knobs))} distinct points")
    with dcsim_style():
        fig = Figure(figsize=(11.0, 4.4), layout="constrained")
        for ax, (x, y, directions) in zip(fig.subplots(1, 2), PAIRS):
            plot_pareto(ok, x, y, directions, ax=ax, title=f"runs with TTFT p99 < {TTFT_LIMIT_S:g} s")
            front = pareto_front(ok, x, y, directions).drop_duplicates(knobs)
            print(f"\nPareto front of {x} ({directions[0]}) and {y} ({directions[1]}):")
            print(front[knobs + [x, y]].to_string(index=False))
        fig.savefig(out, dpi=150)
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else str(HERE / "sweep"),
         sys.argv[2] if len(sys.argv) > 2 else str(HERE / "figure.png"))
