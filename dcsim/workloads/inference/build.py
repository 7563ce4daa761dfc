"""From a service's schema (``dcsim.workloads.config.ServiceConfig``) to its spec.

The builder takes the typed schema objects (never a DictConfig), checks every value the
schema cannot (choices, ranges, whether the model fits the GPUs' memory), and raises
:class:`~dcsim.core.errors.ConfigError` naming the exact field, the value and what is
allowed; ``dcsim.config.build`` composes the services of a run.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from typing import Any

import numpy as np

from dcsim.core.errors import ConfigError, require
from dcsim.core.fields import positive, require_choice
from dcsim.core.units import GB_B
from dcsim.data import resolve_data_path
from dcsim.facility.topology import Topology
from dcsim.hardware.gpus import GpuSpec
from dcsim.hardware.models import KV_PRECISIONS, MODELS, WEIGHT_PRECISIONS, LlmSpec, VisionWork
from dcsim.hardware.performance import group_kv_tokens, max_kv_tokens
from dcsim.hardware.profiles import engines, profile_gpus
from dcsim.policies.registry import ROUTERS
from dcsim.workloads.config import (
    MAX_ARRIVAL_RATE_PER_S,
    MAX_CLOSED_USERS,
    MAX_REQUESTS,
    ArrivalProcess,
    AutoscaleConfig,
    AutoscaleMetric,
    DurationConfig,
    Fidelity,
    LengthConfig,
    ServiceConfig,
    SessionConfig,
    model_named,
)
from dcsim.workloads.inference import arrivals as arr
from dcsim.workloads.inference import traces
from dcsim.workloads.inference.requests import LENGTH_DISTRIBUTIONS, LengthDistribution, length_histogram
from dcsim.workloads.inference.service import ServiceSpec, length_sampler
from dcsim.workloads.inference.sessions import DURATION_DISTRIBUTIONS, DurationDistribution, SessionArrivals

log = logging.getLogger("dcsim")
LENGTH_MEAN_SAMPLES = 100_000  # draws that estimate mean lengths for the fluid model (fixed seed)


def service_from_config(field: str, name: str, s: ServiceConfig, topology: Topology, gpu: GpuSpec, start_hour: float,
                        duration_s: float, rate_multiplier: float = 1.0) -> ServiceSpec:
    """The validated spec of the service at ``field`` (``workload.services.NAME``), its load
    scaled by ``rate_multiplier`` (``workload.rate_multiplier``). ``gpu`` is the facility's
    ``node.gpu``; the service's own ``gpu`` (and ``decode_gpu``) picks another type of a mixed fleet."""
    if rate_multiplier != 1.0:
        s = scaled_load(field, s, rate_multiplier)
    gpu, decode_gpu = _pool_gpus(field, s, topology, gpu)
    model = _served_precision(field, model_named(f"{field}.model", s.model), s, gpu)
    if decode_gpu is not gpu:
        _served_precision(field, model, s, decode_gpu)
    _replica_shape(field, s, model, topology)
    require(s.router in ROUTERS, f"{field}.router", s.router, f"one of {sorted(ROUTERS)}")
    require_choice(f"{field}.fidelity", s.fidelity, Fidelity)
    require(s.engine in engines(), f"{field}.engine", s.engine, f"one of {engines()}")
    for g in dict.fromkeys((gpu, decode_gpu)):
        require(g.name in profile_gpus(s.engine), f"{field}.engine", s.engine,
                f"an engine profile calibrated for {g.name}: one of "
                f"{[e for e in engines() if g.name in profile_gpus(e)]}")
    require(s.max_batch_tokens >= s.max_num_seqs, f"{field}.max_batch_tokens", s.max_batch_tokens,
            f"an integer >= max_num_seqs={s.max_num_seqs}")
    require(0 <= s.prefill_replicas < max(s.replicas, 1), f"{field}.prefill_replicas", s.prefill_replicas,
            f"0 (not disaggregated) or fewer than replicas={s.replicas}, so that decode replicas remain")
    require(s.prefix_cache_fraction > 0 or s.prefix_cache_ttl_s == 0, f"{field}.prefix_cache_ttl_s",
            s.prefix_cache_ttl_s, f"0 unless the prefix cache is on ({field}.prefix_cache_fraction > 0): a lifetime "
            "is that of cached blocks")
    for g in dict.fromkeys((gpu, decode_gpu)):
        _cpu_tier(field, s, g)
    autoscale = _autoscale(f"{field}.autoscale", s)
    arrivals, trace, sampler = _arrivals(field, s, start_hour, duration_s)
    _system_prompt(field, s)
    if isinstance(arrivals, SessionArrivals):
        sampler = arrivals.sample_calls
    elif sampler is None:
        prompt = _lengths(f"{field}.prompt_tokens", s.prompt_tokens)
        output = _lengths(f"{field}.output_tokens", s.output_tokens)
        sampler = length_sampler(prompt, output)
    if s.system_prompt_tokens and not isinstance(arrivals, SessionArrivals):
        sampler = _with_system_prompt(sampler, s.system_prompt_tokens)
    vision = _vision(field, model, s, trace)
    if vision is not None:
        sampler = _with_vision_tokens(sampler, vision.tokens)
    if trace is not None:
        totals = trace.prompt_tokens + trace.output_tokens
        longest_at = int(np.argmax(totals)) if len(totals) else -1
        longest = int(totals[longest_at]) if len(totals) else 0
        mean_p, mean_o = float(trace.prompt_tokens.mean()), float(trace.output_tokens.mean())
        decode_ctx = decode_context_tokens(trace.prompt_tokens, trace.output_tokens)
        median_p = float(np.median(trace.prompt_tokens))
    else:
        p, o = sampler(np.random.default_rng(0), LENGTH_MEAN_SAMPLES)
        mean_p, mean_o, median_p = float(p.mean()), float(o.mean()), float(np.median(p))
        decode_ctx = decode_context_tokens(p, o)
        longest_at = -1
        longest = int(p.max() + o.max()) if s.arrivals.process == "servegen" else (
            s.arrivals.sessions.max_context_tokens if s.arrivals.process == "sessions" else
            s.system_prompt_tokens + s.prompt_tokens.max_tokens + s.output_tokens.max_tokens)
        if vision is not None and s.arrivals.process != "servegen":  # drawn prompts hold the vision tokens too
            longest += vision.tokens
    kv = _kv_capacity(field, s, model, gpu, trace, longest, longest_at, mean_p + mean_o)
    decode_kv = kv if decode_gpu is gpu else _kv_capacity(field, s, model, decode_gpu, trace, longest, longest_at,
                                                          mean_p + mean_o)
    return ServiceSpec(
        name=name, model=model, config=s, arrivals=arrivals, lengths=sampler, mean_prompt_tokens=mean_p,
        mean_output_tokens=mean_o, median_prompt_tokens=median_p, kv_capacity_tokens=kv, trace=trace,
        mean_decode_context_tokens=decode_ctx,
        autoscale=autoscale, prefix_warning=_prefix_warning(field, s, trace), vision=vision,
        gpu=gpu.name, decode_gpu=decode_gpu.name, decode_kv_capacity_tokens=decode_kv,
    )


