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
from dcsim.hardware.network import ring_allreduce_s

ACT_BYTES = 2.0  # BF16 activations exchanged by tensor-parallel all-reduce


@dataclass(frozen=True, slots=True)
class InferencePerfParams:
    """Efficiencies and overheads of the inference roofline of one engine on one GPU.

    Shipped values are data: ``dcsim/data/calibration/<engine>/<gpu>.yaml``, written by
    the fitting commands and read by :mod:`dcsim.hardware.profiles`. The defaults here
    are the Splitwise (2023 engine) H100-SXM fit, kept so that
    ``InferencePerfParams(c, m, 0, 0, 0)`` is a roofline without fixed overheads and
    tests have a fixed reference; runs take their parameters from the profile files.
    """

    compute_efficiency: float = 0.56  # share of peak dense FLOP/s reached by prefill GEMMs
    memory_efficiency: float = 0.86  # share of HBM bandwidth reached when streaming weights
    layer_overhead_s: float = 1.42e-4  # fixed cost per layer per iteration (kernel launches, small ops)
    per_seq_overhead_s: float = 2.94e-4  # per decoding sequence per iteration (sampling, per-sequence kernels)
    allreduce_hop_latency_s: float = 5.39e-6  # latency of one step of a ring all-reduce
    allreduce_bw_efficiency: float = 0.475  # share of one-way NVLink bandwidth a ring all-reduce reaches
    prefill_overhead_s: float = 0.0  # extra fixed cost of an iteration that holds prompt tokens
    # share of HBM bandwidth the attention kernels reach reading the KV cache; None: memory_efficiency
    attention_efficiency: float | None = None
    # cost per iteration per token of the mean context of the decoding sequences, shared by the
    # tp GPUs (work that grows with sequence length rather than with bytes or batch: split-KV
    # partitions and their reduction, page-table walks; on B200 it is what makes long
    # reasoning outputs slow on one GPU)
    context_overhead_s: float = 0.0
    # share of HBM bandwidth reached streaming FP8 weights (block-scaled FP8 GEMM and MoE kernels
    # reach less than BF16's on both H100 and B200 in vLLM 0.11); None: memory_efficiency
    fp8_memory_efficiency: float | None = None

    def __post_init__(self) -> None:
        for name in ("compute_efficiency", "memory_efficiency", "allreduce_bw_efficiency"):
            if not 0 < getattr(self, name) <= 1:
                raise ValueError(f"{name} must be in (0, 1], got {getattr(self, name)!r}")
        for name in ("attention_efficiency", "fp8_memory_efficiency"):
            v = getattr(self, name)
            if v is not None and not 0 < v <= 1:
                raise ValueError(f"{name} must be in (0, 1] or None, got {v!r}")
        for name in ("layer_overhead_s", "per_seq_overhead_s", "allreduce_hop_latency_s", "prefill_overhead_s",
                     "context_overhead_s"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)!r}")

    @property
    def kv_efficiency(self) -> float:
        """Share of HBM bandwidth reached reading the KV cache."""
        return self.memory_efficiency if self.attention_efficiency is None else self.attention_efficiency

    def weight_efficiency(self, precision: str) -> float:
        """Share of HBM bandwidth reached streaming weights stored at ``precision``."""
        if precision == "fp8" and self.fp8_memory_efficiency is not None:
            return self.fp8_memory_efficiency
        return self.memory_efficiency


def calibrated_perf(gpu_name: str, engine: str | None = None) -> InferencePerfParams:
    """The calibrated parameters of a GPU type under an engine profile (default: the newest).

    Read from ``dcsim/data/calibration/<engine>/<gpu>.yaml``; a GPU without a file for
    that engine is an error, never a silent stand-in (:mod:`dcsim.hardware.profiles`).
    """
    from dcsim.hardware.profiles import load_profile

    return load_profile(gpu_name, engine).perf


def peak_flops_for(model: LlmSpec, gpu: GpuSpec) -> float:
    """Dense peak FLOP/s of ``gpu`` at the precision ``model``'s matrix multiplies run in there."""
    return gpu.peak_flops(model.compute_precision_on(gpu.native_precisions))


def windowed(total, seqs, window: int):
    """Context tokens a sliding window of ``window`` tokens keeps of ``total`` tokens over ``seqs``
    sequences: min(total, seqs x window), exact when every sequence is longer than the window
    or all are shorter; ``seqs`` = 0 (a prefill chunk) counts as one sequence."""
    return np.minimum(total, np.maximum(seqs, 1) * float(window))


