"""Replaying the Azure 2023 conversation trace through a documented configuration."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import SHARED_DATA, needs_shared

import dcsim
from dcsim.analysis import service_table


@pytest.fixture(scope="module")
def replay():
    """The first 15 minutes of the packaged trace on the azure_conv workload."""
    return dcsim.run(["workload=azure_conv", "duration_s=900"])


def test_replay_serves_every_trace_request_in_order(replay):
    """Every request of the window arrives at its trace time (relative to the first), with
    its trace lengths, and completes."""
    req = replay.frames()["requests"].sort_values("request_id")
    assert len(req) > 4000
    assert req["t_arrival_s"].iloc[0] == 0.0
    assert req["t_arrival_s"].is_monotonic_increasing
    early = req[req["t_arrival_s"] < 800.0]  # well before the end: all must be done
    assert (early["status"] == "completed").all()
    assert set(req["status"]) <= {"completed", "running", "queued"}
    # the first rows of AzureLLMInferenceTrace_conv.csv: 374 -> 44, 396 -> 109 tokens
    assert list(req["prompt_tokens"].iloc[:2]) == [374, 396]
    assert list(req["output_tokens"].iloc[:2]) == [44, 109]


def test_replay_gives_a_notebook_ready_service_table(replay):
    """The service table has latency percentiles, throughput, SLO attainment and energy per token."""
    t = service_table(replay.frames()["requests"], replay.summary())
    row = t.loc["chat"]
    for col in ("ttft_p50_s", "ttft_p99_s", "tpot_p50_s", "tpot_p99_s", "output_tokens_per_s",
                "slo_attainment", "goodput_requests_per_s", "energy_per_output_token_gpu_j",
                "energy_per_output_token_facility_j"):
        assert row[col] == row[col], col  # defined (not NaN)
    assert 0 < row["ttft_p50_s"] < row["ttft_p99_s"]
    assert row["energy_per_output_token_facility_j"] > row["energy_per_output_token_gpu_j"] > 0
    assert 0 <= row["slo_attainment"] <= 1


def test_rate_multiplier_compresses_the_trace():
    """Replaying twice as fast brings twice the requests into the same window."""
    one = dcsim.run(["workload=azure_conv", "duration_s=300"]).frames()["requests"]
    two = dcsim.run(["workload=azure_conv", "duration_s=300",
                     "workload.services.chat.arrivals.rate_multiplier=2"]).frames()["requests"]
    assert len(two) == pytest.approx(2 * len(one), rel=0.1)


@pytest.mark.parametrize("content,where", [
    ("t_arrival_s,prompt_tokens\n0.0,10\n", "output_tokens"),
    ("t_arrival_s,prompt_tokens,output_tokens\n0.0,10,5\n-1.0,10,5\n", ":3"),
    ("t_arrival_s,prompt_tokens,output_tokens\n2.0,10,5\n1.0,10,5\n", ":3"),
])
def test_bad_trace_is_one_clear_line(tmp_path, content, where):
    """A trace with a missing column, a negative or an unsorted timestamp stops the run with
    one line naming the field and the file (and row), and writes nothing."""
    bad = tmp_path / "bad.csv"
    bad.write_text(content)
    proc = subprocess.run(
        [sys.executable, "-m", "dcsim", "workload=azure_conv", f"workload.services.chat.arrivals.trace_path={bad}",
         "workload.services.chat.arrivals.trace_format=generic", f"hydra.run.dir={tmp_path / 'run'}"],
        capture_output=True, text=True, cwd=tmp_path, timeout=120)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1 and "Traceback" not in proc.stderr
    assert "workload.services.chat.arrivals.trace_path" in lines[0] and str(bad) in lines[0] and where in lines[0]
    assert not (tmp_path / "run").exists()


MOONCAKE = SHARED_DATA / "traces" / "mooncake" / "conversation_trace.jsonl"


@needs_shared(MOONCAKE)
def test_mooncake_replay_with_prefix_caching_reuses_blocks():
    """Replaying the Mooncake conversation trace with prefix caching on, requests find
    their leading 512-token blocks cached, prefill less and reach the first token sooner."""
    base = ["workload=inference_only", "workload.services.chat.replicas=2", "workload.services.chat.tp=8",
            "workload.services.chat.arrivals.process=trace", f"workload.services.chat.arrivals.trace_path={MOONCAKE}",
            # at half the trace's rate two replicas keep up, so TTFT is prefill rather than a
            # queue whose completed requests are a biased sample
            "workload.services.chat.arrivals.rate_multiplier=0.5", "duration_s=300"]
    off = dcsim.run(base).frames()["requests"]
    on = dcsim.run(base + ["workload.services.chat.prefix_cache_fraction=0.3"]).frames()["requests"]
    assert off["cached_tokens"].sum() == 0
    assert on["cached_tokens"].sum() > 0.02 * on["prompt_tokens"].sum()
    # whole blocks, except that the last prompt token is always computed
    whole = (on["cached_tokens"] % 512 == 0) | (on["cached_tokens"] == on["prompt_tokens"] - 1)
    assert whole.all() and (on["cached_tokens"] < on["prompt_tokens"]).all()
    done_on, done_off = on[on["status"] == "completed"], off[off["status"] == "completed"]
    assert done_on["ttft_s"].median() < done_off["ttft_s"].median()