def _pool_gpus(field: str, s: ServiceConfig, topology: Topology, node_gpu: GpuSpec) -> tuple[GpuSpec, GpuSpec]:
    """The GPU types of the service's replicas and of its decode pool, each one the facility has racks of."""
    have = {g.name: g for g in topology.gpu_types}
    where = (f"a GPU type the facility has racks of: one of {list(have)} (facility.node.gpu and "
             f"facility.rack_groups), or null for facility.node.gpu={node_gpu.name}")
    require(s.gpu is None or s.gpu in have, f"{field}.gpu", s.gpu, where)
    gpu = node_gpu if s.gpu is None else have[s.gpu]
    require(s.decode_gpu is None or s.decode_gpu in have, f"{field}.decode_gpu", s.decode_gpu,
            where.replace(f"facility.node.gpu={node_gpu.name}", f"{field}.gpu={gpu.name}"))
    require(s.decode_gpu is None or s.prefill_replicas > 0, f"{field}.decode_gpu", s.decode_gpu,
            f"null unless the service is disaggregated ({field}.prefill_replicas > 0)")
    require(s.decode_gpu is None or s.fidelity == "request", f"{field}.decode_gpu", s.decode_gpu,
            "null with fidelity=fluid (a decode pool of its own GPU type is request fidelity only)")
    return gpu, gpu if s.decode_gpu is None else have[s.decode_gpu]


