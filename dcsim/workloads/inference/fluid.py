"""The ``fluid`` fidelity: replica groups in steady state, one step per control interval.

Instead of simulating every request, each interval the service takes the mean arrival
rate of its arrival process, splits it evenly over its replicas, and solves for the
steady state of continuous batching with the same device model the ``request``
engine uses. Per replica, with arrival rate lambda, mean prompt P (prefilled in
k = ceil(P / token budget) chunks) and mean output O:

- iterations come in two kinds: lambda * k mixed iterations per second (a prompt chunk
  plus the decodes) and n_d decode-only iterations per second;
- every iteration advances each decoding sequence by a token, so the mean decode batch
  per iteration is B = lambda (O - 1) / (lambda k + n_d);
- busy time per second is lambda k t_mixed(B) + n_d t_decode(B), and TPOT is the busy
  time per iteration;
- the replica idles only when it holds no request; with L = lambda * E2E requests in
  it on average, P(empty) = exp(-L) (Poisson occupancy), so busy = 1 - exp(-L). A
  least-outstanding router instead sends an arrival to an idle replica while one exists,
  so the pool of R replicas holds N ~ Poisson(R L) requests on min(N, R) replicas: busy =
  E[min(N, R)] / R, and an arrival waits behind an iteration only when all R are busy
  (:func:`pooled_occupancy`). Other routers split the arrivals at random, as if Poisson.

The last two conditions fix n_d (bisection). When no steady state exists the replica
is saturated: it runs back to back at its largest batch (``max_num_seqs`` or the KV
cache), serves its capacity, and the excess accumulates in a backlog that later
intervals drain. TTFT is the prompt's k mixed iterations plus, on average, half an
iteration of waiting for the current one to end, plus the backlog's queueing.
Power per GPU is the time average of the two iteration kinds' power and idle power.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from dcsim.core.runinfo import ServiceInfo, ServiceTotals
from dcsim.hardware.device import DeviceModel
from dcsim.hardware.models import LlmSpec, VisionWork
from dcsim.hardware.performance import prefill_attn_pairs
from dcsim.workloads.cluster import Allocation, Cluster, WorkRequest
from dcsim.workloads.inference.service import model_flops
from dcsim.workloads.inference.sessions import SessionArrivals

if TYPE_CHECKING:
    from dcsim.core.simulation import Simulation
    from dcsim.workloads.inference.service import ServiceSpec


# Poisson means above which pooled_occupancy takes the normal approximation (its error there
# is a few parts in 10,000 of the busy share; below, the exact sum over at most R terms).
_NORMAL_ABOVE = 100.0


def pooled_occupancy(mean_in_system: float, pool: int = 1) -> tuple[float, float]:
    """(share of time a replica holds a request, probability that an arrival finds the replica
    it is sent to iterating) with ``mean_in_system`` requests per replica on average.

    ``pool = 1``: each replica on its own Poisson share, both 1 - exp(-L). ``pool = R > 1``:
    a least-outstanding router over R replicas keeps the pool's N ~ Poisson(R L) requests on
    min(N, R) of them, so the busy share is E[min(N, R)] / R and an arrival waits only when
    N >= R (arrivals see the time average, PASTA).
    """
    if mean_in_system <= 0.0:
        return 0.0, 0.0
    if pool <= 1:
        p = -math.expm1(-mean_in_system)
        return p, p
    mu = pool * mean_in_system
    if mu > _NORMAL_ABOVE:  # N ~ Normal(mu, mu): E[min(N, R)] = mu - E[(N - R)+]
        sd = math.sqrt(mu)
        z = (pool - mu) / sd
        tail = 0.5 * math.erfc(z / math.sqrt(2.0))  # P(N > R)
        excess = sd * math.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi) - (pool - mu) * tail
        wait = 0.5 * math.erfc((pool - 0.5 - mu) / (sd * math.sqrt(2.0)))  # P(N >= R), continuity-corrected
        return min(1.0, (mu - excess) / pool), wait
    pk = math.exp(-mu)  # P(N = 0), then P(N = k) by recurrence
    below, cdf = 0.0, 0.0
    # the terms past mu + 12 sd (+ 30) are below 1e-30: a large pool at a small load stops there
    for k in range(min(pool, int(mu + 12.0 * math.sqrt(mu)) + 30)):
        below += k * pk
        cdf += pk
        pk *= mu / (k + 1)
    wait = max(0.0, 1.0 - cdf)  # P(N >= R)
    return min(1.0, (below + pool * wait) / pool), wait


@dataclass(frozen=True, slots=True)
class FluidPoint:
    """Steady state of one replica."""

    rate_per_s: float  # requests served per second
    busy: float  # share of time iterating
    batch: float  # mean decoding sequences per iteration
    tpot_s: float
    ttft_s: float
    power_w: float  # mean per GPU
    saturated: bool
    capacity_per_s: float


class PrefillClass(NamedTuple):
    """One kind of request's prefill, as the fluid model costs it: ``share`` of the requests
    prefill ``tokens`` new tokens over ``cached`` tokens already in the prefix cache, in
    ``chunks`` iterations (a mean: it need not be whole), with ``pairs`` attention pairs in
    all (new token, context token)."""

    share: float
    tokens: float
    cached: float
    chunks: float
    pairs: float


class ReplicaModel:
    """Iteration costs of one replica at a mean operating point."""

    def __init__(self, device: DeviceModel, model: LlmSpec, tp: int, mean_prompt: float, mean_output: float,
                 max_batch_tokens: int, max_num_seqs: int, kv_capacity_tokens: int,
                 median_prompt: float | None = None, ep: int = 1, decode_context: float | None = None,
                 vision: VisionWork | None = None, cached_prompt: float = 0.0,
                 median_new_prompt: float | None = None,
                 prefill_mix: tuple[PrefillClass, ...] | None = None) -> None:
        self.device, self.model, self.tp, self.ep = device, model, tp, ep
        # A prompt's first ``cached_prompt`` tokens come from the prefix cache: only the rest
        # is prefilled, its attention over the cached context.
        self.cached = min(max(cached_prompt, 0.0), max(mean_prompt - 1.0, 0.0))
        self.prompt = mean_prompt - self.cached  # prefilled per request
        self.max_batch_tokens = max_batch_tokens
        # tokens the median request prefills: given, or its prompt at the mean's cached share
        share = self.prompt / mean_prompt if mean_prompt > 0 else 1.0
        self.median_prompt = ((mean_prompt if median_prompt is None else median_prompt) * share
                              if median_new_prompt is None else median_new_prompt)
        self.output = mean_output
        self.chunks: float = max(1, math.ceil(self.prompt / max_batch_tokens))
        self.chunk = self.prompt / self.chunks
        # requests whose prefills differ in kind (sessions: calls that find their previous
        # call's blocks and calls that do not): each kind costed on its own and averaged,
        # since a mean call's prefill (mean new tokens over the mean cached context) puts too
        # many attention pairs in too few chunks
        self.prefill_mix = prefill_mix
        if prefill_mix is not None:
            self.chunks = sum(c.share * c.chunks for c in prefill_mix)
            self.prompt = sum(c.share * c.tokens for c in prefill_mix)
            self.cached = sum(c.share * c.cached for c in prefill_mix)
        # mean context of a decoding sequence, over decode iterations (long answers weigh more)
        self.ctx = mean_prompt + mean_output / 2.0 if decode_context is None else decode_context
        self.max_batch = min(float(max_num_seqs), kv_capacity_tokens / self.ctx)
        # multimodal: the vision encoder runs once per request, in the iteration that starts its prefill
        self.encoder = (0.0, 0.0) if vision is None else device.iteration_scalar(
            vision.encoder, tp, vision.patches, vision.attn_pairs, vision.patches, 0.0)
        self.idle_w = device.idle_w()
        self.capacity_per_s = self._capacity()

    @classmethod
    def of_service(cls, device: DeviceModel, s: ServiceSpec, cached_prompt: float = 0.0,
                   median_new_prompt: float | None = None,
                   prefill_mix: tuple[PrefillClass, ...] | None = None) -> ReplicaModel:
        """One replica of service ``s`` on ``device``, at the service's mean operating point
        (``cached_prompt`` tokens of a mean prompt found in the prefix cache; the median
        request prefilling ``median_new_prompt`` tokens; its prefills of the kinds
        ``prefill_mix``, when given)."""
        return cls(device, s.model, s.config.tp, s.mean_prompt_tokens, s.mean_output_tokens, s.config.max_batch_tokens,
                   s.config.max_num_seqs, s.kv_capacity_tokens, s.median_prompt_tokens, s.config.ep,
                   s.mean_decode_context_tokens, s.vision, cached_prompt, median_new_prompt, prefill_mix)

    def mixed(self, b: float, prompt: float | None = None) -> tuple[float, float]:
        """(time, power) of an iteration with a chunk of a mean prompt (or of ``prompt``) and
        ``b`` decodes; with a prefill mix, the mean over the mix's iterations (time-weighted power)."""
        if prompt is None and self.prefill_mix is not None:
            weights = [c.share * c.chunks for c in self.prefill_mix]
            costs = [self._mixed_one(b, c.chunks, c.tokens / c.chunks, c.cached, c.pairs / c.chunks)
                     for c in self.prefill_mix]
            total_t = sum(w * t for w, (t, _) in zip(weights, costs))
            return total_t / sum(weights), sum(w * t * p for w, (t, p) in zip(weights, costs)) / total_t
        if prompt is None:
            chunks, chunk = self.chunks, self.chunk
        else:
            chunks = max(1, math.ceil(prompt / self.max_batch_tokens))
            chunk = prompt / chunks
        return self._mixed_one(b, chunks, chunk, self.cached)

    def _mixed_one(self, b: float, chunks: float, chunk: float, cached: float,
                   pairs: float | None = None) -> tuple[float, float]:
        """(time, power) of one of a prefill's ``chunks`` iterations of ``chunk`` tokens over
        ``cached`` tokens, beside ``b`` decodes; ``pairs``: its attention pairs (None: the
        chunk's over the mean context before it)."""
        before = cached + chunk * (chunks - 1) / 2.0  # mean context already in the cache or prefilled
        if pairs is None:
            pairs = prefill_attn_pairs(chunk, before)
        t, p = self.device.iteration_scalar(self.model, self.tp, b + chunk, b * self.ctx + pairs,
                                            b * self.ctx + before + chunk, b, self.ep)
        t_enc, w_enc = self.encoder
        if t_enc:  # one prompt's encoder pass over its k chunks' iterations, on average
            t_enc /= chunks
            t, p = t + t_enc, (t * p + t_enc * w_enc) / (t + t_enc)
        return t, p

    def median_ttft_s(self, lam: float, b: float, busy: float, t_m: float, t_d: float, n_d: float) -> float:
        """Median TTFT: the median prompt's own prefill iterations plus the median wait for
        the iteration in progress at arrival. An arrival finds the replica busy with
        probability ``busy``, inside a mixed or decode iteration in proportion to the time
        spent in each, at a uniform point of it. Prompts that arrived during the previous
        iteration (lam x mean iteration time of them, of mean length) are prefilled in the
        same iteration and lengthen it. (The prefill queue adds nothing to the median while
        under half the time is spent prefilling: most prompts find none ahead.)
        """
        k = self.chunks
        r_it = lam * k + n_d
        m = lam * k / r_it if r_it > 0 else 1.0
        busy_m, busy_d = m * t_m, (1 - m) * t_d
        w_m = busy_m / (busy_m + busy_d) if busy_m + busy_d > 0 else 1.0

        def cdf(x: float) -> float:
            return (1 - busy) + busy * (w_m * min(x / t_m, 1.0) + (1 - w_m) * min(x / t_d, 1.0))

        lo, hi = 0.0, max(t_m, t_d)
        if cdf(0.0) < 0.5:
            for _ in range(50):
                mid = 0.5 * (lo + hi)
                lo, hi = (lo, mid) if cdf(mid) >= 0.5 else (mid, hi)
        mean_t = busy_m + busy_d  # mean iteration time
        tokens = self.median_prompt + lam * mean_t * self.prompt
        chunks = max(1, math.ceil(tokens / self.max_batch_tokens))
        return chunks * self.mixed(b, tokens)[0] + hi * (cdf(0.0) < 0.5)

    def decode(self, b: float) -> tuple[float, float]:
        """(time, power) of a decode-only iteration of ``b`` sequences."""
        return self.device.iteration_scalar(self.model, self.tp, b, b * self.ctx, b * self.ctx, b, self.ep)

    def _capacity(self) -> float:
        """Requests per second when iterating back to back at the largest batch."""
        b = self.max_batch
        t_m, _ = self.mixed(b)
        t_d, _ = self.decode(b)
        decode_iters = max((self.output - 1.0) / b - self.chunks, 0.0)
        return 1.0 / (self.chunks * t_m + decode_iters * t_d)

    def steady_state(self, lam: float, pool: int = 1) -> FluidPoint:
        """The replica's steady state at ``lam`` requests per second, one of ``pool`` replicas
        a least-outstanding router balances (1: its own Poisson share; :func:`pooled_occupancy`)."""
        if lam <= 0:
            return FluidPoint(0.0, 0.0, 0.0, math.nan, math.nan, self.idle_w, False, self.capacity_per_s)
        if lam >= self.capacity_per_s:
            return self._saturated()
        k, o = self.chunks, self.output

        def solve(n_d: float):
            r_it = lam * k + n_d
            b = lam * (o - 1.0) / r_it
            (t_m, p_m), (t_d, p_d) = self.mixed(b), self.decode(b)
            busy_time = lam * k * t_m + n_d * t_d
            tpot = busy_time / r_it
            e2e = k * t_m + (o - 1.0) * tpot
            occupied, waits = pooled_occupancy(lam * e2e, pool)
            return busy_time - occupied, (b, t_m, p_m, t_d, p_d, busy_time, tpot, waits)

        lo, hi = 0.0, 1.0 / self.decode(0.0)[0]
        g_lo, _ = solve(lo)
        if g_lo > 0:  # even with every iteration mixed the replica is busier than its occupancy allows
            n_d = 0.0
        else:
            for _ in range(60):
                mid = 0.5 * (lo + hi)
                if solve(mid)[0] > 0:
                    hi = mid
                else:
                    lo = mid
            n_d = 0.5 * (lo + hi)
        _, (b, t_m, p_m, t_d, p_d, busy, tpot, pool_wait) = solve(n_d)
        busy = min(busy, 1.0)  # a full replica iterates back to back below its capacity
        power = lam * k * t_m * p_m + n_d * t_d * p_d + (1.0 - busy) * self.idle_w
        # an arrival waits behind an iteration in progress as often as it finds its replica busy:
        # the busy share on its own, only when the whole pool is busy under a least-outstanding router
        wait = busy if pool <= 1 else pool_wait
        ttft = self.median_ttft_s(lam, b, wait, t_m, t_d, n_d)
        return FluidPoint(lam, busy, b, tpot, ttft, power, False, self.capacity_per_s)

    def _saturated(self) -> FluidPoint:
        b, k, mu = self.max_batch, self.chunks, self.capacity_per_s
        (t_m, p_m), (t_d, p_d) = self.mixed(b), self.decode(b)
        n_d = max(mu * (self.output - 1.0) / b - mu * k, 0.0)
        r_it = mu * k + n_d
        power = (mu * k * t_m * p_m + n_d * t_d * p_d) / (mu * k * t_m + n_d * t_d)
        return FluidPoint(mu, 1.0, b, 1.0 / r_it, self.median_ttft_s(mu, b, 1.0, t_m, t_d, n_d), power, True, mu)


