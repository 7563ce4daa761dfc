"""Training jobs: gang-scheduled, a fixed number of steps, run to completion.

A job is submitted at its submit time, waits in the cluster queue until the
scheduler grants all its GPUs at once, then runs ``steps`` steps of the step-time
model (``hardware.performance.training_step``) and releases them. No event per
step: the job waits once for ``steps * step_time_s``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dcsim.hardware.models import LlmSpec
from dcsim.hardware.performance import TrainingStep
from dcsim.hardware.device import DeviceModel
from dcsim.workloads.cluster import Allocation, Cluster, WorkRequest

if TYPE_CHECKING:
    from dcsim.core.simulation import Simulation


@dataclass(frozen=True)
class JobSpec:
    """A validated training job."""

    job_id: int
    name: str
    model: LlmSpec
    gpus: int
    submit_time_s: float
    steps: int
    step: TrainingStep


class TrainingJob:
    """One job's life: submit, wait, run, release.

    Under a power cap the job's steps stretch (``DeviceModel.training_slowdown``): a cap
    change credits the steps done so far at the old pace and reschedules the end.
    """

    kind = "training"

    def __init__(self, sim: "Simulation", spec: JobSpec, cluster: Cluster, device: DeviceModel) -> None:
        self.sim = sim
        self.spec = spec
        self.cluster = cluster
        self.base_device = device
        self.device = device
        self.cap_w: float | None = device.cap_w
        self.status = "not_submitted"
        self.t_start_s = math.nan
        self.t_end_s = math.nan
        self.alloc: Allocation | None = None
        self.steps_done = 0.0  # steps completed up to t_progress_s
        self.t_progress_s = math.nan
        self.step_time_s = spec.step.time_s
        self._token = 0
        sim.env.process(self._submit())
        sim.on_finish(self._finish)

    def _submit(self):
        yield self.sim.env.timeout(self.spec.submit_time_s)
        self.status = "queued"
        self.cluster.submit(WorkRequest(self.spec.job_id, f"job/{self.spec.name}", self.spec.gpus, self._start,
                                        owner=self))

    def _start(self, alloc: Allocation) -> None:
        self.alloc = alloc
        self.status = "running"
        self.t_start_s = self.t_progress_s = self.sim.now_s
        self.alloc.set_state(self.device.training_w(), busy=True)
        self._schedule_end()

    def _schedule_end(self) -> None:
        self._token += 1
        token = self._token
        remaining_s = (self.spec.steps - self.steps_done) * self.step_time_s
        ev = self.sim.env.timeout(max(remaining_s, 0.0))
        ev.callbacks.append(lambda _ev: self._end() if token == self._token else None)

    def _end(self) -> None:
        assert self.alloc is not None
        self.steps_done = float(self.spec.steps)
        self.t_end_s = self.t_progress_s = self.sim.now_s
        self.status = "completed"
        self.cluster.release(self.alloc)

    def _credit_progress(self) -> None:
        now = self.sim.now_s
        self.steps_done = min(float(self.spec.steps), self.steps_done + (now - self.t_progress_s) / self.step_time_s)
        self.t_progress_s = now

    def set_cap(self, cap_w: float | None) -> None:
        """Run under a per-GPU power cap from now on (None: the base device's)."""
        if cap_w is None:
            cap_w = self.base_device.cap_w
        if cap_w == self.cap_w:
            return
        running = self.status == "running"
        if running:
            self._credit_progress()
        self.cap_w = cap_w
        self.device = self.base_device.with_cap(cap_w)
        step = self.spec.step
        # compute stretches with the clock, exposed communication does not
        self.step_time_s = step.compute_s * self.device.training_slowdown() / self.base_device.training_slowdown() \
            + step.exposed_comm_s
        if running:
            self.alloc.set_state(self.device.training_w(), busy=True)
            self._schedule_end()

    def uncapped_w_per_gpu(self) -> float:
        """Per-GPU power of a training step without a cap."""
        return self.base_device.training_w()

    def _finish(self, until_s: float) -> None:
        s = self.spec
        if self.status == "running":
            self._credit_progress()
        steps_done = int(self.steps_done)
        energy_j = self.alloc.energy_now_j() if self.alloc is not None else 0.0
        self.sim.recorder.record("jobs", (
            s.job_id, s.name, s.model.name, s.gpus, self.status, s.submit_time_s, self.t_start_s, self.t_end_s,
            self.t_start_s - s.submit_time_s, s.steps, steps_done, self.step_time_s,
            s.step.mfu * s.step.time_s / self.step_time_s, 0, 0.0, energy_j,
        ))