def _kv_capacity(field: str, s: ServiceConfig, model: LlmSpec, gpu: GpuSpec, trace: Any, longest: int,
                 longest_at: int, typical_context: float) -> int:
    """KV-cache tokens of one replica on ``gpu``, refused when the longest request does not fit."""
    # sliding-window layers hold at most their window: counted at a typical request's context
    kv = max_kv_tokens(model, gpu, s.tp, s.gpu_memory_utilization, context_tokens=typical_context, ep=s.ep)
    # one sequence lives in one attention group of tp GPUs (the whole replica when ep = 1)
    group_kv = group_kv_tokens(model, gpu, s.tp, s.gpu_memory_utilization, context_tokens=typical_context, ep=s.ep)
    routed_b = model.num_experts * model.expert_bytes
    group_weights_b = model.weight_bytes if s.ep == 1 else model.weight_bytes - routed_b + routed_b / s.ep
    need_gb = (group_weights_b + longest * model.kv_bytes_per_token_on(s.tp)) / GB_B
    have_gb = s.tp * gpu.hbm_bytes * s.gpu_memory_utilization / GB_B
    if trace is not None and group_kv < longest:  # the trace's row is to blame, not the TP degree
        row = trace.rows[longest_at] if trace.rows is not None else longest_at + 1
        raise ConfigError(f"{field}.arrivals.trace_path", s.arrivals.trace_path,
                          f"a trace whose every request fits {model.name} on {s.tp} x {gpu.name}: row {row} "
                          f"({trace.name}:{row}) asks {int(trace.prompt_tokens[longest_at])} prompt + "
                          f"{int(trace.output_tokens[longest_at])} output tokens, {need_gb:.0f} GB with the weights, "
                          f"{have_gb:.0f} GB available (at most {kv} tokens of KV cache)")
    group = f" (one attention group of ep={s.ep}, with its 1/{s.ep} of the routed experts)" if s.ep > 1 else ""
    require(group_kv >= longest, f"{field}.tp", s.tp,
            f"a TP degree whose GPU memory holds {model.name}: weights plus the KV cache of the longest request "
            f"need {need_gb:.0f} GB, {s.tp} x {gpu.name} give {have_gb:.0f} GB{group}")
    return kv


def scaled_load(field: str, s: ServiceConfig, m: float) -> ServiceConfig:
    """``s`` with its arrival rate (session start rate; trace speed) x ``m``."""
    a = s.arrivals
    require(a.process != "closed", "workload.rate_multiplier", m,
            f"1 with {field}.arrivals.process=closed (a closed loop's load is its users: set arrivals.concurrency)")
    if a.process in ("trace", "servegen"):
        return dataclasses.replace(s, arrivals=dataclasses.replace(a, rate_multiplier=a.rate_multiplier * m))
    if a.process == "sessions":
        sessions = dataclasses.replace(a.sessions, arrival_rate_per_s=a.sessions.arrival_rate_per_s * m)
        return dataclasses.replace(s, arrivals=dataclasses.replace(a, sessions=sessions))
    return dataclasses.replace(s, arrival_rate_per_s=s.arrival_rate_per_s * m)


