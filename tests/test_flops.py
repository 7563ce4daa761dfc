"""Model FLOPs done, model FLOPs utilisation and the cost of a FLOP (docs/metrics.md)."""

from __future__ import annotations

import pytest

import dcsim
from dcsim.hardware.gpus import GPUS
from dcsim.hardware.models import MODELS

H100_PEAK = GPUS["H100-SXM"].peak_bf16_flops


def test_training_flops_are_6_n_tokens_of_the_steps_kept():
    """A job of Llama-3.1-8B at 4M tokens a step does 6 x active params x tokens per step it
    kept; its FLOPs over GPU peak and wall time are the run's model FLOPs utilisation."""
    r = dcsim.run(["workload=training_only", "~workload.training.finetune_70b", "~workload.training.sft_7b",
                   "duration_s=900", "output.write=false"])
    s, job = r.summary(), r.frames()["jobs"].iloc[0]
    assert 0 < job["steps_done"] < 150  # still running at the end: progress to the end counts
    expected = 6.0 * MODELS["Llama-3.1-8B"].active_params * 4_194_304 * job["steps_done"]
    assert s["training_model_flops"] == pytest.approx(expected, rel=1e-9)
    assert s["inference_model_flops"] == 0.0
    assert s["peak_flops_per_s"] == 128 * H100_PEAK
    assert s["model_flops_utilisation"] == pytest.approx(expected / (128 * H100_PEAK * 900), rel=1e-9)
    assert s["cost_per_model_eflop_usd"] == pytest.approx(s["cost_total_usd"] / (expected / 1e18), rel=1e-9)
    assert s["cost_per_peak_pflops_hour_usd"] == pytest.approx(
        s["cost_total_usd"] / (128 * H100_PEAK / 1e15 * 900 / 3600), rel=1e-12)


def test_inference_flops_are_2_n_per_prompt_and_generated_token_in_both_fidelities():
    """Serving does 2 x active params per token of each prompt that got its first token and
    per token generated (the requests' own counts); the fluid model of the same load,
    which serves mean-sized requests, agrees within 2 %."""
    ov = ["workload=inference_only", "duration_s=600", "output.write=false"]
    r = dcsim.run(ov)
    req = r.frames()["requests"]
    started = req[req["t_first_token_s"].notna()]
    tokens = started["prompt_tokens"].sum() + req["generated_tokens"].sum()
    n = MODELS["Llama-3.1-70B"].active_params
    assert r.summary()["inference_model_flops"] == pytest.approx(2.0 * n * tokens, rel=1e-12)
    fluid = dcsim.run(ov + ["workload.services.chat.fidelity=fluid"]).summary()
    assert fluid["inference_model_flops"] == pytest.approx(r.summary()["inference_model_flops"], rel=0.02)

