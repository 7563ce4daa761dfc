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
    """One job's life: submit, wait, run, release."""

    def __init__(self, sim: "Simulation", spec: JobSpec, cluster: Cluster, device: DeviceModel) -> None:
        self.sim = sim
        self.spec = spec
        self.cluster = cluster
        self.device = device
        self.status = "not_submitted"
        self.t_start_s = math.nan
        self.t_end_s = math.nan
        self.alloc: Allocation | None = None
        sim.env.process(self._submit())
        sim.on_finish(self._finish)

    def _submit(self):
        yield self.sim.env.timeout(self.spec.submit_time_s)
        self.status = "queued"
        self.cluster.submit(WorkRequest(self.spec.job_id, f"job/{self.spec.name}", self.spec.gpus, self._start))

    def _start(self, alloc: Allocation) -> None:
        self.alloc = alloc
        self.status = "running"
        self.t_start_s = self.sim.now_s
        self.sim.env.process(self._run())

    def _run(self):
        assert self.alloc is not None
        self.alloc.set_state(self.device.training_w(), busy=True)
        yield self.sim.env.timeout(self.spec.steps * self.spec.step.time_s)
        self.t_end_s = self.sim.now_s
        self.status = "completed"
        self.cluster.release(self.alloc)

    def _finish(self, until_s: float) -> None:
        s = self.spec
        if self.status == "completed":
            steps_done = s.steps
        elif self.status == "running":
            steps_done = int((until_s - self.t_start_s) // s.step.time_s)
        else:
            steps_done = 0
        energy_j = self.alloc.energy_now_j() if self.alloc is not None else 0.0
        self.sim.recorder.record("jobs", (
            s.job_id, s.name, s.model.name, s.gpus, self.status, s.submit_time_s, self.t_start_s, self.t_end_s,
            self.t_start_s - s.submit_time_s, s.steps, steps_done, s.step.time_s, s.step.mfu, 0, 0.0, energy_j,
        ))
