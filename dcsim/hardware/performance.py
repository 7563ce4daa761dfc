"""Analytical roofline performance model of one model replica on one GPU type.

An *iteration* of a serving engine processes some new tokens: chunks of prompts
(prefill) and one token for each decoding sequence. Its time is the larger of the
compute time and the memory time, plus tensor-parallel communication and fixed
overheads:

    compute_s = (2 * active_params * T + attn_flops_per_ctx * A) / (tp * peak_flops * compute_efficiency)
    memory_s  = (weight_bytes_read(T) / tp + kv_bytes_on_tp * K / tp) / (hbm_bw * memory_efficiency)
    comm_s    = 2 * layers * (2 * (tp - 1) * allreduce_hop_latency_s
                              + 2 * (tp - 1) / tp * T * hidden * 2 B / (nvlink_bw / 2 * allreduce_bw_efficiency))
    time_s    = max(compute_s, memory_s) + comm_s
                + layers * layer_overhead_s + per_seq_overhead_s * S
                + prefill_overhead_s * [T > S]

with T new tokens, A (new token, context token) attention pairs, K context tokens whose
KV cache is read, S decoding sequences; [T > S] is 1 when the iteration holds prompt
tokens. weight_bytes_read(T) is all the weights for a dense model; a mixture of experts
reads its dense part and the experts its T tokens are routed to
(``LlmSpec.weight_bytes_read``). kv_bytes_on_tp is the KV cache of one context token over
the tp GPUs, copies included (``LlmSpec.kv_bytes_per_token_on``): an MLA latent, or a KV
head when there are fewer KV heads than GPUs, is held by several GPUs. Every function is
pure and accepts numpy arrays, so a run of decode iterations is costed in one vectorised
call.

The parameters are fitted per GPU type to the Splitwise measurements (Patel et al.,
"Splitwise: Efficient Generative LLM Inference Using Phase Splitting", ISCA 2024;
data from github.com/Mutinifni/splitwise-sim @ 8f99e7dc, ``data/perf_model.csv``) by
``python -m dcsim.hardware.calibrate``; :data:`CALIBRATED_PERF` holds the results and
docs/calibration.md their errors.

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
    """Calibrated efficiencies and overheads of the inference roofline.

    The defaults are the H100-SXM fit (:data:`CALIBRATED_PERF`); the first five
    fields keep their positions so that ``InferencePerfParams(c, m, 0, 0, 0)`` is a
    roofline without fixed overheads.
    """

    compute_efficiency: float = 0.56  # share of peak dense BF16 FLOP/s reached by prefill GEMMs
    memory_efficiency: float = 0.86  # share of HBM bandwidth reached when streaming weights and KV
    layer_overhead_s: float = 1.42e-4  # fixed cost per layer per iteration (kernel launches, small ops)
    per_seq_overhead_s: float = 2.94e-4  # per decoding sequence per iteration (sampling, per-sequence kernels)
    allreduce_hop_latency_s: float = 5.39e-6  # latency of one step of a ring all-reduce
    allreduce_bw_efficiency: float = 0.475  # share of one-way NVLink bandwidth a ring all-reduce reaches
    prefill_overhead_s: float = 0.0  # extra fixed cost of an iteration that holds prompt tokens

    def __post_init__(self) -> None:
        for name in ("compute_efficiency", "memory_efficiency", "allreduce_bw_efficiency"):
            if not 0 < getattr(self, name) <= 1:
                raise ValueError(f"{name} must be in (0, 1], got {getattr(self, name)!r}")
        for name in ("layer_overhead_s", "per_seq_overhead_s", "allreduce_hop_latency_s", "prefill_overhead_s"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)!r}")


# Fitted by ``python -m dcsim.hardware.calibrate`` on Llama-2-70B (TP 2/4/8) and
# BLOOM-176B (TP 8) prompt and token times of Splitwise (ISCA 2024); errors per GPU,
# model and phase in docs/calibration.md.
CALIBRATED_PERF: dict[str, InferencePerfParams] = {
    "A100-80GB": InferencePerfParams(
        compute_efficiency=0.72, memory_efficiency=1.0, layer_overhead_s=3.0e-4, per_seq_overhead_s=3.71e-4,
        allreduce_hop_latency_s=3.2e-6, allreduce_bw_efficiency=0.433, prefill_overhead_s=0.0101),
    "H100-SXM": InferencePerfParams(),
}
# GPUs without a measurement (H200, B200, ...) use the fit of the closest measured part.
FALLBACK_PERF_GPU = "H100-SXM"


def calibrated_perf(gpu_name: str) -> InferencePerfParams:
    """The calibrated parameters of a GPU type; the H100-SXM fit for GPUs never measured."""
    return CALIBRATED_PERF.get(gpu_name, CALIBRATED_PERF[FALLBACK_PERF_GPU])


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
    mem_bytes = (model.weight_bytes_read(new_tokens) + model.kv_bytes_per_token_on(tp) * kv_read_tokens) / tp
    memory_s = mem_bytes / (gpu.hbm_bw_bytes_per_s * params.memory_efficiency)
    has_prompt = np.greater(new_tokens, decode_seqs)
    time_s = (
        np.maximum(compute_s, memory_s)
        + tp_comm_s(model, gpu, tp, params, new_tokens)
        + model.layers * params.layer_overhead_s
        + params.per_seq_overhead_s * decode_seqs
        + params.prefill_overhead_s * has_prompt
    )
    return IterationCost(time_s, compute_s, memory_s)


def tp_comm_s(model: LlmSpec, gpu: GpuSpec, tp: int, params: InferencePerfParams, new_tokens):
    """Tensor-parallel all-reduce time of one iteration: two ring all-reduces per layer."""
    if tp == 1:
        return 0.0 * new_tokens
    size_b = new_tokens * model.hidden * ACT_BYTES
    one_way_bw = gpu.nvlink_bw_bytes_per_s / 2.0 * params.allreduce_bw_efficiency
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
    return int(np.floor(free_b / model.kv_bytes_per_token_on(tp)))


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
