"""Physics of large-scale training: parallel layout, step time, memory, checkpoints, failures."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dcsim.hardware.gpus import GPUS
from dcsim.hardware.models import MODELS
from dcsim.hardware.training import (
    FAILURE_CAUSES,
    Parallelism,
    ParallelismError,
    bubble_fraction,
    checkpoint_bytes,
    checkpoint_write_s,
    daly_interval_s,
    expected_interruptions,
    expected_waste_fraction,
    first_stage_layers_in_flight,
    interruption_rate_per_s,
    mean_time_between_interruptions_s,
    step_time,
    training_memory_per_gpu_bytes,
    young_daly_interval_s,
)

H100 = GPUS["H100-SXM"]
L405 = MODELS["Llama-3.1-405B"]
SEQ = 8192
BATCH = 2048 * SEQ  # Llama 3 Table 4: 16M tokens per step
# Llama 3 405B on 16,384 H100: TP 8, CP 1, PP 16, DP 128, interleaved pipeline of 128 one-layer
# slots (126 layers + embedding + output: vpp 8, vocab_slots), Dubey et al. 2024, sec. 3.3.2.
LLAMA3 = Parallelism.for_gpus(16_384, tp=8, pp=16, dp=128, vpp=8, vocab_slots=True)


def test_parallelism_product_must_match_gpus():
    """A layout whose tp*pp*dp*cp differs from the GPU count is refused with both numbers named."""
    assert LLAMA3.gpus == 16_384 and Parallelism(8, 16, 8, cp=16).gpus == 16_384
    with pytest.raises(ParallelismError, match=r"tp=8 x pp=16 x dp=64 x cp=1 = 8192 GPUs, but the job has 16384"):
        Parallelism.for_gpus(16_384, tp=8, pp=16, dp=64)
    assert isinstance(ParallelismError("x"), ValueError)


def test_parallelism_rejects_bad_degrees_and_model_splits():
    """Degrees below 1, ep not dividing dp*cp, and splits the model cannot take are refused."""
    with pytest.raises(ValueError, match="tp"):
        Parallelism(0, 1, 1)
    with pytest.raises(ValueError, match="ep=3"):
        Parallelism(1, 1, 4, ep=3)
    with pytest.raises(ValueError, match="heads"):
        step_time(L405, H100, Parallelism(3, 16, 128), BATCH, SEQ)
    with pytest.raises(ValueError, match="dense"):
        step_time(L405, H100, Parallelism(8, 16, 128, ep=2), BATCH, SEQ)
    with pytest.raises(ValueError, match="micro-batches"):
        step_time(L405, H100, LLAMA3, BATCH, SEQ, micro_batch_seqs=3)


def test_llama3_405b_mfu_in_published_band():
    """With the documented defaults the Llama 3 405B 16k-GPU layout lands in the paper's 38-43 % BF16 MFU."""
    r = step_time(L405, H100, LLAMA3, BATCH, SEQ)
    assert 0.38 <= r.mfu <= 0.43
    assert r.micro_batches == 16
    parts = r.compute_s + r.tp_comm_s + r.pp_bubble_s + r.dp_exposed_s + r.cp_comm_s
    assert r.time_s == pytest.approx(parts, rel=1e-12)
    assert r.mfu == pytest.approx(r.model_flops / (r.time_s * LLAMA3.gpus * H100.peak_bf16_flops), rel=1e-12)


def test_more_micro_batches_shrink_the_bubble():
    """Smaller micro-batches (more of them per step) and more interleaved stages shrink the pipeline bubble."""
    plain = Parallelism(8, 16, 128)
    b1 = step_time(L405, H100, plain, BATCH, SEQ, micro_batch_seqs=2).pp_bubble_s
    b2 = step_time(L405, H100, plain, BATCH, SEQ, micro_batch_seqs=1).pp_bubble_s
    b3 = step_time(L405, H100, Parallelism(8, 16, 128, vpp=2), BATCH, SEQ, micro_batch_seqs=1).pp_bubble_s
    assert b1 > b2 > b3 > 0
    assert bubble_fraction(16, 16) == pytest.approx(15 / 31)
    assert bubble_fraction(16, 64) < bubble_fraction(16, 16)
    assert step_time(L405, H100, Parallelism(8, 1, 2048), BATCH, SEQ).pp_bubble_s == 0.0


def test_faster_network_shrinks_exposed_dp():
    """Exposed gradient reduction falls as scale-out bandwidth rises, and vanishes when fully overlapped."""
    par = Parallelism(8, 2, 1024)
    slow = step_time(L405, H100, par, BATCH, SEQ, scaleout_bytes_per_s_per_gpu=5e9, dp_overlap=0.5)
    fast = step_time(L405, H100, par, BATCH, SEQ, scaleout_bytes_per_s_per_gpu=50e9, dp_overlap=0.5)
    assert slow.dp_exposed_s > fast.dp_exposed_s > 0
    assert slow.time_s > fast.time_s and slow.mfu < fast.mfu
    hidden = step_time(L405, H100, par, BATCH, SEQ, scaleout_bytes_per_s_per_gpu=50e9, dp_overlap=1.0)
    assert hidden.dp_exposed_s == 0.0


