"""Analytical roofline performance model of one model replica on one GPU type.

An *iteration* of a serving engine processes some new tokens: chunks of prompts
(prefill) and one token for each decoding sequence. Its time is the larger of the
compute time and the memory time, plus tensor-parallel communication and fixed
overheads:

    compute_s = (2 * active_params * T + attn_flops_per_ctx * A) / (tp * peak_flops * compute_efficiency)
    memory_s  = (weight_bytes / tp + kv_bytes_per_token * K / tp) / (hbm_bw * memory_efficiency)
    comm_s    = 2 * layers * (2 * (tp - 1) * allreduce_hop_latency_s
                               + 2 * (tp - 1) / tp * T * hidden * 2 B / (nvlink_bw / 2))
    time_s    = max(compute_s, memory_s) + comm_s + iteration_overhead_s + per_seq_overhead_s * S

with T new tokens, A (new token, context token) attention pairs, K context tokens whose
KV cache is read, S decoding sequences. Every function is pure and accepts numpy arrays,
so a run of decode iterations is costed in one vectorised call.

A training step costs 6 * active_params * tokens FLOPs at a compute efficiency, plus
the exposed share of the data-parallel gradient all-reduce over the scale-out network.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from dcsim.hardware.gpus import GpuSpec
from dcsim.hardware.models import LlmSpec

ACT_BYTES = 2.0  # BF16 activations exchanged by tensor-parallel all-reduce


@dataclass(frozen=True, slots=True)
class InferencePerfParams:
    """Calibrated efficiencies of the inference roofline.

    Defaults are a least-squares fit to the Splitwise measurements of Llama-2-70B on
    H100-80GB at TP 2/4/8 (Patel et al., ISCA 2024; shared/data/calibration/splitwise,
    fitted by ``python -m dcsim.hardware.calibrate``).
    """

    # Fit on 2026-11-22: median |error| 8.2 % (prompt, batch 1), 1.4 % (token);
    # worst 49 % and 24 %. See docs/calibration.md.
    compute_efficiency: float = 0.46
    memory_efficiency: float = 0.83
    iteration_overhead_s: float = 0.0102
    per_seq_overhead_s: float = 1.97e-4
    allreduce_hop_latency_s: float = 6.9e-6

    def __post_init__(self) -> None:
        if not (0 < self.compute_efficiency <= 1 and 0 < self.memory_efficiency <= 1):
            raise ValueError("efficiencies must be in (0, 1]")
        if min(self.iteration_overhead_s, self.per_seq_overhead_s, self.allreduce_hop_latency_s) < 0:
            raise ValueError("overheads and latencies must be >= 0")


class IterationCost(NamedTuple):
    """Time of an iteration and its parts, in seconds (arrays when the inputs are)."""

    time_s: np.ndarray | float
    compute_s: np.ndarray | float
    memory_s: np.ndarray | float


def iteration_cost(
    model: LlmSpec,
    gpu: GpuSpec,
    tp: int,
    params: InferencePerfParams,
    new_tokens,
    attn_pairs,
    kv_read_tokens,
    decode_seqs,
) -> IterationCost:
    """Cost of one engine iteration (see the module docstring for the formula)."""
    flops = 2.0 * model.active_params * new_tokens + model.attn_flops_per_token_per_ctx * attn_pairs
    compute_s = flops / (tp * gpu.peak_bf16_flops * params.compute_efficiency)
    mem_bytes = (model.weight_bytes + model.kv_bytes_per_token * kv_read_tokens) / tp
    memory_s = mem_bytes / (gpu.hbm_bw_bytes_per_s * params.memory_efficiency)
    time_s = (
        np.maximum(compute_s, memory_s)
        + tp_comm_s(model, gpu, tp, params, new_tokens)
        + params.iteration_overhead_s
        + params.per_seq_overhead_s * decode_seqs
    )
    return IterationCost(time_s, compute_s, memory_s)


def tp_comm_s(model: LlmSpec, gpu: GpuSpec, tp: int, params: InferencePerfParams, new_tokens):
    """Tensor-parallel all-reduce time of one iteration: two ring all-reduces per layer."""
    if tp == 1:
        return 0.0 * new_tokens
    size_b = new_tokens * model.hidden * ACT_BYTES
    one_way_bw = gpu.nvlink_bw_bytes_per_s / 2.0
    per_allreduce = 2 * (tp - 1) * params.allreduce_hop_latency_s + 2.0 * (tp - 1) / tp * size_b / one_way_bw
    return 2 * model.layers * per_allreduce


def prefill_attn_pairs(chunk_tokens, context_before: float | np.ndarray = 0.0):
    """Attention pairs of a prefill chunk: token i of the chunk attends to context_before + i + 1 tokens."""
    return chunk_tokens * context_before + chunk_tokens * (chunk_tokens + 1) / 2.0


def prefill_time_s(model: LlmSpec, gpu: GpuSpec, tp: int, params: InferencePerfParams, prompt_tokens: int, batch: int = 1) -> float:
    """Time to prefill ``batch`` prompts of ``prompt_tokens`` each in one iteration."""
    return float(
        iteration_cost(
            model, gpu, tp, params,
            new_tokens=batch * prompt_tokens,
            attn_pairs=batch * prefill_attn_pairs(prompt_tokens),
            kv_read_tokens=batch * prompt_tokens,
            decode_seqs=0,
        ).time_s
    )


def decode_iteration_time_s(
    model: LlmSpec, gpu: GpuSpec, tp: int, params: InferencePerfParams, batch, context_tokens_total
):
    """Time of one decode iteration of ``batch`` sequences holding ``context_tokens_total`` tokens in all."""
    return iteration_cost(
        model, gpu, tp, params,
        new_tokens=batch,
        attn_pairs=context_tokens_total,
        kv_read_tokens=context_tokens_total,
        decode_seqs=batch,
    ).time_s


def max_kv_tokens(model: LlmSpec, gpu: GpuSpec, tp: int, gpu_memory_utilization: float) -> int:
    """KV-cache capacity in tokens of a TP group: the memory left after the weights.

    Negative when the weights alone do not fit.
    """
    free_b = tp * gpu.hbm_bytes * gpu_memory_utilization - model.weight_bytes
    return int(np.floor(free_b / model.kv_bytes_per_token))


@dataclass(frozen=True, slots=True)
class TrainingStep:
    """Cost of one training step."""

    time_s: float
    compute_s: float
    exposed_comm_s: float
    mfu: float  # model FLOPs / (time_s * gpus * peak FLOP/s)


def training_step(
    model: LlmSpec,
    gpu: GpuSpec,
    gpus: int,
    tokens_per_step: float,
    compute_efficiency: float,
    dp: int,
    network_bw_bytes_per_s_per_gpu: float,
    comm_overlap: float,
) -> TrainingStep:
    """Step time of a data-parallel (optionally model-sharded) training job.

    Compute: 6 * active_params * tokens FLOPs over all GPUs at ``compute_efficiency``
    of peak. Communication: a ring all-reduce of the BF16 gradients of one model
    replica's shard (params * 2 B / (gpus / dp) per GPU) across ``dp`` replicas, of
    which the share ``comm_overlap`` runs concurrently with compute and is hidden as
    far as the compute time reaches.
    """
    flops = 6.0 * model.active_params * tokens_per_step
    compute_s = flops / (gpus * gpu.peak_bf16_flops * compute_efficiency)
    grad_bytes_per_gpu = model.params * 2.0 / (gpus / dp)
    allreduce_s = 2.0 * (dp - 1) / dp * grad_bytes_per_gpu / network_bw_bytes_per_s_per_gpu if dp > 1 else 0.0
    # The overlappable share hides behind compute only as far as compute lasts.
    hidden_s = min(comm_overlap * allreduce_s, compute_s)
    exposed_s = allreduce_s - hidden_s
    time_s = compute_s + exposed_s
    return TrainingStep(time_s, compute_s, exposed_s, flops / (time_s * gpus * gpu.peak_bf16_flops))
