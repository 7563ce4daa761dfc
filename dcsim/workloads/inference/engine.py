"""The replica engine: continuous batching, as vLLM does it, one event per batch change.

A replica serves requests on its TP GPUs. Each iteration has a token budget
(``max_batch_tokens``): every running sequence that is decoding takes one token of it,
and prompts still being prefilled take the rest in chunks (chunked prefill), oldest
first. A request is admitted from the FIFO queue when a sequence slot is free
(``max_num_seqs``) and the KV cache can hold its prompt and output
(``kv_capacity_tokens``; reservation, no preemption yet).

While only decodes run, nothing changes until the next completion or arrival, so the
engine costs all iterations up to the next completion in one vectorised call and
waits once for their sum. An arrival that can be admitted wakes it: the iteration in
progress finishes, the finished iterations are credited, and the batch changes.
Events per request are O(1 + prompt/budget), never one per decode step.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

import numpy as np

from dcsim.hardware.performance import iteration_cost, prefill_attn_pairs
from dcsim.workloads.inference.requests import Request

if TYPE_CHECKING:
    from dcsim.workloads.cluster import Allocation
    from dcsim.workloads.inference.service import InferenceService


class Replica:
    """One model replica on ``tp`` GPUs."""

    def __init__(self, service: "InferenceService", index: int, alloc: "Allocation") -> None:
        self.service = service
        self.index = index
        self.alloc = alloc
        self.env = service.sim.env
        s = service.spec
        self.tp = s.tp
        self.max_num_seqs = s.max_num_seqs
        self.max_batch_tokens = s.max_batch_tokens
        self.kv_capacity_tokens = service.kv_capacity_tokens
        self.waiting: deque[Request] = deque()
        self.running: list[Request] = []
        self.kv_reserved = 0
        self._wake = None
        self.process = self.env.process(self._serve())

    @property
    def outstanding(self) -> int:
        """Requests queued or running here."""
        return len(self.waiting) + len(self.running)

    def enqueue(self, req: Request) -> None:
        """Take a routed request; wake the engine if it can join the batch now."""
        req.replica = self.index
        self.waiting.append(req)
        if self._wake is not None and not self._wake.triggered and self._can_admit():
            self._wake.succeed()

    def _can_admit(self) -> bool:
        return (
            bool(self.waiting)
            and len(self.running) < self.max_num_seqs
            and self.kv_reserved + self.waiting[0].kv_tokens_reserved <= self.kv_capacity_tokens
        )

    def _admit(self) -> None:
        now = self.env.now
        while self._can_admit():
            req = self.waiting.popleft()
            req.t_admitted_s = now
            self.kv_reserved += req.kv_tokens_reserved
            self.running.append(req)

    def _serve(self):
        svc = self.service
        idle_w = svc.power_model.idle_w()
        while True:
            self._admit()
            if not self.running:
                self.alloc.set_state(idle_w, busy=False)
                self._wake = self.env.event()
                yield self._wake
                self._wake = None
                continue
            if any(r.prefilled < r.prompt_tokens for r in self.running):
                yield from self._mixed_iteration()
            else:
                yield from self._decode_segment()

    def _cost(self, new_tokens, attn_pairs, kv_read, decode_seqs):
        svc = self.service
        return iteration_cost(svc.model, svc.gpu, self.tp, svc.perf, new_tokens, attn_pairs, kv_read, decode_seqs)

    def _mixed_iteration(self):
        """One iteration with prefill chunks (and the decodes of every other running sequence)."""
        decoders = [r for r in self.running if r.prefilled == r.prompt_tokens]
        budget = self.max_batch_tokens - len(decoders)
        chunks: list[tuple[Request, int]] = []
        for r in self.running:
            if budget <= 0:
                break
            if r.prefilled < r.prompt_tokens:
                c = min(budget, r.prompt_tokens - r.prefilled)
                chunks.append((r, c))
                budget -= c
        ctx = sum(r.context_tokens for r in decoders)
        new = len(decoders) + sum(c for _, c in chunks)
        pairs = ctx + sum(prefill_attn_pairs(c, r.prefilled) for r, c in chunks)
        kv_read = ctx + sum(r.prefilled + c for r, c in chunks)
        cost = self._cost(new, pairs, kv_read, len(decoders))
        dt = float(cost.time_s)
        power_w = float(self.service.power_model.iteration_w(cost.time_s, cost.compute_s, cost.memory_s))
        self.alloc.set_state(power_w, busy=True)
        yield self.env.timeout(dt)
        energy_per_token = power_w * self.tp * dt / new
        produced = len(decoders)
        now = self.env.now
        for r in decoders:
            r.generated += 1
            r.energy_j += energy_per_token
        for r, c in chunks:
            r.prefilled += c
            r.energy_j += energy_per_token * c
            if r.prefilled == r.prompt_tokens:
                r.generated = 1
                r.t_first_token_s = now
                produced += 1
        self.service.output_tokens += produced
        self._complete_finished()

    def _decode_segment(self):
        """Decode iterations of an unchanged batch until the next completion or admissible arrival."""
        batch = self.running
        b = len(batch)
        n = min(r.output_tokens - r.generated for r in batch)
        ctx0 = sum(r.context_tokens for r in batch)
        ctx = ctx0 + b * np.arange(n, dtype=np.float64)
        cost = self._cost(b, ctx, ctx, b)
        times = np.broadcast_to(cost.time_s, (n,))
        cum = np.cumsum(times)
        # Power is evaluated at the segment's first iteration and held for the segment.
        power_w = float(self.service.power_model.iteration_w(times[0], np.atleast_1d(cost.compute_s)[0],
                                                             np.atleast_1d(cost.memory_s)[0]))
        self.alloc.set_state(power_w, busy=True)
        t0 = self.env.now
        done = n
        if len(self.running) < self.max_num_seqs:
            self._wake = self.env.event()
            yield self.env.any_of([self.env.timeout(float(cum[-1])), self._wake])
            woke = self._wake.triggered
            self._wake = None
            if woke:
                elapsed = self.env.now - t0
                done = min(n, int(np.searchsorted(cum, elapsed, side="left")) + 1)
                wait = t0 + float(cum[done - 1]) - self.env.now
                if wait > 0:
                    yield self.env.timeout(wait)
        else:
            yield self.env.timeout(float(cum[-1]))
        energy_each = power_w * self.tp * float(cum[done - 1]) / b
        for r in batch:
            r.generated += done
            r.energy_j += energy_each
        self.service.output_tokens += done * b
        self._complete_finished()

    def _complete_finished(self) -> None:
        finished = [r for r in self.running if r.generated >= r.output_tokens]
        if not finished:
            return
        now = self.env.now
        self.running = [r for r in self.running if r.generated < r.output_tokens]
        for r in finished:
            r.t_done_s = now
            self.kv_reserved -= r.kv_tokens_reserved
            self.service.complete(r)
