"""Physics of large-scale LLM training: step time, memory, checkpoints and failures.

Pure functions of a model (:class:`~dcsim.hardware.models.LlmSpec`), a GPU
(:class:`~dcsim.hardware.gpus.GpuSpec`) and a parallel layout (:class:`Parallelism`);
no simulation state. The formulas, their sources and the calibration against Llama 3
405B pre-training are in ``docs/training.md``. :func:`dcsim.hardware.performance.training_step`
is the older data-parallel-only step model and stays as it is.

Units: seconds, bytes, bytes per second, FLOPs. Bandwidths are per GPU and one way.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from dcsim.core.units import HOUR_S
from dcsim.hardware.gpus import GpuSpec
from dcsim.hardware.models import LlmSpec
from dcsim.hardware.network import all_gather_s, ring_allreduce_s

ACT_BYTES = 2.0  # BF16 activations
GRAD_BYTES = 2.0  # BF16 gradients
WEIGHT_BYTES = 2.0  # BF16 weights used in forward and backward
MASTER_BYTES = 4.0  # FP32 master weights
ADAM_BYTES = 8.0  # FP32 Adam first and second moments

# Defaults calibrated in docs/training.md against Llama 3 405B (Dubey et al. 2024, Table 4).
# Share of dense BF16 peak reached by the kernels of a step: fitted (0.527, rounded) on one
# layout, Llama 3 405B on 16,384 H100 at TP 8 PP 16 (vpp 8, vocab slots) DP 128, to its
# 41 % MFU; validated on the 8,192-GPU and the 131,072-token CP 16 layouts (docs/training.md).
DEFAULT_COMPUTE_EFFICIENCY = 0.53
DEFAULT_NVLINK_EFFICIENCY = 0.80  # share of one-way NVLink bandwidth a TP ring all-reduce reaches
DEFAULT_SCALEOUT_BYTES_PER_S = 400e9 / 8 * 0.8  # 400 Gb/s NIC per GPU (Llama 3 RoCE) at 80 % bus efficiency
DEFAULT_DP_OVERLAP = 0.9  # share of the gradient reduction that runs concurrently with backward compute


class ParallelismError(ValueError):
    """A parallel layout that does not match the GPUs or the model."""


@dataclass(frozen=True, slots=True)
class Parallelism:
    """Degrees of tensor, pipeline, data, context and expert parallelism.

    ``gpus = tp * pp * dp * cp``. Expert parallelism shards the MoE experts over ranks
    that are already data-parallel (as Megatron-LM does), so ``ep`` must divide
    ``dp * cp`` and does not multiply the GPU count. ``vpp`` is the number of
    interleaved virtual pipeline stages per rank (Narayanan et al. 2021; 1 = plain 1F1B).
    ``vocab_slots``: the embedding and the output layer each take one transformer
    layer's place in the pipeline, so the ``layers + 2`` slots split evenly over the
    ``pp * vpp`` model chunks and the first chunk of the first rank holds only the
    embedding (Llama 3's balancing, Dubey et al. 2024, sec. 3.3.2: "we reduce one
    Transformer layer each from the first and the last stages"). False: the
    ``layers`` split evenly, the vocabulary layers ride on the end stages.
    """

    tp: int
    pp: int
    dp: int
    cp: int = 1
    ep: int = 1
    vpp: int = 1
    vocab_slots: bool = False

    def __post_init__(self) -> None:
        for name in ("tp", "pp", "dp", "cp", "ep", "vpp"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ParallelismError(f"parallel degree {name} must be an integer >= 1, got {v!r}")
        if not isinstance(self.vocab_slots, bool):
            raise ParallelismError(f"vocab_slots must be true or false, got {self.vocab_slots!r}")
        if (self.dp * self.cp) % self.ep:
            raise ParallelismError(f"ep={self.ep} must divide dp*cp={self.dp * self.cp} (experts shard over data-parallel ranks)")

    @property
    def gpus(self) -> int:
        """GPUs the layout occupies: tp * pp * dp * cp."""
        return self.tp * self.pp * self.dp * self.cp

    @property
    def grad_group(self) -> int:
        """Ranks that hold the same weights and reduce gradients together: dp * cp."""
        return self.dp * self.cp

    @classmethod
    def for_gpus(cls, gpus: int, tp: int, pp: int, dp: int, cp: int = 1, ep: int = 1, vpp: int = 1,
                 vocab_slots: bool = False) -> Parallelism:
        """A layout checked against a GPU count: raises naming the degrees when the product differs."""
        par = cls(tp, pp, dp, cp, ep, vpp, vocab_slots)
        if par.gpus != gpus:
            raise ParallelismError(
                f"tp={tp} x pp={pp} x dp={dp} x cp={cp} = {par.gpus} GPUs, but the job has {gpus} GPUs")
        return par

    def check_model(self, model: LlmSpec) -> None:
        """Raise when the model cannot be split this way (fewer layers than stages, heads not divisible by tp)."""
        if model.layers + (2 if self.vocab_slots else 0) < self.pp * self.vpp:
            raise ParallelismError(f"{model.name}: {model.layers} layers cannot fill pp*vpp={self.pp * self.vpp} stages")
        if self.vocab_slots and self.pp * self.vpp < 2:
            raise ParallelismError("vocab_slots needs at least two pipeline chunks (pp * vpp >= 2)")
        if model.heads % self.tp:
            raise ParallelismError(f"{model.name}: tp={self.tp} must divide heads={model.heads}")
        if model.is_moe and model.num_experts % self.ep:
            raise ParallelismError(f"{model.name}: ep={self.ep} must divide num_experts={model.num_experts}")
        if not model.is_moe and self.ep != 1:
            raise ParallelismError(f"{model.name} is dense: ep must be 1, got {self.ep}")


def shard_params(model: LlmSpec, par: Parallelism) -> float:
    """Parameters one GPU holds before ZeRO sharding.

    Dense: params / (tp * pp). MoE: the active parameters are treated as replicated
    over expert-parallel ranks and the never-active remainder (the other experts) as
    sharded over ``ep`` -- an approximation, since LlmSpec does not split parameters
    into expert and non-expert ones.
    """
    expert_rest = model.params - model.active_params
    return (model.active_params + expert_rest / par.ep) / (par.tp * par.pp)


def model_flops_per_token(model: LlmSpec, seq_len: int) -> float:
    """Training FLOPs per token: 6 x active params plus causal self-attention.

    6 N (forward 2 N, backward 4 N; Kaplan et al. 2020) plus forward+backward (x3) of
    the attention score and value products over an average causal context of
    (seq_len + 1) / 2 tokens: 3 x attn_flops_per_token_per_ctx x (s + 1) / 2, i.e.
    6 L s h_attn -- the attention term of Narayanan et al. (SC 2021), halved for causality.
    """
    return 6.0 * model.active_params + 3.0 * model.attn_flops_per_token_per_ctx * (seq_len + 1) / 2.0


Recompute = Literal["none", "selective", "full"]
RECOMPUTE_CHOICES: tuple[str, ...] = ("none", "selective", "full")


def recompute_flops_per_token(model: LlmSpec, seq_len: int, recompute: Recompute) -> float:
    """FLOPs per token that activation recomputation adds to a step (not model FLOPs).

    Korthikanti et al. 2022 ("Reducing Activation Recomputation in Large Transformer
    Models", sec. 5): none adds nothing; selective recomputes the attention core (the
    QK^T and AV products, softmax) in the backward pass, i.e. one more forward of the
    attention term of :func:`model_flops_per_token` (a third of it: attn_flops x (s + 1) / 2);
    full reruns each layer's whole forward, 2 N plus that attention forward. A fused
    attention kernel (FlashAttention) recomputes the same products in its backward,
    so "selective" is also the cost of training "without activation checkpointing" on it.
    """
    if recompute not in RECOMPUTE_CHOICES:
        raise ValueError(f"recompute must be one of {', '.join(RECOMPUTE_CHOICES)}, got {recompute!r}")
    attn_fwd = model.attn_flops_per_token_per_ctx * (seq_len + 1) / 2.0
    if recompute == "none":
        return 0.0
    if recompute == "selective":
        return attn_fwd
    return 2.0 * model.active_params + attn_fwd


@dataclass(frozen=True, slots=True)
class StepBreakdown:
    """Time of one optimiser step and its parts, in seconds, and the MFU."""

    time_s: float
    compute_s: float
    tp_comm_s: float
    pp_bubble_s: float
    dp_exposed_s: float
    cp_comm_s: float
    mfu: float  # model FLOPs / (time_s * gpus * peak BF16 FLOP/s)
    micro_batches: int  # per DP replica per step
    model_flops: float  # per step, all GPUs


def step_time(
    model: LlmSpec,
    gpu: GpuSpec,
    par: Parallelism,
    global_batch_tokens: float,
    seq_len: int,
    micro_batch_seqs: int = 1,
    compute_efficiency: float = DEFAULT_COMPUTE_EFFICIENCY,
    scaleout_bytes_per_s_per_gpu: float = DEFAULT_SCALEOUT_BYTES_PER_S,
    dp_overlap: float = DEFAULT_DP_OVERLAP,
    nvlink_bytes_per_s: float | None = None,
    full_recompute: bool = False,
    recompute: Recompute | None = None,
) -> StepBreakdown:
    """Time of one training step of ``global_batch_tokens`` tokens (see docs/training.md).

    - compute: model FLOPs (:func:`model_flops_per_token`) plus the FLOPs that
      recomputation adds (:func:`recompute_flops_per_token`, not counted in the MFU)
      over all GPUs at ``compute_efficiency`` of peak. ``recompute``: none, selective
      (the default) or full; ``full_recompute=True`` is the older spelling of
      ``recompute="full"``.
    - TP: 4 ring all-reduces (2 forward, 2 backward; 6 with full recompute) per layer per
      micro-batch of (micro-batch tokens / cp) x hidden x 2 B within the TP group over
      NVLink (``nvlink_bytes_per_s`` one way; default 80 % of half the GPU's NVLink
      figure). Not overlapped with compute.
    - CP: per layer per micro-batch, an all-gather of K and V in the forward, the same
      all-gather again in the backward (the gathered K and V are not kept, see
      :func:`training_memory_per_gpu_bytes`) and a reduce-scatter of their gradients,
      across the cp ranks over the scale-out network (one more all-gather with full
      recomputation); not overlapped.
    - PP: 1F1B bubble (pp - 1) / (vpp * m) of the stage time (compute + TP + CP), i.e. a
      share (pp - 1) / (vpp * m + pp - 1) of the pipeline's time, with m micro-batches per
      DP replica (Narayanan et al., SC 2021).
    - DP: ring all-reduce of the BF16 gradients of the GPU's shard across dp * cp ranks
      over the scale-out network; ``dp_overlap`` of it hides behind compute as far as the
      compute lasts.
    """
    if not 0 < compute_efficiency <= 1:
        raise ValueError(f"compute_efficiency must be in (0, 1], got {compute_efficiency!r}")
    if not 0 <= dp_overlap <= 1:
        raise ValueError(f"dp_overlap must be in [0, 1], got {dp_overlap!r}")
    if scaleout_bytes_per_s_per_gpu <= 0:
        raise ValueError(f"scaleout_bytes_per_s_per_gpu must be > 0, got {scaleout_bytes_per_s_per_gpu!r}")
    par.check_model(model)
    if seq_len % par.cp:
        raise ParallelismError(f"cp={par.cp} must divide seq_len={seq_len}")
    seqs = global_batch_tokens / seq_len
    seqs_per_replica = seqs / par.dp
    m = seqs_per_replica / micro_batch_seqs
    if m < 1 or abs(m - round(m)) > 1e-9:
        raise ParallelismError(
            f"global batch of {seqs:g} sequences over dp={par.dp} is {seqs_per_replica:g} per replica, "
            f"not a whole number of micro-batches of {micro_batch_seqs}")
    m = int(round(m))
    nvlink = nvlink_bytes_per_s if nvlink_bytes_per_s is not None else gpu.nvlink_bw_bytes_per_s / 2 * DEFAULT_NVLINK_EFFICIENCY
    gpus = par.gpus
    peak = gpu.peak_bf16_flops

    if recompute is None:
        recompute = "full" if full_recompute else "selective"
    full_recompute = recompute == "full"
    model_flops = model_flops_per_token(model, seq_len) * global_batch_tokens
    hw_flops = model_flops + recompute_flops_per_token(model, seq_len, recompute) * global_batch_tokens
    compute_s = hw_flops / (gpus * peak * compute_efficiency)

    layers_per_rank = model.layers / par.pp
    mb_tokens_per_gpu = micro_batch_seqs * seq_len / par.cp
    allreduces = 6 if full_recompute else 4
    tp_comm_s = layers_per_rank * m * allreduces * ring_allreduce_s(mb_tokens_per_gpu * model.hidden * ACT_BYTES, par.tp, nvlink)

    cp_comm_s = 0.0
    if par.cp > 1:
        # K and V of this rank's tokens, for its TP share of the KV heads.
        kv_bytes = 2.0 * mb_tokens_per_gpu * model.kv_heads * model.head_dim * ACT_BYTES / min(par.tp, model.kv_heads)
        # forward all-gather, backward all-gather again + reduce-scatter of dK, dV
        # (Dubey et al. 2024, sec. 3.3.2: all-gather based CP); full recompute gathers once more.
        # Each rank's K and V are one shard of the gathered sequence; a ring all-gather and a
        # ring reduce-scatter of that shard cost the same, (cp - 1) x shard / bw (dcsim.hardware.network).
        gather_s = all_gather_s(kv_bytes, par.cp, scaleout_bytes_per_s_per_gpu)
        passes = 4 if full_recompute else 3
        cp_comm_s = layers_per_rank * m * passes * gather_s

    stage_s = compute_s + tp_comm_s + cp_comm_s
    pp_bubble_s = stage_s * (par.pp - 1) / (par.vpp * m)

    grad_bytes = shard_params(model, par) * GRAD_BYTES
    dp_s = ring_allreduce_s(grad_bytes, par.grad_group, scaleout_bytes_per_s_per_gpu)
    dp_exposed_s = dp_s - min(dp_overlap * dp_s, compute_s)

    time_s = stage_s + pp_bubble_s + dp_exposed_s
    mfu = model_flops / (time_s * gpus * peak)
    return StepBreakdown(time_s, compute_s, tp_comm_s, pp_bubble_s, dp_exposed_s, cp_comm_s, mfu, m, model_flops)


def bubble_fraction(pp: int, micro_batches: int, vpp: int = 1) -> float:
    """Share of a pipeline's step time that is bubble: (pp - 1) / (vpp * m + pp - 1)."""
    return (pp - 1) / (vpp * micro_batches + pp - 1)


# ---------------------------------------------------------------------------- memory


# Share of HBM the training state may take; the rest for the CUDA context, NCCL buffers
# and allocator fragmentation (assumption).
DEFAULT_USABLE_HBM_SHARE = 0.95


@dataclass(frozen=True, slots=True)
class MemoryBreakdown:
    """Bytes one GPU (the first pipeline rank, the most loaded one) holds during training, by kind."""

    weights: float
    grads: float
    optimizer: float  # FP32 master weights + Adam moments
    activations: float  # kept for the backward, all micro-batches in flight, plus one layer's working set
    layers_in_flight: float = 0.0  # layer-activations of one micro-batch the first rank holds at its peak

    @property
    def total(self) -> float:
        """All bytes."""
        return self.weights + self.grads + self.optimizer + self.activations

    def fits(self, gpu: GpuSpec, usable_share: float = DEFAULT_USABLE_HBM_SHARE) -> bool:
        """Whether the total fits in ``usable_share`` of the GPU's HBM (the rest: CUDA context, fragmentation)."""
        return self.total <= usable_share * gpu.hbm_bytes


def activation_bytes_per_layer(model: LlmSpec, par: Parallelism, micro_batch_seqs: int, seq_len: int,
                               recompute: Recompute = "selective") -> float:
    """Activation bytes one transformer layer keeps for one micro-batch (Korthikanti et al. 2022).

    Korthikanti, Casper, Lym, McAfee, Andersch, Shoeybi, Catanzaro, "Reducing Activation
    Recomputation in Large Transformer Models" (MLSys 2023, arXiv 2205.05198), sec. 4, with
    tensor and sequence parallelism over t ranks (their eq. 4 and the selective form of
    sec. 5), b sequences of s = seq_len / cp tokens (context parallelism shards the
    sequence), h hidden, a heads, 2-byte activations and 1-byte dropout masks:
    none: (34 s b h + 5 a s^2 b) / t (the 5 a s^2 b are the attention scores, softmax and
    its dropout mask); selective (the attention core recomputed, as a fused
    FlashAttention kernel does by construction): 34 s b h / t; full: only the layer
    input, 2 s b h / t. The 34 count GeLU MLPs of width 4h and dropout; for Llama's
    SwiGLU (width 3.25h, three such tensors kept) and no dropout the same count gives
    ~32 s b h: the paper's constant is kept.
    """
    s = seq_len / par.cp
    b, h, a, t = micro_batch_seqs, model.hidden, model.heads, par.tp
    if recompute == "none":
        return (34.0 * s * b * h + 5.0 * a * s * s * b) / t
    if recompute == "selective":
        return 34.0 * s * b * h / t
    if recompute == "full":
        return 2.0 * s * b * h / t
    raise ValueError(f"recompute must be one of {', '.join(RECOMPUTE_CHOICES)}, got {recompute!r}")


def first_rank_chunk_layers(model: LlmSpec, par: Parallelism) -> list[float]:
    """Transformer layers in each of the ``vpp`` model chunks of the first pipeline rank.

    Interleaved schedule (Narayanan et al., SC 2021, sec. 2.2): the model is cut into
    pp * vpp chunks and rank r holds chunks r, r + pp, r + 2 pp, ...; even split of the
    layers (layers / (pp vpp) each, fractional when it does not divide), or with
    ``vocab_slots`` of layers + 2 slots, the first chunk losing one slot to the embedding.
    """
    chunks = par.pp * par.vpp
    if par.vocab_slots:
        per = (model.layers + 2) / chunks
        return [per - 1.0] + [per] * (par.vpp - 1)
    return [model.layers / chunks] * par.vpp


def first_stage_layers_in_flight(model: LlmSpec, par: Parallelism, micro_batches: int | None = None) -> float:
    """Layer-activations of one micro-batch the first pipeline rank holds at its peak.

    1F1B (Narayanan et al., SC 2021; PipeDream-Flush): rank 0 runs the forward of
    min(m, pp) micro-batches before its first backward, and from then on one forward
    per backward, so min(m, pp) micro-batches of its layers / pp layers are in flight:
    ``layers`` layers' worth when m >= pp (Korthikanti et al. 2022, sec. 4.2.3).
    Interleaved 1F1B (vpp > 1, Megatron-LM's schedule): rank 0 runs
    2 (pp - 1) + (vpp - 1) pp warm-up chunk forwards, in groups of N = min(m, pp)
    micro-batches per chunk (chunk of the k-th forward: (k mod N vpp) // N; N < pp is the
    Llama 3 schedule's flexible N, Dubey et al. 2024, sec. 3.3.2), then holds one more in the
    steady state: at most m vpp, i.e. layers x (1 + (pp - 1) / (pp vpp)) with an even
    split (Korthikanti et al.'s interleaving factor), less when the extra forwards are of
    a chunk with fewer layers (the embedding-only chunk of ``vocab_slots``).
    ``micro_batches`` = m per DP replica per step; None: as many as the warm-up needs.
    """
    p, v = par.pp, par.vpp
    chunk_layers = first_rank_chunk_layers(model, par)
    if v == 1:
        n = p if micro_batches is None else min(micro_batches, p)
        return n * chunk_layers[0]
    held = 2 * (p - 1) + (v - 1) * p + 1
    group = p  # micro-batches per chunk in turn; fewer than pp: all of them (Llama 3's flexible N)
    if micro_batches is not None:
        held = min(held, micro_batches * v)
        group = min(group, micro_batches)
    return sum(chunk_layers[(k % (group * v)) // group] for k in range(held))


def training_memory_per_gpu_bytes(
    model: LlmSpec,
    par: Parallelism,
    micro_batch_seqs: int,
    seq_len: int,
    zero_stage: int = 1,
    recompute: Recompute = "selective",
    micro_batches: int | None = None,
) -> MemoryBreakdown:
    """Memory of the most loaded GPU (the first pipeline rank).

    Model state per shard parameter (:func:`shard_params`: tensor and pipeline
    parallelism divide the parameters by tp x pp): BF16 weights 2 B, BF16 gradients 2 B,
    FP32 master weights 4 B and Adam moments 4 + 4 B (the mixed-precision Adam of
    Rajbhandari et al., "ZeRO: Memory Optimizations Toward Training Trillion Parameter
    Models", SC 2020, sec. 3.1). ZeRO shards over the dp * cp ranks that hold the same
    weights: stage 1 the 12 B of optimizer state, stage 2 also the gradients, stage 3
    also the weights. Llama 3's FSDP is stage 2: "we shard optimizer states and
    gradients, but for model shards we do not reshard after forward computation"
    (Dubey et al. 2024, sec. 3.3.2).

    Activations: :func:`first_stage_layers_in_flight` (micro-batches in flight under the
    pipeline schedule, capped by the ``micro_batches`` of a step) x
    :func:`activation_bytes_per_layer`, plus one layer's working set: with full
    recomputation the selective estimate of the layer being recomputed; with context
    parallelism the all-gathered K and V of the whole sequence for this rank's KV heads
    and their gradients (not kept across layers: the backward gathers them again).
    """
    if zero_stage not in (0, 1, 2, 3):
        raise ValueError(f"zero_stage must be 0, 1, 2 or 3, got {zero_stage!r}")
    if micro_batches is not None and micro_batches < 1:
        raise ValueError(f"micro_batches must be >= 1, got {micro_batches!r}")
    n = shard_params(model, par)
    z = par.grad_group
    weights = n * WEIGHT_BYTES / (z if zero_stage >= 3 else 1)
    grads = n * GRAD_BYTES / (z if zero_stage >= 2 else 1)
    optimizer = n * (MASTER_BYTES + ADAM_BYTES) / (z if zero_stage >= 1 else 1)
    in_flight = first_stage_layers_in_flight(model, par, micro_batches)
    acts = in_flight * activation_bytes_per_layer(model, par, micro_batch_seqs, seq_len, recompute)
    if recompute == "full":
        acts += activation_bytes_per_layer(model, par, micro_batch_seqs, seq_len, "selective")
    if par.cp > 1:
        kv_heads_per_rank = max(1.0, model.kv_heads / par.tp)
        acts += 2.0 * 2.0 * micro_batch_seqs * seq_len * kv_heads_per_rank * model.head_dim * ACT_BYTES
    return MemoryBreakdown(weights, grads, optimizer, acts, in_flight)


# ---------------------------------------------------------------------------- checkpoints

CHECKPOINT_BYTES_PER_PARAM = WEIGHT_BYTES + MASTER_BYTES + ADAM_BYTES  # 2 + 4 + 4 + 4 = 14


def checkpoint_bytes(model: LlmSpec) -> float:
    """Bytes of a full training checkpoint: BF16 weights + FP32 master + two FP32 Adam moments (14 B/param).

    Mixed-precision Adam state of Rajbhandari et al. (2020) (their 2 + 2 + 12 B/param,
    minus the gradients, which are not saved).
    """
    return model.params * CHECKPOINT_BYTES_PER_PARAM


def checkpoint_write_s(bytes_: float, storage_bytes_per_s: float) -> float:
    """Time to write a checkpoint at the storage system's aggregate write bandwidth."""
    if storage_bytes_per_s <= 0:
        raise ValueError(f"storage_bytes_per_s must be > 0, got {storage_bytes_per_s!r}")
    return bytes_ / storage_bytes_per_s


def young_daly_interval_s(checkpoint_s: float, mtbf_s: float) -> float:
    """Checkpoint interval (compute time between checkpoints) of least waste: sqrt(2 C M).

    First-order optimum of Young (1974), as restated by Daly (2006). This is the form
    dcsim uses; :func:`daly_interval_s` gives Daly's higher-order form.
    """
    if checkpoint_s < 0 or mtbf_s <= 0:
        raise ValueError("checkpoint_s must be >= 0 and mtbf_s > 0")
    return math.sqrt(2.0 * checkpoint_s * mtbf_s)


def daly_interval_s(checkpoint_s: float, mtbf_s: float) -> float:
    """Daly's (2006) higher-order optimum: sqrt(2 C M) [1 + sqrt(C/(2M))/3 + C/(18 M)] - C for C < 2M, else M."""
    if checkpoint_s >= 2.0 * mtbf_s:
        return mtbf_s
    r = checkpoint_s / (2.0 * mtbf_s)
    return math.sqrt(2.0 * checkpoint_s * mtbf_s) * (1.0 + math.sqrt(r) / 3.0 + r / 9.0) - checkpoint_s


def expected_waste_fraction(interval_s: float, checkpoint_s: float, restart_s: float, mtbi_s: float) -> float:
    """First-order expected share of wall time not spent on useful work.

    Per interval of tau useful seconds a checkpoint costs C (share C / tau); each
    interruption, arriving at rate 1/M, costs the restart R plus on average half a
    segment of lost work (tau + C) / 2 -- approximated by tau / 2, the term Young's
    optimum balances. Waste = C / tau + (R + tau / 2) / M, minimised at tau = sqrt(2 C M).
    Valid while tau, C and R are small against M (waste well below 1).
    """
    if interval_s <= 0 or mtbi_s <= 0:
        raise ValueError("interval_s and mtbi_s must be > 0")
    return checkpoint_s / interval_s + (restart_s + interval_s / 2.0) / mtbi_s


# ---------------------------------------------------------------------------- failures

LLAMA3_GPUS = 16_384
LLAMA3_SNAPSHOT_DAYS = 54
LLAMA3_GPU_HOURS = LLAMA3_GPUS * LLAMA3_SNAPSHOT_DAYS * 24


@dataclass(frozen=True, slots=True)
class FailureCause:
    """One root cause of job interruptions, as a rate per GPU-hour.

    ``count`` is the number observed in the source; ``sends_node_to_repair`` whether the
    failed part takes its node out of service for repair (hardware) or the job can
    restart on the same node (software, timeouts, network fabric outside the node).
    """

    name: str
    category: str
    count: int
    sends_node_to_repair: bool
    per_gpu_hour: float

    @property
    def per_gpu_s(self) -> float:
        """Rate per GPU-second."""
        return self.per_gpu_hour / HOUR_S


def _cause(name: str, category: str, count: int, repair: bool) -> FailureCause:
    return FailureCause(name, category, count, repair, count / LLAMA3_GPU_HOURS)


# Dubey et al. 2024, "The Llama 3 Herd of Models", Table 5: root causes of the 419
# unexpected interruptions in a 54-day snapshot of Llama 3 405B pre-training on 16,384
# H100 GPUs (466 interruptions in all, 47 of them planned). Counts checked against the
# table as reproduced by G. Lockwood, glennklockwood.com/garden/component-reliability,
# and DatacenterDynamics (faulty GPU 148, HBM3 72, SRAM 19, GPU system processor 17,
# network 35, CPU 2). The repair flag is dcsim's judgement, not the paper's.
FAILURE_CAUSES: dict[str, FailureCause] = {c.name: c for c in (
    _cause("faulty_gpu", "GPU", 148, True),
    _cause("gpu_hbm3", "GPU", 72, True),
    _cause("software_bug", "Dependency", 54, False),
    _cause("network_switch_cable", "Network", 35, False),
    _cause("host_maintenance", "Unplanned maintenance", 32, True),
    _cause("gpu_sram", "GPU", 19, True),
    _cause("gpu_system_processor", "GPU", 17, True),
    _cause("nic", "Host", 7, True),
    _cause("nccl_watchdog_timeout", "Unknown", 7, False),
    _cause("silent_data_corruption", "GPU", 6, True),
    _cause("gpu_thermal_interface_sensor", "GPU", 6, True),
    _cause("ssd", "Host", 3, True),
    _cause("power_supply", "Host", 3, True),
    _cause("server_chassis", "Host", 2, True),
    _cause("io_expansion_board", "Host", 2, True),
    _cause("dependency", "Dependency", 2, False),
    _cause("cpu", "Host", 2, True),
    _cause("system_memory", "Host", 2, True),
)}


def _causes(causes: Mapping[str, FailureCause] | Iterable[FailureCause] | None) -> Iterable[FailureCause]:
    if causes is None:
        return FAILURE_CAUSES.values()
    return causes.values() if isinstance(causes, Mapping) else causes


def interruption_rate_per_s(gpus: int, causes: Mapping[str, FailureCause] | Iterable[FailureCause] | None = None) -> float:
    """Job interruptions per second of a synchronous job on ``gpus`` GPUs: gpus x sum of per-GPU rates."""
    return gpus * sum(c.per_gpu_s for c in _causes(causes))


def expected_interruptions(gpus: int, seconds: float,
                           causes: Mapping[str, FailureCause] | Iterable[FailureCause] | None = None) -> float:
    """Expected interruptions of a ``gpus``-GPU job in ``seconds`` of running."""
    return interruption_rate_per_s(gpus, causes) * seconds


def mean_time_between_interruptions_s(gpus: int,
                                      causes: Mapping[str, FailureCause] | Iterable[FailureCause] | None = None) -> float:
    """1 / interruption rate."""
    return 1.0 / interruption_rate_per_s(gpus, causes)


__all__ = [
    "CHECKPOINT_BYTES_PER_PARAM", "FAILURE_CAUSES", "FailureCause", "MemoryBreakdown", "Parallelism",
    "ParallelismError", "RECOMPUTE_CHOICES", "StepBreakdown", "activation_bytes_per_layer", "bubble_fraction",
    "checkpoint_bytes", "first_rank_chunk_layers", "first_stage_layers_in_flight", "recompute_flops_per_token",
    "checkpoint_write_s", "daly_interval_s", "expected_interruptions", "expected_waste_fraction",
    "interruption_rate_per_s", "mean_time_between_interruptions_s", "model_flops_per_token", "ring_allreduce_s",
    "shard_params", "step_time", "training_memory_per_gpu_bytes", "young_daly_interval_s",
]
