"""Figures of the rack-density study: energy and cost per token, and IT power per floor
area, against rack density, one line per cooling technology, each technology's rack
limit marked (figure.png); and where the joules and the dollars of a token go at each
density, one column per technology (decomposition.png).

    python experiments/rack_density/plot.py [SWEEP_DIR] [OUT_PNG]

SWEEP_DIR defaults to experiments/rack_density/sweep, OUT_PNG to figure.png beside this file;
the decomposition is written beside OUT_PNG. When the open-floor sweep
(``dcsim +experiment=rack_density_open_floor -m``, experiments/rack_density_open_floor/sweep)
is there, its open_floor.png is drawn too: contained aisles against an open floor, two tiles a rack.
"""

from __future__ import annotations

import sys
from pathlib import Path

from matplotlib.figure import Figure

from dcsim.analysis import (
    load_sweep,
    per_token_decomposition,
    plot_cost_per_token_vs_density,
    plot_decomposition_vs,
    plot_energy_per_token_vs_density,
    plot_kpi_vs,
)
from dcsim.analysis.plots import part_color
from dcsim.analysis.style import dcsim_style
from dcsim.facility.cooling import TECHNOLOGIES

HERE = Path(__file__).resolve().parent
HUE = "facility.cooling.technology"


def main(sweep_dir: str, out: str) -> None:
    df = load_sweep(sweep_dir)
    df = df.assign(rack_nameplate_kw=df["rack_nameplate_w"] / 1e3)
    with dcsim_style():
        fig = Figure(figsize=(15.0, 4.6), layout="constrained")
        energy, cost, area = fig.subplots(1, 3)
        plot_energy_per_token_vs_density(df, ax=energy)
        plot_cost_per_token_vs_density(df, ax=cost)
        plot_kpi_vs(df, "rack_nameplate_kw", "it_mw_per_m2", ax=area,  # the same for every technology
                    ylabel="IT nameplate power per white space (MW/m²)", title="What density buys: floor space")
        # Each technology's rack limit (dcsim.facility.cooling), in its line's colour.
        handles, labels = energy.get_legend_handles_labels()
        colours = {label: h.get_color() for h, label in zip(handles, labels)}
        for ax in (energy, cost, area):
            for name, colour in colours.items():
                ax.axvline(TECHNOLOGIES[name].max_rack_kw, color=colour, linestyle=":", linewidth=1.2)
            ax.set_xlim(left=0)
            ax.set_ylim(0, 1.12 * ax.get_ylim()[1])  # from zero: differences in proportion to the whole
        energy.legend(title="cooling (dotted: its kW limit)", loc="lower left")
        cost.get_legend().remove()
        fig.suptitle("The same 288 H100 GPUs serving Llama-3.1-70B, packed 16 to 144 GPUs per rack "
                     "(refused: denser than the cooling removes)")
        fig.savefig(out, dpi=110)
    decomposition(df, str(Path(out).with_name("decomposition.png")))
    open_dir = HERE.parent / "rack_density_open_floor"
    if (open_dir / "sweep").is_dir():
        open_floor(load_sweep(str(open_dir / "sweep")), str(open_dir / "open_floor.png"))
    refused = df[df["failure"] == "refused"]
    print(f"{len(df)} runs, {int((df['status'] == 'ok').sum())} ok, {len(refused)} refused -> {out}")
    for _, r in refused.iterrows():
        print(f"  refused: {r['overrides']}")


