"""Analytic queueing checks of the inference engine."""

from __future__ import annotations

import numpy as np
import pytest

import dcsim
from dcsim.hardware.gpus import GPUS
from dcsim.hardware.models import MODELS
from dcsim.hardware.performance import iteration_cost
from dcsim.hardware.profiles import load_profile

MEAN_OUTPUT = 100.0
RATE_PER_S = 0.274  # rho ~ 0.5 with the default (vllm-0.11) H100 service time


def analytic_service_times() -> tuple[np.ndarray, np.ndarray]:
    """Service time of a 1-token prompt with O output tokens, and the pmf of O.

    O = ceil(Exp(mean 100)) is geometric; service is one prefill iteration then O - 1
    decode iterations of a batch of one whose context grows by a token each time.
    """
    m, g, p = MODELS["Llama-3.1-70B"], GPUS["H100-SXM"], load_profile("H100-SXM").perf  # the default engine
    prefill_s = float(iteration_cost(m, g, 8, p, 1, 1, 1, 0).time_s)
    ctx = np.arange(1, 4000, dtype=float)  # KV cache of the k-th decode: the prompt token and k - 1 outputs
    decode_s = iteration_cost(m, g, 8, p, 1, ctx, ctx, 1).time_s
    service_s = np.concatenate([[prefill_s], prefill_s + np.cumsum(decode_s)])
    q = 1.0 - np.exp(-1.0 / MEAN_OUTPUT)
    o = np.arange(1, len(service_s) + 1)
    return service_s, (1 - q) ** (o - 1) * q


@pytest.fixture(scope="module")
def mm1_requests():
    overrides = [
        "workload=inference_only",
        "workload.services.chat.replicas=1",
        "workload.services.chat.tp=8",
        "workload.services.chat.max_num_seqs=1",
        f"workload.services.chat.arrival_rate_per_s={RATE_PER_S}",
        "workload.services.chat.prompt_tokens.distribution=constant",
        "workload.services.chat.prompt_tokens.mean=1",
        "workload.services.chat.output_tokens.distribution=exponential",
        f"workload.services.chat.output_tokens.mean={MEAN_OUTPUT}",
        "workload.services.chat.output_tokens.max_tokens=3999",
        "duration_s=130000",
    ]
    req = dcsim.run(overrides).frames()["requests"]
    return req[req["status"] == "completed"]


def test_mm1_mean_wait_matches_analytic(mm1_requests):
    """One replica, batch capped at 1, Poisson arrivals, exponential service: mean queueing
    delay is the M/M/1 value rho / (mu - lambda) with mu from the performance model.

    About 20,000 requests at rho ~ 0.5; across seeds the simulated mean wait scatters by
    ~1.5 %, and geometric (discretised exponential) service lowers the exact M/G/1 value
    by 0.5 %, so 5 % is over three standard errors.
    """
    service_s, pmf = analytic_service_times()
    es = float(np.sum(pmf * service_s))
    rho = RATE_PER_S * es
    wq_mm1 = rho / (1.0 / es - RATE_PER_S)
    assert len(mm1_requests) > 19_000
    assert 0.45 < rho < 0.55
    assert mm1_requests["queue_delay_s"].mean() == pytest.approx(wq_mm1, rel=0.05)


def test_mm1_service_time_is_the_perf_model(mm1_requests):
    """Each request's service time (E2E minus queueing) is exactly the prefill plus decode
    iterations of the performance model for its output length."""
    service_s, pmf = analytic_service_times()
    measured = (mm1_requests["e2e_s"] - mm1_requests["queue_delay_s"]).to_numpy()
    expected = service_s[mm1_requests["output_tokens"].to_numpy() - 1]
    np.testing.assert_allclose(measured, expected, rtol=1e-9)
    # and the empirical mean service is the distribution's mean (n ~ 20,000, CV ~ 1 -> SE 0.7 %)
    assert measured.mean() == pytest.approx(float(np.sum(pmf * service_s)), rel=0.03)


def test_mm1_no_request_waits_behind_an_idle_server(mm1_requests):
    """FIFO with one slot: a request starts when it arrives or when its predecessor ends,
    whichever is later (Lindley's recursion), to the float."""
    r = mm1_requests.sort_values("t_arrival_s")
    start = r["t_admitted_s"].to_numpy()
    arrive = r["t_arrival_s"].to_numpy()
    done = r["t_done_s"].to_numpy()
    np.testing.assert_allclose(start[1:], np.maximum(arrive[1:], done[:-1]), rtol=0, atol=1e-9)
