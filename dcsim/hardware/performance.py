"""Analytical roofline performance model of one model replica on one GPU type.

An *iteration* of a serving engine processes some new tokens: chunks of prompts
(prefill) and one token for each decoding sequence. Its time is the larger of the
compute time and the memory time, plus tensor-parallel communication and fixed
overheads:

    compute_s = (2 * active_params * T + attn_flops_per_ctx * A + moe_padding_flops(T))
                / (tp * peak_flops * compute_efficiency)
    memory_s  = (weight_bytes_read(T) / tp + kv_bytes_on_tp * K / tp) / (hbm_bw * memory_efficiency)
    comm_s    = 2 * layers * (2 * (tp - 1) * allreduce_hop_latency_s
                              + 2 * (tp - 1) / tp * T * hidden * 2 B / (nvlink_bw / 2 * allreduce_bw_efficiency))
    time_s    = max(compute_s, memory_s) + comm_s
                + layers * layer_overhead_s + per_seq_overhead_s * S
                + prefill_overhead_s * [T > S]
                + context_overhead_s * K / S / tp * [S > 0] * [no attention sinks]

with T new tokens, A (new token, context token) attention pairs, K context tokens whose
KV cache is read, S decoding sequences; [T > S] is 1 when the iteration holds prompt
tokens. A model with attention sinks runs on the engine's sink-capable kernels, which do
not pay the context overhead (:func:`context_overhead_s`). (The formulas above are a
replica of ``tp`` GPUs, ``ep = 1``; expert parallelism and replicas that span several
scale-up domains are :func:`comm_terms`'s, below.)
weight_bytes_read(T) is all the weights for a dense model; a mixture of experts
reads its dense part and the experts its T tokens are routed to
(``LlmSpec.weight_bytes_read``), and its grouped expert GEMMs also compute the rows that pad
each active expert's tokens to whole tiles (:func:`moe_padding_flops`). kv_bytes_on_tp is
the KV cache of one context token over the tp GPUs, copies included (``LlmSpec.kv_bytes_per_token_on``): an MLA latent, or a KV
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
from dcsim.hardware.network import ScaleOut, ScaleUpDomain, all_to_all_parts_s, collective_s, ring_allreduce_s

ACT_BYTES = 2.0  # BF16 activations exchanged by tensor-parallel all-reduce and expert-parallel all-to-all
# One step of a ring over the scale-out network against one over NVLink: NCCL's own tuning
# model (NVIDIA/nccl, src/graph/tuning.cc, hwLat, Ring, Simple protocol) takes 14.0 us per
# network hop and 3.4 us per NVLink hop. The fitted NVLink hop latency is scaled by it.
SCALEOUT_HOP_LATENCY_RATIO = 14.0 / 3.4


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
    # reasoning outputs slow on one GPU). It belongs to the engine's general attention path: a
    # model with attention sinks (LlmSpec.attention_sinks, gpt-oss) does not pay it, because
    # vLLM must run sinks on other kernels (on Blackwell FlashInfer's TRTLLM-gen attention, "the
    # only backend that supports them": vllm/utils/flashinfer.py, use_trtllm_attention)
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


# Rows of the grouped-GEMM tile a MoE kernel pads each active expert's tokens to, by expert
# precision (vLLM 0.11's kernels). BF16 and FP8 run vLLM's Triton fused_moe, whose
# moe_align_block_size pads every expert's token list to a multiple of BLOCK_SIZE_M; without
# a tuned config (vllm/model_executor/layers/fused_moe/fused_moe.py, get_default_config)
# BLOCK_SIZE_M is 16 while the tokens are at most the experts and 64 above (BF16), and 64 for
# block-scaled FP8. MXFP4 experts run FlashInfer's TRTLLM-gen MoE, whose tile is the next power
# of two of 1.3 x the tokens per expert, within 8..64 (vllm/utils/flashinfer.py,
# calculate_tile_tokens_dim); dcsim applies that rule on every GPU, and to FP4 experts too.
MOE_TILE_SMALL_ROWS, MOE_TILE_ROWS, MOE_MXFP4_TILE_ROWS = 16.0, 64.0, (8.0, 64.0)
MOE_MXFP4_IMBALANCE = 1.3


def moe_tile_rows(model: LlmSpec, new_tokens):
    """The tile rows (:data:`MOE_TILE_ROWS`) of ``model``'s routed experts for an iteration of ``new_tokens``."""
    precision = model.expert_precision or model.weight_precision
    t = np.asarray(new_tokens, dtype=np.float64)
    if precision in ("mxfp4", "fp4"):
        per_expert = np.maximum(MOE_MXFP4_IMBALANCE * t * model.experts_per_token / model.num_experts, 1.0)
        return np.clip(2.0 ** np.ceil(np.log2(per_expert)), *MOE_MXFP4_TILE_ROWS)
    if precision == "fp8":
        return np.full_like(t, MOE_TILE_ROWS)
    return np.where(t <= model.num_experts, MOE_TILE_SMALL_ROWS, MOE_TILE_ROWS)


