"""Record tables take rows in blocks: every row reads back, in order, whatever the count."""

from __future__ import annotations

import numpy as np
import pytest

from dcsim.metrics.frames import to_frame
from dcsim.metrics.table import BLOCK_ROWS, Table


@pytest.mark.parametrize("n", [0, 1, BLOCK_ROWS - 1, BLOCK_ROWS, BLOCK_ROWS + 1, 2 * BLOCK_ROWS + 7])
def test_rows_read_back_in_order(n):
    t = Table(("t_s", "component", "gpus"))
    for i in range(n):
        t.append((i * 0.5, f"rack/{i % 3:03d}", i))
        if i == n // 2:
            assert t.column("gpus").tolist() == list(range(i + 1))  # reading mid-way sees every row so far
    assert len(t) == n
    assert t.column("t_s").tolist() == [i * 0.5 for i in range(n)]
    assert t.column("gpus").dtype == np.int64 and t.column("gpus").tolist() == list(range(n))
    df = to_frame(t)
    assert len(df) == n and list(df["component"]) == [f"rack/{i % 3:03d}" for i in range(n)]


def test_a_row_of_the_wrong_length_is_refused_at_once():
    t = Table(("a", "b"))
    with pytest.raises(ValueError, match="row of 3 values for 2 columns"):
        t.append((1.0, 2.0, 3.0))
    assert len(t) == 0