def kv_read_bytes(model: LlmSpec, tp: int, kv_read_tokens, decode_seqs):
    """Bytes of KV cache (and recurrent state) one iteration reads over the ``tp`` GPUs.

    Full-attention layers read every context token; sliding-window layers at most the
    window of each sequence; a hybrid model's recurrent (Mamba) layers read and write
    their fixed state per decoding sequence.
    """
    copies = model.kv_bytes_per_token_on(tp) / model.kv_bytes_per_token if model.kv_bytes_per_token else 1.0
    full = model.full_kv_bytes_per_token * copies * kv_read_tokens
    if model.sliding_window and model.window_kv_bytes_per_token:
        full = full + model.window_kv_bytes_per_token * copies * windowed(kv_read_tokens, decode_seqs, model.sliding_window)
    state = 2.0 * model.ssm_state_bytes_per_seq * decode_seqs
    return full + state


def attention_flops(model: LlmSpec, attn_pairs, decode_seqs):
    """Attention FLOPs of an iteration of ``attn_pairs`` (new token, context token) pairs."""
    per_pair = model.attn_flops_per_token_per_ctx
    if not model.sliding_window or not model.sliding_window_layers:
        return per_pair * attn_pairs
    n_attn = model.attention_layers or model.layers
    win_share = model.sliding_window_layers / n_attn
    return per_pair * ((1.0 - win_share) * attn_pairs
                       + win_share * windowed(attn_pairs, decode_seqs, model.sliding_window))


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
    flops = 2.0 * model.active_params * new_tokens + attention_flops(model, attn_pairs, decode_seqs)
    compute_s = flops / (tp * peak_flops_for(model, gpu) * params.compute_efficiency)
    bw = gpu.hbm_bw_bytes_per_s
    dense_b = model.dense_weight_bytes
    expert_eff = params.weight_efficiency(model.expert_precision or model.weight_precision)
    memory_s = (dense_b / (bw * params.weight_efficiency(model.weight_precision))
                + (model.weight_bytes_read(new_tokens) - dense_b) / (bw * expert_eff)
                + kv_read_bytes(model, tp, kv_read_tokens, decode_seqs) / (bw * params.kv_efficiency)) / tp
    has_prompt = np.greater(new_tokens, decode_seqs)
    mean_context = np.divide(kv_read_tokens, np.maximum(decode_seqs, 1))
    time_s = (
        np.maximum(compute_s, memory_s)
        + tp_comm_s(model, gpu, tp, params, new_tokens)
        + model.layers * params.layer_overhead_s
        + params.per_seq_overhead_s * decode_seqs
        + params.prefill_overhead_s * has_prompt
        + params.context_overhead_s * mean_context * np.greater(decode_seqs, 0) / tp
    )
    return IterationCost(time_s, compute_s, memory_s)


def tp_comm_s(model: LlmSpec, gpu: GpuSpec, tp: int, params: InferencePerfParams, new_tokens):
    """Tensor-parallel all-reduce time of one iteration: two ring all-reduces per layer."""
    if tp == 1:
        return 0.0 * new_tokens
    size_b = new_tokens * model.hidden * ACT_BYTES
    one_way_bw = gpu.nvlink_bw_bytes_per_s / 2.0 * params.allreduce_bw_efficiency
    per_allreduce = ring_allreduce_s(size_b, tp, one_way_bw, params.allreduce_hop_latency_s)
    return 2 * model.layers * per_allreduce


def prefill_attn_pairs(chunk_tokens, context_before: float | np.ndarray = 0.0):
    """Attention pairs of a prefill chunk: token i of the chunk attends to context_before + i + 1 tokens."""
    return chunk_tokens * context_before + chunk_tokens * (chunk_tokens + 1) / 2.0


def prefill_time_s(model: LlmSpec, gpu: GpuSpec, tp: int, params: InferencePerfParams, prompt_tokens: int,
                   batch: int = 1) -> float:
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


def max_kv_tokens(model: LlmSpec, gpu: GpuSpec, tp: int, gpu_memory_utilization: float,
                  context_tokens: float | None = None) -> int:
    """KV-cache capacity in tokens of a TP group: the memory left after the weights.

    With ``context_tokens`` (the typical context of a sequence), a model with
    sliding-window layers is counted at what such a sequence holds per token (its windowed
    layers keep at most the window, as vLLM's hybrid allocator gives them); without it, or
    for other models, every layer holds every token. Negative when the weights alone do
    not fit.
    """
    free_b = tp * gpu.hbm_bytes * gpu_memory_utilization - model.weight_bytes
    per_token_b = model.kv_bytes_per_token_on(tp)
    if context_tokens and model.sliding_window:
        per_token_b *= float(model.kv_bytes_for_context(context_tokens)) / (context_tokens * model.kv_bytes_per_token)
    return int(np.floor(free_b / per_token_b))


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
    allreduce_s = ring_allreduce_s(grad_bytes_per_gpu, dp, network_bw_bytes_per_s_per_gpu)
    # The overlappable share hides behind compute only as far as compute lasts.
    hidden_s = min(comm_overlap * allreduce_s, compute_s)
    exposed_s = allreduce_s - hidden_s
    time_s = compute_s + exposed_s
    return TrainingStep(time_s, compute_s, exposed_s, flops / (time_s * gpus * gpu.peak_bf16_flops))
