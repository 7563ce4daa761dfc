"""The vllm-0.11 calibration, end to end: fit, write the profiles, validate, document.

One command reproduces every table and figure of the "vllm-0.11" part of
docs/calibration.md::

    python -m dcsim.analysis.calibration_report ../shared/data/calibration/mlenergy-v3

It refits the H100 and B200 profiles (``dcsim.hardware.calibrate_vllm``) and writes them
to ``dcsim/data/calibration/vllm-0.11/``, derives the H200 profile from the H100 fit and
writes the uncalibrated ones, runs the leave-family-out validation, and rewrites the part
of docs/calibration.md between its ``<!-- vllm-0.11 report -->`` markers, with one
measured-vs-simulated figure per metric in docs/figures/.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from dcsim.analysis.style import PALETTE, dcsim_style, new_axes
from dcsim.hardware import calibrate_vllm as cv

REPO = Path(__file__).resolve().parent.parent.parent
DOC = REPO / "docs" / "calibration.md"
FIG_DIR = REPO / "docs" / "figures"
BEGIN, END = "<!-- vllm-0.11 report: begin (written by python -m dcsim.analysis.calibration_report) -->", \
    "<!-- vllm-0.11 report: end -->"
LABEL = {"energy_per_token_j": "energy per output token (J)", "median_itl_s": "median inter-token latency (s)",
         "output_tokens_per_s": "output tokens/s", "gpu_power_w": "mean GPU power (W)"}
SHORT = {"energy_per_token_j": "energy/token", "median_itl_s": "median ITL",
         "output_tokens_per_s": "tokens/s", "gpu_power_w": "GPU power"}


def figure(rows: list[cv.Row], preds: list[dict], metric: str, path: Path) -> None:
    """Measured vs simulated (left-out family) of one metric, both GPUs, log axes."""
    with dcsim_style():
        ax = new_axes()
        meas = np.array([r.measured[metric] for r in rows])
        sim = np.array([p[metric] for p in preds])
        for k, gpu in enumerate(sorted({r.gpu.name for r in rows})):
            for arch, marker in (("dense", "o"), ("MoE", "^"), ("hybrid", "s")):
                m = np.array([r.gpu.name == gpu and r.architecture == arch for r in rows])
                if m.any():
                    ax.scatter(meas[m], sim[m], s=14, marker=marker, color=PALETTE[k], alpha=0.75,
                               label=f"{gpu} {arch}")
        lo, hi = min(meas.min(), sim.min()) / 1.2, max(meas.max(), sim.max()) * 1.2
        ax.plot([lo, hi], [lo, hi], color="#555555", lw=0.8)
        for f in (0.75, 1.25):
            ax.plot([lo, hi], [lo * f, hi * f], color="#999999", lw=0.6, ls="--")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlim(lo, hi)
        ax.set_ylim(lo, hi)
        ax.set_xlabel(f"measured {LABEL[metric]}")
        ax.set_ylabel("dcsim, family left out")
        ax.set_title(f"vllm-0.11: {SHORT[metric]} (dashed: +/-25 %)")
        ax.legend(loc="upper left")
        fig = ax.figure
        assert isinstance(fig, Figure), "new_axes draws on a top-level figure"
        fig.savefig(path, dpi=110, bbox_inches="tight")
        import matplotlib.pyplot as plt

        plt.close(fig)


def markdown(table: list[dict], kinds: tuple[str, ...]) -> str:
    head = "| GPU | slice | n | " + " | ".join(SHORT[m] for m in cv.METRICS) + " |"
    lines = [head, "|" + "---|" * (3 + len(cv.METRICS))]
    for t in table:
        kind = t["slice"].split("=")[0]
        if kind not in kinds:
            continue
        cells = [f"{t[m]:.1f} ({t[m + '_signed']:+.0f})" for m in cv.METRICS]
        lines.append(f"| {t['gpu']} | {t['slice']} | {t['n']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def in_sample_fits(rows: list[cv.Row]) -> dict:
    """GPU -> (perf, power) fitted on all of that GPU's text rows."""
    return {g: cv.fit_gpu([r for r in rows if r.gpu.name == g]) for g in sorted({r.gpu.name for r in rows})}


