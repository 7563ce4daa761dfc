"""Figure of the GPU-generation study: energy per token, cost per token and SLO attainment
against the request rate, one line per GPU.

    python experiments/gpu_generation/plot.py [SWEEP_DIR] [OUT_PNG]

SWEEP_DIR defaults to experiments/gpu_generation/sweep, OUT_PNG to figure.png beside this file.
"""

from __future__ import annotations

import sys
from pathlib import Path

from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, NullFormatter
from omegaconf import OmegaConf

from dcsim.analysis import load_sweep, plot_kpi_vs
from dcsim.analysis.style import dcsim_style

HERE = Path(__file__).resolve().parent
RATE = "workload.services.chat.arrival_rate_per_s"


def gpu_of(run_dir: str) -> str:
    """The GPU a run used, from the config Hydra saved in its directory."""
    return str(OmegaConf.load(Path(run_dir) / ".hydra" / "config.yaml").facility.node.gpu)


def main(sweep_dir: str, out: str) -> None:
    df = load_sweep(sweep_dir)
    df = df.assign(gpu=[gpu_of(d) for d in df["run_dir"]], slo_attainment_pct=100 * df["slo_attainment"])
    with dcsim_style():
        fig = Figure(figsize=(15.0, 4.6), layout="constrained")
        energy, cost, slo = fig.subplots(1, 3)
        plot_kpi_vs(df, RATE, "energy_per_output_token_facility_j", hue="gpu", ax=energy,
                    xlabel="request rate (1/s)", title="Energy per token")
        plot_kpi_vs(df, RATE, "cost_per_million_tokens_usd", hue="gpu", ax=cost,
                    xlabel="request rate (1/s)", title="Cost per token (capital + energy)")
        plot_kpi_vs(df, RATE, "slo_attainment_pct", hue="gpu", ax=slo, xlabel="request rate (1/s)",
                    ylabel="SLO attainment (%): TTFT <= 1 s, TPOT <= 100 ms", title="Service level")
        plain = FuncFormatter(lambda v, _: f"{v:g}")
        for ax in (energy, cost, slo):
            ax.set_xscale("log")
            ax.set_xticks(sorted(df[RATE].unique()))  # the swept rates
            ax.xaxis.set_major_formatter(plain)
            ax.xaxis.set_minor_formatter(NullFormatter())
        for ax in (energy, cost):  # per-token figures fall about as 1/load: log-log
            ax.set_yscale("log")
            ax.yaxis.set_major_formatter(plain)
            ax.yaxis.set_minor_formatter(plain)
        cost.get_legend().remove()
        slo.get_legend().remove()
        energy.legend(title="GPU")
        fig.suptitle("Llama-3.1-70B on 64 GPUs (16 replicas of TP 4), by GPU generation and request load")
        fig.savefig(out, dpi=110)
    print(f"{len(df)} runs, {int((df['status'] == 'ok').sum())} ok -> {out}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else str(HERE / "sweep"),
         sys.argv[2] if len(sys.argv) > 2 else str(HERE / "figure.png"))
