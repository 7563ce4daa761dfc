"""The look of dcsim's figures: one colour cycle, figure sizes and matplotlib settings.

Nothing changes on import. The settings apply inside ``with dcsim_style():`` (every
plotting function of :mod:`dcsim.analysis.plots` draws inside it) and are restored on
exit, so a notebook's own style is left alone. To use them for a figure of your own::

    from dcsim.analysis.style import dcsim_style, new_axes
    with dcsim_style():
        ax = new_axes()
        ax.plot(...)
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, cast

import matplotlib as mpl
from cycler import cycler

if TYPE_CHECKING:
    from matplotlib.axes import Axes

# Okabe and Ito's colour-blind-safe palette ("Color Universal Design", 2008), black last.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")

# Colours with a fixed meaning across figures.
COLORS = {
    "it": PALETTE[0],
    "conversion_loss": PALETTE[1],
    "cooling": PALETTE[5],
    "busy": PALETTE[3],
    "allocated": PALETTE[0],
    "pue": PALETTE[3],
    "outdoor": "#777777",
    "note": "#555555",
}

# Figure sizes in inches (width, height).
FIGSIZE_IN = {
    "single": (6.4, 4.0),  # one plot
    "wide": (9.6, 4.0),  # a long time axis
    "report": (12.0, 8.0),  # the 2 x 2 dashboard of report.png
}

RC = {
    "axes.prop_cycle": cycler(color=PALETTE),
    "axes.grid": True,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlesize": 11,
    "axes.titleweight": "bold",
    "axes.labelsize": 10,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "grid.alpha": 0.35,
    "grid.linewidth": 0.6,
    "legend.fontsize": 8,
    "legend.frameon": False,
    "lines.linewidth": 1.6,
    "lines.markersize": 5,
    "figure.dpi": 100,
    "savefig.dpi": 150,
}


@contextmanager
def dcsim_style() -> Iterator[None]:
    """Apply :data:`RC` for the duration of the block, then restore the previous settings."""
    with mpl.rc_context(cast(Any, RC)):  # RC's keys are valid rcParams; the stubs want literals
        yield


def color(i: int) -> str:
    """The ``i``-th colour of the cycle (wrapping)."""
    return PALETTE[i % len(PALETTE)]


def new_axes(size: str = "single") -> Axes:
    """A new figure with one Axes, of one of :data:`FIGSIZE_IN`'s sizes (through pyplot,
    so it shows in a notebook)."""
    if size not in FIGSIZE_IN:
        raise ValueError(f"unknown figure size {size!r}: one of {list(FIGSIZE_IN)}")
    import matplotlib.pyplot as plt

    with dcsim_style():
        _, ax = plt.subplots(figsize=FIGSIZE_IN[size], layout="constrained")
    return ax