def decode_context_tokens(prompts: np.ndarray, outputs: np.ndarray) -> float:
    """Mean context of a decoding sequence, averaged over decode iterations: a request of
    prompt P and output L decodes at contexts P + 1 .. P + L - 1, so the mean is
    E[(L - 1) P + L (L - 1) / 2] / E[L - 1]; long answers weigh by their length (with
    lognormal outputs of sigma 0.86 the decode context's output part is twice E[L] / 2)."""
    p, o = np.asarray(prompts, dtype=np.float64), np.asarray(outputs, dtype=np.float64)
    steps = np.maximum(o - 1.0, 0.0)
    if not len(o) or steps.sum() == 0:
        return float(p.mean()) if len(p) else 0.0
    return float((steps * p + o * steps / 2.0).sum() / steps.sum())


def _cpu_tier(field: str, s: ServiceConfig, gpu: GpuSpec) -> None:
    """A CPU-memory KV tier needs a prefix cache to evict from and a GPU whose host link is known."""
    if s.kv_cpu_tier_gb == 0:
        return
    require(s.prefix_cache_fraction > 0, f"{field}.kv_cpu_tier_gb", s.kv_cpu_tier_gb,
            f"0 unless the prefix cache is on ({field}.prefix_cache_fraction > 0): the tier holds its evicted blocks")
    require(gpu.host_link_bw_bytes_per_s is not None, f"{field}.kv_cpu_tier_gb", s.kv_cpu_tier_gb,
            f"0 on {gpu.name}: its catalogue file gives no host_link_gb_s (CPU <-> GPU bandwidth) to reload over")


def _vision(field: str, model: LlmSpec, s: ServiceConfig, trace: Any) -> VisionWork | None:
    """The vision input of each request of the service, validated; None without one."""
    require(not s.video_fps or s.video_frames > 0, f"{field}.video_fps", s.video_fps,
            f"0 without a video ({field}.video_frames = 0): it is the frame rate of the video's clip")
    if not (s.images_per_request or s.video_frames):
        return None
    key, value = ("images_per_request", s.images_per_request) if s.images_per_request else ("video_frames", s.video_frames)
    with_vision = sorted(n for n in MODELS if MODELS[n].vision is not None)
    require(model.vision is not None, f"{field}.{key}", value,
            f"0: {model.name} has no vision encoder (models with one: {with_vision})")
    assert model.vision is not None  # required just above
    require(not s.video_frames or model.vision.temporal_patch > 0, f"{field}.video_frames", s.video_frames,
            f"0: {model.name}'s vision encoder takes images only")
    require(not s.video_fps or model.vision.video_sample_fps > 0, f"{field}.video_fps", s.video_fps,
            f"0 for {model.name}: its catalogue file does not describe how its video processor samples frames "
            f"(give {field}.video_frames as the frames it encodes)")
    require(trace is None, f"{field}.{key}", value, "0 with a replayed trace (its prompt lengths count every token)")
    require(s.arrivals.process != "sessions", f"{field}.{key}", value,
            "0 with agentic sessions (a session's calls carry no images in this model)")
    return model.vision.work(model.name, s.images_per_request, (s.image_width_px, s.image_height_px),
                             s.video_frames, (s.video_width_px, s.video_height_px), s.video_fps)


