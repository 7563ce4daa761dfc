"""The replica engine: continuous batching, as vLLM does it, one event per batch change.

A replica serves requests on its TP GPUs. Each iteration has a token budget
(``max_batch_tokens``): every running sequence that is decoding takes one token of it,
and prompts still being prefilled take the rest in chunks (chunked prefill), oldest
first. A request is admitted from the FIFO queue when a sequence slot is free
(``max_num_seqs``) and the KV cache can hold its prompt (``kv_capacity_tokens``, the
memory left after the weights). The cache is accounted per token (PagedAttention
wastes under 4 % to block fragmentation; Kwon et al., SOSP 2023). When decoding would
overflow it, the most recently admitted sequence is preempted: its cache is freed and
it goes back to the head of the queue, to recompute its prompt and the tokens it had
generated when it is admitted again (vLLM's recompute preemption).

With prefix caching, a replica keeps the KV blocks of recent prompts (by the block
hashes of the request, as in the Mooncake trace) in an LRU cache; a new prompt whose
leading blocks are cached prefills only the rest. A cache-aware router reads how many
leading blocks of a request each replica holds (:meth:`PrefixCache.prefix_blocks`, which
leaves the LRU order alone) before it picks one.

Between batch changes nothing happens but decode iterations, so the engine costs all
iterations up to the next completion (or a full KV cache) in one vectorised call and
sets a single timer for their end. An arrival that can be admitted cuts the segment at
the end of the iteration in progress. The engine is driven by timer callbacks, not a
generator process, and a stale timer is recognised by a token and ignored: events per
request are O(1 + prompt / budget), never one per decode step.

Inter-token gaps (ITL) are logged the same way, in closed form: iterations run back to
back, so a sequence that decodes in an iteration got its previous token when the
iteration began, and its gap is the iteration's time. A decode segment adds one record,
(first iteration time, slope, iterations, batch), to the service's
:class:`~dcsim.workloads.inference.requests.TokenGaps`; a mixed iteration adds (time,
0, 1, decoders). Only a sequence preempted after a token measures its gap from that token
(``Request.t_last_token_s``): its recomputed prefill ends with its next token.

A prefill replica (``role="prefill"``) makes no output token of a request that wants
more than one: it hands the request to the service when its prompt is prefilled
(:meth:`InferenceService.hand_over`), which moves the KV cache to a decode replica; there
the request prefills its last prompt token again and samples its first token, as vLLM's
disaggregated serving does, so that token and TTFT come after the transfer.
"""

from __future__ import annotations

import math
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from dcsim.core.units import GB_B
from dcsim.hardware.performance import prefill_attn_pairs
from dcsim.workloads.inference.kv_link import KvLink
from dcsim.workloads.inference.requests import Request

if TYPE_CHECKING:
    from dcsim.workloads.cluster import Allocation
    from dcsim.workloads.inference.service import InferenceService

IDLE, MIXED, DECODE, CUT = "idle", "mixed", "decode", "cut"
ROLES = ("both", "prefill", "decode")


