"""An inference service: an LLM on N replicas of TP GPUs behind a router, fed by arrivals.

Arrivals come from an arrival process (Poisson, bursty, diurnal) with lengths drawn
from distributions, or from a replayed trace; either way all arrival times are drawn
up front, in bulk, and each arrival is one timer event. A closed loop
(:class:`~dcsim.workloads.inference.arrivals.ClosedLoop`) instead sends a user's next
request when its last one completes or is dropped, after its think time; lengths and
think times are drawn in blocks from the same named streams (``lengths/NAME``,
``arrivals/NAME``), so a seed gives the same run bit for bit. With ``prefill_replicas > 0``
the service is disaggregated: the first replicas only prefill, then the KV cache moves
to a decode replica over a shared link (NVLink inside one scale-up domain, else the NICs;
:mod:`~dcsim.workloads.inference.kv_link`), and the decode replica makes the first token
and the rest, so TTFT includes the transfer (vLLM's disaggregated serving;
docs/workloads.md).

A replica whose racks lose power (``Cluster.stop_racks``) stops at once: a request that
has streamed tokens to its client is lost (the stream breaks; status ``lost``), every
other request it held is requeued on the other replicas (or waits for one); its GPUs are
released and a replacement replica is asked for.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from dcsim.core.runinfo import ServiceInfo, ServiceTotals
from dcsim.hardware.device import DeviceModel
from dcsim.hardware.models import LlmSpec, VisionWork
from dcsim.workloads.cluster import Allocation, Cluster, WorkRequest
from dcsim.workloads.config import AutoscaleConfig, ServiceConfig
from dcsim.workloads.inference.arrivals import ClosedLoop
from dcsim.workloads.inference.engine import Replica
from dcsim.workloads.inference.kv_link import KvLink, kv_transfer_bytes_per_s_per_gpu
from dcsim.workloads.inference.requests import LengthDistribution, Request, TokenGaps
from dcsim.workloads.inference.sessions import SessionArrivals, SessionDriver, system_block_ids

if TYPE_CHECKING:
    from dcsim.core.simulation import Simulation


@dataclass(frozen=True)
class ServiceSpec:
    """A service, validated: its config (``config``: replicas, TP, batch limits, caching,
    disaggregation, SLOs, priority, engine and fidelity, as the user gave them) and what the
    builder derived from it (the model's spec, the arrival process, the length sampler, the
    KV-cache capacity, the replayed trace, the enabled autoscaler)."""

    name: str
    model: LlmSpec
    config: ServiceConfig
    arrivals: Any  # an ArrivalProcess or a ClosedLoop (dcsim.workloads.inference.arrivals)
    lengths: Callable[[np.random.Generator, int], tuple[np.ndarray, np.ndarray]]  # (prompts, outputs) of n requests
    mean_prompt_tokens: float
    mean_output_tokens: float
    median_prompt_tokens: float
    kv_capacity_tokens: int
    trace: Any = None  # a Trace (dcsim.workloads.inference.traces) replayed instead of drawn lengths
    autoscale: AutoscaleConfig | None = None  # validated and enabled (dcsim.workloads.inference.build), or None
    mean_decode_context_tokens: float | None = None  # over decode iterations (build.decode_context_tokens); None: P + O / 2
    prefix_warning: str = ""  # why prefix caching can find nothing to share ("": it can), an event at the start
    vision: VisionWork | None = None  # each request's vision tokens and encoder work (multimodal), or None
    gpu: str = ""  # the replicas' GPU type ("": the facility's node.gpu)
    decode_gpu: str = ""  # the decode pool's GPU type, disaggregated ("": gpu)
    decode_kv_capacity_tokens: int | None = None  # a decode replica's KV cache on decode_gpu (None: kv_capacity_tokens)

    def gpu_types(self, cluster: Cluster) -> str:
        """Its GPU type(s) for the summary on a mixed fleet (``prefill/decode`` when split); "" otherwise."""
        if not cluster.topology.mixed:
            return ""
        return f"{self.gpu}/{self.decode_gpu}" if self.split_gpus else self.gpu

    @property
    def split_gpus(self) -> bool:
        """True when the decode pool runs on another GPU type than the prefill pool."""
        return self.config.prefill_replicas > 0 and self.decode_gpu not in ("", self.gpu)

    @property
    def gpus_per_replica(self) -> int:
        """GPUs of one replica: tp x ep."""
        return self.config.tp * self.config.ep


def length_sampler(prompt: LengthDistribution, output: LengthDistribution):
    """Independent prompt and output lengths from two distributions."""

    def sample(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
        return prompt.sample_many(rng, n), output.sample_many(rng, n)

    return sample


def model_flops(model: LlmSpec, prompt_tokens: float, output_tokens: float) -> float:
    """A service's model FLOPs, 2 x active params per prompt and generated token (the
    forward-pass convention of MFU: no attention, no recomputation, cached prefixes
    counted as the model's work)."""
    return 2.0 * model.active_params * (prompt_tokens + output_tokens)


