"""The Pareto front of a known set of points (dcsim/analysis/pareto.py)."""

import math

import matplotlib
import pandas as pd
import pytest

from dcsim.analysis import pareto_front, plot_pareto

matplotlib.use("Agg")

# (a, b): front for (min, min) is p1, p2, p3 (p4 dominated by p2, p5 by p3, p6 has no b)
POINTS = pd.DataFrame({
    "name": ["p1", "p2", "p3", "p4", "p5", "p6", "p7"],
    "a": [1.0, 2.0, 4.0, 3.0, 5.0, 0.5, 2.0],
    "b": [5.0, 2.0, 1.0, 3.0, 1.0, math.nan, 2.0],
})


def test_front_of_two_minimised_columns_is_the_non_dominated_points_sorted_by_x():
    assert list(pareto_front(POINTS, "a", "b")["name"]) == ["p1", "p2", "p7", "p3"]  # p7 ties p2: both kept


def test_maximising_one_column_changes_the_front():
    # minimise a, maximise b: p1 (a=1, b=5) dominates every point but p6 (no b)
    assert list(pareto_front(POINTS, "a", "b", ("minimize", "maximize"))["name"]) == ["p1"]
    # maximise both: p5 (5, 1) and p4 (3, 3) and p1 (1, 5)
    assert list(pareto_front(POINTS, "a", "b", ("maximize", "maximize"))["name"]) == ["p1", "p4", "p5"]


def test_bad_directions_and_columns_are_one_line_errors():
    with pytest.raises(ValueError, match="two of minimize, maximize"):
        pareto_front(POINTS, "a", "b", ("min", "max"))
    with pytest.raises(ValueError, match="no column 'c'"):
        pareto_front(POINTS, "a", "c")


def test_plot_draws_the_front_and_notes_rows_left_out():
    ax = plot_pareto(POINTS, "a", "b")
    front_line = ax.get_lines()[0]
    assert list(front_line.get_xdata()) == [1.0, 2.0, 2.0, 4.0]
    assert any("1 run without a or b" in t.get_text() for t in ax.texts)
