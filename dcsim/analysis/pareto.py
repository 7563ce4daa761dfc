"""The Pareto front of a sweep over two KPIs, and its plot (docs/sweeps.md, "Design-space search").

A row is on the front when no other row is at least as good on both KPIs and strictly better
on one, "good" meaning lower for a ``"minimize"`` direction and higher for ``"maximize"``.
Rows without both values (refused or failed runs, NaN) are never on the front.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from dcsim.analysis.plots import _axes, _note, _require, axis_label
from dcsim.analysis.style import color, dcsim_style

DIRECTIONS = ("minimize", "maximize")


def _signs(directions: Sequence[str], func: str) -> np.ndarray:
    if len(directions) != 2 or any(d not in DIRECTIONS for d in directions):
        raise ValueError(f"{func}: directions {list(directions)!r}: two of {', '.join(DIRECTIONS)}")
    return np.array([1.0 if d == "minimize" else -1.0 for d in directions])


def pareto_front(df: pd.DataFrame, x: str, y: str,
                 directions: Sequence[str] = ("minimize", "minimize")) -> pd.DataFrame:
    """The rows of ``df`` on the Pareto front of columns ``x`` and ``y``, sorted by ``x``.

    ``directions``: ``"minimize"`` or ``"maximize"`` for ``x`` and for ``y``. Rows with equal
    values on both are all kept (neither dominates the other).
    """
    func = "pareto_front"
    _require(df, [x, y], func, "frame")
    signs = _signs(directions, func)
    values = df[[x, y]].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float) * signs
    valid = ~np.isnan(values).any(axis=1)
    v = values[valid]
    # dominated[i]: some j is <= on both and < on one (all as "lower is better" after the signs)
    le = (v[None, :, :] <= v[:, None, :]).all(axis=2)
    lt = (v[None, :, :] < v[:, None, :]).any(axis=2)
    dominated = (le & lt).any(axis=1)
    front = df[valid][~dominated]
    return front.sort_values(x, kind="stable")


def plot_pareto(df: pd.DataFrame, x: str, y: str, directions: Sequence[str] = ("minimize", "minimize"),
                ax: Axes | None = None, title: str | None = None) -> Axes:
    """Every run of ``df`` as a faint point and its Pareto front (:func:`pareto_front`) as a
    line of points; rows without both values are left out with a note."""
    front = pareto_front(df, x, y, directions)
    values = df[[x, y]].apply(pd.to_numeric, errors="coerce")
    valid = values.notna().all(axis=1)
    with dcsim_style():
        ax = _axes(ax)
        ax.scatter(values[x][valid], values[y][valid], s=14, color=color(0), alpha=0.35, edgecolors="none",
                   label=f"runs ({int(valid.sum())})")
        ax.plot(front[x].to_numpy(dtype=float), front[y].to_numpy(dtype=float), marker="o", color=color(1),
                drawstyle="steps-post", label=f"Pareto front ({len(front)})")
        if (~valid).any():
            n = int((~valid).sum())
            _note(ax, f"{n} run{'s' if n != 1 else ''} without {x} or {y} not shown")
        ax.set_xlabel(axis_label(x))
        ax.set_ylabel(axis_label(y))
        if title:
            ax.set_title(title)
        ax.legend()
    return ax