def test_memory_fit_405b():
    """405B fits an 80 GB H100 at TP8 PP16 DP128 (full recomputation), and not at TP1 PP1 whatever the recomputation."""
    par = Parallelism(8, 16, 128)
    mem = training_memory_per_gpu_bytes(L405, par, micro_batch_seqs=1, seq_len=SEQ, zero_stage=1, recompute="full")
    assert mem.fits(H100)
    assert mem.weights == pytest.approx(L405.params / 128 * 2)  # BF16 shard over tp*pp = 128
    assert mem.optimizer == pytest.approx(L405.params / 128 * 12 / 128)  # ZeRO-1 over dp
    flat = training_memory_per_gpu_bytes(L405, Parallelism(1, 1, 16_384), 1, SEQ, zero_stage=1, recompute="full")
    assert not flat.fits(H100)
    z3 = training_memory_per_gpu_bytes(L405, par, 1, SEQ, zero_stage=3, recompute="full")
    assert z3.total < mem.total


def test_checkpoint_size_of_405b():
    """A 405B checkpoint is 14 B/param, about 5.7 TB, and its write time is size over bandwidth."""
    b = checkpoint_bytes(L405)
    assert b == pytest.approx(14 * L405.params)
    assert b == pytest.approx(5.7e12, rel=0.01)
    assert checkpoint_write_s(b, 2e12) == pytest.approx(b / 2e12)


def test_young_daly_worked_example_and_waste_minimum():
    """C = 60 s, M = 3 h gives sqrt(2 C M) = 1138.4 s, where the first-order waste is least (numerically)."""
    c, m, r = 60.0, 3 * 3600.0, 600.0
    tau = young_daly_interval_s(c, m)
    assert tau == pytest.approx(math.sqrt(2 * 60 * 10800), rel=1e-12)
    assert tau == pytest.approx(1138.42, abs=0.01)
    grid = np.linspace(100.0, 5000.0, 49_001)
    waste = [expected_waste_fraction(t, c, r, m) for t in grid]
    assert grid[int(np.argmin(waste))] == pytest.approx(tau, abs=0.2)
    assert expected_waste_fraction(tau, c, r, m) == pytest.approx(math.sqrt(2 * c / m) + r / m, rel=1e-12)
    # Daly's higher-order form is close to the first-order one when C << M.
    assert daly_interval_s(c, m) == pytest.approx(tau, rel=0.05)


def test_failure_table_reproduces_llama3_snapshot():
    """The cause table sums to 419 unexpected interruptions in 54 days on 16,384 GPUs: one every ~3.1 h."""
    assert sum(c.count for c in FAILURE_CAUSES.values()) == 419
    assert FAILURE_CAUSES["faulty_gpu"].count == 148 and FAILURE_CAUSES["gpu_hbm3"].count == 72
    assert expected_interruptions(16_384, 54 * 86400.0) == pytest.approx(419, rel=1e-9)
    assert mean_time_between_interruptions_s(16_384) / 3600 == pytest.approx(3.09, abs=0.01)
    # Rates scale linearly with GPUs; a subset of causes gives a smaller rate.
    assert interruption_rate_per_s(8192) == pytest.approx(interruption_rate_per_s(16_384) / 2)
    gpu_only = [c for c in FAILURE_CAUSES.values() if c.category == "GPU"]
    assert sum(c.count for c in gpu_only) == 268  # 148 + 72 + 19 + 17 + 6 + 6
    assert interruption_rate_per_s(16_384, gpu_only) < interruption_rate_per_s(16_384)


# Dubey et al. 2024, Table 4: (GPUs, layout, sequence length, BF16 MFU). 16M tokens per step.
META_LAYOUTS = [
    (8_192, dict(tp=8, pp=16, dp=64), 8_192, 0.43),
    (16_384, dict(tp=8, pp=16, dp=128), 8_192, 0.41),
    (16_384, dict(tp=8, pp=16, dp=8, cp=16), 131_072, 0.38),
]