def _with_vision_tokens(sampler: Any, tokens: int) -> Any:
    """The length sampler with ``tokens`` vision tokens added to every prompt."""

    def sample(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
        prompts, outputs = sampler(rng, n)
        return prompts + tokens, outputs

    return sample


def check_replicas_fit(services: tuple[tuple[ServiceSpec, str], ...], topology: Topology) -> None:
    """Every service's replicas (at their autoscaling maximum) fit the facility's GPUs
    together, those of each GPU type on its racks; the first that does not is named with the
    GPUs left for it."""
    if not topology.mixed:
        _check_fit(services, topology.gpus_total, "")
        return
    for gpu in topology.gpu_types:
        pools: list[tuple[ServiceSpec, str]] = []
        for spec, _ in services:
            n = spec.config.replicas
            prefill = spec.config.prefill_replicas if spec.decode_gpu != spec.gpu else n
            count = (prefill if spec.gpu == gpu.name else 0) + (n - prefill if spec.decode_gpu == gpu.name else 0)
            if count:
                pools.append((dataclasses.replace(spec, config=dataclasses.replace(spec.config, replicas=count)),
                              "replicas"))
        _check_fit(tuple(pools), topology.of_type(gpu.name).gpus_total, f" of {gpu.name}")


def _check_fit(services: tuple[tuple[ServiceSpec, str], ...], gpus_total: int, of_type: str) -> None:
    used = 0
    for spec, _ in services:
        field = f"workload.services.{spec.name}." + ("autoscale.max_replicas" if spec.autoscale else "replicas")
        n = spec.autoscale.max_replicas if spec.autoscale else spec.config.replicas
        tp = spec.gpus_per_replica
        shape = f"tp={spec.config.tp}" + (f" x ep={spec.config.ep}" if spec.config.ep > 1 else "")
        left = gpus_total - used
        before = f", {used} of them taken by the services before it" if used else ""
        require(n * tp <= left, field, n,
                f"at most {left // tp} replicas of {shape} ({n * tp} GPUs asked): the facility has "
                f"{gpus_total} GPUs{of_type}{before}")
        used += n * tp


def _replica_shape(field: str, s: ServiceConfig, model: LlmSpec, topology: Topology) -> None:
    """A replica of tp x ep GPUs that placement can keep inside one scale-up domain, or on whole domains.

    Up to a node: a divisor of the node's GPUs (it goes on one node). Up to the domain:
    whole nodes (of one domain). Beyond: whole domains, each attention group of tp GPUs
    inside one domain or on whole domains, so that its collectives cross the NICs as
    ``network.collective_s`` costs them.
    """
    g, d = topology.node.gpus_per_node, topology.domain_gpus
    require(s.ep == 1 or model.is_moe, f"{field}.ep", s.ep,
            f"1 for {model.name}, a dense model (expert parallelism spreads the experts of a mixture of experts)")
    n = s.tp * s.ep
    require(s.ep == 1 or n <= model.num_experts, f"{field}.ep", s.ep,
            f"at most {model.num_experts // s.tp} with tp={s.tp}: tp x ep GPUs share {model.name}'s "
            f"{model.num_experts} experts, at least one each")
    tp_fits = s.tp <= d and d % s.tp == 0 or s.tp % d == 0
    ok = n <= g and g % n == 0 or g < n <= d and n % g == 0 or n > d and n % d == 0 and tp_fits
    key, value, what = (f"{field}.tp", s.tp, "tp") if s.ep == 1 else (f"{field}.ep", s.ep, f"tp x ep = {n} GPUs")
    divisors = [k for k in range(1, g + 1) if g % k == 0]
    domain = (f"the scale-up domain's {d} GPUs (facility.node.scaleup_domain_gpus; the node when null)")
    require(ok, key, value,
            f"{what} as a divisor of facility.node.gpus_per_node={g} ({divisors}), whole nodes within {domain}, "
            f"or whole domains of {d} GPUs (across the scale-out network)"
            + ("" if tp_fits else f", with tp={s.tp} dividing the domain or a multiple of it"))


def _autoscale(field: str, s: ServiceConfig) -> AutoscaleConfig | None:
    """The validated autoscaler of a service, or None."""
    a = s.autoscale
    if not a.enabled:
        return None
    require_choice(f"{field}.metric", a.metric, AutoscaleMetric)
    require(a.metric != "slo" or s.slo_ttft_s is not None or s.slo_tpot_s is not None, f"{field}.metric", a.metric,
            "queue or utilisation, or set slo_ttft_s / slo_tpot_s for slo")
    require(a.metric == "queue" or a.metric == "utilisation" and a.target <= 1 or a.metric == "slo" and a.target <= 1,
            f"{field}.target", a.target, "a fraction in (0, 1] for utilisation and slo")
    require(a.max_replicas >= a.min_replicas, f"{field}.max_replicas", a.max_replicas,
            f"an integer >= min_replicas={a.min_replicas}")
    require(a.min_replicas <= s.replicas <= a.max_replicas, f"{field.rpartition('.')[0]}.replicas", s.replicas,
            f"the initial count, within min_replicas={a.min_replicas} and max_replicas={a.max_replicas}")
    require(s.fidelity == "request", f"{field}.enabled", a.enabled, "false with fidelity=fluid (request fidelity only)")
    require(s.prefill_replicas == 0, f"{field}.enabled", a.enabled, "false for a disaggregated service (prefill_replicas > 0)")
    return a  # the schema object is the spec: one dataclass for the autoscaler


def _arrivals(field: str, s: ServiceConfig, start_hour: float, duration_s: float) -> tuple[Any, Any, Any]:
    """(arrival process, trace or None, length sampler or None) of a service."""
    a = s.arrivals
    require_choice(f"{field}.arrivals.process", a.process, ArrivalProcess)
    if a.process == "sessions":
        return _sessions(field, s, duration_s), None, None
    if a.process == "closed":
        require(s.fidelity == "request", f"{field}.fidelity", s.fidelity,
                "request with arrivals.process=closed (the closed loop follows each completion; fluid has no requests)")
        require(a.trace_path is None, f"{field}.arrivals.trace_path", a.trace_path,
                "null with arrivals.process=closed (a closed loop draws prompt_tokens and output_tokens)")
        c = a.concurrency
        require(isinstance(c, int) and not isinstance(c, bool) and 1 <= c <= MAX_CLOSED_USERS,
                f"{field}.arrivals.concurrency", c,
                f"an integer in 1..{MAX_CLOSED_USERS:,} (users, each with one request outstanding)")
        t = a.think_time_s
        require(isinstance(t, (int, float)) and math.isfinite(t) and t >= 0, f"{field}.arrivals.think_time_s", t,
                "a finite number of seconds >= 0 (mean of an exponential think time; 0: none)")
        return arr.ClosedLoop(c, t), None, None
    if a.process in ("trace", "servegen"):
        require(a.trace_path is not None, f"{field}.arrivals.trace_path", a.trace_path,
                f"a file (trace) or directory (servegen) for arrivals.process={a.process}")
        assert a.trace_path is not None  # required just above
        try:
            if a.process == "trace":
                trace = traces.read_trace(resolve_data_path(a.trace_path), str(a.trace_format))
                return arr.TraceArrivals(trace, a.rate_multiplier), trace, None
            wl = traces.read_servegen(a.trace_path)
            return arr.ScaledArrivals(wl, a.rate_multiplier) if a.rate_multiplier != 1.0 else wl, None, wl.sample_lengths
        except (OSError, ValueError) as e:
            raise ConfigError(f"{field}.arrivals.trace_path", a.trace_path, f"a readable trace: {e}") from None
    rate = s.arrival_rate_per_s
    require(0 <= rate <= MAX_ARRIVAL_RATE_PER_S, f"{field}.arrival_rate_per_s", rate,
            f"requests per second in [0, {MAX_ARRIVAL_RATE_PER_S:,.0f}]")
    require(s.fidelity != "request" or rate * duration_s <= MAX_REQUESTS, f"{field}.arrival_rate_per_s", rate,
            f"at most {MAX_REQUESTS:,} requests over duration_s={duration_s:g} at request fidelity "
            f"({MAX_REQUESTS / duration_s:g} per second; use fidelity=fluid for more)")
    require(a.process == "poisson" or 0.01 <= a.cv <= 100, f"{field}.arrivals.cv", a.cv,
            "a coefficient of variation in [0.01, 100] for gamma and diurnal arrivals")
    try:
        if a.process == "poisson":
            return arr.PoissonArrivals(s.arrival_rate_per_s), None, None
        if a.process == "gamma":
            return arr.GammaArrivals(s.arrival_rate_per_s, a.cv), None, None
        return arr.DiurnalArrivals(s.arrival_rate_per_s, a.peak_to_trough, a.peak_hour, a.cv, start_hour), None, None
    except ValueError as e:
        raise ConfigError(f"{field}.arrivals", a.process, str(e)) from None


def _sessions(field: str, s: ServiceConfig, duration_s: float) -> SessionArrivals:
    """The validated session workload of a service (``arrivals.process=sessions``)."""
    c: SessionConfig = s.arrivals.sessions
    require(s.arrivals.trace_path is None, f"{field}.arrivals.trace_path", s.arrivals.trace_path,
            "null with arrivals.process=sessions (sessions draw their calls from arrivals.sessions)")
    rate = c.arrival_rate_per_s
    require(0 <= rate <= MAX_ARRIVAL_RATE_PER_S, f"{field}.arrivals.sessions.arrival_rate_per_s", rate,
            f"sessions per second in [0, {MAX_ARRIVAL_RATE_PER_S:,.0f}]")
    sf = f"{field}.arrivals.sessions"
    calls = _lengths(f"{sf}.calls", c.calls)
    require(rate * duration_s * calls.sample_many(np.random.default_rng(0), 1000).mean() <= MAX_REQUESTS,
            f"{sf}.arrival_rate_per_s", rate,
            f"at most {MAX_REQUESTS:,} calls over duration_s={duration_s:g} (sessions per second x mean calls)")
    work = SessionArrivals(rate, calls, _durations(f"{sf}.think_time", c.think_time),
                           _lengths(f"{sf}.first_context_tokens", c.first_context_tokens),
                           _lengths(f"{sf}.new_tokens", c.new_tokens), _lengths(f"{sf}.output_tokens", c.output_tokens),
                           s.system_prompt_tokens, s.system_prompts, s.prefix_block_tokens, c.max_context_tokens,
                           c.user_turn_probability, _durations(f"{sf}.user_think_time", c.user_think_time))
    first, _ = work.sample_calls(np.random.default_rng(0), 1000)
    require(len(first) > 0, f"{sf}.max_context_tokens", c.max_context_tokens,
            f"a context window that fits a first call: system_prompt_tokens={s.system_prompt_tokens} + "
            "first_context_tokens + output_tokens exceed it in every session drawn")
    return work


def _durations(field: str, d: DurationConfig) -> DurationDistribution:
    require(d.distribution in DURATION_DISTRIBUTIONS, f"{field}.distribution", d.distribution,
            f"one of {list(DURATION_DISTRIBUTIONS)} (no measured histogram of durations ships)")
    require(d.max_s >= d.min_s, f"{field}.max_s", d.max_s, f">= min_s={d.min_s}")
    if d.distribution == "lognormal":
        require(d.log_sigma >= 0, f"{field}.log_sigma", d.log_sigma, "a log standard deviation >= 0")
    return DurationDistribution(str(d.distribution), d.mean_s, d.log_mu, d.log_sigma, d.min_s, d.max_s)


def _system_prompt(field: str, s: ServiceConfig) -> None:
    """A shared system prompt goes with drawn lengths or sessions, not with a trace or a closed loop."""
    if s.system_prompt_tokens == 0:
        return
    p = s.arrivals.process
    require(p not in ("trace", "servegen", "closed"), f"{field}.system_prompt_tokens", s.system_prompt_tokens,
            f"0 with arrivals.process={p} (a shared system prompt is added to drawn lengths and sessions: "
            "poisson, gamma, diurnal or sessions)")


def _with_system_prompt(sampler, system_tokens: int):
    """Lengths with the shared system prompt in front of every prompt."""

    def sample(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
        prompts, outputs = sampler(rng, n)
        return prompts + system_tokens, outputs

    return sample


def _prefix_warning(field: str, s: ServiceConfig, trace: Any) -> str:
    """Why the prefix cache of a service can share nothing ("" when it can)."""
    if s.prefix_cache_fraction == 0 or s.fidelity != "request":
        return ""
    if s.arrivals.process == "sessions" or s.system_prompt_tokens >= s.prefix_block_tokens:
        return ""
    if trace is not None and trace.hash_ids is not None:
        return ""
    why = ("the trace has no block hashes" if trace is not None else
           f"system_prompt_tokens={s.system_prompt_tokens} < prefix_block_tokens={s.prefix_block_tokens}"
           if s.system_prompt_tokens else "synthetic prompts share nothing without system_prompt_tokens or sessions")
    text = f"{field}.prefix_cache_fraction={s.prefix_cache_fraction:g} caches nothing: {why}"
    log.warning("%s", text)
    return text


def _lengths(field: str, lc: LengthConfig) -> LengthDistribution:
    require(lc.distribution in LENGTH_DISTRIBUTIONS, f"{field}.distribution", lc.distribution,
            f"one of {list(LENGTH_DISTRIBUTIONS)}")
    require(lc.max_tokens >= lc.min_tokens, f"{field}.max_tokens", lc.max_tokens, f">= min_tokens={lc.min_tokens}")
    if lc.distribution in ("constant", "exponential"):
        positive(f"{field}.mean", lc.mean, f"a mean token count > 0 for a {lc.distribution} distribution")
    else:
        require(lc.log_sigma >= 0, f"{field}.log_sigma", lc.log_sigma, "a log standard deviation >= 0")
    bins: tuple[tuple[float, ...], ...] = ((), (), ())
    if lc.distribution == "histogram":
        require(bool(lc.histogram), f"{field}.histogram", lc.histogram,
                "MODEL_ID:TASK of a histogram in histogram_path for a histogram distribution")
        try:
            bins = length_histogram(lc.histogram_path, lc.histogram)
        except OSError as e:
            raise ConfigError(f"{field}.histogram_path", lc.histogram_path, f"a readable CSV of histograms: {e}") from None
        except KeyError as e:
            raise ConfigError(f"{field}.histogram", lc.histogram, e.args[0]) from None
        require(bins[0][0] < lc.max_tokens and bins[1][-1] > lc.min_tokens, f"{field}.max_tokens", lc.max_tokens,
                f"a range [min_tokens, max_tokens] that meets the histogram's [{bins[0][0]:g}, {bins[1][-1]:g})")
    return LengthDistribution(str(lc.distribution), lc.mean, lc.log_mu, lc.log_sigma, lc.min_tokens, lc.max_tokens,
                              *bins)


def _served_precision(field: str, model: LlmSpec, s: ServiceConfig, gpu: GpuSpec) -> LlmSpec:
    """The model at the service's weight/KV precision, refused when the GPU cannot run it:
    fp8 weights or KV need native FP8 (Hopper on; A100 has none), fp4 weights native FP4
    (Blackwell); MXFP4 weights run natively on FP4 GPUs and as weight-only W4A16 on FP8
    ones (vLLM's gpt-oss on H100), not on A100."""
    native = tuple(getattr(gpu, "native_precisions", ("bf16",)))
    for key, value, allowed in (("weight_precision", s.weight_precision, WEIGHT_PRECISIONS),
                                ("kv_precision", s.kv_precision, KV_PRECISIONS)):
        if value is None:
            continue
        require(value in allowed, f"{field}.{key}", value, f"one of {list(allowed)}, or null for {model.name}'s own")
        runs = [p for p in allowed if _gpu_runs(p, key, native)]
        require(_gpu_runs(value, key, native), f"{field}.{key}", value,
                f"a precision {gpu.name} runs natively (native: {'/'.join(native)}): one of {runs}, or null")
    return model.with_precision(weight=s.weight_precision, kv=s.kv_precision)


def _gpu_runs(precision: str, key: str, native: tuple[str, ...]) -> bool:
    if precision in ("fp8", "fp4"):
        return precision in native
    if precision == "mxfp4":  # native FP4 MMA, or W4A16 weight-only kernels on FP8-capable GPUs
        return key == "weight_precision" and ("fp4" in native or "fp8" in native)
    return True
