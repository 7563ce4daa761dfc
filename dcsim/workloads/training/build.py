"""From a training job's schema (``dcsim.workloads.config``) to its spec.

The builders take the typed schema objects (never a DictConfig): a job with its
parallelism, memory check, checkpoints and failures, and the duration-defined jobs of a
job trace. Each raises :class:`~dcsim.core.errors.ConfigError` naming the exact field, the
value and what is allowed; ``dcsim.config.build`` composes the jobs of a run.
"""

from __future__ import annotations

import functools
import math
from typing import Any, cast

from dcsim.core.errors import ConfigError, require
from dcsim.core.fields import positive, require_choice
from dcsim.core.rng import RngStreams
from dcsim.core.units import GB_B
from dcsim.data import resolve_data_path
from dcsim.facility.config import NetworkConfig
from dcsim.facility.topology import Topology
from dcsim.hardware import training as tm
from dcsim.hardware.device import DeviceModel
from dcsim.hardware.gpus import GpuSpec
from dcsim.hardware.models import LlmSpec
from dcsim.hardware.performance import TrainingStep, training_step
from dcsim.workloads.config import CheckpointPolicy, JobTraceConfig, JobTraceSource, TrainingJobConfig, model_named
from dcsim.workloads.training import traces as jt
from dcsim.workloads.training.job import JobSpec

# Bytes of training state per parameter with mixed-precision Adam: BF16 weights and
# gradients (2 + 2) and FP32 master weights, momentum and variance (4 + 4 + 4)
# (Rajbhandari et al., ZeRO, SC 2020, section 3.1).
TRAINING_BYTES_PER_PARAM = 16.0


def job_from_config(field: str, job_id: int, name: str, j: TrainingJobConfig, topology: Topology, gpu: GpuSpec,
                    network: NetworkConfig, device: DeviceModel) -> JobSpec:
    """The validated spec of the training job at ``field`` (``workload.training.NAME``), on
    the facility's scale-out ``network``."""
    model = model_named(f"{field}.model", j.model)
    g = topology.node.gpus_per_node
    require(j.gpus >= 1 and (j.gpus <= g and g % j.gpus == 0 or j.gpus % g == 0), f"{field}.gpus", j.gpus,
            f"a divisor or a multiple of facility.node.gpus_per_node={g}")
    require(j.gpus <= topology.gpus_total, f"{field}.gpus", j.gpus, f"at most the facility's {topology.gpus_total} GPUs")
    require(j.model_parallel >= 1 and j.gpus % j.model_parallel == 0, f"{field}.model_parallel", j.model_parallel,
            f"a divisor of gpus={j.gpus}")
    steps = j.steps
    if j.tokens_to_train is not None:
        steps = math.ceil(j.tokens_to_train / j.tokens_per_step)
    require(network.rack_uplink_oversubscription >= 1.0, "facility.network.rack_uplink_oversubscription",
            network.rack_uplink_oversubscription, "a ratio >= 1 (1: non-blocking)")
    scaleout = network.scaleout_gbit_per_s_per_gpu * 1e9 / 8
    if j.parallelism.tp > 0:
        _check_parallelism(field, j, model, gpu)
    else:
        state_gb = model.params * TRAINING_BYTES_PER_PARAM / j.gpus / GB_B
        require(state_gb <= gpu.hbm_bytes / GB_B, f"{field}.gpus", j.gpus,
                f"enough GPUs to hold {model.name}'s training state: {state_gb:.0f} GB per GPU sharded over {j.gpus}, "
                f"{gpu.name} has {gpu.hbm_bytes / GB_B:.0f} GB")
    step_at = functools.partial(_step_at, j, model, gpu, device.training_slowdown())
    resilience = _resilience(field, j, model)
    full_speed_s = _step_at(j, model, gpu, 1.0, scaleout).time_s  # uncapped, at full bandwidth: goodput's step
    return JobSpec(job_id, name, model, j.gpus, j.submit_time_s, steps, step_at(scaleout), power_swing=j.power_swing,
                   priority=j.priority, preemptible=j.preemptible,
                   preempt_write_s=_checkpoint_write_s(model, j.storage_gbyte_per_s), step_at=step_at,
                   scaleout_bytes_per_s=scaleout, uplink_oversubscription=network.rack_uplink_oversubscription,
                   full_speed_step_s=full_speed_s, gpu=gpu.name, **resilience)