def moe_padding_flops(model: LlmSpec, new_tokens):
    """FLOPs the tensor cores spend on padding rows in ``model``'s expert GEMMs (0 for a dense model).

    T tokens route T k (token, expert) rows to A = E (1 - (1 - k / E)^T) experts on
    average; each active expert's rows are padded to whole tiles of r rows, so the GEMMs run
    A r ceil(T k / (A r)) rows, each 2 x expert_params FLOPs.
    """
    if not model.is_moe:
        return 0.0 * np.asarray(new_tokens, dtype=np.float64)[()]
    t = np.asarray(new_tokens, dtype=np.float64)
    active = model.experts_touched(t)
    routed = t * model.experts_per_token
    tile = moe_tile_rows(model, t)
    safe = np.where(active > 0, active, 1.0)
    rows = np.where(active > 0, safe * tile * np.ceil(routed / (safe * tile)), 0.0)
    return (2.0 * model.expert_params * (rows - routed))[()]


@dataclass(frozen=True, slots=True)
class Fabric:
    """The networks a replica's GPUs sit on: the scale-up domain's size and the scale-out NICs beyond it.

    Figures are the facility's line rates (``facility.node.scaleup_domain_gpus``,
    ``facility.network``): the NVLink bandwidth per GPU is the GPU's own
    (``GpuSpec.nvlink_bw_bytes_per_s``). The inference profile's fitted
    ``allreduce_bw_efficiency`` applies to both networks, and its fitted
    ``allreduce_hop_latency_s`` to NVLink, times :data:`SCALEOUT_HOP_LATENCY_RATIO` over the
    NICs (no measurement of inference across nodes is in the calibration data; docs/network.md).
    """

    domain_gpus: int  # GPUs of one scale-up domain
    scaleout_bytes_per_s_per_gpu: float = 400e9 / 8  # one way, all of a GPU's NIC ports
    rack_uplink_oversubscription: float = 1.0
    gpus_per_rack: int | None = None  # None: a group never crosses the rack uplinks

    def __post_init__(self) -> None:
        if not (isinstance(self.domain_gpus, int) and self.domain_gpus >= 1):
            raise ValueError(f"domain_gpus must be an integer >= 1, got {self.domain_gpus!r}")

    def domain(self, gpu: GpuSpec, params: InferencePerfParams) -> ScaleUpDomain:
        """The scale-up domain as the roofline's collectives see it: one-way NVLink x fitted efficiency."""
        return ScaleUpDomain(self.domain_gpus, gpu.nvlink_bw_bytes_per_s / 2.0 * params.allreduce_bw_efficiency,
                             params.allreduce_hop_latency_s)

    def scaleout(self, params: InferencePerfParams) -> ScaleOut:
        """The scale-out network at the fitted efficiency, its hop latency NCCL's network/NVLink ratio of NVLink's."""
        return ScaleOut(self.scaleout_bytes_per_s_per_gpu * params.allreduce_bw_efficiency,
                        params.allreduce_hop_latency_s * SCALEOUT_HOP_LATENCY_RATIO,
                        self.rack_uplink_oversubscription)


