"""Config schema of the workload group (``conf/workload/*.yaml``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

from dcsim.core.errors import require
from dcsim.core.fields import Range, ranged
from dcsim.policies.config import RouterName

if TYPE_CHECKING:
    from dcsim.hardware.models import LlmSpec

# Plausibility bounds of a service, checked before a run starts: a request stream is drawn
# up front, so a typo in a rate or a duration must stop with an error, not allocate.
MAX_ARRIVAL_RATE_PER_S = 1e6  # requests per second of one service
MAX_REQUESTS = 100_000_000  # expected requests of one request-fidelity service over a run (fluid: no bound)
MAX_CLOSED_USERS = 1_000_000  # users of a closed loop


_COUNT = Range(1, what="an integer")
_SECONDS = Range(0, what="seconds")
_DURATION = Range(0, low_open=True, what="seconds")
_FRACTION = Range(0, 1, what="a fraction")
_HOUR = Range(0, 24, high_open=True, what="a local hour")
_CV = Range(0.01, 100, what="a coefficient of variation")


class LengthDistributionKind(StrEnum):
    """Token-count distributions (dcsim.workloads.inference.requests.LENGTH_DISTRIBUTIONS)."""

    constant = "constant"
    exponential = "exponential"
    lognormal = "lognormal"
    uniform = "uniform"


class ArrivalProcess(StrEnum):
    poisson = "poisson"
    gamma = "gamma"
    diurnal = "diurnal"
    trace = "trace"
    servegen = "servegen"
    closed = "closed"


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
    log_sigma) or uniform (min_tokens..max_tokens)."""

    distribution: LengthDistributionKind = LengthDistributionKind.lognormal
    mean: float = 0.0
    log_mu: float = 0.0
    log_sigma: float = 0.0
    min_tokens: int = ranged(1, _COUNT)
    max_tokens: int = 8192  # >= min_tokens


_LOGNORMAL = LengthDistributionKind.lognormal
_SLO = Range(0, low_open=True, what="seconds", optional=True, note="null: no SLO")


@dataclass
class ArrivalConfig:
    """How requests arrive. ``process``: poisson, gamma (bursty renewal with ``cv``),
    diurnal (daily sinusoidal rate), trace (replay ``trace_path``), servegen (the
    ServeGen per-client descriptions in the directory ``trace_path``) or closed (a
    closed loop of ``concurrency`` users, each sending its next request when its last
    one finishes, after an exponential think time of mean ``think_time_s``; the
    service's ``arrival_rate_per_s`` is then ignored; request fidelity only)."""

    process: ArrivalProcess = ArrivalProcess.poisson
    cv: float = ranged(1.0, _CV)  # coefficient of variation of inter-arrival times (gamma, diurnal)
    peak_to_trough: float = ranged(3.0, Range(1, what="a ratio"))  # diurnal: ratio of the highest to the lowest rate
    peak_hour: float = ranged(14.0, _HOUR)  # diurnal: local hour of the peak
    trace_path: str | None = None  # trace / servegen
    trace_format: TraceFormat = TraceFormat.auto  # trace: auto, azure, mooncake or generic (docs/traces.md)
    rate_multiplier: float = ranged(1.0, Range(0, low_open=True, what="a factor"))  # trace / servegen: 2.0 replays twice as fast
    concurrency: int = 1  # closed: users, each with one request outstanding (arrival_rate_per_s is ignored)
    think_time_s: float = 0.0  # closed: mean of the exponential think time between a user's requests; 0: none


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
    target: float = ranged(8.0, Range(0, low_open=True, what="a number", note="a fraction <= 1 for utilisation and slo"))
    min_replicas: int = ranged(1, _COUNT)
    max_replicas: int = 8  # >= min_replicas
    interval_s: float = ranged(60.0, _DURATION)
    # Loading weights into a new replica: assumption, ~2 min for a 70B BF16 checkpoint
    # (140 GB) from local NVMe or a warm cache at ~1-2 GB/s plus engine start-up.
    model_load_s: float = ranged(120.0, _SECONDS)
    scale_down_delay_s: float = ranged(300.0, _SECONDS)


