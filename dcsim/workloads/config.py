"""Config schema of the workload group (``conf/workload/*.yaml``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

from dcsim.core.errors import require
from dcsim.core.fields import bounded
from dcsim.policies.config import RouterName

if TYPE_CHECKING:
    from dcsim.hardware.models import LlmSpec

# Plausibility bounds of a service, checked before a run starts: a request stream is drawn
# up front, so a typo in a rate or a duration must stop with an error, not allocate.
MAX_ARRIVAL_RATE_PER_S = 1e6  # requests per second of one service
MAX_REQUESTS = 100_000_000  # expected requests of one request-fidelity service over a run (fluid: no bound)
MAX_CLOSED_USERS = 1_000_000  # users of a closed loop


class LengthDistributionKind(StrEnum):
    """Token-count distributions (dcsim.workloads.inference.requests.LENGTH_DISTRIBUTIONS)."""

    constant = "constant"
    exponential = "exponential"
    lognormal = "lognormal"
    uniform = "uniform"
    histogram = "histogram"


class ArrivalProcess(StrEnum):
    poisson = "poisson"
    gamma = "gamma"
    diurnal = "diurnal"
    trace = "trace"
    servegen = "servegen"
    closed = "closed"
    sessions = "sessions"


class Fidelity(StrEnum):
    request = "request"  # every request simulated
    fluid = "fluid"  # steady state per control interval


class AutoscaleMetric(StrEnum):
    queue = "queue"
    utilisation = "utilisation"
    slo = "slo"


class Recompute(StrEnum):
    """Activation recomputation (dcsim.hardware.training.RECOMPUTE_CHOICES)."""

    none = "none"
    selective = "selective"
    full = "full"


class CheckpointPolicy(StrEnum):
    none = "none"
    fixed = "fixed"  # every checkpoint_interval_s
    young_daly = "young_daly"  # at the Young/Daly interval of the job's failure rate


class JobTraceSource(StrEnum):
    philly = "philly"
    synthetic = "synthetic"


class TraceFormat(StrEnum):
    """Formats of a request trace (dcsim.workloads.inference.traces.TRACE_FORMATS)."""

    auto = "auto"
    azure = "azure"
    mooncake = "mooncake"
    generic = "generic"


@dataclass
class LengthConfig:
    """Token-count distribution: constant (mean), exponential (mean), lognormal (log_mu,
    log_sigma), uniform (min_tokens..max_tokens) or histogram (the measured histogram
    ``histogram`` = "MODEL_ID:TASK" of ``histogram_path``; by default ML.ENERGY v3's output
    lengths per model and task, shipped). ``max_tokens`` clips every draw: a length budget
    (a reasoning model's thinking budget)."""

    distribution: LengthDistributionKind = LengthDistributionKind.lognormal
    mean: float = bounded(0.0, ge=0)
    log_mu: float = bounded(0.0)
    log_sigma: float = bounded(0.0, ge=0)
    min_tokens: int = bounded(1, ge=1)
    max_tokens: int = bounded(8192, ge=1)
    histogram: str = ""
    histogram_path: str = "dcsim:workloads/mlenergy_v3_output_lengths.csv.gz"


_LOGNORMAL = LengthDistributionKind.lognormal


@dataclass
class DurationConfig:
    """A distribution of durations in s: constant (mean_s), exponential (mean_s),
    lognormal (log_mu, log_sigma of the seconds) or uniform (min_s..max_s), clipped to
    [min_s, max_s]."""

    distribution: LengthDistributionKind = LengthDistributionKind.exponential
    mean_s: float = bounded(0.0, ge=0)
    log_mu: float = bounded(0.0)
    log_sigma: float = bounded(0.0, ge=0)
    min_s: float = bounded(0.0, ge=0)
    max_s: float = bounded(3600.0, ge=0)


def _lengths(distribution: LengthDistributionKind, mean: float, lo: int, hi: int) -> LengthConfig:
    return LengthConfig(distribution, mean, 0.0, 0.0, lo, hi)


@dataclass
class SessionConfig:
    """Agentic sessions (``arrivals.process=sessions``; docs/workloads.md): sessions arrive
    as a Poisson process of ``arrival_rate_per_s``; a session is a chain of ``calls`` model
    calls; call k+1 is sent ``think_time`` after call k completes, its prompt call k's
    prompt plus call k's output plus ``new_tokens`` (tool result, user text), so the
    context is append-only and its prefix cached. The first call's prompt is the
    service's shared system prompt (``system_prompt_tokens``) plus ``first_context_tokens``;
    ``output_tokens`` is drawn per call. With ``user_turn_probability`` > 0 each later call
    opens a new user turn with that probability and is sent ``user_think_time`` (the user
    reading and writing) after the previous call instead of ``think_time`` (the tool). A
    session ends after its calls, when a call is dropped or lost, or before a call whose
    prompt + output would exceed ``max_context_tokens``. The service's
    ``arrival_rate_per_s``, ``prompt_tokens`` and ``output_tokens`` are ignored.
    Defaults: placeholders, set per study (the ``agentic_coding`` preset's are sourced in
    DATA_SOURCES.md)."""

    arrival_rate_per_s: float = bounded(0.01, ge=0)  # sessions per second (Poisson)
    calls: LengthConfig = field(default_factory=lambda: _lengths(LengthDistributionKind.exponential, 10.0, 1, 1000))
    think_time: DurationConfig = field(default_factory=lambda: DurationConfig(LengthDistributionKind.exponential, 5.0))
    first_context_tokens: LengthConfig = field(
        default_factory=lambda: _lengths(LengthDistributionKind.exponential, 4000.0, 1, 65536))
    new_tokens: LengthConfig = field(default_factory=lambda: _lengths(LengthDistributionKind.exponential, 1000.0, 1, 32768))
    output_tokens: LengthConfig = field(default_factory=lambda: _lengths(LengthDistributionKind.exponential, 300.0, 1, 8192))
    max_context_tokens: int = bounded(131072, ge=2)  # prompt + output of one call (the model's context window)
    user_turn_probability: float = bounded(0.0, ge=0, le=1)  # a later call opens a user turn; 0: every call follows a tool
    user_think_time: DurationConfig = field(default_factory=lambda: DurationConfig(LengthDistributionKind.exponential, 60.0))


@dataclass
class ArrivalConfig:
    """How requests arrive. ``process``: poisson, gamma (bursty renewal with ``cv``),
    diurnal (daily sinusoidal rate), trace (replay ``trace_path``), servegen (the
    ServeGen per-client descriptions in the directory ``trace_path``) or closed (a
    closed loop of ``concurrency`` users, each sending its next request when its last
    one finishes, after an exponential think time of mean ``think_time_s``; the
    service's ``arrival_rate_per_s`` is then ignored; request fidelity only)."""

    process: ArrivalProcess = ArrivalProcess.poisson
    cv: float = bounded(1.0, gt=0)  # coefficient of variation of inter-arrival times (gamma, diurnal)
    peak_to_trough: float = bounded(3.0, ge=1)  # diurnal: ratio of the highest to the lowest rate
    peak_hour: float = bounded(14.0, ge=0, lt=24)  # diurnal: local hour of the peak
    trace_path: str | None = None  # trace / servegen
    trace_format: TraceFormat = TraceFormat.auto  # trace: auto, azure, mooncake or generic (docs/traces.md)
    rate_multiplier: float = bounded(1.0, gt=0)  # trace / servegen: 2.0 replays twice as fast
    concurrency: int = bounded(1, ge=1)  # closed: users, each with one request outstanding (arrival_rate_per_s is ignored)
    think_time_s: float = bounded(0.0, ge=0)  # closed: mean of the exponential think time between a user's requests; 0: none
    sessions: SessionConfig = field(default_factory=SessionConfig)  # sessions: agentic chains of calls


@dataclass
class AutoscaleConfig:
    """Reactive replica autoscaling, checked every ``interval_s``.

    ``metric``: queue (desired = ceil(outstanding requests / target per replica)),
    utilisation (desired = ceil(replicas x busy share / target)) or slo (one more replica
    while SLO attainment over the last interval is below target; one fewer when it is met
    and fewer than one request per replica is outstanding). Scale-up is immediate, each new
    replica serving ``model_load_s`` after its GPUs are granted; scale-down waits until the
    lower count has been wanted for ``scale_down_delay_s`` (like Kubernetes' stabilisation
    window), then drains the newest replicas (no new requests; released when empty).
    """

    enabled: bool = False
    metric: AutoscaleMetric = AutoscaleMetric.queue
    target: float = bounded(8.0, gt=0)
    min_replicas: int = bounded(1, ge=1)
    max_replicas: int = bounded(8, ge=1)
    interval_s: float = bounded(60.0, gt=0)
    # Loading weights into a new replica: assumption, ~2 min for a 70B BF16 checkpoint
    # (140 GB) from local NVMe or a warm cache at ~1-2 GB/s plus engine start-up.
    model_load_s: float = bounded(120.0, ge=0)
    scale_down_delay_s: float = bounded(300.0, ge=0)


@dataclass
class ServiceConfig:
    model: str = "Llama-3.1-70B"  # a name in dcsim.hardware.models.MODELS
    # Serve the model at another precision (null: the model's own): weights bf16, fp16,
    # fp8, fp4, mxfp4, fp32; KV cache bf16, fp16, fp8, fp32. The GPU must run it natively
    # (fp8 needs Hopper or later, fp4 Blackwell; mxfp4 runs weight-only on fp8 GPUs).
    weight_precision: str | None = None
    kv_precision: str | None = None
    replicas: int = bounded(1, ge=0)
    tp: int = bounded(8, ge=1)
    # Expert parallelism of a mixture-of-experts model (1: none, its experts split by TP as
    # the rest): the replica is ep x tp GPUs, its attention data-parallel over ep groups of
    # tp GPUs and its routed experts spread over all of them (vLLM: data_parallel_size=ep,
    # tensor_parallel_size=tp, enable_expert_parallel). docs/network.md.
    ep: int = bounded(1, ge=1)
    router: RouterName = RouterName("least_outstanding")  # a name in dcsim.policies.ROUTERS
    # prefix_affinity: how many outstanding requests above the least loaded replica a
    # replica may have and still win on its cached prefix (docs/traces.md, cache-aware routing)
    affinity_slack: int = bounded(4, ge=0)
    # prefix_affinity: a request whose longest cached prefix anywhere is at most this share of
    # its blocks goes to the least loaded replica (SGLang router's --cache-threshold, default 0.5)
    affinity_min_match: float = bounded(0.5, ge=0, le=1)
    fidelity: Fidelity = Fidelity.request  # request: every request simulated; fluid: steady state per control interval
    # Serving engine profile whose calibration times and powers the replicas
    # (dcsim/data/calibration/<engine>/): vllm-0.11 (ML.ENERGY v3, the default) or splitwise-2023.
    engine: str = "vllm-0.11"
    arrival_rate_per_s: float = bounded(1.0, ge=0)  # mean rate of poisson, gamma and diurnal arrivals (ignored when closed)
    arrivals: ArrivalConfig = field(default_factory=ArrivalConfig)
    # Defaults: lognormal fits to the Azure LLM inference trace 2023, conversation
    # (Patel et al., Splitwise, ISCA 2024): log-mean and log-std of ContextTokens and
    # GeneratedTokens over its 19,366 requests.
    prompt_tokens: LengthConfig = field(default_factory=lambda: LengthConfig(_LOGNORMAL, 0.0, 6.6333, 0.9852, 1, 14050))
    output_tokens: LengthConfig = field(default_factory=lambda: LengthConfig(_LOGNORMAL, 0.0, 5.019, 0.859, 1, 1000))
    max_num_seqs: int = bounded(256, ge=1)  # vLLM default
    max_batch_tokens: int = bounded(8192, ge=1)
    gpu_memory_utilization: float = bounded(0.9, gt=0, le=1)  # vLLM default
    prefix_cache_fraction: float = bounded(0.0, ge=0, lt=1)  # share of the KV cache kept for cached prompt blocks; 0: off
    # Lifetime of a cached block since its last use, s, as API providers' prompt caches expire
    # their entries (Anthropic: 5 minutes, or 1 hour; Azure OpenAI: 5-10 minutes idle, at most an
    # hour); 0: blocks stay until evicted (vLLM). Needs prefix_cache_fraction > 0.
    prefix_cache_ttl_s: float = bounded(0.0, ge=0)
    prefix_block_tokens: int = bounded(512, ge=1)  # tokens per cached block (Mooncake's hash_ids blocks)
    prefill_replicas: int = bounded(0, ge=0)  # > 0: disaggregated, the first replicas prefill and the rest decode
    # The GPU type the replicas run on, of a facility with facility.rack_groups (null: facility.node.gpu);
    # decode_gpu: that of the decode replicas when prefill_replicas > 0 (null: gpu). docs/workloads.md.
    gpu: str | None = None
    decode_gpu: str | None = None
    # Prefill -> decode KV-cache transfer, per GPU of the prefill replica (its link is tp x this).
    # null: NVLink one way when both replicas sit in one scale-up domain, else the NIC share
    # (facility.network.scaleout_gbit_per_s_per_gpu); a number overrides both (docs/workloads.md).
    kv_transfer_gbit_per_s: float | None = bounded(None, gt=0)
    slo_ttft_s: float | None = bounded(None, gt=0)  # SLO thresholds; None: no SLO
    slo_tpot_s: float | None = bounded(None, gt=0)
    priority: int = 0  # higher runs first under the priority scheduler
    autoscale: AutoscaleConfig = field(default_factory=AutoscaleConfig)
    # Host-memory KV tier per replica, GB (0: off; needs prefix_cache_fraction > 0): prefix blocks
    # evicted from HBM go there, LRU too, and a prompt whose prefix is there reloads it over the
    # GPUs' host link (GpuSpec.host_link_bw_bytes_per_s) before it prefills (docs/workloads.md).
    kv_cpu_tier_gb: float = bounded(0.0, ge=0)
    # A system prompt shared across requests (synthetic lengths and sessions; not traces):
    # every prompt starts with one of ``system_prompts`` distinct prompts of this many
    # tokens (drawn uniformly per request or session), whose full prefix_block_tokens
    # blocks the prefix cache shares across requests. 0: none.
    system_prompt_tokens: int = bounded(0, ge=0)
    system_prompts: int = bounded(1, ge=1)
    # Multimodal requests (docs/calibration.md, "Multimodal"): each request carries
    # images_per_request images and, with video_frames > 0, one video of that many frames;
    # the model needs a vision encoder (a vision block in its catalogue file). Their tokens
    # (VisionSpec.work) are added to the prompt, and the iteration that starts a request's
    # prefill also runs the encoder. Default resolutions: the assumptions of the vllm-0.11
    # multimodal validation (1024 x 768 images, 640 x 360 frames; not measured).
    # video_fps: the frame rate of the clip those frames make up; with it, a model whose video
    # processor resamples (Qwen3-VL: 2 frames per second of clip, at least 4) encodes the
    # frames it keeps (VisionSpec.frames_kept). 0: every frame given is encoded.
    images_per_request: int = bounded(0, ge=0)
    image_width_px: int = bounded(1024, ge=1)
    image_height_px: int = bounded(768, ge=1)
    video_frames: int = bounded(0, ge=0)
    video_width_px: int = bounded(640, ge=1)
    video_height_px: int = bounded(360, ge=1)
    video_fps: float = bounded(0.0, ge=0)


@dataclass
class ParallelismConfig:
    """Tensor, pipeline, data, context and expert parallel degrees (tp x pp x dp x cp = GPUs);
    vpp: virtual pipeline stages per rank (interleaved 1F1B); vocab_slots: the embedding
    and output layers each take a transformer layer's place in the pipeline (Llama 3's
    balancing). tp = 0: not given, the job uses the simple data-parallel step model."""

    tp: int = bounded(0, ge=0)
    pp: int = bounded(1, ge=1)
    dp: int = bounded(1, ge=1)
    cp: int = bounded(1, ge=1)
    ep: int = bounded(1, ge=1)
    vpp: int = bounded(1, ge=1)
    vocab_slots: bool = False


@dataclass
class TrainingJobConfig:
    model: str = "Llama-3.1-8B"
    gpus: int = bounded(8, ge=1)
    gpu: str | None = None  # the GPU type it runs on, of a facility with facility.rack_groups (null: facility.node.gpu)
    model_parallel: int = bounded(1, ge=1)  # GPUs per model replica (tensor x pipeline); data parallel = gpus / this
    submit_time_s: float = bounded(0.0, ge=0)
    tokens_per_step: float = bounded(4194304.0, gt=0)  # global batch x sequence length
    steps: int = bounded(100, ge=1)
    tokens_to_train: float | None = bounded(None, gt=0)  # set: steps = ceil(tokens_to_train / tokens_per_step)
    # Share of peak BF16 FLOP/s during compute: Llama 3 405B pre-training reached 38-43 %
    # MFU on 8k-16k H100s (Dubey et al., The Llama 3 Herd of Models, 2024, Table 4). Null:
    # 0.40 for the simple data-parallel model, dcsim.hardware.training's calibrated 0.53
    # (compute share before communication and bubbles) with a parallelism.
    compute_efficiency: float | None = bounded(None, gt=0, le=1)
    comm_overlap: float = bounded(0.8, ge=0, le=1)
    # Set: the detailed step model of dcsim.hardware.training (TP over NVLink, pipeline
    # bubble, context and data parallel traffic) and its memory check.
    parallelism: ParallelismConfig = field(default_factory=ParallelismConfig)
    seq_len: int = bounded(8192, ge=1)
    micro_batch_seqs: int = bounded(1, ge=1)
    recompute: Recompute = Recompute.selective  # activation recomputation: none, selective or full (docs/training.md)
    # ZeRO sharding over the data-parallel (x context-parallel) ranks: 1 optimizer state,
    # 2 also gradients (Llama 3's FSDP), 3 also weights; 0 none.
    zero_stage: int = bounded(1, ge=0, le=3)
    # none, fixed (every checkpoint_interval_s) or young_daly (from the failure rate)
    checkpoint: CheckpointPolicy = CheckpointPolicy.none
    checkpoint_interval_s: float = bounded(3600.0, gt=0)
    checkpoint_async: bool = False
    storage_gbyte_per_s: float = bounded(100.0, gt=0)  # checkpoint write and read bandwidth of the job (assumption)
    failures: bool = False  # interruptions at the per-GPU hazard rates of dcsim.hardware.training
    failure_rate_scale: float = bounded(1.0, ge=0)  # multiplies every cause's rate
    restart_s: float = bounded(600.0, ge=0)  # detection, rescheduling on spares and restart, before the reload
    # A failure whose cause takes its node out of service (GPU, HBM, host, ...; see
    # dcsim.hardware.training.FAILURE_CAUSES) sends the node to repair for repair_s. A hot
    # spare node replaces it at once; with none free the job waits for the earliest repair.
    # Null: spares never run out (the node is always replaced at once).
    hot_spare_nodes: int | None = bounded(None, ge=0)
    repair_s: float = bounded(86400.0, ge=0)  # node repair time (assumption: a day, swap and burn-in)
    power_swing: bool = False  # alternate compute and communication power within each step
    priority: int = 0  # higher runs first under the priority scheduler
    preemptible: bool = True  # a scheduler may checkpoint it, take its GPUs and requeue it


@dataclass
class JobTraceConfig:
    """Duration-defined jobs from a job trace, run through the scheduler (docs/traces.md).

    ``source``: philly (the Microsoft Philly trace, Pollux's copy, at ``path``) or
    synthetic (an AcmeTrace-shaped LLM development mix of ``n_jobs`` jobs submitted over
    ``horizon_s``). Each job holds its GPUs for its traced duration at training power.
    """

    source: JobTraceSource = JobTraceSource.philly
    path: str = "dcsim:traces/pollux_philly_jobs.csv.gz"
    window_start_s: float | None = bounded(None, ge=0)  # philly: keep jobs submitted in [start, end) s from the first
    window_end_s: float | None = bounded(None, ge=0)  # null: the whole trace
    max_jobs: int | None = bounded(None, ge=1)  # keep only the first max_jobs jobs (in submit order)
    n_jobs: int = bounded(1000, ge=1)  # synthetic
    horizon_s: float = bounded(86400.0, gt=0)  # synthetic: submissions spread over [0, horizon_s)
    submit_offset_s: float = bounded(0.0, ge=0)  # every job is submitted this much later


@dataclass
class WorkloadConfig:
    services: dict[str, ServiceConfig] = field(default_factory=dict)
    # Every inference service's load x this (a sweep over load, whatever the services are
    # called): Poisson, gamma and diurnal rates, session start rates, and traces on top of
    # their own arrivals.rate_multiplier; a closed loop refuses any other value than 1.
    rate_multiplier: float = bounded(1.0, gt=0)
    training: dict[str, TrainingJobConfig] = field(default_factory=dict)
    job_traces: dict[str, JobTraceConfig] = field(default_factory=dict)


def model_named(field: str, name: str) -> LlmSpec:
    """The catalogue model a ``model`` field names (a service's or a training job's)."""
    from dcsim.hardware.models import MODELS

    require(name in MODELS, field, name, f"one of {sorted(MODELS)}")
    return MODELS[name]