class CommTerms(NamedTuple):
    """Communication time of one iteration as a function of its T new tokens:

        comm_s(T) = fixed_s + per_token_s x T + max(up_s + up_per_token_s x T, out_s + out_per_token_s x T)

    The max is the expert-parallel all-to-all across scale-up domains, NVLink and NIC at
    once (``network.all_to_all_parts_s``); inside one domain its NIC line is 0.
    """

    fixed_s: float
    per_token_s: float
    up_s: float = 0.0
    up_per_token_s: float = 0.0
    out_s: float = 0.0
    out_per_token_s: float = 0.0

    def at(self, new_tokens):
        """comm_s(T), arrays welcome."""
        time_s = self.fixed_s + self.per_token_s * new_tokens
        if self.up_s or self.up_per_token_s or self.out_s or self.out_per_token_s:
            time_s = time_s + np.maximum(self.up_s + self.up_per_token_s * new_tokens,
                                         self.out_s + self.out_per_token_s * new_tokens)
        return time_s


def comm_terms(model: LlmSpec, gpu: GpuSpec, tp: int, params: InferencePerfParams, ep: int = 1,
               fabric: Fabric | None = None) -> CommTerms:
    """Per-iteration communication of a replica of ``tp`` x ``ep`` GPUs on ``fabric``, folded per token.

    - ``ep = 1``: two all-reduces per layer of the T tokens' activations (T x hidden x
      2 B) over the tp GPUs: the ring at NVLink speed inside the domain (today's
      :func:`tp_comm_s`), hierarchical across domains when tp exceeds one.
    - ``ep > 1`` (a mixture of experts): the attention runs data-parallel on ep groups of
      tp GPUs (T / ep tokens each) and the routed experts are spread over all n = tp x
      ep GPUs. Per layer: one all-reduce over the group's tp GPUs of its T / ep tokens
      (the attention output; done as a reduce-scatter before the dispatch and an
      all-gather after the combine, at the same cost), and the dispatch and the combine,
      each an all-to-all over the n GPUs of S = T x top_k x hidden x 2 B / n per GPU (the
      group's tokens shared out over its GPUs), inside the domain or across domains.
      Every layer is taken as a MoE layer (the catalogue has no count of dense layers).

    Each collective is :func:`~dcsim.hardware.network.collective_s` (or its all-to-all
    parts) evaluated at zero bytes and at one token's bytes: exact, since every
    collective is affine in its size.
    """
    if fabric is None:
        fabric = Fabric(tp * ep)  # no facility: the replica's GPUs share one domain
    domain, out = fabric.domain(gpu, params), fabric.scaleout(params)
    rack = fabric.gpus_per_rack

    def affine(kind, bytes_per_token: float, group: int) -> tuple[float, float]:
        c0 = collective_s(kind, 0.0, group, domain, out, rack)
        return c0, collective_s(kind, bytes_per_token, group, domain, out, rack) - c0

    act_b = model.hidden * ACT_BYTES
    if ep == 1:
        if tp == 1:
            return CommTerms(0.0, 0.0)
        a0, a1 = affine("all_reduce", act_b, tp)
        return CommTerms(2 * model.layers * a0, 2 * model.layers * a1)
    a0, a1 = affine("all_reduce", act_b / ep, tp) if tp > 1 else (0.0, 0.0)
    n = tp * ep
    u0, o0 = all_to_all_parts_s(0.0, n, domain, out, rack)
    u, o = all_to_all_parts_s(model.experts_per_token * act_b / n, n, domain, out, rack)
    per_layer = 2 * model.layers  # dispatch and combine in every layer
    return CommTerms(model.layers * a0, model.layers * a1, per_layer * u0, per_layer * (u - u0),
                     per_layer * o0, per_layer * (o - o0))