class InferenceService:
    """Replicas of one model, a router, and the requests that arrive for it."""

    def __init__(
        self,
        sim: Simulation,
        spec: ServiceSpec,
        device: DeviceModel,
        router: Any,
        cluster: Cluster,
        first_work_id: int,
        until_s: float,
        decode_device: DeviceModel | None = None,
    ) -> None:
        self.sim = sim
        self.spec = spec
        self.name = spec.name
        self.model = spec.model
        self.device = device
        # the decode pool's device when it runs on another GPU type (ServiceSpec.decode_gpu); None: device
        self.decode_device = decode_device if spec.split_gpus else None
        if spec.split_gpus and (decode_device is None or decode_device.gpu.name != spec.decode_gpu):
            raise ValueError(f"service {spec.name}: its decode pool runs on {spec.decode_gpu}, give its device")
        self.router = router
        self.cluster = cluster
        # the KV cache of a replica of either pool: a larger request is dropped on arrival
        self.kv_capacity_tokens = min(spec.kv_capacity_tokens, spec.decode_kv_capacity_tokens or spec.kv_capacity_tokens)
        self._roles: dict[int, str] = {}  # work id -> the pool its replica serves (its GPU type), split GPUs only
        self.replicas: list[Replica] = []
        self.allocations: list[Allocation] = []
        self.pending: list[Request] = []  # arrived while no replica was up
        self.in_flight: dict[int, Request] = {}  # arrived, neither completed nor dropped
        self.output_tokens = 0
        self.prompt_tokens = 0  # prompts of requests that produced their first token
        self.preemptions = 0
        self.itl = TokenGaps()  # every inter-token gap, logged by the replicas
        self.in_system = sim.recorder.monitor(f"requests_in_system/{spec.name}")
        self.n_serving = sim.recorder.monitor(f"replicas_serving/{spec.name}")
        self._n_started = 0  # replicas ever started (their index)
        self._requested: list[int] = []  # work ids of replicas asked for, not yet granted
        self._loading = 0  # replicas granted, loading the model
        self.draining: list[Replica] = []
        self._wanted: list[tuple[float, int]] = []  # (time, replicas wanted) within the stabilisation window
        self._last_up_s = 0.0
        self._window = [0, 0]  # requests decided and meeting the SLO in this autoscale interval
        self._busy_mark: dict[int, float] = {}  # replica allocation id -> busy seconds at the last check
        self.scale_events = 0
        self.requests_requeued = 0  # taken from a replica that lost power and routed again
        self.requests_lost = 0  # streaming when their replica lost power
        self._links: dict[tuple[int, str], KvLink] = {}  # (prefill replica, "nvlink" or "nic") -> its KV link
        self.kv_cpu_tier_hit_tokens = 0  # prompt tokens reloaded from a replica's CPU-memory tier
        self.kv_cpu_tier_reloads = 0  # admissions that reloaded blocks from it
        for i in range(spec.config.replicas):
            self._request_replica(first_work_id + i)
        if spec.autoscale is not None:
            sim.env.timeout(spec.autoscale.interval_s).callbacks.append(self._autoscale)
        self._next = 0
        self._closed: ClosedLoop | None = spec.arrivals if isinstance(spec.arrivals, ClosedLoop) else None
        self._sessions: SessionDriver | None = None
        if self._closed is not None:
            self._start_users()
        elif isinstance(spec.arrivals, SessionArrivals):
            plan = spec.arrivals.plan(sim.rng.stream(f"arrivals/{self.name}"), sim.rng.stream(f"lengths/{self.name}"),
                                      until_s)
            self._sessions = SessionDriver(spec.arrivals, plan, sim.env, sim.recorder, self.name, self.send)
        else:
            self._load_arrivals(until_s)
            if len(self._times):
                self._schedule_next_arrival()
        self._info = sim.recorder.run_info.add_service(spec.name, ServiceInfo(spec.config.slo_ttft_s, spec.config.slo_tpot_s,
                                                                              "request", gpu=spec.gpu_types(cluster)))
        if spec.prefix_warning:
            sim.recorder.event("warning", self.name, spec.prefix_warning)
        sim.on_finish(self._finish)

    # -- replicas --------------------------------------------------------------------
    def _role(self, index: int) -> str:
        if self.spec.config.prefill_replicas == 0:
            return "both"
        return "prefill" if index < self.spec.config.prefill_replicas else "decode"

    def device_for(self, role: str) -> DeviceModel:
        """The device a replica of pool ``role`` (prefill, decode, both) runs on."""
        return self.decode_device if role == "decode" and self.decode_device is not None else self.device

    def kv_capacity_for(self, role: str) -> int:
        """KV-cache tokens of a replica of pool ``role``."""
        s = self.spec
        return s.decode_kv_capacity_tokens if role == "decode" and s.split_gpus and s.decode_kv_capacity_tokens \
            else s.kv_capacity_tokens

    def _request_replica(self, work_id: int, role: str | None = None) -> None:
        """Ask for a replica's GPUs; with the pools on two GPU types, on its pool's (``role``;
        None: the pool of the next index, as configured: prefill first)."""
        self._requested.append(work_id)
        gpus = self.spec.gpus_per_replica
        gpu_type = self.spec.gpu or None
        device = self.device
        if self.spec.split_gpus:
            role = role or self._role(len(self._roles))
            self._roles[work_id] = role
            device = self.device_for(role)
            gpu_type = device.gpu.name
        self.cluster.submit(WorkRequest(work_id, f"{self.name}/replica/{work_id}", gpus, self._grant,
                                        kind="inference", priority=self.spec.config.priority,
                                        extra_power_w=gpus * (device.training_w() - device.idle_w()),
                                        domain_nodes=self.cluster.topology.nodes_per_domain,
                                        interrupt=lambda cause: self._interrupt(work_id, cause), gpu_type=gpu_type))

    def _grant(self, alloc: Allocation) -> None:
        """GPUs granted: serve at once at the start, else after loading the model."""
        self._requested.remove(alloc.work.work_id)
        self.allocations.append(alloc)
        a = self.spec.autoscale
        if self.sim.now_s == 0.0 or a is None or a.model_load_s == 0:
            self._start_replica(alloc)
            return
        self._loading += 1
        self.sim.env.timeout(a.model_load_s).callbacks.append(lambda _ev: self._loaded(alloc))

    def _loaded(self, alloc: Allocation) -> None:
        if alloc.released:  # it lost power while loading (counted then)
            return
        self._loading -= 1
        self._start_replica(alloc)

    def _interrupt(self, work_id: int, cause: str) -> None:
        """The replica of ``work_id`` lost power: requeue or lose its requests, release its
        GPUs and ask for a replacement (none for a replica being drained)."""
        alloc = next(a for a in self.allocations if a.work.work_id == work_id and not a.released)
        replica = next((r for r in self.replicas + self.draining if r.alloc is alloc), None)
        replace = True
        held: list[Request] = []
        decode_pool = False
        if replica is None:  # granted, still loading the model
            self._loading -= 1
        else:
            if replica in self.draining:
                self.draining.remove(replica)
                replace = False
            else:
                self.replicas.remove(replica)
                self.n_serving.add(-1)
            self._busy_mark.pop(id(alloc), None)
            held = replica.halt()
            decode_pool = replica.role == "decode"
        self.cluster.release(alloc)
        lost = [r for r in held if r.t_first_token_s == r.t_first_token_s]  # streaming: the client saw tokens
        for req in lost:
            del self.in_flight[req.request_id]
            self.in_system.add(-1)
            self.sim.recorder.record("requests", req.row("lost"))
            self._call_ended(req, "lost")
        self.requests_lost += len(lost)
        requeued = [r for r in held if r.t_first_token_s != r.t_first_token_s]
        self.requests_requeued += len(requeued)
        if held:
            self.sim.recorder.event("requeue", f"{self.name}/replica/{work_id}", cause, len(requeued))
        if replace:
            self._request_replica(self.cluster.new_work_id(), self._roles.get(work_id))
        for req in requeued:
            self._route(req, decode_pool)

    def _start_replica(self, alloc: Allocation) -> None:
        index = self._n_started
        self._n_started += 1
        role = self._roles.get(alloc.work.work_id) or self._role(index)
        replica = Replica(self, index, alloc, role)
        self.replicas.append(replica)
        self.n_serving.add(1)
        self.sim.recorder.event("serve", f"{self.name}/replica/{alloc.work.work_id}", "", len(self.replicas))
        pending, self.pending = self.pending, []
        for req in pending:
            self._route(req)

    # -- autoscaling -------------------------------------------------------------------
    def _autoscale(self, _ev=None) -> None:
        """Scale up to what the metric wants now; scale down only to the most wanted over
        the last ``scale_down_delay_s`` (a stabilisation window, as Kubernetes' HPA)."""
        a = self.spec.autoscale
        assert a is not None
        now = self.sim.now_s
        serving = len(self.replicas)
        have = serving + self._loading + len(self._requested)
        want = min(max(self._desired(a, serving), a.min_replicas), a.max_replicas)
        self._wanted.append((now, want))
        while self._wanted and self._wanted[0][0] < now - a.scale_down_delay_s:
            self._wanted.pop(0)
        if want > have:
            for _ in range(want - have):
                self._request_replica(self.cluster.new_work_id())
            self.sim.recorder.event("scale", self.name, "up", want)
            self.scale_events += 1
            self._last_up_s = now
        elif now - self._last_up_s >= a.scale_down_delay_s:
            down_to = max(w for _, w in self._wanted)
            if down_to < have:
                self._scale_down(have - down_to)
                self.sim.recorder.event("scale", self.name, "down", down_to)
                self.scale_events += 1
        self._window = [0, 0]
        self.sim.env.timeout(a.interval_s).callbacks.append(self._autoscale)

    def _desired(self, a: AutoscaleConfig, serving: int) -> int:
        """Replicas the metric asks for now."""
        if a.metric == "queue":
            outstanding = sum(r.outstanding for r in self.replicas) + len(self.pending)
            return math.ceil(outstanding / a.target)
        busy = self._busy_share(a.interval_s)
        if a.metric == "utilisation":
            return math.ceil(serving * busy / a.target) if serving else 1
        decided, met = self._window
        if decided and met / decided < a.target:
            return serving + 1
        outstanding = sum(r.outstanding for r in self.replicas) + len(self.pending)
        return serving - 1 if (not decided or met / decided >= a.target) and outstanding < serving else serving

    def _busy_share(self, interval_s: float) -> float:
        """Mean busy share of the serving replicas' GPUs over the last interval."""
        shares = []
        for r in self.replicas:
            key = id(r.alloc)
            now_busy = r.alloc.busy_now_s()
            last = self._busy_mark.get(key)
            self._busy_mark[key] = now_busy
            span = min(interval_s, self.sim.now_s - r.alloc.t_granted_s)
            if last is not None and span > 0:
                shares.append((now_busy - last) / span)
            elif span > 0:
                shares.append(now_busy / span)
        return sum(shares) / len(shares) if shares else 0.0

    def _scale_down(self, n: int) -> None:
        """Cancel requested replicas first, then drain the newest serving ones."""
        while n and self._requested:
            wid = self._requested.pop()
            self.cluster.cancel(wid)
            n -= 1
        while n and len(self.replicas) > 1:
            r = self.replicas.pop()
            self.n_serving.add(-1)
            self.draining.append(r)
            n -= 1
            self._release_if_drained(r)

    def _release_drained(self, _ev: Any = None) -> None:
        for r in list(self.draining):
            self._release_if_drained(r)

    def _release_if_drained(self, r: Replica) -> None:
        if r.outstanding == 0 and r.idle:
            self.draining.remove(r)
            self._busy_mark.pop(id(r.alloc), None)
            self.cluster.release(r.alloc)


    # -- arrivals --------------------------------------------------------------------
    def _load_arrivals(self, until_s: float) -> None:
        spec = self.spec
        if spec.trace is not None:
            times = spec.arrivals.arrival_times_s(None, until_s)
            n = len(times)
            self._times = times
            self._prompts = spec.trace.prompt_tokens[:n]
            self._outputs = spec.trace.output_tokens[:n]
            self._hashes = spec.trace.hash_ids
            return
        self._times = spec.arrivals.arrival_times_s(self.sim.rng.stream(f"arrivals/{self.name}"), until_s)
        self._prompts, self._outputs = spec.lengths(self.sim.rng.stream(f"lengths/{self.name}"), len(self._times))
        self._hashes = None
        c = spec.config
        if c.system_prompt_tokens >= c.prefix_block_tokens:  # a shared system prompt (its own stream: no draw shifts)
            ids = [system_block_ids(p, c.system_prompt_tokens, c.prefix_block_tokens) for p in range(c.system_prompts)]
            which = self.sim.rng.stream(f"system_prompts/{self.name}").integers(0, c.system_prompts, len(self._times))
            self._hashes = [ids[p] for p in which]

    # -- the closed loop -----------------------------------------------------------------
    CLOSED_BLOCK = 4096  # lengths and think times drawn per block

    def _start_users(self) -> None:
        """Every user sends its first request at t = 0."""
        self._length_rng = self.sim.rng.stream(f"lengths/{self.name}")
        self._think_rng = self.sim.rng.stream(f"arrivals/{self.name}")
        self._block_prompts = self._block_outputs = np.empty(0, dtype=np.int64)
        self._block_at = 0
        self._thinks = np.empty(0)
        self._think_at = 0
        assert self._closed is not None, "only a closed-loop service has users"
        concurrency = self._closed.concurrency

        def start_users(_ev: Any) -> None:
            for _ in range(concurrency):
                self._user_sends()

        self.sim.env.timeout(0).callbacks.append(start_users)

    def _user_sends(self) -> None:
        """A user sends its next request now."""
        if self._block_at == len(self._block_prompts):
            self._block_prompts, self._block_outputs = self.spec.lengths(self._length_rng, self.CLOSED_BLOCK)
            self._block_at = 0
        i = self._block_at
        self._block_at = i + 1
        self.send(int(self._block_prompts[i]), int(self._block_outputs[i]))

    def _user_done(self) -> None:
        """A user's request finished (completed or dropped): it thinks, then sends its next.
        Always through a timer, even without think time, so the next request arrives after
        the replica has taken its next step."""
        assert self._closed is not None, "only a closed-loop service has users"
        if self._think_at == len(self._thinks):
            self._thinks = self._closed.think_times_s(self._think_rng, self.CLOSED_BLOCK)
            self._think_at = 0
        think = float(self._thinks[self._think_at])
        self._think_at += 1
        self.sim.env.timeout(think).callbacks.append(lambda _ev: self._user_sends())

    def _schedule_next_arrival(self) -> None:
        env = self.sim.env
        delay = float(self._times[self._next]) - env._now
        env.call_later(delay if delay > 0.0 else 0.0, self._on_arrival)  # a timeout without its event

    def _on_arrival(self, _event: Any) -> None:
        i = self._next
        req = Request(i, self.name, self.sim.env.now, int(self._prompts[i]), int(self._outputs[i]),
                      self._hashes[i] if self._hashes is not None else None)
        self._next = i + 1
        if self._next < len(self._times):
            self._schedule_next_arrival()
        self.arrive(req)

    def send(self, prompt_tokens: int, output_tokens: int, hash_ids: tuple[int, ...] | None = None,
             session_id: int = -1, call_index: int = -1, turn_index: int = -1) -> None:
        """A new request (a user's, a session's call) reaches the service now."""
        req = Request(self._next, self.name, self.sim.env.now, prompt_tokens, output_tokens, hash_ids, session_id,
                      call_index, turn_index)
        self._next += 1
        self.arrive(req)

    def _call_ended(self, req: Request, status: str) -> None:
        """A client waits on ``req`` (closed loop, session): tell it how the request ended."""
        if self._closed is not None:
            self._user_done()
        elif self._sessions is not None and req.session_id >= 0:
            self._sessions.call_done(req.session_id, req.call_index, req.generated, status)

    def arrive(self, req: Request) -> None:
        """A request reaches the service now."""
        if self.spec.vision is not None:  # its prompt (drawn with them) holds the vision tokens
            req.vision_tokens = self.spec.vision.tokens
        self.in_system.add(1)
        if req.kv_tokens_max > self.kv_capacity_tokens:
            self.in_system.add(-1)
            self.sim.recorder.record("requests", req.row("dropped"))
            self.sim.recorder.event("drop", self.name, "request larger than the KV cache", req.kv_tokens_max)
            self._call_ended(req, "dropped")
            return
        self.in_flight[req.request_id] = req
        self._route(req)

    def _route(self, req: Request, decode_pool: bool = False) -> None:
        replica = self._pick(req, decode_pool)
        if replica is None:
            self.pending.append(req)
            return
        replica.enqueue(req)

    def _pick(self, req: Request, decode_pool: bool) -> Replica | None:
        """The replica the router picks for ``req`` in the prefill (or only) or decode pool; None if the pool is empty."""
        pool = self._pool(decode_pool)
        if not pool:
            return None
        power = tuple([self.cluster.rack_power_w(r.alloc) for r in pool]) if self.router.needs_power else None
        outstanding = tuple([r.outstanding for r in pool])
        if not getattr(self.router, "needs_prefix", False):
            return pool[self.router.route(outstanding, power)]
        blocks, request_blocks = None, None
        if req.hash_ids and not decode_pool:  # a decode replica never prefills: its cache is no reason
            blocks = tuple([r.prefix_cache.prefix_blocks(req.hash_ids) if r.prefix_cache is not None else 0
                            for r in pool])
            request_blocks = len(req.hash_ids)
        return pool[self.router.route(outstanding, power, blocks, request_blocks)]

    def _pool(self, decode_pool: bool) -> list[Replica]:
        if self.spec.config.prefill_replicas == 0:
            return self.replicas
        want = "decode" if decode_pool else "prefill"
        return [r for r in self.replicas if r.role == want]

    def hand_over(self, req: Request, source: Replica) -> None:
        """``source``, a prefill replica, finished ``req``'s prompt: pick a decode replica now
        and move the KV cache to it over the link between them; the request joins it when the
        last byte lands. As vLLM's NixlConnector does, the decode side loads the prompt's KV
        but the last token, and recomputes that one to sample the first output token, which is
        what the client sees first (TTFT = prefill + transfer + the decode replica's wait and
        first iteration; docs/workloads.md)."""
        req.ctx -= 1
        req.prefill_remaining = 1
        target = self._pick(req, decode_pool=True)
        if target is None:  # no decode replica up: it waits, and prefills its last token again where it goes
            self.pending.append(req)
            return
        target.outstanding += 1  # on its way: the router counts it there already
        link = self._kv_link(source, target)
        link.send(req.ctx * self.model.kv_bytes_per_token, lambda: self._landed(req, target))

    def _landed(self, req: Request, target: Replica) -> None:
        """``req``'s KV cache reached ``target``; if that replica lost power meanwhile, route again."""
        if target in self.replicas or target in self.draining:
            target.outstanding -= 1
            target.enqueue(req)
        else:
            self._route(req, decode_pool=True)

    def _kv_link(self, source: Replica, target: Replica) -> KvLink:
        """The link from prefill replica ``source`` towards ``target``: its NVLink when both
        sit in one scale-up domain, else its NICs; one per replica and path, shared by every
        transfer on it (processor sharing, dcsim.workloads.inference.kv_link)."""
        domain_gpus = self.cluster.topology.domain_gpus
        domains = {g // domain_gpus for g in source.alloc.gpu_ids + target.alloc.gpu_ids}
        path = "nvlink" if len(domains) == 1 else "nic"
        link = self._links.get((source.index, path))
        if link is None:
            per_gpu = kv_transfer_bytes_per_s_per_gpu(path, self.spec.config.kv_transfer_gbit_per_s, self.device.gpu,
                                                      self.device.fabric)
            link = self._links[(source.index, path)] = KvLink(self.sim.env, self.spec.config.tp * per_gpu,
                                                              f"{self.name}/replica/{source.index}/{path}")
        return link

    # -- completion and accounting ---------------------------------------------------
    def complete(self, req: Request) -> None:
        """A replica finished ``req``."""
        del self.in_flight[req.request_id]
        self.in_system.add(-1)
        self.sim.recorder.record("requests", req.row("completed"))
        self._call_ended(req, "completed")
        if self.spec.autoscale is not None:
            self._window[0] += 1
            self._window[1] += self._meets_slo(req)
        if self.draining:  # check after the replica has taken its next step
            self.sim.env.timeout(0).callbacks.append(self._release_drained)

    def _meets_slo(self, req: Request) -> bool:
        s = self.spec
        ttft = req.t_first_token_s - req.t_arrival_s
        ok = s.config.slo_ttft_s is None or ttft <= s.config.slo_ttft_s
        if s.config.slo_tpot_s is None or req.output_tokens <= 1:
            return ok
        return ok and (req.t_done_s - req.t_first_token_s) / (req.output_tokens - 1) <= s.config.slo_tpot_s

    def _finish(self, until_s: float) -> None:
        """Account for requests still in flight, and the service's GPU energy."""
        for req in self.in_flight.values():
            status = "queued" if math.isnan(req.t_admitted_s) else "running"
            self.sim.recorder.record("requests", req.row(status))
        if self._sessions is not None:
            self._sessions.finish()
        self._info.totals = ServiceTotals(
            prompt_tokens=self.prompt_tokens,
            model_flops=model_flops(self.model, self.prompt_tokens, self.output_tokens),
            output_tokens=self.output_tokens,
            gpu_energy_j=sum(a.energy_now_j() for a in self.allocations),
            gpu_s=sum(a.gpus * ((a.t_released_s if a.released else until_s) - a.t_granted_s)
                      for a in self.allocations),
            preemptions=self.preemptions,
            itl=self.itl,
            requests_requeued=self.requests_requeued,
            requests_lost=self.requests_lost,
            kv_cpu_tier_hit_tokens=self.kv_cpu_tier_hit_tokens,
            kv_cpu_tier_reloads=self.kv_cpu_tier_reloads,
        )