@dataclass
class ServiceConfig:
    model: str = "Llama-3.1-70B"  # a name in dcsim.hardware.models.MODELS
    # Serve the model at another precision (null: the model's own): weights bf16, fp16,
    # fp8, fp4, mxfp4, fp32; KV cache bf16, fp16, fp8, fp32. The GPU must run it natively
    # (fp8 needs Hopper or later, fp4 Blackwell; mxfp4 runs weight-only on fp8 GPUs).
    weight_precision: str | None = None
    kv_precision: str | None = None
    replicas: int = ranged(1, Range(0, what="an integer"))
    tp: int = 8  # a divisor of facility.node.gpus_per_node
    router: RouterName = RouterName("least_outstanding")  # a name in dcsim.policies.ROUTERS
    fidelity: Fidelity = Fidelity.request  # request: every request simulated; fluid: steady state per control interval
    # Serving engine profile whose calibration times and powers the replicas
    # (dcsim/data/calibration/<engine>/): vllm-0.11 (ML.ENERGY v3, the default) or splitwise-2023.
    engine: str = "vllm-0.11"
    arrival_rate_per_s: float = 1.0  # mean rate of poisson, gamma and diurnal arrivals (ignored when closed)
    arrivals: ArrivalConfig = field(default_factory=ArrivalConfig)
    # Defaults: lognormal fits to the Azure LLM inference trace 2023, conversation
    # (Patel et al., Splitwise, ISCA 2024): log-mean and log-std of ContextTokens and
    # GeneratedTokens over its 19,366 requests.
    prompt_tokens: LengthConfig = field(default_factory=lambda: LengthConfig(_LOGNORMAL, 0.0, 6.6333, 0.9852, 1, 14050))
    output_tokens: LengthConfig = field(default_factory=lambda: LengthConfig(_LOGNORMAL, 0.0, 5.019, 0.859, 1, 1000))
    max_num_seqs: int = ranged(256, _COUNT)  # vLLM default
    max_batch_tokens: int = 8192  # >= max_num_seqs
    gpu_memory_utilization: float = ranged(0.9, Range(0, 1, low_open=True, what="a fraction"))  # vLLM default
    # share of the KV cache kept for cached prompt blocks; 0: off
    prefix_cache_fraction: float = ranged(0.0, Range(0, 1, high_open=True, what="a fraction"))
    prefix_block_tokens: int = ranged(512, _COUNT)  # tokens per cached block (Mooncake's hash_ids blocks)
    prefill_replicas: int = 0  # > 0: disaggregated, the first replicas prefill and the rest decode
    # per GPU, prefill -> decode KV-cache transfer
    kv_transfer_gbit_per_s: float = ranged(400.0, Range(0, low_open=True, what="Gbit/s"))
    slo_ttft_s: float | None = ranged(None, _SLO)  # SLO thresholds; None: no SLO
    slo_tpot_s: float | None = ranged(None, _SLO)
    priority: int = 0  # higher runs first under the priority scheduler
    autoscale: AutoscaleConfig = field(default_factory=AutoscaleConfig)


@dataclass
class ParallelismConfig:
    """Tensor, pipeline, data, context and expert parallel degrees (tp x pp x dp x cp = GPUs);
    vpp: virtual pipeline stages per rank (interleaved 1F1B); vocab_slots: the embedding
    and output layers each take a transformer layer's place in the pipeline (Llama 3's
    balancing). tp = 0: not given, the job uses the simple data-parallel step model."""

    tp: int = ranged(0, Range(0, what="an integer", note="0: no parallelism given"))
    pp: int = ranged(1, _COUNT)
    dp: int = ranged(1, _COUNT)
    cp: int = ranged(1, _COUNT)
    ep: int = ranged(1, _COUNT)
    vpp: int = ranged(1, _COUNT)
    vocab_slots: bool = False