class FluidService:
    """A service at ``fluid`` fidelity: same constructor as ``InferenceService``."""

    def __init__(self, sim: Simulation, spec: ServiceSpec, device: DeviceModel, router: Any, cluster: Cluster,
                 first_work_id: int, until_s: float) -> None:
        self.sim = sim
        self.spec = spec
        self.name = spec.name
        self.device = device
        self.allocations: list[Allocation] = []
        self.cluster = cluster
        self.interval_s = sim.recorder.run_info.scenario.control_interval_s
        self.base_device = device
        self.sessions = spec.arrivals if isinstance(spec.arrivals, SessionArrivals) else None
        self.call_s = 0.0  # sessions: one call's time in the system (TTFT + decode), at the steady state
        self.median_new_prompt: float | None = None  # sessions: what the median call prefills
        self.prefill_mix: tuple[PrefillClass, ...] | None = None  # sessions: calls that hit and miss
        self.cached_prompt = self._session_cached_tokens() if self.sessions is not None else 0.0
        self._offsets: tuple[np.ndarray, np.ndarray] | None = None  # sessions: when calls are sent, sorted, and cumsums
        if self.sessions is not None and self.call_s > 0:
            offsets = self.sessions.means().call_offsets_s(self.call_s)
            self._offsets = offsets, np.cumsum(offsets)
        self.model = self._replica_model(device)
        self._models = {device.cap_w: self.model}
        self._uncapped_w = device.idle_w()
        self.backlog = 0.0  # requests arrived and not yet served
        self.output_tokens = 0.0
        self.served = 0.0
        self.arrived = 0.0
        self.until_s = until_s
        self.released: list[Allocation] = []  # replicas' allocations lost to a power loss
        self.requests_requeued = 0.0
        self._in_flight_per_replica = 0.0  # requests in one replica now (Little's law), for an interruption
        for i in range(spec.config.replicas):
            self._request_replica(first_work_id + i, f"{spec.name}/replica/{i}")
        self._info = sim.recorder.run_info.add_service(
            spec.name, ServiceInfo(spec.config.slo_ttft_s, spec.config.slo_tpot_s, "fluid",
                                                                          gpu=spec.gpu_types(cluster)))
        sim.env.process(self._run())
        sim.on_finish(self._finish)

    def _request_replica(self, work_id: int, name: str) -> None:
        s = self.spec
        self.cluster.submit(WorkRequest(work_id, name, s.gpus_per_replica, self._start_replica, kind="inference",
                                        priority=s.config.priority, domain_nodes=self.cluster.topology.nodes_per_domain,
                                        interrupt=lambda cause: self._interrupt(work_id, name, cause),
                                        gpu_type=s.gpu or None))

    def _start_replica(self, alloc: Allocation) -> None:
        alloc.owner = self
        self.allocations.append(alloc)

    def _interrupt(self, work_id: int, name: str, cause: str) -> None:
        """A replica lost power: its in-flight requests join the backlog (served by the others
        from the next interval), its GPUs are released and a replacement is asked for."""
        alloc = next(a for a in self.allocations if a.work.work_id == work_id)
        self.allocations.remove(alloc)
        self.released.append(alloc)
        self.backlog += self._in_flight_per_replica
        self.requests_requeued += self._in_flight_per_replica
        self.sim.recorder.event("requeue", name, cause, self._in_flight_per_replica)
        self.cluster.release(alloc)
        self._request_replica(work_id, name)

    # -- power capping: the group is one consumer -------------------------------------
    kind = "inference"

    def set_cap(self, cap_w: float | None) -> None:
        """Run every replica under a per-GPU cap from the next interval on."""
        if cap_w is None:
            cap_w = self.base_device.cap_w
        if cap_w == self.device.cap_w:
            return
        self.device = self.base_device.with_cap(cap_w)
        self.model = self._models.get(cap_w) or self._models.setdefault(cap_w, self._replica_model(self.device))

    def uncapped_w_per_gpu(self) -> float:
        """Per-GPU power of the current steady state without a cap."""
        return self._uncapped_w

    def _replica_model(self, device: DeviceModel) -> ReplicaModel:
        return ReplicaModel.of_service(device, self.spec, self.cached_prompt, self.median_new_prompt,
                                       self.prefill_mix)

    def _session_cached_tokens(self) -> float:
        """Mean prompt tokens of a session's call served from the prefix cache
        (:meth:`SessionMeans.cached_tokens`) at the configured replicas and mean call rate: a
        fixed point, since how long a call takes (its prefill) and how many sessions share a
        replica's cache depend on it. The affinity router keeps a session's calls on one
        replica; any other router lands a call where its previous one ran 1 in R times."""
        s, c = self.spec, self.spec.config
        assert self.sessions is not None, "sessions only"
        m = self.sessions.means()
        if c.prefix_cache_fraction == 0 or c.replicas == 0:
            return 0.0
        cache = int(c.prefix_cache_fraction * s.kv_capacity_tokens) // c.prefix_block_tokens * c.prefix_block_tokens
        same = 1.0 if c.router == "prefix_affinity" else 1.0 / c.replicas
        lam = self.sessions.mean_rate_per_s(0.0, 1.0) / c.replicas  # calls per second per replica
        think = float(m.think_s.mean()) if len(m.think_s) else 0.0
        hit = same
        kinds = m.prefill_kinds(c.max_batch_tokens)  # a hit's and a miss's prefill: the same at every hit share
        for _ in range(8):
            cached = m.cached_at(hit)
            self.median_new_prompt = m.median_new_tokens(hit)
            self.prefill_mix = tuple(PrefillClass(share, *kind) for share, kind in zip((hit, 1.0 - hit), kinds)
                                     if share > 0)
            point = ReplicaModel.of_service(self.base_device, s, cached, self.median_new_prompt,
                                            self.prefill_mix).steady_state(lam)
            if not point.rate_per_s > 0:
                break
            decode_s = point.tpot_s * max(s.mean_output_tokens - 1.0, 0.0)
            self.call_s = point.ttft_s + decode_s
            cycle = think + self.call_s  # one call and the think time after it
            n = lam * cycle  # sessions in progress on a replica
            shared = min(float(c.system_prompts), max(n, 1.0)) * m.system_tokens  # system prompts in use
            new = m.hit_share(same, decode_s, self.call_s, n, s.mean_prompt_tokens, cache, shared,
                              self.sessions.starts.rate_per_s / c.replicas, c.prefix_cache_ttl_s)
            if abs(new - hit) < 1e-4:
                break
            hit = new
        return m.cached_at(hit)

    def _call_rate_per_s(self, t0_s: float, t1_s: float) -> float:
        """Calls per second over [t0, t1): the arrival process's; for sessions, starts x the
        calls their sessions have sent by then (``SessionMeans.calls_sent_by``: the run
        starts with no session in progress and warms up over a few cycles)."""
        if self.sessions is None:
            return self.spec.arrivals.mean_rate_per_s(t0_s, t1_s)
        m = self.sessions.means()
        if self._offsets is None:
            return self.sessions.mean_rate_per_s(t0_s, t1_s)
        offsets, cum = self._offsets
        starts = self.sessions.starts.mean_rate_per_s(t0_s, t1_s)
        return starts * (m.calls_sent_by(t1_s, offsets, cum) - m.calls_sent_by(t0_s, offsets, cum)) / (t1_s - t0_s)

    def _run(self):
        env = self.sim.env
        while True:
            t0 = env.now
            dt = min(self.interval_s, self.until_s - t0)
            n = len(self.allocations)
            lam_total = self._call_rate_per_s(t0, t0 + dt)
            self.arrived += lam_total * dt
            # offered load: new arrivals plus the backlog spread over this interval
            offered = lam_total + self.backlog / dt
            pool = n if self.spec.config.router == "least_outstanding" else 1  # pooled_occupancy
            point = self.model.steady_state(offered / n, pool) if n else None
            if point is not None:
                base = self._models[self.base_device.cap_w]
                self._uncapped_w = (point.power_w if base is self.model
                                    else base.steady_state(offered / n, pool).power_w)
            served_rate = point.rate_per_s * n if point else 0.0
            self.backlog = max(0.0, self.backlog + (lam_total - served_rate) * dt)
            queue_s = self.backlog / served_rate if served_rate > 0 else math.nan
            if point is not None:
                self.cluster.set_group_state(self.allocations, point.power_w, busy=point.busy > 0)
                e2e_s = point.ttft_s + point.tpot_s * max(self.spec.mean_output_tokens - 1.0, 0.0)
                self._in_flight_per_replica = point.rate_per_s * e2e_s
            tokens = served_rate * dt * self.spec.mean_output_tokens
            self.served += served_rate * dt
            self.output_tokens += tokens
            self.sim.recorder.record("services", (
                t0, self.name, lam_total, served_rate, tokens / dt,
                point.batch if point else math.nan, point.ttft_s + (queue_s if point and point.saturated else 0.0)
                if point else math.nan, point.tpot_s if point else math.nan, point.busy if point else 0.0,
                point.power_w if point else math.nan, n, self.backlog, int(bool(point and point.saturated)), dt,
            ))
            yield env.timeout(dt)

    def _finish(self, until_s: float) -> None:
        prompt_tokens = self.served * self.spec.mean_prompt_tokens
        self._info.totals = ServiceTotals(
            prompt_tokens=prompt_tokens,
            model_flops=model_flops(self.spec.model, prompt_tokens, self.output_tokens),
            output_tokens=self.output_tokens,
            gpu_energy_j=sum(a.energy_now_j() for a in self.allocations + self.released),
            gpu_s=sum(a.gpus * ((a.t_released_s if a.released else until_s) - a.t_granted_s)
                      for a in self.allocations + self.released),
            requests_served=self.served,
            requests_arrived=self.arrived,
            requests_requeued=self.requests_requeued,
            cached_prompt_tokens=self.served * self.cached_prompt,
        )