def decomposition(df, out: str) -> None:
    """Per technology (columns): the joules per token stacked by part and each part's change
    from the sparsest rack (mJ); the dollars per million tokens stacked and each part's change
    (cents). The change rows show where density acts; the stacked rows, how much that is of
    the whole."""
    ok = df[df["status"] == "ok"]
    names = [n for n in TECHNOLOGIES if (ok[HUE] == n).any()]
    with dcsim_style():
        fig = Figure(figsize=(4.0 * len(names), 14.0), layout="constrained")
        axes = fig.subplots(4, len(names), sharey="row", squeeze=False)
        for col, name in enumerate(names):
            sub = ok[ok[HUE] == name].sort_values("rack_nameplate_kw")
            xmax = 1.08 * max(TECHNOLOGIES[name].max_rack_kw, sub["rack_nameplate_kw"].max())
            for row, (kind, scale, unit) in enumerate((("energy", 1e3, "mJ per token"),
                                                        ("cost", 100.0, "cents per million tokens"))):
                stacked, change = axes[2 * row][col], axes[2 * row + 1][col]
                plot_decomposition_vs(sub, "rack_nameplate_kw", kind, ax=stacked, title=name if row == 0 else None)
                parts = per_token_decomposition(sub, kind)
                x = sub.loc[parts.index, "rack_nameplate_kw"].to_numpy()
                for i, label in enumerate(parts.columns):
                    delta = (parts[label] - parts[label].iloc[0]).to_numpy() * scale
                    if abs(delta).max() > 1e-9 or parts[label].abs().max() > 0:
                        change.plot(x, delta, marker="o", color=part_color(i), label=label)
                total = (parts.sum(axis=1) - parts.sum(axis=1).iloc[0]).to_numpy() * scale
                change.plot(x, total, color="black", linestyle="--", linewidth=2.0, label="total")
                change.axhline(0.0, color="grey", linewidth=0.8)
                change.set_xlabel("rack nameplate IT power (kW per rack)")
                change.set_ylabel(f"change from the sparsest rack ({unit})" if col == 0 else "")
                for ax in (stacked, change):
                    ax.set_xlim(0, xmax)
                    if col:
                        ax.set_ylabel("")
        axes[0][-1].legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), title="joules")
        axes[1][-1].legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), title="change in joules")
        axes[2][-1].legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), title="dollars")
        axes[3][-1].legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), title="change in dollars")
        fig.suptitle("Where a token's energy (J, at the meter) and cost (USD per million tokens) go, by rack "
                     "density, and what density changes")
        fig.savefig(out, dpi=100)
    print(f"decomposition -> {out}")


def open_floor(sweep, out: str) -> None:
    """Air and direct liquid on two tiles a rack, contained aisles (solid) against an open raised
    floor at a 30 Pa plenum (dashed): facility energy per token, the racks' recirculation and
    the chilled water the room-air coils then need, against rack density."""
    sweep = sweep.assign(rack_nameplate_kw=sweep["rack_nameplate_w"] / 1e3)
    ok = sweep[sweep["status"] == "ok"]
    with dcsim_style():
        fig = Figure(figsize=(15.0, 4.6), layout="constrained")
        energy, recirc, coil = fig.subplots(1, 3)
        for i, name in enumerate(("air", "direct_liquid")):
            colour = part_color(i)
            for delivery, style in (("contained", "-"), ("open_tiles", "--")):
                sub = ok[(ok[HUE] == name) & (ok["facility.cooling.air_delivery"] == delivery)]
                sub = sub.sort_values("rack_nameplate_kw")
                x = sub["rack_nameplate_kw"].to_numpy()
                label = f"{name}, {'contained aisles' if delivery == 'contained' else 'open floor'}"
                joules = sub["energy_per_output_token_facility_j"].to_numpy()
                energy.plot(x, 1e3 * (joules - joules[0]), style, marker="o", color=colour, label=label)
                if delivery == "open_tiles":
                    recirc.plot(x, 100 * sub["air_recirculation_share"], style, marker="o", color=colour, label=name)
                    coil.plot(x, sub["air_coil_supply_c"], style, marker="o", color=colour, label=name)
        coil.axhline(7.2, color="grey", linestyle=":", linewidth=1.2)
        coil.annotate("coldest chilled water taken (7.2 C)", (2, 7.6), fontsize=9, color="grey")
        energy.set(xlabel="rack nameplate IT power (kW per rack)",
                   ylabel="change from the sparsest rack (mJ per token)",
                   title="What density costs in energy per token")
        energy.axhline(0.0, color="grey", linewidth=0.8)
        recirc.set(xlabel="rack nameplate IT power (kW per rack)", ylabel="inlet air that is exhaust (%)",
                   title="Open floor: recirculation grows with density")
        coil.set(xlabel="rack nameplate IT power (kW per rack)", ylabel="room-air coil chilled water (C)",
                 title="... and the chilled water must be colder")
        coil.set_ylim(0, 20)
        for ax in (energy, recirc, coil):
            ax.set_xlim(left=0)
            ax.legend(loc="best")
        fig.suptitle("The same 288 H100 GPUs, two tiles a rack: contained aisles against an open raised floor "
                     "(30 Pa plenum)")
        fig.savefig(out, dpi=110)
    print(f"open floor -> {out}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else str(HERE / "sweep"),
         sys.argv[2] if len(sys.argv) > 2 else str(HERE / "figure.png"))
