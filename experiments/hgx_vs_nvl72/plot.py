"""Figure of the HGX vs NVL72 study: throughput per GPU, tokens per second per facility MW,
energy and cost per output token against interactivity (output tokens per second each user
sees, 1 / ITL p50), one line per system and replica layout, as SemiAnalysis InferenceX plots
them; and each system's best point within the interactivity SLO, printed as a table.

    python experiments/hgx_vs_nvl72/plot.py [SWEEP_DIR] [OUT_PNG]

SWEEP_DIR defaults to experiments/hgx_vs_nvl72/sweep, OUT_PNG to figure.png beside this file.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure
from omegaconf import OmegaConf

from dcsim.analysis import load_sweep, plot_kpi_vs
from dcsim.analysis.style import color, dcsim_style

HERE = Path(__file__).resolve().parent
SYSTEMS_BY_GPU = {"B200": "HGX B200", "GB200": "GB200 NVL72"}  # conf/system/hgx_b200.yaml, gb200_nvl72.yaml
# The SLOs, as (ITL p50 at most, TTFT p99 at most) in seconds: interactive, at least 20
# output tokens/s per user; relaxed, at least 10. TTFT at most 10 s either way (an 8k-token
# prompt behind a full batch).
SLOS = {"interactive": (0.050, 10.0), "relaxed": (0.100, 10.0)}
COLUMNS = {  # the table's columns: sweep frame column -> heading
    "layout": "system, layout",
    "workload.services.chat.arrivals.concurrency": "users",
    "interactivity_per_s": "tokens/s per user",
    "output_tokens_per_s_per_gpu": "tokens/s per GPU",
    "output_tokens_per_s_per_facility_mw": "tokens/s per facility MW",
    "energy_per_output_token_facility_j": "J per token (facility)",
    "cost_per_million_tokens_usd": "$ per million tokens",
    "pue": "PUE",
    "ttft_p99_s": "TTFT p99 (s)",
}


def layout_of(run_dir: str) -> str:
    """The system and the replica layout of a run, from the config Hydra saved in its directory:
    ``GB200 NVL72, TP 8 x EP 1``."""
    cfg = OmegaConf.load(Path(run_dir) / ".hydra" / "config.yaml")
    chat = cfg.workload.services.chat
    ep = int(chat.get("ep", 1))
    system = SYSTEMS_BY_GPU[str(cfg.facility.node.gpu)]
    return f"{system}, TP {int(chat.tp)}" + (f" x EP {ep}" if ep > 1 else "")


def with_columns(df: pd.DataFrame) -> pd.DataFrame:
    """The sweep frame with the study's columns: layout, interactivity, tokens/s per GPU."""
    ok = df[df["status"] == "ok"].copy()
    ok["layout"] = [layout_of(d) for d in ok["run_dir"]]
    ok["system_label"] = [s.split(",")[0] for s in ok["layout"]]
    ok["interactivity_per_s"] = 1.0 / ok["itl_p50_s"]
    ok["output_tokens_per_s_per_gpu"] = ok["output_tokens_per_s"] / ok["gpus_total"]
    return ok.sort_values(["layout", "interactivity_per_s"])


def best_within_slo(df: pd.DataFrame, itl_p50_s: float, ttft_p99_s: float) -> pd.DataFrame:
    """Each system's point with the most tokens/s per facility MW among those within the SLO."""
    within = df[(df["itl_p50_s"] <= itl_p50_s) & (df["ttft_p99_s"] <= ttft_p99_s)]
    return within.loc[within.groupby("system_label")["output_tokens_per_s_per_facility_mw"].idxmax()]


def markdown(rows: pd.DataFrame) -> str:
    """The rows as a markdown table of COLUMNS."""
    fmt = {"interactivity_per_s": "{:.1f}", "output_tokens_per_s_per_gpu": "{:.1f}",
           "output_tokens_per_s_per_facility_mw": "{:,.0f}", "energy_per_output_token_facility_j": "{:.2f}",
           "cost_per_million_tokens_usd": "{:.2f}", "pue": "{:.3f}", "ttft_p99_s": "{:.2f}"}
    lines = ["| " + " | ".join(COLUMNS.values()) + " |", "|" + "---|" * len(COLUMNS)]
    for _, r in rows.iterrows():
        lines.append("| " + " | ".join(fmt.get(c, "{}").format(r[c]) for c in COLUMNS) + " |")
    return "\n".join(lines)


def main(sweep_dir: str, out: str) -> None:
    df = with_columns(load_sweep(sweep_dir))
    x, xlabel = "interactivity_per_s", "interactivity: output tokens/s per user (1 / ITL p50)"
    with dcsim_style():
        fig = Figure(figsize=(15.0, 9.0), layout="constrained")
        (per_gpu, per_mw), (energy, cost) = fig.subplots(2, 2)
        plot_kpi_vs(df, x, "output_tokens_per_s_per_gpu", hue="layout", ax=per_gpu, xlabel=xlabel,
                    ylabel="output tokens/s per GPU", title="Throughput per GPU (InferenceX's axes)")
        plot_kpi_vs(df, x, "output_tokens_per_s_per_facility_mw", hue="layout", ax=per_mw, xlabel=xlabel,
                    title="Tokens/s per MW of peak facility power")
        plot_kpi_vs(df, x, "energy_per_output_token_facility_j", hue="layout", ax=energy, xlabel=xlabel,
                    title="Energy per output token at the meter")
        plot_kpi_vs(df, x, "cost_per_million_tokens_usd", hue="layout", ax=cost, xlabel=xlabel,
                    title="Cost per million output tokens (capital + energy)")
        for ax in (per_gpu, per_mw, energy, cost):
            for itl_s, _ in SLOS.values():
                ax.axvline(1.0 / itl_s, color="0.4", linestyle=":", linewidth=1.2)
            ax.set_yscale("log")
        # One colour per replica layout, solid for NVL72 and dashed for HGX: the same layout on
        # the two systems reads as one colour (they coincide where the domain takes no part).
        layouts = sorted({label.split(", ", 1)[1] for label in df["layout"]})
        for ax in (per_gpu, per_mw, energy, cost):
            for line in ax.get_lines():
                label = str(line.get_label())
                if ", " in label:
                    line.set_color(color(layouts.index(label.split(", ", 1)[1])))
                    line.set_linestyle("--" if label.startswith("HGX") else "-")
            ax.get_legend().remove()
        per_gpu.legend(*per_gpu.get_legend_handles_labels(), title="system, replica layout", fontsize="small")
        fig.suptitle("DeepSeek-V3 (FP8) on 144 GPUs at equal IT power: HGX B200 (8-GPU NVLink domains) against "
                     "GB200 NVL72 (72), 8k/1k closed loop; dotted: the SLOs, ITL p50 <= 50 and 100 ms")
        fig.savefig(out, dpi=110)
    print(f"{len(df)} runs ok -> {out}")
    for name, (itl_s, ttft_s) in SLOS.items():
        print(f"\nbest within the {name} SLO (ITL p50 <= {itl_s * 1e3:g} ms, TTFT p99 <= {ttft_s:g} s):")
        print(markdown(best_within_slo(df, itl_s, ttft_s)))
    print("\nevery run:")
    print(markdown(df))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else str(HERE / "sweep"),
         sys.argv[2] if len(sys.argv) > 2 else str(HERE / "figure.png"))