@dataclass
class TrainingJobConfig:
    model: str = "Llama-3.1-8B"
    gpus: int = 8
    model_parallel: int = 1  # GPUs per model replica (tensor x pipeline); data parallel = gpus / this
    submit_time_s: float = ranged(0.0, _SECONDS)
    tokens_per_step: float = ranged(4194304.0, Range(0, low_open=True, what="tokens"))  # global batch x sequence length
    steps: int = ranged(100, _COUNT)
    # set: steps = ceil(tokens_to_train / tokens_per_step)
    tokens_to_train: float | None = ranged(None, Range(0, low_open=True, what="tokens", optional=True,
                                                       note="null: give steps"))
    # Share of peak BF16 FLOP/s during compute: Llama 3 405B pre-training reached 38-43 %
    # MFU on 8k-16k H100s (Dubey et al., The Llama 3 Herd of Models, 2024, Table 4). Null:
    # 0.40 for the simple data-parallel model, dcsim.hardware.training's calibrated 0.53
    # (compute share before communication and bubbles) with a parallelism.
    compute_efficiency: float | None = ranged(None, Range(0, 1, low_open=True, what="a fraction", optional=True))
    comm_overlap: float = ranged(0.8, _FRACTION)
    # Set: the detailed step model of dcsim.hardware.training (TP over NVLink, pipeline
    # bubble, context and data parallel traffic) and its memory check.
    parallelism: ParallelismConfig = field(default_factory=ParallelismConfig)
    seq_len: int = ranged(8192, _COUNT)
    micro_batch_seqs: int = ranged(1, _COUNT)
    recompute: Recompute = Recompute.selective  # activation recomputation: none, selective or full (docs/training.md)
    # ZeRO sharding over the data-parallel (x context-parallel) ranks: 1 optimizer state,
    # 2 also gradients (Llama 3's FSDP), 3 also weights; 0 none.
    zero_stage: int = ranged(1, Range(0, 3, what="a ZeRO stage"))
    # none, fixed (every checkpoint_interval_s) or young_daly (from the failure rate)
    checkpoint: CheckpointPolicy = CheckpointPolicy.none
    checkpoint_interval_s: float = 3600.0  # > 0, with checkpoint=fixed
    checkpoint_async: bool = False
    # checkpoint write and read bandwidth of the job (assumption)
    storage_gbyte_per_s: float = ranged(100.0, Range(0, low_open=True, what="GB/s"))
    failures: bool = False  # interruptions at the per-GPU hazard rates of dcsim.hardware.training
    failure_rate_scale: float = ranged(1.0, Range(0, what="a factor"))  # multiplies every cause's rate
    restart_s: float = ranged(600.0, _SECONDS)  # detection, rescheduling on spares and restart, before the reload
    # A failure whose cause takes its node out of service (GPU, HBM, host, ...; see
    # dcsim.hardware.training.FAILURE_CAUSES) sends the node to repair for repair_s. A hot
    # spare node replaces it at once; with none free the job waits for the earliest repair.
    # Null: spares never run out (the node is always replaced at once).
    hot_spare_nodes: int | None = ranged(None, Range(0, what="an integer", optional=True,
                                                     note="null: spares never run out"))
    repair_s: float = ranged(86400.0, _SECONDS)  # node repair time (assumption: a day, swap and burn-in)
    power_swing: bool = False  # alternate compute and communication power within each step
    priority: int = 0  # higher runs first under the priority scheduler
    preemptible: bool = True  # a scheduler may checkpoint it, take its GPUs and requeue it


_WINDOW = Range(0, what="seconds from the first submission", optional=True)


@dataclass
class JobTraceConfig:
    """Duration-defined jobs from a job trace, run through the scheduler (docs/traces.md).

    ``source``: philly (the Microsoft Philly trace, Pollux's copy, at ``path``) or
    synthetic (an AcmeTrace-shaped LLM development mix of ``n_jobs`` jobs submitted over
    ``horizon_s``). Each job holds its GPUs for its traced duration at training power.
    """

    source: JobTraceSource = JobTraceSource.philly
    path: str = "dcsim:traces/pollux_philly_jobs.csv.gz"
    # philly: keep jobs submitted in [start, end) s from the first; null: the whole trace
    window_start_s: float | None = ranged(None, _WINDOW)
    window_end_s: float | None = ranged(None, _WINDOW)  # after window_start_s
    # keep only the first max_jobs jobs (in submit order)
    max_jobs: int | None = ranged(None, Range(1, what="an integer", optional=True, note="null: all"))
    n_jobs: int = ranged(1000, Range(0, what="an integer"))  # synthetic
    horizon_s: float = ranged(86400.0, _DURATION)  # synthetic: submissions spread over [0, horizon_s)
    submit_offset_s: float = ranged(0.0, _SECONDS)  # every job is submitted this much later


@dataclass
class WorkloadConfig:
    services: dict[str, ServiceConfig] = field(default_factory=dict)
    training: dict[str, TrainingJobConfig] = field(default_factory=dict)
    job_traces: dict[str, JobTraceConfig] = field(default_factory=dict)


def model_named(field: str, name: str) -> LlmSpec:
    """The catalogue model a ``model`` field names (a service's or a training job's)."""
    from dcsim.hardware.models import MODELS

    require(name in MODELS, field, name, f"one of {sorted(MODELS)}")
    return MODELS[name]
