"""Device specs and the roofline performance model."""

from __future__ import annotations

import pytest

from dcsim.hardware.gpus import GPUS
from dcsim.hardware.models import MODELS
from dcsim.hardware.performance import InferencePerfParams, decode_iteration_time_s, max_kv_tokens
from dcsim.hardware.power import GpuPowerModel


def test_kv_cache_bytes_per_token_follow_the_architecture():
    """Llama-2-70B (GQA, 8 KV heads): 2 x 80 x 8 x 128 x 2 B = 327,680 B per token."""
    assert MODELS["Llama-2-70B"].kv_bytes_per_token == 327_680
    assert MODELS["Llama-2-7B"].kv_bytes_per_token == 2 * 32 * 32 * 128 * 2
    assert MODELS["Llama-3.1-8B"].kv_bytes_per_token == 131_072


def test_catalogue_has_the_required_gpus_with_sources():
    """A100, H100, H200 and B200 with datasheet peak, memory, bandwidth, TDP and a source."""
    for name in ("A100-80GB", "H100-SXM", "H200", "B200"):
        g = GPUS[name]
        assert g.source and 0 < g.idle_w < g.tdp_w
    assert GPUS["H100-SXM"].peak_bf16_flops == pytest.approx(989.4e12)
    assert GPUS["H200"].hbm_bytes > GPUS["H100-SXM"].hbm_bytes


def test_decode_is_memory_bound_at_batch_one():
    """With overheads zeroed, a batch-1 decode step reads the weights once: bytes / (bw x eff)."""
    m, g = MODELS["Llama-2-70B"], GPUS["H100-SXM"]
    p = InferencePerfParams(0.5, 0.8, 0.0, 0.0, 0.0)
    t = decode_iteration_time_s(m, g, 1, p, 1, 0)
    assert t == pytest.approx(m.weight_bytes / (g.hbm_bw_bytes_per_s * 0.8))


def test_faster_memory_decodes_faster():
    """H200's HBM3e gives a shorter decode step than H100 for the same model and batch."""
    m, p = MODELS["Llama-3.1-70B"], InferencePerfParams()
    assert decode_iteration_time_s(m, GPUS["H200"], 4, p, 32, 32_000) < decode_iteration_time_s(
        m, GPUS["H100-SXM"], 4, p, 32, 32_000)


def test_70b_does_not_fit_one_h100():
    """140 GB of BF16 weights leave no KV cache on one 80 GB GPU; four GPUs leave plenty."""
    m, g = MODELS["Llama-3.1-70B"], GPUS["H100-SXM"]
    assert max_kv_tokens(m, g, 1, 0.9) < 0
    assert max_kv_tokens(m, g, 4, 0.9) > 400_000


def test_power_is_between_idle_and_tdp():
    """Compute-bound phases run near TDP, memory-bound ones lower, never outside [idle, TDP]."""
    pm = GpuPowerModel(GPUS["H100-SXM"])
    assert pm.iteration_w(1.0, 1.0, 0.2) == pytest.approx(700.0)
    low = pm.iteration_w(1.0, 0.05, 0.7)
    assert pm.idle_w() < low < 700.0
    assert pm.idle_w() < pm.training_w() < 700.0
