"""Agentic sessions: chains of model calls whose context grows and is shared, and the block
ids that let the prefix cache see what synthetic prompts share (docs/workloads.md).

A session (``arrivals.process=sessions``) starts at a Poisson arrival and sends its first
call at once: a prompt of the service's system prompt plus the session's first context.
When call k completes, the agent runs its tool for a think time and sends call k+1; with
probability ``user_turn_probability`` call k+1 opens a new user turn instead, sent after a
user's think time (the user reads the answer and writes the next request). Either way
call k+1's prompt is call k's prompt, call k's output and new tokens (the tool result,
the user's text): the context is append-only, so every call's prompt starts with
the previous call's. A session ends after its calls, when one of its calls is dropped or
lost (the agent gives up), or before a call whose prompt and output would not fit the
context window. Each end is an event ``session`` (component: the service, detail: how it
ended, value: the session id), which the session KPIs read with the requests table.

Block ids (``Request.hash_ids``) name the *full* ``prefix_block_tokens`` blocks of a
prompt, as the Mooncake trace's hash ids do, so the prefix cache and the prefix-affinity
router work on synthetic workloads unchanged. A block holding only system-prompt tokens
has an id shared by every request that uses that system prompt (``-(p 2^32 + j) - 1``
for block j of system prompt p); every other block is unique to its session and its
index (``s 2^32 + j``), identical across the calls of the session. The ids depend on the
session's number and the block's index only, so a config and seed give the same ids, and
no two different blocks share one.

Every draw is made up front, in bulk: session start times from the ``arrivals/NAME``
stream, then calls, first contexts, system prompts and, for every call, new tokens,
output tokens and think times from the ``lengths/NAME`` stream (and, when user turns are
on, after them which calls open a turn and the users' think times, so a workload without
turns draws as before).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from dcsim.hardware.performance import prefill_attn_pairs
from dcsim.workloads.inference.arrivals import PoissonArrivals
from dcsim.workloads.inference.requests import LengthDistribution

if TYPE_CHECKING:
    import simpy

    from dcsim.core.simulation import Collector

BLOCK_ID_SPAN = 1 << 32  # block indices of one session or system prompt (2^32 blocks: never reached)
SESSION_END_EVENT = "session"  # record_type of the event each session's end writes
SESSION_STATUSES = ("completed", "dropped", "lost", "context_full", "running")
DURATION_DISTRIBUTIONS = ("constant", "exponential", "lognormal", "uniform")


@dataclass(frozen=True, slots=True)
class DurationDistribution:
    """Durations in s: ``constant`` (= mean_s), ``exponential`` (mean_s), ``lognormal``
    (log_mu, log_sigma of the seconds) or ``uniform`` in [min_s, max_s], clipped to
    [min_s, max_s]."""

    distribution: str
    mean_s: float
    log_mu: float
    log_sigma: float
    min_s: float
    max_s: float

    def sample_many(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` draws as float64."""
        if self.distribution == "constant":
            x = np.full(n, self.mean_s)
        elif self.distribution == "exponential":
            x = rng.exponential(self.mean_s, n) if self.mean_s > 0 else np.zeros(n)
        elif self.distribution == "uniform":
            x = rng.uniform(self.min_s, self.max_s, n)
        else:
            x = rng.lognormal(self.log_mu, self.log_sigma, n)
        return np.clip(x, self.min_s, self.max_s)