def _resilience(field: str, j: TrainingJobConfig, model: LlmSpec) -> dict[str, Any]:
    """Checkpoint and failure parameters of a job (dcsim.hardware.training)."""
    require_choice(f"{field}.checkpoint", j.checkpoint, CheckpointPolicy)
    write_s = _checkpoint_write_s(model, j.storage_gbyte_per_s)
    rate = 0.0
    causes: tuple[tuple[str, float], ...] = ()
    if j.failures and j.failure_rate_scale > 0:
        rate = tm.interruption_rate_per_s(j.gpus) * j.failure_rate_scale
        total = sum(c.per_gpu_hour for c in tm.FAILURE_CAUSES.values())
        causes = tuple((c.name, c.per_gpu_hour / total) for c in tm.FAILURE_CAUSES.values())
    interval = None
    if j.checkpoint == "fixed":
        positive(f"{field}.checkpoint_interval_s", j.checkpoint_interval_s, "seconds > 0")
        interval = j.checkpoint_interval_s
    elif j.checkpoint == "young_daly":
        require(rate > 0, f"{field}.checkpoint", j.checkpoint, "young_daly needs failures=true (it uses the failure rate)")
        interval = tm.young_daly_interval_s(write_s, 1.0 / rate)
    return dict(checkpoint_interval_s=interval, checkpoint_write_s=write_s if interval else 0.0,
                checkpoint_async=j.checkpoint_async, failure_rate_per_s=rate, failure_causes=causes,
                restart_s=j.restart_s, reload_s=write_s, hot_spare_nodes=j.hot_spare_nodes, repair_s=j.repair_s,
                repair_causes=frozenset(c.name for c in tm.FAILURE_CAUSES.values() if c.sends_node_to_repair))


def _layout(j: TrainingJobConfig):
    p = j.parallelism
    return tm.Parallelism.for_gpus(j.gpus, tp=p.tp, pp=p.pp, dp=p.dp, cp=p.cp, ep=p.ep, vpp=p.vpp,
                                   vocab_slots=bool(p.vocab_slots))


def _check_parallelism(field: str, j: TrainingJobConfig, model: LlmSpec, gpu: GpuSpec) -> None:
    p = j.parallelism
    pfield = f"{field}.parallelism"
    layout = f"tp={p.tp} pp={p.pp} dp={p.dp} cp={p.cp}"
    require(j.recompute in tm.RECOMPUTE_CHOICES, f"{field}.recompute", j.recompute, "none, selective or full")
    try:
        par = _layout(j)
        par.check_model(model)
    except ValueError as e:
        raise ConfigError(pfield, f"tp={p.tp} pp={p.pp} dp={p.dp} cp={p.cp} ep={p.ep}", str(e)) from None
    seqs = j.tokens_per_step / j.seq_len / par.dp / j.micro_batch_seqs
    require(seqs >= 1 and abs(seqs - round(seqs)) < 1e-9, f"{field}.tokens_per_step", j.tokens_per_step,
            f"a whole number >= 1 of micro-batches of {j.micro_batch_seqs} x {j.seq_len} tokens per dp={p.dp} replica")

    job_recompute = cast(tm.Recompute, str(j.recompute))

    def mem(recompute: tm.Recompute = job_recompute, zero_stage: int = j.zero_stage) -> tm.MemoryBreakdown:
        return tm.training_memory_per_gpu_bytes(model, par, j.micro_batch_seqs, j.seq_len, zero_stage=zero_stage,
                                                recompute=recompute, micro_batches=int(round(seqs)))

    m = mem()
    if m.fits(gpu):
        return
    # Name the field whose change alone would make it fit: zero_stage (more sharding over DP
    # costs no FLOPs), then recompute, else the layout.
    need = (f"{m.total / GB_B:.0f} GB per GPU needed ({j.recompute} recomputation, ZeRO stage {j.zero_stage}: "
            f"weights {m.weights / GB_B:.1f}, gradients {m.grads / GB_B:.1f}, optimizer {m.optimizer / GB_B:.1f}, "
            f"activations {m.activations / GB_B:.1f}), {gpu.name} has {gpu.hbm_bytes / GB_B:.0f} GB")
    if j.zero_stage < 3 and mem(zero_stage=3).fits(gpu):
        require(False, f"{field}.zero_stage", j.zero_stage, f"a higher ZeRO stage for this layout: {need}")
    if j.recompute != "full" and mem(recompute="full").fits(gpu):
        lighter = "selective or full" if j.recompute == "none" else "full"
        require(False, f"{field}.recompute", j.recompute, f"{lighter} recomputation for this layout: {need}")
    require(False, pfield, layout, f"a layout whose training state fits {gpu.name}: {need}")


