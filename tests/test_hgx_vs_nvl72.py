"""The HGX vs NVL72 study (experiments/hgx_vs_nvl72): its KPI of tokens per second per
facility megawatt, and its two facilities sized to the same IT power."""

from __future__ import annotations

import math

import pytest

import dcsim
from dcsim.metrics.registry import KPIS

PER_MW = KPIS["output_tokens_per_s_per_facility_mw"]


@pytest.fixture(scope="module")
def summary():
    return dcsim.run(["workload=inference_only", "duration_s=600", "output.write=false"]).summary()


def test_tokens_per_mw_is_the_token_rate_over_the_peak_facility_draw(summary):
    """A run's tokens/s per MW is its output token rate divided by its highest interval-mean
    facility power in MW, so two sites of the same grid power compare by it directly."""
    assert summary["output_tokens_per_s"] > 0 and summary["peak_facility_power_w"] > 0
    expected = summary["output_tokens_per_s"] / (summary["peak_facility_power_w"] / 1e6)
    assert summary["output_tokens_per_s_per_facility_mw"] == pytest.approx(expected, rel=1e-12)
    # the peak is at least the mean, so the KPI is at most the inverse of the facility's energy per token
    assert summary["output_tokens_per_s_per_facility_mw"] <= 1e6 * summary["output_tokens_per_s"] / (
        summary["facility_power_mean_w"]) * (1 + 1e-12)


@pytest.mark.parametrize("values", [{}, {"output_tokens_per_s": 10.0}, {"output_tokens_per_s": 10.0,
                                                                         "peak_facility_power_w": 0.0}])
def test_tokens_per_mw_is_nan_without_a_facility_draw(values):
    assert PER_MW.compute is not None
    assert math.isnan(PER_MW.compute(values))


def test_tokens_per_mw_of_two_megawatts():
    assert PER_MW.compute is not None
    assert PER_MW.compute({"output_tokens_per_s": 5000.0, "peak_facility_power_w": 2.0e6}) == 2500.0
    assert PER_MW.value_text(2500.0) == "2,500 1/(s MW)"