class PrefixCache:
    """An LRU set of KV blocks, by block hash; evicted blocks go to ``lower`` (the CPU-memory
    tier, itself an LRU that drops its own evictions), or are dropped without one.

    With ``ttl_s > 0`` (and the simulation's ``clock``) a block not used for ``ttl_s`` seconds
    is dropped from either tier, as API providers' prompt caches expire their entries (a
    use refreshes the lifetime). The LRU order is the order of last use, so the expired
    blocks are always the least recently used ones, at the front."""

    def __init__(self, capacity_blocks: int, block_tokens: int, lower: PrefixCache | None = None,
                 ttl_s: float = 0.0, clock: Callable[[], float] | None = None) -> None:
        if ttl_s > 0 and clock is None:
            raise ValueError("a prefix cache with a lifetime (ttl_s > 0) needs the simulation's clock")
        self.capacity_blocks = capacity_blocks
        self.block_tokens = block_tokens
        self.lower = lower
        self.ttl_s = ttl_s
        self._clock = clock
        self._blocks: OrderedDict[int, float] = OrderedDict()  # hash -> time of last use (0 without a lifetime)

    def __contains__(self, block_hash: int) -> bool:
        return block_hash in self._blocks

    def _expire(self) -> float:
        """Drop the blocks past their lifetime, here and below; the time now (0 without one)."""
        if not self.ttl_s:
            return 0.0
        assert self._clock is not None  # checked at construction
        now = self._clock()
        oldest = now - self.ttl_s
        blocks = self._blocks
        while blocks and next(iter(blocks.values())) < oldest:
            blocks.popitem(last=False)
        if self.lower is not None:
            self.lower._expire()
        return now

    def prefix_blocks(self, hash_ids: tuple[int, ...]) -> int:
        """Leading blocks of ``hash_ids`` cached now, without touching the LRU order (what a
        cache-aware router reads before it picks a replica)."""
        if self.ttl_s:
            self._expire()
        n = 0
        for h in hash_ids:
            if h not in self._blocks:
                break
            n += 1
        return n

    def hit_tokens(self, hash_ids: tuple[int, ...]) -> int:
        """Tokens of the longest cached prefix of ``hash_ids`` in either tier (the hits become
        most recent here; those in the lower tier move back up)."""
        return self.take(hash_ids)[0] * self.block_tokens

    def take(self, hash_ids: tuple[int, ...]) -> tuple[int, int]:
        """Admit a prompt: (leading blocks of ``hash_ids`` cached here or in the lower tier, how
        many of them were in the lower tier). The hits become most recent here; those of the
        lower tier leave it and come here (a reload), which may evict others down."""
        now = self._expire()
        lower = self.lower
        blocks = self._blocks
        n, up = 0, []
        for h in hash_ids:
            if h in blocks:
                blocks.move_to_end(h)
                if now:
                    blocks[h] = now
            elif lower is not None and h in lower:
                up.append(h)
            else:
                break
            n += 1
        if up:
            assert lower is not None  # only the lower tier fills ``up``
            for h in up:
                del lower._blocks[h]
            self.insert(tuple(up))
        return n, len(up)

    def insert(self, hash_ids: tuple[int, ...], used_s: tuple[float, ...] | None = None) -> None:
        """Cache the blocks of a prefilled prompt, evicting the least recently used (down a
        tier, with the times they were last used: ``used_s``, else now)."""
        now = self._expire()
        blocks = self._blocks
        if used_s is None:
            for h in hash_ids:
                blocks[h] = now
                blocks.move_to_end(h)
        else:
            for h, t in zip(hash_ids, used_s):
                blocks[h] = t
                blocks.move_to_end(h)
        evicted = []
        while len(blocks) > self.capacity_blocks:
            evicted.append(blocks.popitem(last=False))
        if evicted and self.lower is not None:
            self.lower.insert(tuple(h for h, _ in evicted), tuple(t for _, t in evicted))


class LinearSegment:
    """Decode iterations whose times grow linearly, t_k = a + b k: sums in closed form."""

    __slots__ = ("a", "b", "n")

    def __init__(self, a: float, b: float, n: int) -> None:
        self.a, self.b, self.n = a, b, n

    def end_s(self, k: int) -> float:
        """Time from the segment's start to the end of its first ``k`` iterations."""
        return k * self.a + self.b * k * (k - 1) / 2.0

    def done_by(self, elapsed_s: float) -> int:
        """Iterations finished by ``elapsed_s``, counting the one in progress (1..n)."""
        a, b = self.a, self.b
        # smallest k with end_s(k) >= elapsed: b/2 k^2 + (a - b/2) k - elapsed >= 0
        if b > 0:
            h = a - b / 2.0
            k = math.ceil((-h + math.sqrt(h * h + 2.0 * b * elapsed_s)) / b)
        else:
            k = math.ceil(elapsed_s / a)
        while k > 1 and self.end_s(k - 1) >= elapsed_s:  # guard the rounding of the root
            k -= 1
        while self.end_s(k) < elapsed_s:
            k += 1
        return max(1, min(self.n, k))


class ArraySegment:
    """Decode iterations of any time profile, by cumulative sums."""

    __slots__ = ("cum", "n")

    def __init__(self, times: np.ndarray) -> None:
        self.cum = np.cumsum(times)
        self.n = len(times)

    def end_s(self, k: int) -> float:
        return float(self.cum[k - 1])

    def done_by(self, elapsed_s: float) -> int:
        return min(self.n, int(np.searchsorted(self.cum, elapsed_s, side="left")) + 1)


