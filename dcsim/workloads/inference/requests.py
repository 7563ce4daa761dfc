"""Inference requests and the distributions their lengths are drawn from."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

LENGTH_DISTRIBUTIONS = ("constant", "exponential", "lognormal")


class Request:
    """One LLM request and its timeline (times in simulated seconds; NaN until reached)."""

    __slots__ = (
        "request_id", "service", "t_arrival_s", "prompt_tokens", "output_tokens", "replica",
        "t_admitted_s", "t_first_token_s", "t_done_s", "prefilled", "generated", "energy_j",
    )

    def __init__(self, request_id: int, service: str, t_arrival_s: float, prompt_tokens: int, output_tokens: int) -> None:
        self.request_id = request_id
        self.service = service
        self.t_arrival_s = t_arrival_s
        self.prompt_tokens = prompt_tokens
        self.output_tokens = output_tokens
        self.replica = -1
        self.t_admitted_s = math.nan
        self.t_first_token_s = math.nan
        self.t_done_s = math.nan
        self.prefilled = 0  # prompt tokens whose KV cache is computed
        self.generated = 0  # output tokens produced (the first comes with the end of prefill)
        self.energy_j = 0.0

    @property
    def kv_tokens_reserved(self) -> int:
        """KV-cache tokens the request may occupy at most: prompt plus output."""
        return self.prompt_tokens + self.output_tokens

    @property
    def context_tokens(self) -> int:
        """Tokens in its KV cache now."""
        return self.prefilled + self.generated

    def row(self, status: str) -> tuple:
        """The request as a row of ``requests.parquet``."""
        ttft = self.t_first_token_s - self.t_arrival_s
        e2e = self.t_done_s - self.t_arrival_s
        tpot = (self.t_done_s - self.t_first_token_s) / (self.output_tokens - 1) if self.output_tokens > 1 else math.nan
        return (
            self.request_id, self.service, self.replica, status, self.t_arrival_s, self.t_admitted_s,
            self.t_first_token_s, self.t_done_s, self.prompt_tokens, self.output_tokens, self.generated,
            ttft, tpot, e2e, self.t_admitted_s - self.t_arrival_s, self.energy_j,
        )


@dataclass(frozen=True, slots=True)
class LengthDistribution:
    """Token counts: ``constant`` (= mean), ``exponential`` (mean, rounded up) or
    ``lognormal`` (log_mu, log_sigma, rounded), clipped to [min_tokens, max_tokens]."""

    distribution: str
    mean: float
    log_mu: float
    log_sigma: float
    min_tokens: int
    max_tokens: int

    def sample(self, rng: np.random.Generator) -> int:
        """One draw."""
        if self.distribution == "constant":
            x = self.mean
        elif self.distribution == "exponential":
            x = math.ceil(rng.exponential(self.mean))
        else:
            x = round(rng.lognormal(self.log_mu, self.log_sigma))
        return int(min(max(x, self.min_tokens), self.max_tokens))