@pytest.mark.parametrize("gpus,degrees,seq,meta_mfu", META_LAYOUTS, ids=["8k_gpus", "16k_gpus", "128k_context"])
def test_meta_layouts_fit_80gb_and_match_meta_mfu(gpus, degrees, seq, meta_mfu):
    """Meta's three Llama 3 405B layouts fit an 80 GB H100 with selective recomputation and ZeRO-2
    (FSDP sharding gradients and optimizer state), and their MFU lands within 10 % of Meta's.
    The compute efficiency is fitted on the 16,384-GPU 8K row only."""
    par = Parallelism.for_gpus(gpus, vpp=8, vocab_slots=True, **degrees)
    m = BATCH // seq // par.dp
    mem = training_memory_per_gpu_bytes(L405, par, 1, seq, zero_stage=2, recompute="selective", micro_batches=m)
    assert mem.total < 80e9 and mem.fits(H100)
    assert mem.layers_in_flight == pytest.approx(112.0)  # 16 micro-batches x 7 layers on the first rank
    r = step_time(L405, H100, par, BATCH, seq, recompute="selective")
    assert r.mfu == pytest.approx(meta_mfu, rel=0.10)
    # Full recomputation costs a forward pass that is not model work: lower MFU.
    assert step_time(L405, H100, par, BATCH, seq, recompute="full").mfu < r.mfu


def test_layouts_that_do_not_fit():
    """No recomputation at 8K (the attention scores, 5 a s^2 b / t per layer), no sharding over DP
    (ZeRO 0) or Megatron's plain layer split (one more chunk in flight) overflow 80 GB."""
    m = 16
    none = training_memory_per_gpu_bytes(L405, LLAMA3, 1, SEQ, zero_stage=2, recompute="none", micro_batches=m)
    assert not none.fits(H100) and none.activations > 500e9
    z0 = training_memory_per_gpu_bytes(L405, LLAMA3, 1, SEQ, zero_stage=0, recompute="selective", micro_batches=m)
    assert not z0.fits(H100) and z0.optimizer == pytest.approx(L405.params / 128 * 12)
    plain = Parallelism(8, 16, 64, vpp=4)  # 8,192 GPUs, 32 micro-batches, layers split evenly
    pm = training_memory_per_gpu_bytes(L405, plain, 1, SEQ, zero_stage=2, recompute="selective", micro_batches=32)
    assert pm.layers_in_flight == pytest.approx(126 * (1 + 15 / 64)) and not pm.fits(H100)


def test_memory_formula_hand_checked():
    """A small case worked by hand: 8 layers, h 1024, 8 heads, 1e8 parameters, TP 2 PP 2 DP 2, vpp 2,
    4 micro-batches of one 512-token sequence, ZeRO-2, selective recomputation."""
    from dcsim.hardware.models import LlmSpec

    tiny = LlmSpec("tiny", 1e8, 1e8, layers=8, hidden=1024, heads=8, kv_heads=8, head_dim=128)
    par = Parallelism(2, 2, 2, vpp=2)
    # Warm-up on rank 0: 2 (pp - 1) + (vpp - 1) pp = 4 chunk forwards, + 1 in the steady state = 5
    # chunks (below m vpp = 8) of 8 / (2 x 2) = 2 layers: 10 layers; Korthikanti's
    # L (1 + (p - 1) / (p v)) = 8 x 1.25 = 10.
    assert first_stage_layers_in_flight(tiny, par, micro_batches=4) == 10.0
    assert first_stage_layers_in_flight(tiny, par, micro_batches=1) == 4.0  # capped: 1 micro-batch x 2 chunks
    mem = training_memory_per_gpu_bytes(tiny, par, 1, 512, zero_stage=2, recompute="selective", micro_batches=4)
    per_layer = 34 * 512 * 1 * 1024 / 2  # 34 s b h / t = 8,912,896 B
    assert mem.activations == pytest.approx(10 * per_layer)
    shard = 1e8 / (2 * 2)  # tp x pp
    assert mem.weights == pytest.approx(shard * 2)
    assert mem.grads == pytest.approx(shard * 2 / 2)  # ZeRO-2: over dp x cp = 2
    assert mem.optimizer == pytest.approx(shard * 12 / 2)
    none = training_memory_per_gpu_bytes(tiny, par, 1, 512, zero_stage=2, recompute="none", micro_batches=4)
    assert none.activations == pytest.approx(10 * (34 * 512 * 1024 + 5 * 8 * 512 ** 2) / 2)
    full = training_memory_per_gpu_bytes(tiny, par, 1, 512, zero_stage=2, recompute="full", micro_batches=4)
    assert full.activations == pytest.approx(10 * 2 * 512 * 1024 / 2 + per_layer)
    # vocab_slots: 8 + 2 slots over 4 chunks = 2.5 each, the first chunk of rank 0 loses one.
    slots = Parallelism(2, 2, 2, vpp=2, vocab_slots=True)
    assert first_stage_layers_in_flight(tiny, slots, micro_batches=4) == pytest.approx(1.5 + 1.5 + 2.5 + 2.5 + 1.5)
    # One micro-batch: it runs through both chunks of rank 0 before its backward.
    assert first_stage_layers_in_flight(tiny, slots, micro_batches=1) == pytest.approx(1.5 + 2.5)