def sensitivity(label: str, fits: dict, base: list[cv.Row], moved_rows) -> str:
    """Median (and largest) change of each in-sample prediction of ``base`` when an assumption
    is halved or doubled: ``moved_rows(scale)`` are the same rows under the moved assumption."""
    out = []
    for scale in (0.5, 2.0):
        moved = moved_rows(scale)
        changes: dict[str, list[float]] = {m: [] for m in cv.METRICS}
        for gpu, (perf, power) in fits.items():
            a = [r for r in base if r.gpu.name == gpu]
            b = [r for r in moved if r.gpu.name == gpu]
            for pa, pb in zip(cv.predict(a, perf, power), cv.predict(b, perf, power)):
                for m in cv.METRICS:
                    changes[m].append(abs(pb[m] / pa[m] - 1) * 100)
        out.append(f"{label} x{scale:g}: " + ", ".join(f"{SHORT[m]} {np.median(v):.1f} % (max {np.max(v):.0f} %)"
                                                        for m, v in changes.items()))
    return "; ".join(out)


def report(data_dir: str) -> str:
    rows = cv.load_rows(data_dir)
    mm = cv.load_rows(data_dir, tasks=cv.MM_TASKS)
    both = cv.leave_family_out(rows, mm)
    preds, mm_preds = both[:len(rows)], both[len(rows):]
    mm_table = cv.error_table(mm, mm_preds)
    fits = in_sample_fits(rows)
    n_mm = sum(1 for r in cv._read_csv(Path(data_dir) / "configurations.csv") if r["task"] in cv.MM_TASKS)
    FIG_DIR.mkdir(exist_ok=True)
    for m in cv.METRICS:
        figure(rows, preds, m, FIG_DIR / f"calibration_vllm_{m}.png")
    table = cv.error_table(rows, preds)
    figs = "\n".join(f"![{SHORT[m]}](figures/calibration_vllm_{m}.png)" for m in cv.METRICS)
    text = "\n\n".join([
        BEGIN,
        f"Leave-family-out validation on {len(rows)} text-task rows (H100: "
        f"{sum(r.gpu.name == 'H100-SXM' for r in rows)}, B200: {sum(r.gpu.name == 'B200' for r in rows)}). "
        "Each cell: median absolute error in % (signed median in brackets: + is dcsim too high), "
        "every row predicted by a fit that never saw its model family, at the batch the engine holds.",
        "**Per GPU, architecture, precision and batch bin (max_num_seqs)**",
        markdown(table, ("all", "architecture", "precision", "batch")),
        "**Per left-out family and task**",
        markdown(table, ("family", "task")),
        "**Per steady-state window** (N requests submitted at once over max_num_seqs B, from the "
        "benchmark's configs: `dcsim/data/mlenergy/benchmark_requests.csv`; the window closes when all "
        "but B + 1 have finished, so under 1.5 it closes before half a batch has finished)",
        markdown(table, ("window",)),
        "**Sensitivity to the assumed prompt lengths** (in-sample fit, engine batch): "
        + sensitivity("prompts", fits, rows, lambda x: cv.load_rows(data_dir, prompt_scale=x)),
        figs,
        f"**Multimodal rows, validated only** ({len(mm)} of the {n_mm} image-chat and video-chat rows: those whose "
        "model has a vision encoder in the catalogue; H100: "
        f"{sum(r.gpu.name == 'H100-SXM' for r in mm)}, B200: {sum(r.gpu.name == 'B200' for r in mm)}). "
        "Each row is predicted by the text-task fit that left its text backbone's family out; nothing is "
        "fitted to these rows.",
        markdown(mm_table, ("all", "task")),
        markdown(mm_table, ("family", "precision")),
        "**Sensitivity to the assumed image and frame resolution** (in-sample text fit, engine batch): "
        + sensitivity("pixels", fits, mm, lambda x: cv.load_rows(data_dir, tasks=cv.MM_TASKS, pixel_scale=x)),
        END,
    ])
    return text


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data_dir")
    args = ap.parse_args(argv)
    cv.main([args.data_dir, "--write"])
    text = report(args.data_dir)
    doc = DOC.read_text()
    if BEGIN in doc and END in doc:
        doc = doc[:doc.index(BEGIN)] + text + doc[doc.index(END) + len(END):]
    else:
        doc = doc.rstrip() + "\n\n" + text + "\n"
    DOC.write_text(doc)
    print(text)


if __name__ == "__main__":
    main()