def replica_comm_s(model: LlmSpec, gpu: GpuSpec, tp: int, params: InferencePerfParams, new_tokens, ep: int = 1,
                   fabric: Fabric | None = None):
    """Communication time of one iteration of ``new_tokens`` (arrays welcome).

    Today's :func:`tp_comm_s` when ``ep = 1`` and the tp GPUs fit one domain (bit for
    bit); :func:`comm_terms` otherwise.
    """
    if ep == 1 and (fabric is None or tp <= fabric.domain_gpus):
        return tp_comm_s(model, gpu, tp, params, new_tokens)
    return comm_terms(model, gpu, tp, params, ep, fabric).at(new_tokens)


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
    ep: int = 1,
    fabric: Fabric | None = None,
) -> IterationCost:
    """Cost of one engine iteration (see the module docstring for the formula).

    With ``ep > 1`` (a mixture of experts on tp x ep GPUs, :func:`comm_terms`) the work
    is shared by all tp x ep GPUs: the FLOPs, the routed experts read and the KV cache
    (each attention group holds its 1 / ep of the sequences); the dense weights are read
    by every group (dense / tp per GPU), and each group's per-sequence overhead covers
    its own sequences. ``ep = 1`` is the formula above, bit for bit.
    """
    flops = (2.0 * model.active_params * new_tokens + attention_flops(model, attn_pairs, decode_seqs)
             + moe_padding_flops(model, new_tokens))
    compute_s = flops / (tp * ep * peak_flops_for(model, gpu) * params.compute_efficiency)
    bw = gpu.hbm_bw_bytes_per_s
    dense_b = model.dense_weight_bytes
    expert_eff = params.weight_efficiency(model.expert_precision or model.weight_precision)
    memory_s = (dense_b / (bw * params.weight_efficiency(model.weight_precision))
                + (model.weight_bytes_read(new_tokens) - dense_b) / (bw * expert_eff) / ep
                + kv_read_bytes(model, tp, kv_read_tokens, decode_seqs) / (bw * params.kv_efficiency) / ep) / tp
    has_prompt = np.greater(new_tokens, decode_seqs)
    mean_context = np.divide(kv_read_tokens, np.maximum(decode_seqs, 1))
    time_s = (
        np.maximum(compute_s, memory_s)
        + replica_comm_s(model, gpu, tp, params, new_tokens, ep, fabric)
        + model.layers * params.layer_overhead_s
        + params.per_seq_overhead_s * decode_seqs / ep
        + params.prefill_overhead_s * has_prompt
        + context_overhead_s(model, params) * mean_context * np.greater(decode_seqs, 0) / tp
    )
    return IterationCost(time_s, compute_s, memory_s)


def context_overhead_s(model: LlmSpec, params: InferencePerfParams) -> float:
    """The per-context-token iteration overhead ``model`` pays (none with attention sinks)."""
    return 0.0 if model.attention_sinks else params.context_overhead_s


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
                  context_tokens: float | None = None, ep: int = 1) -> int:
    """KV-cache capacity in tokens of a TP group: the memory left after the weights.

    With ``context_tokens`` (the typical context of a sequence), a model with
    sliding-window layers is counted at what such a sequence holds per token (its windowed
    layers keep at most the window, as vLLM's hybrid allocator gives them); without it, or
    for other models, every layer holds every token. Negative when the weights alone do
    not fit.

    With ``ep > 1`` the replica is ep attention groups of tp GPUs: each holds the dense
    weights and 1 / ep of the routed experts, and its own KV cache; the capacity is ep
    times one group's (one sequence lives in one group: :func:`group_kv_tokens`).
    """
    return ep * group_kv_tokens(model, gpu, tp, gpu_memory_utilization, context_tokens, ep)


def group_kv_tokens(model: LlmSpec, gpu: GpuSpec, tp: int, gpu_memory_utilization: float,
                    context_tokens: float | None = None, ep: int = 1) -> int:
    """KV-cache capacity in tokens of one attention group of ``tp`` GPUs (the whole replica when ep = 1)."""
    weights_b = model.weight_bytes
    if ep > 1:  # the group holds the dense weights and its share of the routed experts
        routed_b = model.num_experts * model.expert_bytes
        weights_b = weights_b - routed_b + routed_b / ep
    free_b = tp * gpu.hbm_bytes * gpu_memory_utilization - weights_b
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
