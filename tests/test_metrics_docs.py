"""The KPI registry: every summary key registered once, docs/metrics.md generated from it,
and the tables and axes that show KPIs taking their labels, units and formats from it."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest

import dcsim
from dcsim.io import multirun
from dcsim.metrics import registry
from dcsim.metrics.registry import KPIS, REQUEST_COLUMNS, kpi, render_doc, row_label, row_text

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "metrics.md"


@pytest.fixture(scope="module")
def summary():
    return dcsim.run(["duration_s=300", "output.write=false"]).summary()


def test_every_summary_key_is_registered_and_every_registered_key_is_produced(summary):
    """summarise() and the registry name the same keys (plus the three the CLI writes), so
    no KPI ships without its unit, label and definition, and none is registered that no run has."""
    assert [k for k in summary if k not in KPIS] == []
    assert [k for k in KPIS if k not in summary and k not in registry.WRITTEN_BY_CLI] == []


def test_the_committed_doc_is_what_the_registry_gives():
    """docs/metrics.md's KPI tables are the registry's (python tools/metrics_doc.py rewrites them)."""
    assert DOC.read_text() == render_doc(DOC.read_text()), "run: python tools/metrics_doc.py"
    proc = subprocess.run([sys.executable, "tools/metrics_doc.py", "--check"], cwd=ROOT, capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stderr


def test_every_key_is_in_the_doc_with_its_unit_and_definition():
    doc = DOC.read_text()
    rows = [line.split(" | ") for line in doc.splitlines() if line.startswith("| `")]
    for k in [*KPIS.values(), *REQUEST_COLUMNS.values()]:  # preemptions is a KPI and a column: two rows
        assert any(f"`{k.key}`" in r[0] and k.unit in r[1].split(", ") and r[2] == f"{k.definition} |" for r in rows), \
            f"docs/metrics.md has no row of {k.key} with unit {k.unit!r} and its definition"


def test_a_changed_definition_makes_the_doc_stale(monkeypatch):
    """The doc check sees a registry change (and a doc without its markers is refused)."""
    text = DOC.read_text()
    pue = KPIS["pue"]
    monkeypatch.setitem(KPIS, "pue", registry.Kpi(pue.key, pue.unit, pue.label, pue.fmt, "a new formula", pue.section))
    assert render_doc(text) != text and "| `pue` | - | a new formula |" in render_doc(text)
    with pytest.raises(ValueError, match="KPI table cost"):
        render_doc(text.replace("<!-- KPI table cost:", "<!-- cost:"))


@pytest.mark.parametrize("key,value,text", [
    ("gpu_utilisation", 0.5678, "56.8 %"),
    ("it_energy_j", 73.1e3 * 3600, "73.1 kWh"),
    ("facility_energy_j", 1234.5e3 * 3600, "1,234.5 kWh"),
    ("pue", 1.35612, "1.356"),
    ("tpot_p50_s", 0.02304, "23.0 ms"),
    ("job_wait_mean_s", 162.0, "2.7 min"),
    ("duration_s", 3600.0, "1.00 h"),
    ("cost_per_gpu_hour_usd", 1.114, "$1.11"),
    ("requests_completed", 19788, "19788"),
    ("output_tokens_per_s", 1176.4, "1,176 tokens/s"),
    ("ttft_p99_s", math.nan, "n/a"),
    ("budget_w", None, "n/a"),
    ("serving_engine", "vllm-0.11", "vllm-0.11"),
])
def test_values_show_in_their_unit(key, value, text):
    assert kpi(key).value_text(value) == text


def test_kpis_on_one_line_share_a_label_and_a_unit():
    s = {"ttft_p50_s": 0.0921, "ttft_p99_s": 0.8188, "slo_attainment": 0.994, "goodput_requests_per_s": 5.46,
         "requests_completed": 5, "requests_arrived": 7, "cost_per_gpu_hour_usd": 1.11, "cost_per_model_eflop_usd": 1.69}
    assert (row_label(("ttft_p50_s", "ttft_p99_s")), row_text(("ttft_p50_s", "ttft_p99_s"), s)) == \
        ("TTFT p50 / p99", "0.092 / 0.819 s")
    assert (row_label(("slo_attainment", "goodput_requests_per_s")),
            row_text(("slo_attainment", "goodput_requests_per_s"), s)) == ("SLO attainment / goodput", "99.4 % / 5.46 req/s")
    assert (row_label(("requests_completed", "requests_arrived")),
            row_text(("requests_completed", "requests_arrived"), s)) == ("requests completed / arrived", "5 / 7")
    assert row_text(("cost_per_gpu_hour_usd", "cost_per_model_eflop_usd"), s) == "$1.11 / $1.69"
    assert row_label(("jobs_completed", "jobs_submitted")) == "training jobs completed / submitted"
    with pytest.raises(KeyError, match="not a KPI of dcsim/metrics/registry.py"):
        kpi("pue_percent")


def test_the_sweep_table_columns_come_from_the_registry():
    """The sweep table's (key, heading, format) triples are the registry's, in its order, with
    the headings the table has always had."""
    assert multirun.KPIS == registry.sweep_table_columns()
    assert [h for _, h, _ in multirun.KPIS] == ["PUE", "GPU util %", "J/token facility", "TTFT p99 s", "SLO %",
                                                "jobs done"]
    assert [key for key, _, _ in registry.sweep_table_columns()] == list(registry.SWEEP_TABLE)


def test_the_cli_table_shows_registry_labels_and_values(summary):
    from dcsim.cli import format_summary

    lines = format_summary(summary).splitlines()
    for label, key in (("PUE", "pue"), ("energy per output token, facility", "energy_per_output_token_facility_j"),
                       ("IT energy", "it_energy_j"), ("GPU utilisation, busy", "gpu_utilisation")):
        line = next(line for line in lines if line.strip().startswith(label))
        assert line.rstrip().endswith(kpi(key).value_text(summary[key])), line
