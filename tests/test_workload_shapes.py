"""Workload shapes drawn from measured output lengths: chat, reasoning and code completion
(ML.ENERGY Benchmark v3 histograms, shipped in dcsim/data/workloads)."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from conftest import SHARED_DATA, needs_shared

import dcsim
from dcsim.workloads.inference.requests import MLENERGY_OUTPUT_LENGTHS, LengthDistribution, length_histogram

MLENERGY = SHARED_DATA / "calibration" / "mlenergy-v3"
THINKING = "Qwen/Qwen3-30B-A3B-Thinking-2507:gpqa"


def _histogram(key: str, max_tokens: int = 1 << 20, min_tokens: int = 1) -> LengthDistribution:
    return LengthDistribution("histogram", 0.0, 0.0, 0.0, min_tokens, max_tokens, *length_histogram(MLENERGY_OUTPUT_LENGTHS, key))


def test_histogram_draws_have_the_histograms_shares_and_mean():
    lo, hi, p = length_histogram(MLENERGY_OUTPUT_LENGTHS, THINKING)
    assert len(lo) == 50 and abs(sum(p) - 1) < 1e-12
    x = _histogram(THINKING).sample_many(np.random.default_rng(1), 400_000)
    lo_a, hi_a, p_a = np.array(lo), np.array(hi), np.array(p)
    # uniform inside a bin, rounded up: E = sum p (lo + hi) / 2 + ~1/2
    analytic = float(np.sum(p_a * (lo_a + hi_a) / 2)) + 0.5
    assert x.mean() == pytest.approx(analytic, rel=5e-3)
    assert x.min() >= np.ceil(lo_a[0]) and x.max() <= hi_a[-1]
    counts = np.histogram(x, bins=np.append(lo_a, hi_a[-1]))[0] / len(x)
    assert np.max(np.abs(counts - p_a)) < 3e-3  # each bin's share, to sampling noise


def test_a_thinking_budget_cuts_answers_at_max_tokens():
    full = _histogram(THINKING).sample_many(np.random.default_rng(2), 50_000)
    cut = _histogram(THINKING, max_tokens=4096).sample_many(np.random.default_rng(2), 50_000)
    assert cut.max() == 4096
    np.testing.assert_array_equal(cut, np.minimum(full, 4096))  # same draws, clipped


@needs_shared(MLENERGY / "configurations.csv", MLENERGY / "output_lengths.csv")
def test_shipped_histograms_are_the_benchmarks_and_match_its_measured_mean_lengths():
    """The shipped copy equals the calibration set's file, and each reasoning / chat / code
    histogram's mean is within 3 % of the mean output length measured on that model and task
    (configurations.csv, averaged over its rows)."""
    measured: dict[str, list[float]] = {}
    with open(MLENERGY / "configurations.csv", newline="") as f:
        for r in csv.DictReader(f):
            measured.setdefault(f"{r['model_id']}:{r['task']}", []).append(float(r["avg_output_len"]))
    for key in (THINKING, "Qwen/Qwen3-30B-A3B-Instruct-2507:lm-arena-chat",
                "Qwen/Qwen3-Coder-30B-A3B-Instruct:sourcegraph-fim", "Qwen/Qwen3-8B:gpqa"):
        assert length_histogram(MLENERGY_OUTPUT_LENGTHS, key) == length_histogram(str(MLENERGY / "output_lengths.csv"), key)
        mean = float(_histogram(key).sample_many(np.random.default_rng(3), 200_000).mean())
        assert mean == pytest.approx(float(np.mean(measured[key])), rel=0.03), key


def test_reasoning_answers_are_ten_times_chat_answers_on_one_fleet():
    """The shipped presets on one rack: reasoning answers ~9x as long as chat's on the same
    backbone (ML.ENERGY: 8,169 vs 922 tokens), so at the same GPU energy per token each
    costs ~9x the energy; the requests table says both."""
    out = {}
    for w in ("chat", "reasoning"):
        r = dcsim.run([f"workload={w}", "facility.num_racks=1", "duration_s=600", "output.write=false",
                       f"workload.services.{w}.arrival_rate_per_s=2.0", f"workload.services.{w}.replicas=4"])
        q = r.frames()["requests"]
        assert (q.output_tokens <= (4096 if w == "chat" else 32768)).all()
        out[w] = float(q.output_tokens.mean()), float(q.energy_j.sum() / q.generated_tokens.sum())
    assert 7.0 < out["reasoning"][0] / out["chat"][0] < 11.0
    assert 0.1 < out["reasoning"][1] < 2.0 and 0.1 < out["chat"][1] < 3.0  # J per token, GPU


def test_energy_and_cost_per_response_follow_the_requests_table():
    """energy_per_response_gpu_j is the mean GPU energy of completed responses; facility energy
    and cost per response share overheads in proportion, so per response x responses never
    exceeds the run's totals and the facility / GPU ratio is the run's."""
    r = dcsim.run(["workload=chat", "facility.num_racks=1", "duration_s=300", "output.write=false",
                   "workload.services.chat.replicas=4", "workload.services.chat.arrival_rate_per_s=4.0"])
    s, q = r.summary(), r.frames()["requests"]
    done = q[q.status == "completed"]
    assert s["energy_per_response_gpu_j"] == pytest.approx(done.energy_j.mean(), rel=1e-12)
    assert len(done) * s["energy_per_response_facility_j"] <= s["facility_energy_j"] * (1 + 1e-9)
    assert s["energy_per_response_facility_j"] / s["energy_per_response_gpu_j"] == pytest.approx(
        s["inference_gpu_energy_j"] / q.energy_j.sum() * s["facility_energy_j"] / s["gpu_energy_j"], rel=1e-12)
    assert 0 < s["cost_per_response_usd"] * len(done) <= s["cost_total_usd"]


@pytest.mark.parametrize("workload", ["chat", "agentic_coding", "azure_conv"])
def test_the_workload_rate_multiplier_scales_every_services_load(workload):
    """workload.rate_multiplier=2 doubles a service's arrival rate (session start rate, trace
    speed) whatever the service is called, and a run draws about twice the arrivals."""
    from dcsim.api import compose_config
    from dcsim.config.build import build

    def spec(m: float):
        return build(compose_config([f"workload={workload}", f"workload.rate_multiplier={m}"])).services[0][0]

    one, two = spec(1.0).arrivals, spec(2.0).arrivals
    if workload == "agentic_coding":
        one, two = one.starts, two.starts
    # a trace replayed twice as fast: its first 1,200 s in 600 s
    span = 1200.0 if workload == "azure_conv" else 600.0
    assert two.mean_rate_per_s(0.0, 600.0) == pytest.approx(2.0 * one.mean_rate_per_s(0.0, span), rel=1e-12)
    if workload == "chat":
        n = [len(dcsim.run(["workload=chat", "facility.num_racks=1", "duration_s=120", "output.write=false",
                            f"workload.rate_multiplier={m}"]).frames()["requests"]) for m in (1.0, 2.0)]
        assert n[1] / n[0] == pytest.approx(2.0, abs=0.1)  # 4,800 and 9,600 expected, +-2 %
