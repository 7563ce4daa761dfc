"""Figure of the climate study: annual PUE, WUE and economiser share by climate, one line
per cooling technology and condenser.

    python experiments/climate/plot.py [SWEEP_DIR] [OUT_PNG]

SWEEP_DIR defaults to experiments/climate/sweep, OUT_PNG to figure.png beside this file.
"""

from __future__ import annotations

import sys
from pathlib import Path

from matplotlib.figure import Figure

from dcsim.analysis import load_sweep, plot_kpi_vs
from dcsim.analysis.style import dcsim_style

HERE = Path(__file__).resolve().parent
CLIMATE = "facility.climate.epw_path"
PANELS = [  # (KPI, axis label, title)
    ("pue", "annual PUE (-)", "Power usage effectiveness"),
    ("wue_l_per_kwh", "annual WUE (L/kWh of IT energy)", "Water usage effectiveness"),
    ("economiser_share", "economiser share of heat removed (-)", "Heat removed without chillers"),
]


def main(sweep_dir: str, out: str) -> None:
    df = load_sweep(sweep_dir)
    # One label per plant: technology and condenser.
    df = df.assign(cooling=df["facility.cooling.technology"] + ", " + df["facility.cooling.condenser"])
    with dcsim_style():
        fig = Figure(figsize=(15.0, 4.6), layout="constrained")
        axes = fig.subplots(1, 3)
        for ax, (kpi, label, title) in zip(axes, PANELS):
            plot_kpi_vs(df, CLIMATE, kpi, hue="cooling", ax=ax, xlabel="climate (EPW typical year)",
                        ylabel=label, title=title)
        for ax in axes[1:]:
            ax.get_legend().remove()
        axes[0].legend(title="cooling, condenser")
        fig.suptitle("A year of the 128-GPU H100 hall serving a diurnal chat load, by climate and cooling plant")
        fig.savefig(out, dpi=110)
    print(f"{len(df)} runs, {int((df['status'] == 'ok').sum())} ok -> {out}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else str(HERE / "sweep"),
         sys.argv[2] if len(sys.argv) > 2 else str(HERE / "figure.png"))
