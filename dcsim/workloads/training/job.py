"""Training jobs: gang-scheduled, checkpointed, interrupted by failures, run to completion.

A job is submitted at its submit time, waits in the cluster queue until the scheduler
grants all its GPUs at once, then runs ``steps`` steps of its step-time model. Nothing
happens per step: the job is a small state machine driven by timers, whose events are
the next checkpoint, the next failure and completion.

- **Checkpoints** every ``checkpoint_interval_s`` of running time. A synchronous one
  stalls the job for the write time (GPUs idle); an asynchronous one is valid once its
  write finishes, recording the progress at its start.
- **Failures** arrive as a Poisson process of rate ``failure_rate_per_s`` (the job's
  GPUs times the per-GPU hazard, by cause) while the job runs. Each interruption
  loses the progress since the last valid checkpoint and costs ``restart_s``
  (detection, rescheduling on spare nodes, restart) plus ``reload_s`` (reading the
  checkpoint), with the GPUs idle. A cause that takes its node out of service
  (``repair_causes``) sends the node to repair for ``repair_s``: a free hot spare
  replaces it at once; with ``hot_spare_nodes`` spares all in use the job also waits
  for the earliest repair (``hot_spare_nodes`` None: spares never run out).
- **Preemption** (by a scheduler, for higher-priority work): the job writes a
  checkpoint of all its progress (``preempt_write_s``, GPUs idle), releases its GPUs and
  queues again; when it starts again it reloads (``reload_s``) and resumes. No work is
  lost beyond that checkpoint.
- **Interruption** (its racks lost power: a thermal shutdown, a UPS run out): the job
  loses the progress since the last valid checkpoint (a checkpoint being written is
  lost too), releases its GPUs at once and queues again; when it starts again it
  reloads (``reload_s``). Counted in ``interruptions`` and in the lost steps.
- **Placement**: with a rack uplink oversubscription ``o > 1``, a job spread over racks
  gets less scale-out bandwidth per GPU: each rack holding ``n`` of its nodes can carry
  ``n / o`` of full bandwidth for the ring collectives crossing it, so the job runs at
  ``min(1, min_racks(n) / o)`` of full bandwidth (``step_at`` gives the step time at a
  bandwidth); a job in one rack gets it all.
- **Duration-defined jobs** (from a trace) have no model: one "step" of the traced
  duration, at training power, without failures or checkpoints.
- **Power**: a running step draws training power (the mean over a step); with
  ``power_swing`` the job alternates a compute phase and a communication phase of each
  step at their own power, whose mean over the step is that same training power (two
  events per step: for short, finely sampled runs).
- **Caps** stretch the compute part of a step (``DeviceModel.training_slowdown``); a cap
  change credits progress at the old pace and reschedules.
- **Useful work** (goodput): the progress kept, ``steps_done``, in GPU-seconds at full
  speed: ``useful_s = steps_done x full_speed_step_s`` per GPU (full clock, full scale-out
  bandwidth). A step slowed by a cap, a thermal throttle or a congested placement counts
  what it achieved, not the time it took; work a failure discards is taken back.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dcsim.hardware.device import DeviceModel
from dcsim.hardware.models import LlmSpec
from dcsim.hardware.performance import TrainingStep
from dcsim.workloads.cluster import Allocation, Cluster, WorkRequest

if TYPE_CHECKING:
    from dcsim.core.simulation import Simulation

# Power of the communication phase of a step, as a share of the idle-to-training range:
# GPUs wait on the network with SMs mostly idle (assumption; see docs/training.md).
COMM_PHASE_ACTIVITY = 0.3


def swing_phase_powers_w(mean_w: float, idle_w: float, ceiling_w: float, compute_s: float,
                         comm_s: float) -> tuple[float, float]:
    """Per-GPU power of the compute and communication phases of a step whose mean is ``mean_w``.

    The communication phase draws ``idle + COMM_PHASE_ACTIVITY x (compute - idle)``, and
    the two phases keep the step's mean power, so its energy is the same as without the
    swing::

        compute_w = idle + (mean - idle) x T / (t_compute + a x t_comm)

    If that would pass ``ceiling_w`` (TDP, or the cap), the compute phase draws the ceiling
    and the communication phase the rest of the step's energy:
    ``comm_w = (mean x T - ceiling x t_compute) / t_comm``.
    """
    step_s = compute_s + comm_s
    if comm_s <= 0 or step_s <= 0:
        return mean_w, mean_w
    compute_w = idle_w + (mean_w - idle_w) * step_s / (compute_s + COMM_PHASE_ACTIVITY * comm_s)
    if compute_w <= ceiling_w:
        return compute_w, idle_w + COMM_PHASE_ACTIVITY * (compute_w - idle_w)
    return ceiling_w, (mean_w * step_s - ceiling_w * compute_s) / comm_s


@dataclass(frozen=True)
class JobSpec:
    """A validated training job."""

    job_id: int
    name: str
    model: LlmSpec | None  # None: a duration-defined job from a trace
    gpus: int
    submit_time_s: float
    steps: int
    step: TrainingStep
    checkpoint_interval_s: float | None = None  # None: no checkpoints
    checkpoint_write_s: float = 0.0
    checkpoint_async: bool = False
    failure_rate_per_s: float = 0.0  # interruptions per second of the whole job
    failure_causes: tuple[tuple[str, float], ...] = ()  # (cause, share of the rate)
    restart_s: float = 0.0
    reload_s: float = 0.0
    repair_causes: frozenset[str] = frozenset()  # causes that send the failed node to repair
    hot_spare_nodes: int | None = None  # None: a spare always replaces a failed node at once
    repair_s: float = 0.0
    power_swing: bool = False
    priority: int = 0
    preemptible: bool = True
    preempt_write_s: float = 0.0  # checkpoint write when preempted
    step_at: Callable[[float], TrainingStep] | None = None  # step at a scale-out bandwidth per GPU (B/s)
    scaleout_bytes_per_s: float = 0.0  # full scale-out bandwidth per GPU
    uplink_oversubscription: float = 1.0  # rack uplinks: 1 is non-blocking
    # the step at full speed (full clock, full scale-out bandwidth): goodput's measure of a
    # step of progress; None: ``step.time_s`` (a traced job's duration)
    full_speed_step_s: float | None = None
    gpu: str = ""  # the GPU type it runs on ("": the facility's node.gpu)

    @property
    def useful_step_s(self) -> float:
        """Seconds a step of progress takes at full speed (goodput counts progress in these)."""
        return self.step.time_s if self.full_speed_step_s is None else self.full_speed_step_s

    @property
    def kind_label(self) -> str:
        return "model" if self.model is not None else "trace"

    @property
    def model_name(self) -> str:
        return self.model.name if self.model is not None else "trace"


class TrainingJob:
    """One job's life: submit, wait, run (checkpoint, fail, restart), release."""

    kind = "training"

    def __init__(self, sim: Simulation, spec: JobSpec, cluster: Cluster, device: DeviceModel) -> None:
        self.sim = sim
        self.spec = spec
        self.cluster = cluster
        self.base_device = device
        self.device = device
        self.cap_w: float | None = device.cap_w
        self.status = "not_submitted"
        self.phase = "waiting"  # waiting, running, checkpointing, restarting, done
        self.t_start_s = math.nan
        self.t_end_s = math.nan
        self.alloc: Allocation | None = None
        self.steps_done = 0.0  # progress up to t_progress_s (lost work is taken back)
        self.t_progress_s = math.nan
        self.step = spec.step  # at the current placement, uncapped beyond the base device
        self.step_time_s = spec.step.time_s
        self.preemptions = 0
        self.interruptions = 0  # times its racks lost power under it
        self._reload = False  # the next start reads the checkpoint back first
        self._epoch = 0  # bumped when progress is thrown away: a checkpoint started before it is void
        self.racks = 0  # racks spanned at the last start
        self._energy_before_j = 0.0  # GPU energy of allocations already released (preemptions)
        self.ckpt_steps = 0.0  # progress saved by the last valid checkpoint
        self.restarts = 0
        self.lost_gpu_s = 0.0
        self.productive_s = 0.0  # running time behind steps_done, at the step times it ran at
        self._ckpt_productive_s = 0.0  # productive_s at the last valid checkpoint
        self._lost_steps = 0.0
        self._next_ckpt_s = math.inf
        self._next_failure_s = math.inf
        self._token = 0
        self._swing_token = 0
        self._repair_ends_s: list[float] = []  # nodes of this job in repair, until when
        self._rng = sim.rng.stream(f"failures/{spec.name}") if spec.failure_rate_per_s > 0 else None
        sim.env.timeout(spec.submit_time_s).callbacks.append(self._submit)
        sim.on_finish(self._finish)

    # -- timers -----------------------------------------------------------------------------
    def _timer(self, at_s: float, fn: Callable[[], None]) -> None:
        self._token += 1
        token = self._token
        ev = self.sim.env.timeout(max(at_s - self.sim.now_s, 0.0))
        ev.callbacks.append(lambda _ev: fn() if token == self._token else None)

    def _submit(self, _ev=None) -> None:
        s = self.spec
        self.status = "queued"
        extra_w = s.gpus * (self.device.training_w() - self.device.idle_w() + self.cluster.host_w_per_busy_gpu)
        self.cluster.submit(WorkRequest(
            s.job_id, f"job/{s.name}", s.gpus, self._start, owner=self, kind="training", priority=s.priority,
            remaining_s=self.remaining_s, preempt=self.preempt if s.preemptible else None, extra_power_w=extra_w,
            interrupt=self.interrupt, gpu_type=s.gpu or None,
        ))

    def remaining_s(self) -> float:
        """Expected time to finish from now, without failures (backfill's estimate)."""
        done = self.steps_done
        if self.phase == "running":
            done = min(float(self.spec.steps), done + (self.sim.now_s - self.t_progress_s) / self.step_time_s)
        reload = self.spec.reload_s if self.phase == "waiting" and self._reload else 0.0
        return (self.spec.steps - done) * self.step_time_s + reload

    def _start(self, alloc: Allocation) -> None:
        self.alloc = alloc
        self.status = "running"
        now = self.sim.now_s
        if self.t_start_s != self.t_start_s:  # first start
            self.t_start_s = now
        self.t_progress_s = now
        self._place(alloc)
        self._draw_failure()
        if self._reload and self.spec.reload_s > 0:  # resuming: read the checkpoint back first
            self.phase = "restarting"
            self._set_power()
            self.lost_gpu_s += self.spec.reload_s * self.spec.gpus
            self._timer(now + self.spec.reload_s, self._resume)
            return
        self._resume()

    def _place(self, alloc: Allocation) -> None:
        """The step time on this allocation's racks (rack uplinks may slow scale-out traffic)."""
        s = self.spec
        self.racks = len(alloc.rack_gpus)
        step = s.step
        if s.step_at is not None and s.uplink_oversubscription > 1.0 and self.racks > 1:
            per_node = self.cluster.topology.node.gpus_per_node
            nodes_min = min(count for _, count in alloc.rack_gpus) / per_node
            share = min(1.0, nodes_min / s.uplink_oversubscription)
            step = s.step_at(s.scaleout_bytes_per_s * share)
        self.step = step
        self.cap_w = None  # re-derive the capped step time from this step
        self._apply_cap(self.device.cap_w)

    # -- preemption -------------------------------------------------------------------------
    def preempt(self) -> None:
        """Checkpoint all progress, release the GPUs and queue again (called by the cluster)."""
        self._credit_progress()
        self._token += 1  # cancel the pending checkpoint, failure or completion timer
        self._next_ckpt_s = math.inf
        self.phase = "preempting"
        self._set_power()
        write_s = self.spec.preempt_write_s
        self.lost_gpu_s += write_s * self.spec.gpus
        self._timer(self.sim.now_s + write_s, self._preempted)

    def _preempted(self) -> None:
        assert self.alloc is not None
        self.ckpt_steps = self.steps_done  # the preemption checkpoint saved everything
        self._ckpt_productive_s = self.productive_s
        self.preemptions += 1
        self._requeue("preempted")

    def _requeue(self, cause: str) -> None:
        """Hand the GPUs back and queue again, to reload from the checkpoint on the next start
        (after a preemption's checkpoint or an interruption)."""
        assert self.alloc is not None
        self._reload = True
        self.sim.recorder.event("requeue", f"job/{self.spec.name}", cause, self.steps_done)
        self._energy_before_j += self.alloc.energy_now_j()
        alloc, self.alloc = self.alloc, None
        self.phase = "waiting"
        self.cluster.release(alloc)
        self._submit()

    # -- interruption: the racks lost power ----------------------------------------------------
    def interrupt(self, cause: str) -> None:
        """Its GPUs lost power (called by the cluster): lose the progress since the last valid
        checkpoint, release the GPUs now and queue again."""
        assert self.alloc is not None
        self._credit_progress()
        before = self.steps_done
        self._take_back_progress()
        self.sim.recorder.event("lost_work", f"job/{self.spec.name}", cause, before - self.steps_done)
        self._token += 1  # cancel the pending checkpoint, failure, restart or completion timer
        self._swing_token += 1
        self._next_ckpt_s = math.inf
        self.interruptions += 1
        self._requeue(cause)

    def _take_back_progress(self) -> float:
        """Throw away the progress since the last valid checkpoint; its running seconds."""
        self._epoch += 1
        lost = self.steps_done - self.ckpt_steps
        lost_s = self.productive_s - self._ckpt_productive_s
        self._lost_steps += lost
        self.steps_done = self.ckpt_steps
        self.productive_s = self._ckpt_productive_s
        self.lost_gpu_s += lost_s * self.spec.gpus
        return lost_s

    # -- running ----------------------------------------------------------------------------
    def _resume(self) -> None:
        """Run from now: schedule the next of checkpoint, failure and completion."""
        now = self.sim.now_s
        self.phase = "running"
        self.t_progress_s = now
        if self.spec.checkpoint_interval_s is not None and self._next_ckpt_s == math.inf:
            self._next_ckpt_s = now + self.spec.checkpoint_interval_s
        self._set_power()
        done_at = now + (self.spec.steps - self.steps_done) * self.step_time_s
        nxt = min(done_at, self._next_ckpt_s, self._next_failure_s)
        if nxt == done_at:
            self._timer(done_at, self._end)
        elif nxt == self._next_failure_s:
            self._timer(nxt, self._fail)
        else:
            self._timer(nxt, self._checkpoint)

    def _credit_progress(self) -> None:
        now = self.sim.now_s
        if self.phase == "running":
            gained = min(float(self.spec.steps) - self.steps_done, (now - self.t_progress_s) / self.step_time_s)
            self.steps_done += gained
            self.productive_s += gained * self.step_time_s
        self.t_progress_s = now

    def _checkpoint(self) -> None:
        self._credit_progress()
        saved = (self.steps_done, self.productive_s, self._epoch)
        write_s = self.spec.checkpoint_write_s
        self._next_ckpt_s = math.inf
        if self.spec.checkpoint_async:
            self.sim.env.timeout(write_s).callbacks.append(lambda _ev: self._checkpoint_done(*saved))
            self._resume()
            return
        self.phase = "checkpointing"
        self._set_power()
        self._timer(self.sim.now_s + write_s, lambda: self._checkpoint_then_resume(*saved))

    def _checkpoint_then_resume(self, saved_steps: float, saved_productive_s: float, epoch: int) -> None:
        self._checkpoint_done(saved_steps, saved_productive_s, epoch)
        self._resume()

    def _checkpoint_done(self, saved_steps: float, saved_productive_s: float, epoch: int) -> None:
        if epoch != self._epoch:  # progress was thrown away since it started: the write is void
            return
        if self.status == "running" and saved_steps > self.ckpt_steps and saved_steps <= self.steps_done:
            self.ckpt_steps = saved_steps
            self._ckpt_productive_s = saved_productive_s

    def _draw_failure(self, from_s: float | None = None) -> None:
        """The next interruption: exponential running time from ``from_s`` (default now)."""
        rate = self.spec.failure_rate_per_s
        start_s = self.sim.now_s if from_s is None else from_s
        if rate > 0:
            assert self._rng is not None  # drawn for every job with a failure rate
            self._next_failure_s = start_s + self._rng.exponential(1.0 / rate)
        else:
            self._next_failure_s = math.inf

    def _fail(self) -> None:
        self._credit_progress()
        lost_s = self._take_back_progress()
        down_s = self.spec.restart_s + self.spec.reload_s
        self.lost_gpu_s += down_s * self.spec.gpus
        self.restarts += 1
        causes = self.spec.failure_causes
        cause = "failure"
        if causes:
            assert self._rng is not None
            shares = [s for _, s in causes]
            cause = causes[int(self._rng.choice(len(causes), p=[s / sum(shares) for s in shares]))][0]
        self.sim.recorder.event("failure", f"job/{self.spec.name}", cause, lost_s)
        self.phase = "restarting"
        self._set_power()
        self._next_ckpt_s = math.inf
        wait_s = self._repair_wait_s(cause)
        if wait_s > 0:
            self.sim.recorder.event("repair_wait", f"job/{self.spec.name}", "no hot spare free", wait_s)
            self.lost_gpu_s += wait_s * self.spec.gpus
        restart_end = self.sim.now_s + wait_s + down_s
        self._draw_failure(from_s=restart_end)  # the hazard runs while the job runs only
        self._timer(restart_end, self._resume)

    def _repair_wait_s(self, cause: str) -> float:
        """Send the failed node to repair; how long the job waits for a node to run on.

        The job runs on its nodes plus ``hot_spare_nodes`` spares; it can run while at
        most that many nodes are in repair, so it waits for the repairs beyond it.
        """
        s = self.spec
        if cause not in s.repair_causes:
            return 0.0
        now = self.sim.now_s
        ends = sorted(t for t in self._repair_ends_s if t > now)
        ends.append(now + s.repair_s)
        self._repair_ends_s = ends
        if s.hot_spare_nodes is None:
            return 0.0
        excess = len(ends) - s.hot_spare_nodes
        return sorted(ends)[excess - 1] - now if excess > 0 else 0.0

    def _end(self) -> None:
        assert self.alloc is not None
        self._credit_progress()
        self.steps_done = float(self.spec.steps)
        self.t_end_s = self.sim.now_s
        self.status = "completed"
        self.phase = "done"
        self._swing_token += 1
        self._energy_before_j += self.alloc.energy_now_j()
        alloc, self.alloc = self.alloc, None
        self.cluster.release(alloc)

    # -- power --------------------------------------------------------------------------------
    def _set_power(self) -> None:
        """Training power while running (swinging per step if asked), idle otherwise."""
        self._swing_token += 1
        alloc = self.alloc
        assert alloc is not None  # power is set only while the job holds GPUs
        if self.phase != "running":
            alloc.set_state(self.device.idle_w(), busy=False)
            return
        if not self.spec.power_swing:
            alloc.set_state(self.device.training_w(), busy=True)
            return
        self.sim.env.process(self._swing(self._swing_token))

    def _swing(self, token: int):
        """Alternate the compute and communication phases of each step (power only).

        The phases redistribute the step's power, never its mean: the step's energy and time
        are those of the job without the swing (:func:`swing_phase_powers_w`).
        """
        comm_s = self.step.exposed_comm_s  # the clock does not stretch exposed communication
        compute_s = self.step_time_s - comm_s
        ceiling_w = self.device.gpu.tdp_w if self.device.cap_w is None else min(self.device.gpu.tdp_w,
                                                                                 self.device.cap_w)
        full, comm_w = swing_phase_powers_w(self.device.training_w(), self.device.idle_w(), ceiling_w,
                                            compute_s, comm_s)
        env = self.sim.env
        while token == self._swing_token:
            alloc = self.alloc
            assert alloc is not None  # a swing stops (token changes) when the job releases its GPUs
            alloc.set_state(full, busy=True)
            yield env.timeout(compute_s)
            if token != self._swing_token or comm_s <= 0:
                continue
            alloc.set_state(comm_w, busy=True)
            yield env.timeout(comm_s)

    # -- power capping -------------------------------------------------------------------------
    def set_cap(self, cap_w: float | None) -> None:
        """Run under a per-GPU power cap from now on (None: the base device's)."""
        if cap_w is None:
            cap_w = self.base_device.cap_w
        if cap_w == self.cap_w:
            return
        self._credit_progress()
        self._apply_cap(cap_w)
        if self.phase == "running":
            self._resume()

    def _apply_cap(self, cap_w: float | None) -> None:
        self.cap_w = cap_w
        self.device = self.base_device.with_cap(cap_w)
        step = self.step
        # compute stretches with the clock, exposed communication does not
        self.step_time_s = step.compute_s * self.device.training_slowdown() / self.base_device.training_slowdown() \
            + step.exposed_comm_s

    def uncapped_w_per_gpu(self) -> float:
        """Per-GPU power of a training step without a cap."""
        return self.base_device.training_w()

    # -- accounting -----------------------------------------------------------------------------
    def _finish(self, until_s: float) -> None:
        s = self.spec
        if self.status == "running":
            self._credit_progress()
        energy_j = self._energy_before_j + (self.alloc.energy_now_j() if self.alloc is not None else 0.0)
        end = self.t_end_s if self.status == "completed" else until_s
        wall_s = end - self.t_start_s if self.t_start_s == self.t_start_s else 0.0
        productive_s = self.productive_s
        done = self.steps_done
        projected_s = (end - self.t_start_s) * s.steps / done if done > 0 and wall_s > 0 else math.nan
        self.sim.recorder.record("jobs", (
            s.job_id, s.name, s.model_name, s.gpus, self.status, s.submit_time_s, self.t_start_s, self.t_end_s,
            self.t_start_s - s.submit_time_s, s.steps, int(self.steps_done), self.step_time_s,
            self.step.mfu * self.step.time_s / self.step_time_s, self.restarts, self.lost_gpu_s, energy_j,
            productive_s / wall_s if wall_s > 0 else math.nan, projected_s, self.preemptions, self._lost_steps,
            self.racks, s.kind_label, productive_s, done * s.useful_step_s,
        ))
