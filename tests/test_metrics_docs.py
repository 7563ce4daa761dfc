"""The KPI reference: docs/metrics.md defines every key a run's summary carries."""

from __future__ import annotations

from pathlib import Path

import dcsim


def test_every_kpi_of_the_summary_is_defined_in_docs_metrics():
    """docs/metrics.md defines every key summary.json carries (backticked), so no KPI ships
    without its formula and unit."""
    doc = (Path(__file__).resolve().parents[1] / "docs" / "metrics.md").read_text()
    summary = dcsim.run(["duration_s=300", "output.write=false"]).summary()
    missing = [key for key in summary if f"`{key}`" not in doc]
    assert not missing, f"docs/metrics.md does not define {missing}"