class Replica:
    """One model replica on ``tp`` x ``ep`` GPUs."""

    def __init__(self, service: InferenceService, index: int, alloc: Allocation, role: str = "both") -> None:
        self.service = service
        self.index = index
        self.alloc = alloc
        alloc.owner = self
        self.role = role
        self.env = service.sim.env
        self._call_later = self.env.call_later  # a timer: a scheduled callback, no Timeout object
        s = service.spec
        self.model = s.model
        device = service.device_for(role)  # the GPU type of its pool (a disaggregated service may have two)
        self.base_device = device  # uncapped (or statically capped) device
        self.device = device  # the device under the current cap
        self.cap_w: float | None = device.cap_w
        self._last_iteration: tuple[float, float, float, float] = (0, 0, 0, 0)  # inputs of the latest iteration, for power demand
        self.tp = s.config.tp
        self.ep = s.config.ep  # expert parallel: ep attention groups of tp GPUs (performance.comm_terms)
        self.gpus = s.gpus_per_replica
        self.max_num_seqs = s.config.max_num_seqs
        self.max_batch_tokens = s.config.max_batch_tokens
        self.vision = s.vision  # multimodal: the encoder work of each request's images (or None)
        self.kv_capacity_tokens = service.kv_capacity_for(role)
        self.kv_watermark_tokens = int(0.01 * self.kv_capacity_tokens)  # vLLM keeps 1 % free at admission
        block = s.config.prefix_block_tokens
        ttl, clock = s.config.prefix_cache_ttl_s, (lambda: self.env.now)
        cpu_tier = (PrefixCache(int(s.config.kv_cpu_tier_gb * GB_B / (block * self.model.kv_bytes_per_token)), block,
                                ttl_s=ttl, clock=clock)
                    if s.config.kv_cpu_tier_gb > 0 else None)
        self.prefix_cache = (
            PrefixCache(int(s.config.prefix_cache_fraction * self.kv_capacity_tokens) // block, block, cpu_tier,
                        ttl, clock)
            if s.config.prefix_cache_fraction > 0 else None
        )
        # Host memory -> HBM, one way, the replica's tp GPUs each on its own host link (PCIe, C2C).
        self.host_link: KvLink | None = None
        if cpu_tier is not None:
            host_bw = device.gpu.host_link_bw_bytes_per_s
            if host_bw is None:  # the builder refuses the tier on such a GPU
                raise ValueError(f"{device.gpu.name} has no host link bandwidth for a CPU KV tier")
            self.host_link = KvLink(self.env, self.tp * host_bw / 2.0, f"{service.name}/replica/{index}/host")
        self._loading: list[Request] = []  # admitted, their prefix reloading from the CPU tier
        self._reloaded_ready: list[Request] = []  # reloaded, joining the batch at the next iteration boundary
        self.outstanding = 0  # requests queued or running here
        self.waiting: deque[Request] = deque()
        self.running: list[Request] = []  # in admission order
        self.kv_committed = 0  # sum of ctx + prefill_remaining over running
        self._phase = IDLE
        self._token = 0
        self._segment: tuple[float, LinearSegment | ArraySegment, float, int] | None = None
        self._prefilling = 0  # running sequences with prompt tokens still to prefill
        self._gap_log = service.itl
        self._gap_limit = service.itl.fold_limit
        self._gaps = service.itl.records  # appended in place: (first_s, step_s, n, weight) per record
        self._idle_w = self.device.idle_w()
        self._step()


    # -- power capping -----------------------------------------------------------------
    kind = "inference"

    def halt(self) -> list[Request]:
        """The replica's GPUs lost power: stop now and hand back every request it held,
        running first, then waiting, their caches gone (to recompute where they go next).
        The iteration or decode segment in progress is lost; no timer of it fires again."""
        self._token += 1
        now = self.env.now
        for r in self.running:
            if r.prefill_remaining == 0:
                r.t_last_token_s = now  # its next gap runs from its last token, made here
        held = self.running + self._reloaded_ready + self._loading + list(self.waiting)
        for r in held:
            r.prefill_remaining = r.prompt_tokens + r.generated
            r.ctx = 0
        self.running, self.waiting, self._loading, self._reloaded_ready = [], deque(), [], []
        self.outstanding = self.kv_committed = self._prefilling = 0
        self._phase = IDLE
        self._segment = None
        return held

    @property
    def idle(self) -> bool:
        """No iteration in progress (nothing pending on this replica's timers)."""
        return self._phase == IDLE

    def set_cap(self, cap_w: float | None) -> None:
        """Run under a per-GPU power cap from the next iteration on (None: the base device's)."""
        if cap_w is None:
            cap_w = self.base_device.cap_w
        if cap_w == self.cap_w:
            return
        self.cap_w = cap_w
        self.device = self.base_device.with_cap(cap_w)
        if self._phase == DECODE:
            self._cut_segment()  # re-cost the rest of the segment at the new clock

    def uncapped_w_per_gpu(self) -> float:
        """Per-GPU power the latest iteration would draw without a cap (idle when idle)."""
        if self._phase == IDLE:
            return self._idle_w
        return self.base_device.iteration_scalar(self.model, self.tp, *self._last_iteration, ep=self.ep)[1]

    # -- arrivals --------------------------------------------------------------------
    def enqueue(self, req: Request) -> None:
        """Take a request; cut a decode segment if it can join the batch now."""
        req.replica = self.index
        self.outstanding += 1
        self.waiting.append(req)
        if self._phase == IDLE:
            self._step()
        elif self._phase == DECODE and self._can_admit():
            self._cut_segment()

    def _can_admit(self) -> bool:
        if not self.waiting or len(self.running) + len(self._loading) + len(self._reloaded_ready) >= self.max_num_seqs:
            return False
        r = self.waiting[0]
        need = r.ctx + r.prefill_remaining
        return self.kv_committed + need + self.kv_watermark_tokens <= self.kv_capacity_tokens or (
            not self.running and self.kv_committed + need <= self.kv_capacity_tokens)

    def _admit(self) -> None:
        now = self.env.now
        while self._can_admit():
            r = self.waiting.popleft()
            if r.t_admitted_s != r.t_admitted_s:  # first admission (NaN before)
                r.t_admitted_s = now
            reload_blocks = 0
            if self.prefix_cache is not None and r.hash_ids and r.generated == 0 and r.ctx == 0:
                hits, reload_blocks = self.prefix_cache.take(r.hash_ids)
                cached = min(hits * self.prefix_cache.block_tokens, r.prompt_tokens - 1)
                r.cached_tokens = cached
                r.ctx = cached
                r.prefill_remaining = r.prompt_tokens - cached
            self.kv_committed += r.ctx + r.prefill_remaining
            if reload_blocks:
                self._reload(r, reload_blocks)
                continue
            self._prefilling += 1  # every admitted sequence has prompt to prefill, at least its last token
            self.running.append(r)

    def _reload(self, r: Request, blocks: int) -> None:
        """Bring ``blocks`` of ``r``'s prefix back from the CPU tier over the host link; it
        joins the batch when they land (its KV room is held meanwhile)."""
        assert self.host_link is not None and self.prefix_cache is not None
        tokens = blocks * self.prefix_cache.block_tokens
        self.service.kv_cpu_tier_hit_tokens += tokens
        self.service.kv_cpu_tier_reloads += 1
        self._loading.append(r)
        self.host_link.send(tokens * self.model.kv_bytes_per_token, lambda: self._reloaded(r))

    def _reloaded(self, r: Request) -> None:
        """``r``'s prefix is back in HBM: it joins at the next iteration boundary."""
        if r not in self._loading:  # the replica lost power meanwhile
            return
        self._loading.remove(r)
        self._reloaded_ready.append(r)
        if self._phase == IDLE:
            self._step()
        elif self._phase == DECODE:
            self._cut_segment()

    # -- the state machine -----------------------------------------------------------
    def _timer(self, delay_s: float, fn: Callable[..., None], *args: Any) -> None:
        """Call ``fn(*args)`` after ``delay_s`` unless another timer is set first."""
        self._token += 1
        token = self._token
        self._call_later(delay_s, lambda _ev: fn(*args) if token == self._token else None)

    def _step(self) -> None:
        """Decide what the replica does next, at an iteration boundary."""
        if self._reloaded_ready:
            self._prefilling += len(self._reloaded_ready)
            self.running.extend(self._reloaded_ready)
            self._reloaded_ready.clear()
        if self.waiting:  # (nothing to admit otherwise: _can_admit's first test, without two calls)
            self._admit()
        while self.running:
            decoders = len(self.running) - self._prefilling
            prefilling = self._prefilling > 0
            room = self.kv_capacity_tokens - self.kv_committed
            if decoders and room < decoders:
                self._preempt()
                continue
            if prefilling:
                self._start_mixed()
            else:
                self._start_decode(room)
            return
        self._phase = IDLE
        self._segment = None
        self.alloc.set_state(self._idle_w, busy=False)

    def _preempt(self) -> None:
        r = self.running.pop()
        self.kv_committed -= r.ctx + r.prefill_remaining
        if r.prefill_remaining > 0:
            self._prefilling -= 1
        else:  # it decoded in the iteration that just ended
            r.t_last_token_s = self.env.now
        r.prefill_remaining = r.prompt_tokens + r.generated
        r.ctx = 0
        r.preemptions += 1
        self.service.preemptions += 1
        self.waiting.appendleft(r)

    def _start_mixed(self) -> None:
        """One iteration with prefill chunks and the decodes of every other running sequence."""
        decoders = [r for r in self.running if r.prefill_remaining == 0]
        budget = self.max_batch_tokens - len(decoders)
        chunks: list[tuple[Request, int]] = []
        for r in self.running:
            if budget <= 0:
                break
            if r.prefill_remaining > 0:
                c = min(budget, r.prefill_remaining)
                chunks.append((r, c))
                budget -= c
        ctx = sum(r.ctx for r in decoders)
        new = len(decoders) + sum(c for _, c in chunks)
        pairs = ctx + sum(prefill_attn_pairs(c, r.ctx) for r, c in chunks)
        kv_read = ctx + sum(r.ctx + c for r, c in chunks)
        self._last_iteration = (new, pairs, kv_read, len(decoders))
        dt, power_w = self.device.iteration_scalar(self.model, self.tp, new, pairs, kv_read, len(decoders), self.ep)
        if self.vision is not None:
            dt, power_w = self._with_encoder(dt, power_w, chunks)
        self.alloc.set_state(power_w, busy=True)
        self._phase = MIXED
        self._timer(dt, self._end_mixed, decoders, chunks, power_w * self.gpus * dt / new, dt)

    def _with_encoder(self, dt: float, power_w: float, chunks: list[tuple[Request, int]]) -> tuple[float, float]:
        """The iteration's time and mean power once the vision encoder has run over the images
        of the requests whose prefill pass starts in it (a first chunk, fresh or recomputed),
        before the LLM forward, on the same GPUs. A pass after a cached prefix counts too,
        but not a one-token one (a whole prompt cached but its last token, or the last prompt
        token a decode replica recomputes after a hand-over): its images are in the cache."""
        v = self.vision
        assert v is not None, "only a multimodal service runs an encoder"
        n = sum(1 for r, _ in chunks if r.vision_tokens and (
            r.ctx == 0 or r.generated == 0 and r.ctx == r.cached_tokens and r.prefill_remaining > 1))
        if not n:
            return dt, power_w
        t_enc, w_enc = self.device.iteration_scalar(v.encoder, self.tp, n * v.patches, n * v.attn_pairs,
                                                    n * v.patches, 0.0)
        return dt + t_enc, (power_w * dt + w_enc * t_enc) / (dt + t_enc)

    def _end_mixed(self, decoders: list[Request], chunks: list[tuple[Request, int]], energy_per_token: float,
                   dt: float) -> None:
        now = self.env.now
        produced = len(decoders)
        if produced:
            self._gaps.extend((dt, 0.0, 1, produced))
        for r in decoders:
            r.ctx += 1
            r.generated += 1
            r.energy_j += energy_per_token
        self.kv_committed += len(decoders)
        handoff: list[Request] = []
        for r, c in chunks:
            r.ctx += c
            r.prefill_remaining -= c
            r.energy_j += energy_per_token * c
            if r.prefill_remaining == 0:
                self._prefilling -= 1
                if self.prefix_cache is not None and r.hash_ids:
                    self.prefix_cache.insert(r.hash_ids)
                if self.role == "prefill" and r.output_tokens > 1:  # its first token comes from a decode replica
                    handoff.append(r)
                    continue
                r.generated += 1
                produced += 1
                if r.t_first_token_s != r.t_first_token_s:
                    r.t_first_token_s = now
                    self.service.prompt_tokens += r.prompt_tokens
                elif r.t_last_token_s == r.t_last_token_s:  # recomputed after preemption: its next token
                    self._gaps.extend((now - r.t_last_token_s, 0.0, 1, 1))
                    r.t_last_token_s = math.nan
        self.service.output_tokens += produced
        for r in handoff:
            self.running.remove(r)
            self.outstanding -= 1
            self.kv_committed -= r.ctx
            self.service.hand_over(r, self)
        if len(self._gaps) >= self._gap_limit:
            self._gap_log.fold()
        self._complete_finished()
        self._step()

    def _start_decode(self, room: int) -> None:
        """Decode iterations of an unchanged batch until the next completion or a full cache."""
        batch = self.running
        b = len(batch)
        n = min(min(r.output_tokens - r.generated for r in batch), room // b)
        ctx0 = self.kv_committed  # every running sequence is decoding: the cache is their context
        self._last_iteration = (b, ctx0, ctx0, b)
        if n == 1:
            t0, p0 = self.device.iteration_scalar(self.model, self.tp, b, ctx0, ctx0, b, self.ep)
            seg: LinearSegment | ArraySegment = LinearSegment(t0, 0.0, 1)
        else:
            # Iteration time is linear in the context unless the roofline regime or a cap
            # changes within the segment: check the middle and last iterations against the
            # line, and cost every iteration only if they are off it.
            mid = (n - 1) // 2
            t0, p0, t_mid, t_last = self.device.decode_points(self.model, self.tp, b, ctx0, ctx0 + b * mid,
                                                              ctx0 + b * (n - 1), self.ep)
            slope = (t_last - t0) / (n - 1)
            if abs(t0 + slope * mid - t_mid) <= 1e-12 * t_mid:
                seg = LinearSegment(t0, slope, n)
            else:
                ctx = ctx0 + b * np.arange(n, dtype=np.float64)
                times = self.device.iteration(self.model, self.tp, b, ctx, ctx, b, self.ep)[0]
                seg = ArraySegment(np.broadcast_to(times, (n,)))
        # Power is that of the segment's first iteration, held for the segment.
        power_w = float(p0)
        self.alloc.set_state(power_w, busy=True)
        self._phase = DECODE
        self._segment = (self.env.now, seg, power_w, b)
        self._timer(seg.end_s(n), self._end_segment, n)

    def _cut_segment(self) -> None:
        """End the decode segment at the end of the iteration in progress."""
        assert self._segment is not None  # cut only while a decode segment runs
        t0, seg, _, _ = self._segment
        now = self.env.now
        done = seg.done_by(now - t0)
        self._phase = CUT
        wait = t0 + seg.end_s(done) - now
        if wait <= 0:
            self._token += 1  # the segment's own timer is now stale
            self._end_segment(done)
        else:
            self._timer(wait, self._end_segment, done)

    def _end_segment(self, done: int) -> None:
        assert self._segment is not None
        t0, seg, power_w, b = self._segment
        if isinstance(seg, LinearSegment):
            self._gaps.extend((seg.a, seg.b, done, b))
        else:
            self._gap_log.add_values(np.diff(seg.cum[:done], prepend=0.0), b)
        if len(self._gaps) >= self._gap_limit:
            self._gap_log.fold()
        energy_each = power_w * self.gpus * seg.end_s(done) / b
        for r in self.running:
            r.ctx += done
            r.generated += done
            r.energy_j += energy_each
        self.kv_committed += done * b
        self.service.output_tokens += done * b
        self._complete_finished()
        self._step()

    def _complete_finished(self) -> None:
        finished = [r for r in self.running if r.generated >= r.output_tokens]
        if not finished:
            return
        now = self.env.now
        self.running = [r for r in self.running if r.generated < r.output_tokens]
        self.outstanding -= len(finished)
        for r in finished:
            r.t_done_s = now
            self.kv_committed -= r.ctx + r.prefill_remaining
            self.service.complete(r)