def _step_at(j: TrainingJobConfig, model: LlmSpec, gpu: GpuSpec, slowdown: float,
             scaleout_bytes_per_s: float) -> TrainingStep:
    """A (validated) job's step at a scale-out bandwidth per GPU, compute stretched by a
    cap's ``slowdown``. Module level so that a partial of it pickles."""
    eff = j.compute_efficiency
    if j.parallelism.tp > 0:
        par = _layout(j)
        kw: dict[str, Any] = {} if eff is None else {"compute_efficiency": eff}
        b = tm.step_time(model, gpu, par, j.tokens_per_step, j.seq_len, j.micro_batch_seqs,
                         scaleout_bytes_per_s_per_gpu=scaleout_bytes_per_s, dp_overlap=j.comm_overlap,
                         recompute=cast(tm.Recompute, str(j.recompute)), **kw)
        step = TrainingStep(b.time_s, b.compute_s, b.time_s - b.compute_s, b.mfu)
    else:
        step = training_step(model, gpu, j.gpus, j.tokens_per_step, 0.40 if eff is None else eff,
                             j.gpus // j.model_parallel, scaleout_bytes_per_s, j.comm_overlap)
    if slowdown != 1.0:  # a power cap lowers the clock: compute stretches, communication does not
        compute_s = step.compute_s * slowdown
        time_s = compute_s + step.exposed_comm_s
        step = TrainingStep(time_s, compute_s, step.exposed_comm_s, step.mfu * step.time_s / time_s)
    return step


def _checkpoint_write_s(model: LlmSpec, storage_gbyte_per_s: float) -> float:
    """Seconds to write (or read) a model's full training checkpoint."""
    return tm.checkpoint_write_s(tm.checkpoint_bytes(model), storage_gbyte_per_s * 1e9)


def trace_jobs_from_config(field: str, first_id: int, name: str, t: JobTraceConfig, topology: Topology,
                           seed: int) -> tuple[tuple[JobSpec, ...], int]:
    """Duration-defined jobs of a job trace, each holding its GPUs for its traced run time,
    and how many jobs were dropped for asking more GPUs than the facility has."""
    require_choice(f"{field}.source", t.source, JobTraceSource)
    g, total = topology.node.gpus_per_node, topology.gpus_total
    if t.source == "philly":
        if t.window_start_s is not None and t.window_end_s is not None:
            require(t.window_end_s > t.window_start_s, f"{field}.window_end_s", t.window_end_s,
                    f"a time after window_start_s={t.window_start_s}")
        try:
            trace = jt.read_philly(resolve_data_path(t.path), t.window_start_s, t.window_end_s, g, total)
        except (OSError, ValueError) as e:
            raise ConfigError(f"{field}.path", t.path, f"a readable Philly job trace: {e}") from None
    else:
        rng = RngStreams(seed).stream(f"job_trace/{name}")
        trace = jt.synthetic_llm_jobs(rng, t.n_jobs, t.horizon_s, gpus_per_node=g, max_gpus=total, name=name)
    n = len(trace) if t.max_jobs is None else min(len(trace), t.max_jobs)
    return tuple(
        JobSpec(first_id + i, f"{name}/{int(trace.job_id[i])}", None, int(trace.gpus[i]),
                float(trace.t_submit_s[i]) + t.submit_offset_s, 1,
                TrainingStep(float(trace.duration_s[i]), float(trace.duration_s[i]), 0.0, math.nan))
        for i in range(n)
    ), trace.n_dropped
