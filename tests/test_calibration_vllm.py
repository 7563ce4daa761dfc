"""The vllm-0.11 profile against the ML.ENERGY v3 measurements it was fitted on (docs/calibration.md)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import SHARED_DATA, needs_shared

from dcsim.hardware import calibrate_vllm as cv
from dcsim.hardware.device import DeviceModel
from dcsim.hardware.gpus import GPUS
from dcsim.hardware.models import MODELS
from dcsim.hardware.profiles import load_profile

DATA = SHARED_DATA / "calibration" / "mlenergy-v3"
needs_data = needs_shared(DATA / "configurations.csv")


@pytest.fixture(scope="module")
def rows():
    return cv.load_rows(DATA)


@needs_data
def test_every_text_row_of_a_described_model_is_used(rows):
    assert len(rows) == 424
    assert {r.gpu.name for r in rows} == {"H100-SXM", "B200"}
    assert {r.family for r in rows} == set(cv.FAMILY.values())


@needs_data
def test_each_row_knows_how_many_requests_the_benchmark_submitted(rows):
    """N = the task's requests x the sweep's repeats (ml-energy/benchmark @ c1d6557 configs):
    gpt-oss-120b on one B200 at max_num_seqs 3,072 ran 198 GPQA questions 18 times, a
    one-cohort window (N / B 1.16); every data row has an entry, 5 text rows have no sweep
    entry for their batch."""
    import csv

    keys = {(r["model_id"], r["task"], r["gpu_model"], int(r["num_gpus"]), int(r["max_num_seqs"]))
            for r in csv.DictReader(open(DATA / "configurations.csv", newline=""))}
    assert set(cv.benchmark_protocol()) == keys
    oss = next(r for r in rows if r.model_id == "openai/gpt-oss-120b" and r.gpu.name == "B200" and r.tp == 1
               and r.max_num_seqs == 3072)
    assert (oss.requests, cv.window_bin(oss)) == (198 * 18, "N/B under 1.5")
    assert sum(r.requests == 0 for r in rows) == 5
    assert all(r.requests >= r.max_num_seqs for r in rows if r.requests)
    # the servers' memory share: vLLM's 0.9, except the H100 multimodal configs' 0.85 ("frequent OOMs")
    assert {r.gpu_memory_utilization for r in rows} == {0.9}
    mm = cv.load_rows(DATA, tasks=cv.MM_TASKS)
    assert {(r.gpu.name, r.gpu_memory_utilization) for r in mm} == {("H100-SXM", 0.85), ("B200", 0.9)}


@needs_data
@pytest.mark.parametrize("gpu", ["H100-SXM", "B200"])
def test_shipped_profile_reproduces_its_recorded_errors(rows, gpu):
    """The shipped constants give, at the measured batch, the in-sample errors their file records."""
    from importlib import resources

    import yaml

    text = resources.files("dcsim.data").joinpath("calibration", "vllm-0.11", f"{gpu}.yaml").read_text()
    recorded = yaml.safe_load(text)["errors"]
    prof = load_profile(gpu, "vllm-0.11")
    sub = [r for r in rows if r.gpu.name == gpu]
    preds = cv.predict(sub, prof.perf, prof.power, batch="measured")
    for m in cv.METRICS:
        ape = np.median([abs(p[m] / r.measured[m] - 1) * 100 for r, p in zip(sub, preds)])
        assert ape == pytest.approx(recorded[m], abs=0.06), m


@needs_data
def test_qwen3_dense_left_out_on_h100_transfers(rows):
    """Fit H100 without the Qwen3 dense models, predict them at the engine's batch: every
    metric's median error under 15 % (docs/calibration.md: 4-12 %)."""
    h100 = [r for r in rows if r.gpu.name == "H100-SXM"]
    train = [r for r in h100 if r.family != "qwen3-dense"]
    test = [r for r in h100 if r.family == "qwen3-dense"]
    perf, power = cv.fit_gpu(train)
    for m in cv.METRICS:
        ape = np.median([abs(p[m] / r.measured[m] - 1) * 100 for r, p in zip(test, cv.predict(test, perf, power))])
        assert ape < 15.0, (m, ape)


