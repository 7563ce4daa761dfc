"""An inference service: an LLM on N replicas of TP GPUs behind a router, fed by arrivals."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dcsim.hardware.gpus import GpuSpec
from dcsim.hardware.models import LlmSpec
from dcsim.hardware.performance import InferencePerfParams
from dcsim.hardware.power import GpuPowerModel
from dcsim.workloads.cluster import Allocation, Cluster, WorkRequest
from dcsim.workloads.inference.engine import Replica
from dcsim.workloads.inference.requests import LengthDistribution, Request

if TYPE_CHECKING:
    from dcsim.core.simulation import Simulation


@dataclass(frozen=True)
class ServiceSpec:
    """Everything that defines a service, validated."""

    name: str
    model: LlmSpec
    replicas: int
    tp: int
    arrival_rate_per_s: float
    prompt_tokens: LengthDistribution
    output_tokens: LengthDistribution
    max_num_seqs: int
    max_batch_tokens: int
    kv_capacity_tokens: int


class InferenceService:
    """Replicas of one model, a router, and a Poisson arrival process."""

    def __init__(
        self,
        sim: "Simulation",
        spec: ServiceSpec,
        gpu: GpuSpec,
        perf: InferencePerfParams,
        power_model: GpuPowerModel,
        router: Any,
        cluster: Cluster,
        first_work_id: int,
    ) -> None:
        self.sim = sim
        self.spec = spec
        self.name = spec.name
        self.model = spec.model
        self.gpu = gpu
        self.perf = perf
        self.power_model = power_model
        self.router = router
        self.kv_capacity_tokens = spec.kv_capacity_tokens
        self.replicas: list[Replica] = []
        self.allocations: list[Allocation] = []
        self.pending: list[Request] = []  # arrived while no replica was up
        self.requests: list[Request] = []
        self.output_tokens = 0
        self._done: set[int] = set()
        for i in range(spec.replicas):
            cluster.submit(WorkRequest(first_work_id + i, f"{spec.name}/replica/{i}", spec.tp, self._start_replica))
        if spec.arrival_rate_per_s > 0:
            sim.env.process(self._poisson_arrivals())
        sim.on_finish(self._finish)

    def _start_replica(self, alloc: Allocation) -> None:
        replica = Replica(self, len(self.replicas), alloc)
        self.replicas.append(replica)
        self.allocations.append(alloc)
        pending, self.pending = self.pending, []
        for req in pending:
            self._route(req)

    def _poisson_arrivals(self):
        env = self.sim.env
        gaps = self.sim.rng.stream(f"arrivals/{self.name}")
        lengths = self.sim.rng.stream(f"lengths/{self.name}")
        mean_gap_s = 1.0 / self.spec.arrival_rate_per_s
        rid = 0
        while True:
            yield env.timeout(gaps.exponential(mean_gap_s))
            req = Request(rid, self.name, env.now, self.spec.prompt_tokens.sample(lengths),
                          self.spec.output_tokens.sample(lengths))
            rid += 1
            self.arrive(req)

    def arrive(self, req: Request) -> None:
        """A request reaches the service now."""
        self.requests.append(req)
        if req.kv_tokens_reserved > self.kv_capacity_tokens:
            self._done.add(req.request_id)
            self.sim.recorder.record("requests", req.row("dropped"))
            self.sim.recorder.event("drop", f"{self.name}", "request larger than the KV cache", req.kv_tokens_reserved)
            return
        self._route(req)

    def _route(self, req: Request) -> None:
        if not self.replicas:
            self.pending.append(req)
            return
        i = self.router.route(tuple(r.outstanding for r in self.replicas))
        self.replicas[i].enqueue(req)

    def complete(self, req: Request) -> None:
        """A replica finished ``req``."""
        self._done.add(req.request_id)
        self.sim.recorder.record("requests", req.row("completed"))

    def _finish(self, until_s: float) -> None:
        """Account for requests still in flight, and the service's GPU energy."""
        for req in self.requests:
            if req.request_id not in self._done:
                status = "queued" if math.isnan(req.t_admitted_s) else "running"
                self.sim.recorder.record("requests", req.row(status))
        meta = self.sim.recorder.meta
        meta["inference_output_tokens"] = meta.get("inference_output_tokens", 0) + self.output_tokens
        gpu_j = sum(a.energy_now_j() for a in self.allocations)
        meta["inference_gpu_energy_j"] = meta.get("inference_gpu_energy_j", 0.0) + gpu_j