def system_block_ids(system_prompt: int, system_tokens: int, block_tokens: int) -> tuple[int, ...]:
    """Ids of the full blocks of system prompt ``system_prompt`` (negative: never a session's)."""
    return tuple(-(system_prompt * BLOCK_ID_SPAN + j) - 1 for j in range(system_tokens // block_tokens))


def session_block_ids(system_ids: tuple[int, ...], session_id: int, prompt_tokens: int,
                      block_tokens: int) -> tuple[int, ...]:
    """Ids of the full blocks of a session's prompt of ``prompt_tokens``: the system
    prompt's full blocks, then blocks unique to (session, block index)."""
    full = prompt_tokens // block_tokens
    if full <= len(system_ids):
        return system_ids[:full]
    base = session_id * BLOCK_ID_SPAN
    return system_ids + tuple(range(base + len(system_ids), base + full))


@dataclass(frozen=True)
class SessionPlan:
    """Every draw of a run's sessions: per session (start, system prompt, calls, first
    context) and per call, flattened in session order from ``offset[s]`` (new tokens,
    output tokens, think time before the call, the user turn it belongs to; call 0's new
    tokens and think are unused, its turn is 0)."""

    t_start_s: np.ndarray
    system_prompt: np.ndarray
    calls: np.ndarray
    first_context_tokens: np.ndarray
    offset: np.ndarray
    new_tokens: np.ndarray
    output_tokens: np.ndarray
    think_s: np.ndarray
    turn: np.ndarray  # per call: its session's user turn, from 0 (a call whose turn differs from the previous call's opens it)


@dataclass(frozen=True)
class SessionMeans:
    """What the fluid model needs of a session workload, from a fixed-seed sample of sessions:
    calls per session (within the context window), the think times between calls (sorted
    draws), and per call the tokens a prefix cache could serve: ``reusable_tokens``, the full
    blocks of the previous call's prompt (a first call: of its system prompt), of which
    ``system_tokens`` are system-prompt blocks (shared by every session)."""

    calls_per_session: float
    think_s: np.ndarray
    reusable_tokens: float
    system_tokens: float
    sessions: int  # sessions sampled
    think_before: np.ndarray  # per call: the think time its session spent before it (0 for a first call)
    call_index: np.ndarray  # per call: its place in its session
    new_if_hit: np.ndarray  # per call, sorted: tokens to prefill when its reusable blocks are cached
    new_if_miss: np.ndarray  # ... when only the system prompt's are
    pairs_if_hit: float = 0.0  # mean attention pairs of a call's prefill when its reusable blocks are cached
    pairs_if_miss: float = 0.0  # ... when only the system prompt's are

    def prefill_kinds(self, chunk_tokens: int) -> tuple[tuple[float, float, float, float], ...]:
        """A call's prefill when it finds its reusable blocks and when it finds only the
        system prompt's: (new tokens, cached tokens, iterations of at most ``chunk_tokens``,
        attention pairs), each a mean over the sampled calls. The two differ in kind: a call
        that misses prefills tens of thousands of tokens over a short cached context in
        several chunks, one that hits a few hundred over a long one."""
        def kind(new: np.ndarray, cached: float, pairs: float) -> tuple[float, float, float, float]:
            if not len(new):
                return 0.0, cached, 1.0, 0.0
            return float(new.mean()), cached, float(np.maximum(np.ceil(new / chunk_tokens), 1.0).mean()), pairs
        return (kind(self.new_if_hit, self.reusable_tokens, self.pairs_if_hit),
                kind(self.new_if_miss, self.system_tokens, self.pairs_if_miss))

    def median_new_tokens(self, hit: float) -> float:
        """Median tokens a call prefills when each call finds its reusable blocks with
        probability ``hit`` (else only the system prompt's): the median of the mixture."""
        def cdf(x: float) -> float:
            return (hit * np.searchsorted(self.new_if_hit, x, side="right") / len(self.new_if_hit)
                    + (1 - hit) * np.searchsorted(self.new_if_miss, x, side="right") / len(self.new_if_miss))

        if not len(self.new_if_hit):
            return 0.0
        lo, hi = 0.0, float(max(self.new_if_hit[-1], self.new_if_miss[-1]))
        for _ in range(60):
            mid = 0.5 * (lo + hi)
            lo, hi = (lo, mid) if cdf(mid) >= 0.5 else (mid, hi)
        return hi

    def call_offsets_s(self, call_s: float) -> np.ndarray:
        """When each sampled call is sent after its session starts, every call taking
        ``call_s`` (sorted): the think times before it plus ``call_s`` per earlier call."""
        return np.sort(self.think_before + self.call_index * call_s)

    def calls_sent_by(self, t_s: float, offsets_s: np.ndarray, cum_offsets_s: np.ndarray) -> float:
        """Expected calls sent by time t by the sessions started in [0, t), per unit start
        rate: the mean over sessions of sum_k max(0, t - offset_k) (``offsets_s`` sorted and
        ``cum_offsets_s`` their cumulative sums, from :meth:`call_offsets_s`). Its slope is
        the call rate of a workload warming up from no session in progress; heavy-tailed
        think times make most of a session's calls early, faster than one per mean cycle."""
        n = int(np.searchsorted(offsets_s, t_s, side="right"))
        return (n * t_s - (float(cum_offsets_s[n - 1]) if n else 0.0)) / self.sessions

    def cached_at(self, hit_share: float) -> float:
        """Mean cached tokens per call when ``hit_share`` of the calls find their reusable blocks:
        the system prompt's always, the rest of the reusable blocks on a hit."""
        return self.system_tokens + (self.reusable_tokens - self.system_tokens) * hit_share

    def cached_tokens(self, same_replica: float, gap_s: float, call_s: float, sessions_per_replica: float,
                      context_tokens: float, cache_tokens: float, shared_tokens: float = 0.0,
                      starts_per_s: float = 0.0, ttl_s: float = 0.0) -> float:
        """Mean cached tokens per call. The system prompt's blocks are always cached (every
        call refreshes them); the rest when the call lands where its previous call ran
        (probability ``same_replica``) and its blocks survived LRU eviction. A session's
        blocks survive a gap g (think time + the previous call's ``gap_s`` in flight) when
        the other sessions on the replica touched fewer than the cache's other blocks
        meanwhile: the cache less the ``shared_tokens`` every call refreshes (the distinct
        system prompts' blocks, held once however many sessions use them). Each session calls
        as a renewal process whose interval X is a think time plus ``call_s`` (one call's
        time), so a window of g holds a call of a given session with probability
        phi(g) = E[min(X, g)] / E[X] (the stationary forward recurrence time's law; for
        exponential X, 1 - exp(-g / E[X])); and the ``starts_per_s`` sessions starting on the
        replica in g all touch theirs. With n = ``sessions_per_replica`` sessions holding
        their own ``context_tokens`` less the system prompt's, the blocks survive while
        g < g*, (n phi(g*) + starts g*) own = cache - shared. A session in a user's long wait
        thus hardly touches its blocks while the sessions in a turn call every few seconds:
        the intervals' law, not their mean, decides what a gap costs. n is not the mean: a
        call finds its own session and a Poisson number of others (mean
        ``sessions_per_replica``) on its replica, and the share kept is averaged over that
        count; a cache lifetime ``ttl_s`` bounds the gap too (:meth:`hit_share`)."""
        if cache_tokens <= 0 or context_tokens <= 0:
            return 0.0
        return self.cached_at(self.hit_share(same_replica, gap_s, call_s, sessions_per_replica, context_tokens,
                                             cache_tokens, shared_tokens, starts_per_s, ttl_s))

    def survival_gap_s(self, call_s: float, share: np.ndarray, slope_per_s: float | np.ndarray = 0.0) -> np.ndarray:
        """g* with phi(g*) + slope g* = ``share``: the gap within which a session's blocks
        survive when the others' blocks touched in it may fill ``share`` of their footprint
        (see :meth:`cached_tokens`; ``slope_per_s``, per query or one for all, counts the
        sessions that start meanwhile, per session of the footprint). phi is piecewise linear
        between the sorted intervals X_j = think_j + call_s: with k intervals below g,
        N phi(g) E[X] = sum of those k + g (N - k); g* by bisection."""
        x = self.think_s + max(call_s, 0.0)
        n = len(x)
        share = np.asarray(share, dtype=np.float64)
        slope = np.broadcast_to(np.asarray(slope_per_s, dtype=np.float64), share.shape)
        if not n or not x.sum() > 0:
            return np.full(len(share), math.inf)
        below = np.concatenate([[0.0], np.cumsum(x)])  # below[k]: sum of the k smallest intervals

        def lhs(g: np.ndarray) -> np.ndarray:
            k = np.searchsorted(x, g, side="left")
            return (below[k] + g * (n - k)) / below[-1] + slope * g

        hi = np.where(slope > 0, np.minimum(x[-1], share / np.where(slope > 0, slope, 1.0)), x[-1])
        out = np.full(len(share), math.inf)
        reach = lhs(hi) >= share  # phi reaches 1 at the longest interval
        lo = np.zeros(len(share))
        for _ in range(200):
            mid = 0.5 * (lo + hi)
            below_share = lhs(mid) < share
            lo, hi = np.where(below_share, mid, lo), np.where(below_share, hi, mid)
        out[reach] = hi[reach]
        return out

    def hit_share(self, same_replica: float, gap_s: float, call_s: float, sessions_per_replica: float,
                  context_tokens: float, cache_tokens: float, shared_tokens: float = 0.0,
                  starts_per_s: float = 0.0, ttl_s: float = 0.0) -> float:
        """The share of calls that find their reusable blocks (see :meth:`cached_tokens`). With a
        cache lifetime ``ttl_s`` a call also misses when its session was idle longer than that:
        its blocks are kept only if the gap is under the smaller of the survival gap and
        ``ttl_s``."""
        own = context_tokens - self.system_tokens  # a session's blocks that are its alone
        room = cache_tokens - shared_tokens  # what the sessions' own blocks share
        if cache_tokens <= 0 or context_tokens <= 0 or room <= 0:
            return 0.0
        n = max(sessions_per_replica, 0.0)
        # the replica a call lands on holds its session and, seen from the call, a Poisson
        # number of others with mean n (sessions in progress are Poisson, and a call samples
        # replicas in proportion to their sessions): a replica that holds more than the mean
        # evicts more, and that tail is where the misses are
        others = np.arange(0, int(n + 8.0 * math.sqrt(n) + 10.0))
        log_factorial = np.concatenate([[0.0], np.cumsum(np.log(others[1:]))])  # ln k!
        weights = np.exp(others * math.log(n) - n - log_factorial) if n > 0 else (others == 0).astype(np.float64)
        weights /= weights.sum()
        footprint = (1.0 + others) * own
        over = footprint > room
        kept = np.ones_like(weights)
        limit = np.full(len(weights), math.inf)  # the longest idle gap a session's blocks survive
        if over.any():
            limit[over] = self.survival_gap_s(call_s, room / footprint[over], starts_per_s / (1.0 + others[over]))
        if ttl_s > 0:
            limit = np.minimum(limit, ttl_s)
        bounded = np.isfinite(limit)
        if bounded.any():
            kept[bounded] = (np.searchsorted(self.think_s, limit[bounded] - gap_s, side="right")
                             / max(len(self.think_s), 1))
        return same_replica * float(weights @ kept)


class SessionArrivals:
    """The session workload of a service: when sessions start and what their calls are.

    Not an :class:`~dcsim.workloads.inference.arrivals.ArrivalProcess`: calls follow
    completions, so the service drives them (:class:`SessionDriver`). Request fidelity
    only.
    """

    def __init__(self, rate_per_s: float, calls: LengthDistribution, think: DurationDistribution,
                 first_context: LengthDistribution, new_tokens: LengthDistribution, output: LengthDistribution,
                 system_prompt_tokens: int, system_prompts: int, block_tokens: int, max_context_tokens: int,
                 user_turn_probability: float = 0.0, user_think: DurationDistribution | None = None) -> None:
        self.starts = PoissonArrivals(rate_per_s)
        self.calls = calls
        self.think = think
        self.user_turn_probability = user_turn_probability
        self.user_think = user_think
        self.first_context = first_context
        self.new_tokens = new_tokens
        self.output = output
        self.system_prompt_tokens = system_prompt_tokens
        self.system_prompts = system_prompts
        self.block_tokens = block_tokens
        self.max_context_tokens = max_context_tokens
        self._means: SessionMeans | None = None

    def plan(self, start_rng: np.random.Generator | None, length_rng: np.random.Generator, until_s: float,
             n_sessions: int | None = None) -> SessionPlan:
        """The draws of the sessions starting in [0, until_s) (or of ``n_sessions``, all at 0)."""
        if n_sessions is None:
            assert start_rng is not None, "session start times need a stream"
            t = self.starts.arrival_times_s(start_rng, until_s)
        else:
            t = np.zeros(n_sessions)
        n = len(t)
        calls = self.calls.sample_many(length_rng, n)
        first = self.first_context.sample_many(length_rng, n)
        system = length_rng.integers(0, self.system_prompts, n)
        total = int(calls.sum())
        offset = np.concatenate([[0], np.cumsum(calls)[:-1]]).astype(np.int64) if n else np.zeros(0, np.int64)
        new = self.new_tokens.sample_many(length_rng, total)
        output = self.output.sample_many(length_rng, total)
        think = self.think.sample_many(length_rng, total)
        turn = np.zeros(total, np.int64)
        if self.user_turn_probability > 0 and total:
            assert self.user_think is not None, "user turns need a user think time"
            opens = length_rng.random(total) < self.user_turn_probability
            head = np.repeat(offset, calls)  # per call: its session's first call
            opens[head] = False  # a session's first call opens its first turn, turn 0
            think = np.where(opens, self.user_think.sample_many(length_rng, total), think)
            count = np.cumsum(opens)
            turn = count - count[head]
        return SessionPlan(t, system, calls, first, offset, new, output, think, turn)

    def calls_in_window(self, plan: SessionPlan) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every call of ``plan`` that is sent, all sessions at once, in session order:
        (its place in the plan's per-call arrays, its index in its session, its prompt
        tokens). A call's prompt is the previous call's plus that call's output and its own
        new tokens (a first call: the system prompt and the first context), and a session
        ends before its first call whose prompt and output would not fit the context window
        (as :class:`SessionDriver` ends it)."""
        calls = plan.calls.astype(np.int64)
        head = np.repeat(plan.offset, calls)  # per call: its session's first call
        sid = np.repeat(np.arange(len(calls)), calls)
        k = np.arange(len(head)) - head  # per call: its index in its session
        out = plan.output_tokens
        first = k == 0
        grow = np.empty(len(k), np.int64)
        grow[first] = self.system_prompt_tokens + plan.first_context_tokens[sid[first]]
        later = np.flatnonzero(~first)
        grow[later] = out[later - 1] + plan.new_tokens[later]
        cum = np.cumsum(grow)
        prompt = cum - cum[head] + grow[head]  # each session's running sum
        end = calls.copy()
        bad = prompt + out > self.max_context_tokens
        np.minimum.at(end, sid[bad], k[bad])
        keep = np.flatnonzero(k < end[sid])
        return keep, k[keep], prompt[keep]

    def sample_calls(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Prompt and output tokens of about ``n`` calls of independent sessions (the
        builder's estimate of mean lengths, and the KV-cache sizing)."""
        sessions = max(1, math.ceil(n / max(1.0, float(self.calls.sample_many(rng, 1000).mean()))))
        plan = self.plan(None, rng, 0.0, n_sessions=sessions)
        keep, _, prompts = self.calls_in_window(plan)
        return prompts[:n], plan.output_tokens[keep][:n]

    def means(self, sessions: int = 20_000) -> SessionMeans:
        """The workload's :class:`SessionMeans`, from ``sessions`` sessions drawn with a fixed seed
        (computed once)."""
        if self._means is not None:
            return self._means
        plan = self.plan(None, np.random.default_rng(0), 0.0, n_sessions=sessions)
        b = self.block_tokens
        system = (self.system_prompt_tokens // b) * b
        keep, k, prompt = self.calls_in_window(plan)
        thinks = np.where(k == 0, 0.0, plan.think_s[keep])
        head_kept = np.flatnonzero(k == 0)
        before_cum = np.cumsum(thinks)
        before = before_cum - np.repeat(before_cum[head_kept], np.diff(np.append(head_kept, len(k))))
        previous_prompt = np.concatenate([[0.0], prompt[:-1]])
        previous = np.minimum(np.where(k == 0, float(system), (previous_prompt // b) * b), prompt - 1)
        own = np.minimum(float(system), prompt - 1)
        n = max(len(prompt), 1)
        self._means = SessionMeans(
            len(prompt) / sessions, np.sort(thinks[k > 0]), float(previous.sum()) / n, float(own.sum()) / n,
            sessions, before, k.astype(np.float64), np.sort(prompt - previous), np.sort(prompt - own),
            float(prefill_attn_pairs(prompt - previous, previous).sum()) / n,
            float(prefill_attn_pairs(prompt - own, own).sum()) / n)
        return self._means

    def mean_rate_per_s(self, t0_s: float, t1_s: float) -> float:
        """Calls per second in steady state: session starts x calls per session (the fluid model's rate)."""
        return self.starts.mean_rate_per_s(t0_s, t1_s) * self.means().calls_per_session

    def __repr__(self) -> str:
        return f"SessionArrivals(rate_per_s={self.starts.rate_per_s})"


class SessionDriver:
    """Runs a service's sessions: starts each at its time, sends its calls as the previous
    one completes plus the think time, and ends it (one ``session`` event each).

    ``send(prompt_tokens, output_tokens, hash_ids, session_id, call_index, turn_index)`` hands a call
    to the service (which routes it); the service calls :meth:`call_done` when a session's
    call completes, is dropped or is lost.
    """

    def __init__(self, workload: SessionArrivals, plan: SessionPlan, env: simpy.Environment, recorder: Collector,
                 service_name: str, send: Callable[[int, int, tuple[int, ...], int, int, int], None]) -> None:
        self.workload = workload
        self.plan = plan
        self.env = env
        self.recorder = recorder
        self.service_name = service_name
        self.send = send
        self._system_ids = [system_block_ids(p, workload.system_prompt_tokens, workload.block_tokens)
                            for p in range(workload.system_prompts)]
        self._next = 0
        self.active: dict[int, list[int]] = {}  # session -> [next call index, prompt tokens of the last call]
        self.ended = dict.fromkeys(SESSION_STATUSES, 0)
        if len(plan.t_start_s):
            self._schedule_next_start()

    def _schedule_next_start(self) -> None:
        delay = float(self.plan.t_start_s[self._next]) - self.env.now
        self.env.timeout(max(delay, 0.0)).callbacks.append(self._on_start)

    def _on_start(self, _ev: Any) -> None:
        s = self._next
        self._next = s + 1
        if self._next < len(self.plan.t_start_s):
            self._schedule_next_start()
        w = self.workload
        self._send_call(s, 0, w.system_prompt_tokens + int(self.plan.first_context_tokens[s]))

    def _send_call(self, s: int, k: int, prompt_tokens: int) -> None:
        """Send call k of session s, or end the session if it would not fit its context."""
        output = int(self.plan.output_tokens[self.plan.offset[s] + k])
        if prompt_tokens + output > self.workload.max_context_tokens:
            self._end(s, "context_full")
            return
        self.active[s] = [k, prompt_tokens]
        ids = session_block_ids(self._system_ids[int(self.plan.system_prompt[s])], s, prompt_tokens,
                                self.workload.block_tokens)
        self.send(prompt_tokens, output, ids, s, k, int(self.plan.turn[self.plan.offset[s] + k]))

    def call_done(self, session_id: int, call_index: int, output_tokens: int, status: str) -> None:
        """Call ``call_index`` of ``session_id`` ended with ``status`` (completed, dropped or
        lost): the session thinks (its tool runs, or its user writes the next turn) and sends
        its next call, or ends."""
        if status != "completed":
            self._end(session_id, status)
            return
        k = call_index + 1
        if k >= int(self.plan.calls[session_id]):
            self._end(session_id, "completed")
            return
        i = int(self.plan.offset[session_id]) + k
        prompt = self.active[session_id][1] + output_tokens + int(self.plan.new_tokens[i])
        self.active[session_id][0] = k
        self.env.timeout(float(self.plan.think_s[i])).callbacks.append(
            lambda _ev: self._send_call(session_id, k, prompt))

    def _end(self, s: int, status: str) -> None:
        self.active.pop(s, None)
        self.ended[status] += 1
        self.recorder.event(SESSION_END_EVENT, self.service_name, status, s)

    def finish(self) -> None:
        """At the end of the run: a ``running`` event for every session still going."""
        for s in sorted(self.active):
            self.ended["running"] += 1
            self.recorder.event(SESSION_END_EVENT, self.service_name, "running", s)
        self.active.clear()