@needs_data
def test_power_rises_with_batch_as_measured(rows):
    """Qwen3-8B chat on H100: measured power rises from batch 8 to 256, and so does dcsim's."""
    prof = load_profile("H100-SXM")
    sub = sorted((r for r in rows if r.gpu.name == "H100-SXM" and r.model.name == "Qwen3-8B"
                  and r.task == "lm-arena-chat" and r.max_num_seqs <= 256), key=lambda r: r.max_num_seqs)
    measured = [r.measured["gpu_power_w"] for r in sub]
    simulated = [p["gpu_power_w"] for p in cv.predict(sub, prof.perf, prof.power)]
    assert measured[-1] > measured[0] * 1.3
    assert simulated[-1] > simulated[0] * 1.2
    assert np.all(np.diff(simulated) > 0)


def test_output_moments_of_a_bin():
    """E[L] and E[L^2] of a histogram treat each bin as uniform."""
    import csv
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "h.csv"
        with open(p, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["model_id", "task", "bin_lo_tokens", "bin_hi_tokens", "requests"])
            w.writerow(["m", "t", 0, 10, 1])
        m1, m2 = cv.output_moments(p)[("m", "t")]
    assert m1 == pytest.approx(5.0)
    assert m2 == pytest.approx(100.0 / 3.0)  # E[U(0, 10)^2]


def test_h200_over_h100_memory_bound_decode_follows_bandwidth():
    """A small-batch decode of Llama-3.1-8B is memory-bound: H200 (the H100 die, 4.8 vs
    3.35 TB/s) is faster by more than 15 % and by less than the bandwidth ratio (the fixed
    per-layer and per-sequence costs do not scale)."""
    m = MODELS["Llama-3.1-8B"]
    times = {}
    for gpu in ("H100-SXM", "H200"):
        dev = DeviceModel.for_gpu(GPUS[gpu])
        times[gpu] = dev.iteration(m, 1, 16, 16 * 1000, 16 * 1000, 16)[0]
    ratio = times["H100-SXM"] / times["H200"]
    assert 1.15 < ratio < 4.8 / 3.35


def test_uncalibrated_gpu_is_named_in_the_summary():
    import dcsim

    s = dcsim.run(["workload=inference_only", "hardware=mi300x", "workload.services.chat.replicas=1",
                   "duration_s=60", "output.write=false"]).summary()
    assert s["calibration_status"] == "uncalibrated"
    assert "MI300X" in s["calibration_note"] and "H100-SXM" in s["calibration_note"]
    h = dcsim.run(["workload=inference_only", "workload.services.chat.replicas=1", "duration_s=60",
                   "output.write=false"]).summary()
    assert h["calibration_status"] == "measured" and h["calibration_note"] == ""


@pytest.mark.parametrize("model,tp,batch", [("Qwen3-8B", 1, 64), ("Llama-3.1-70B", 4, 128)])
def test_engine_in_closed_loop_matches_the_calibration_steady_state(model, tp, batch):
    """The request-level engine, saturated by a closed-loop client (as the benchmark ran),
    gives the median ITL, throughput and energy per token that the calibration's
    steady-state model computes for the same lengths: what was fitted is what runs."""
    import dcsim

    o = ["workload=inference_only", "workload.services.chat.replicas=1", f"workload.services.chat.tp={tp}",
         f"workload.services.chat.model={model}", "workload.services.chat.arrivals.process=closed",
         f"workload.services.chat.arrivals.concurrency={2 * batch}", f"workload.services.chat.max_num_seqs={batch}",
         "workload.services.chat.prompt_tokens.distribution=constant", "workload.services.chat.prompt_tokens.mean=100",
         "workload.services.chat.output_tokens.distribution=exponential", "workload.services.chat.output_tokens.mean=650",
         "workload.services.chat.output_tokens.max_tokens=8192", "duration_s=1200", "output.write=false",
         "facility.num_racks=1"]
    s = dcsim.run(o).summary()
    # exponential outputs: E[L^2] / (2 E[L]) = E[L]
    row = cv.Row("x", "lm-arena-chat", GPUS["H100-SXM"], MODELS[model], "f", "dense", "bf16", tp, batch, batch,
                 100.0, 650.0, 100.0 + 650.0, {})
    ss = cv.steady_state(row, DeviceModel.for_gpu(GPUS["H100-SXM"]), batch)
    assert s["itl_p50_s"] == pytest.approx(ss["median_itl_s"], rel=0.02)
    assert s["output_tokens_per_s"] == pytest.approx(ss["output_tokens_per_s"], rel=0.02)
    assert s["energy_per_output_token_gpu_j"] == pytest.approx(ss["energy_per_token_j"], rel=0.02)
