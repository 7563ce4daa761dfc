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


def facility_points() -> dict[str, object]:
    """The built scenario of each system (facility value) of the study's sweep, by GPU, at the
    sweep's first concurrency."""
    from hydra import initialize_config_module

    from dcsim import cli
    from dcsim.api import CONFIG_MODULE
    from dcsim.config.build import build

    first: dict[str, list[str]] = {}
    with initialize_config_module(config_module=CONFIG_MODULE, version_base="1.3"):
        for run in cli._runs_requested(["+experiment=hgx_vs_nvl72", "-m"]):  # each system's first point
            system = next(o for o in run if o.startswith("facility="))
            first.setdefault(system, run)
        scenarios = [build(cfg) for _, cfg in cli.composed_runs(list(first.values()))]
    return {s.topology.node.gpu.name: s for s in scenarios}


def test_the_systems_have_the_same_gpus_and_it_power_and_their_own_domains():
    """Every system of the sweep has 144 GPUs and an IT nameplate within 1 % of 258 kW (equal
    power, as the README sizes them); each serves DeepSeek-V3 on all its GPUs, and the HGX
    system's NVLink domain is its 8-GPU node."""
    points = facility_points()
    assert "B200" in points
    for gpu, s in points.items():
        topology = s.topology
        assert topology.gpus_total == 144, gpu
        assert topology.it_nameplate_w == pytest.approx(258.3e3, rel=0.01), gpu
        ((service, _router),) = s.services
        assert service.config.model == "DeepSeek-V3"
        assert service.config.replicas * service.config.tp * getattr(service.config, "ep", 1) == 144
    assert points["B200"].topology.domain_gpus == 8
    if "GB200" in points:
        assert points["GB200"].topology.domain_gpus == 72
