"""Inference requests and the distributions their lengths are drawn from."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

LENGTH_DISTRIBUTIONS = ("constant", "exponential", "lognormal", "uniform")


class Request:
    """One LLM request and its timeline (times in simulated seconds; NaN until reached).

    KV-cache state: ``ctx`` tokens are in the cache; ``prefill_remaining`` tokens are
    still to be prefilled before decoding resumes. A fresh request starts with
    ``prefill_remaining = prompt_tokens``; a preempted one (recompute) with prompt plus
    generated tokens. While decoding, ``ctx == prompt_tokens + generated - 1``.
    """

    __slots__ = (
        "request_id", "service", "t_arrival_s", "prompt_tokens", "output_tokens", "replica",
        "t_admitted_s", "t_first_token_s", "t_done_s", "ctx", "prefill_remaining", "generated",
        "energy_j", "preemptions", "cached_tokens", "hash_ids",
    )

    def __init__(self, request_id: int, service: str, t_arrival_s: float, prompt_tokens: int, output_tokens: int,
                 hash_ids: tuple[int, ...] | None = None) -> None:
        self.request_id = request_id
        self.service = service
        self.t_arrival_s = t_arrival_s
        self.prompt_tokens = prompt_tokens
        self.output_tokens = output_tokens
        self.replica = -1
        self.t_admitted_s = math.nan
        self.t_first_token_s = math.nan
        self.t_done_s = math.nan
        self.ctx = 0
        self.prefill_remaining = prompt_tokens
        self.generated = 0
        self.energy_j = 0.0
        self.preemptions = 0
        self.cached_tokens = 0
        self.hash_ids = hash_ids

    @property
    def kv_tokens_max(self) -> int:
        """The most KV-cache tokens the request can ever hold: prompt plus output."""
        return self.prompt_tokens + self.output_tokens

    def row(self, status: str) -> tuple:
        """The request as a row of ``requests.parquet``."""
        ttft = self.t_first_token_s - self.t_arrival_s
        e2e = self.t_done_s - self.t_arrival_s
        tpot = (self.t_done_s - self.t_first_token_s) / (self.output_tokens - 1) if self.output_tokens > 1 else math.nan
        return (
            self.request_id, self.service, self.replica, status, self.t_arrival_s, self.t_admitted_s,
            self.t_first_token_s, self.t_done_s, self.prompt_tokens, self.output_tokens, self.generated,
            ttft, tpot, e2e, self.t_admitted_s - self.t_arrival_s, self.preemptions, self.cached_tokens,
            self.energy_j,
        )


@dataclass(frozen=True, slots=True)
class LengthDistribution:
    """Token counts: ``constant`` (= mean), ``exponential`` (mean, rounded up),
    ``lognormal`` (log_mu, log_sigma, rounded) or ``uniform`` (integers in
    [min_tokens, max_tokens]), clipped to [min_tokens, max_tokens]."""

    distribution: str
    mean: float
    log_mu: float
    log_sigma: float
    min_tokens: int
    max_tokens: int

    def sample_many(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` draws as int64."""
        if self.distribution == "constant":
            x = np.full(n, self.mean)
        elif self.distribution == "exponential":
            x = np.ceil(rng.exponential(self.mean, n))
        elif self.distribution == "uniform":
            x = rng.integers(self.min_tokens, self.max_tokens + 1, n)
        else:
            x = np.rint(rng.lognormal(self.log_mu, self.log_sigma, n))
        return np.clip(x, self.min_tokens, self.max_tokens).astype(np.int64)

    def sample(self, rng: np.random.Generator) -> int:
        """One draw."""
        return int(self.sample_many(rng, 1)[0])
