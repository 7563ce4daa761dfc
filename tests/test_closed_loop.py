"""The closed-loop client: concurrency users, each sending its next request when its last one ends."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from test_engine import DEVICE, GPU, MODEL, TP

import dcsim
from dcsim.api import compose_config
from dcsim.config.build import build
from dcsim.core.errors import ConfigError
from dcsim.core.simulation import Simulation
from dcsim.facility.topology import Topology
from dcsim.hardware.node import NodeSpec
from dcsim.metrics.recorder import Recorder
from dcsim.policies.routing import RoundRobinRouter
from dcsim.policies.scheduling import FifoScheduler
from dcsim.workloads.cluster import Cluster
from dcsim.workloads.config import ServiceConfig
from dcsim.workloads.inference.arrivals import ClosedLoop
from dcsim.workloads.inference.service import InferenceService, ServiceSpec

SVC = "workload.services.chat"


def closed(concurrency: int, think_time_s: float = 0.0, max_num_seqs: int = 16, duration_s: float = 600.0,
           *extra: str) -> list[str]:
    """One Llama-3.1-70B replica (TP 8) on H100 driven by a closed loop."""
    return [
        "workload=inference_only", f"duration_s={duration_s}", "output.write=false", f"{SVC}.replicas=1",
        f"{SVC}.arrivals.process=closed", f"{SVC}.arrivals.concurrency={concurrency}",
        f"{SVC}.arrivals.think_time_s={think_time_s}", f"{SVC}.max_num_seqs={max_num_seqs}", *extra,
    ]


def running_over_time(req: pd.DataFrame, until_s: float) -> tuple[np.ndarray, np.ndarray]:
    """(times, sequences in the running batch from each time on): a request holds a batch
    slot from its admission to its last token (or the end)."""
    adm = req[req["t_admitted_s"].notna()]
    ends = adm["t_done_s"].fillna(until_s).to_numpy()
    t = np.concatenate([adm["t_admitted_s"].to_numpy(), ends])
    step = np.concatenate([np.ones(len(adm)), -np.ones(len(adm))])
    order = np.argsort(t, kind="stable")
    t, level = t[order], np.cumsum(step[order])
    last = np.append(t[1:] != t[:-1], True)  # the level once every change at that instant is made
    return t[last], level[last]


def time_mean(t: np.ndarray, level: np.ndarray, t0: float, t1: float) -> float:
    edges = np.clip(np.append(t, t1), t0, t1)
    return float((level * np.diff(edges)).sum() / (t1 - t0))


def test_concurrency_far_above_capacity_holds_the_batch_at_max_num_seqs():
    """64 users on a replica of 16 sequences: once the first wave is in, the running batch
    stays at max_num_seqs (a completion's slot is taken at once from the queue), and
    the other users wait in the queue; no user is ever lost."""
    n, seqs, until = 64, 16, 600.0
    results = dcsim.run(closed(n, 0.0, seqs, until))
    req = results.frames()["requests"]
    assert req["preemptions"].sum() == 0
    t, level = running_over_time(req, until)
    assert level.max() == seqs
    steady = (t > 30.0) & (t < until)
    assert level[steady].min() == seqs  # never a free slot in the steady state
    assert time_mean(t, level, 30.0, until) == pytest.approx(seqs, rel=1e-9)
    assert (req["status"] != "completed").sum() == n  # every user has one request outstanding
    assert (req["status"] == "queued").sum() == n - seqs


def test_concurrency_below_max_num_seqs_bounds_the_batch():
    """Fewer users than slots: the batch never holds more than the users."""
    results = dcsim.run(closed(5, 0.0, 16, 300.0))
    req = results.frames()["requests"]
    _, level = running_over_time(req, 300.0)
    assert level.max() == 5
    assert (req["status"] != "completed").sum() == 5
    assert req["queue_delay_s"].max() < 0.2  # a request waits at most for the iteration in progress


@pytest.mark.parametrize("n,think", [(24, 0.0), (24, 4.0)])
def test_littles_law_holds_on_a_closed_loop(n, think):
    """N = X x (R + Z): users = completed requests per second x (mean response time + mean
    think time), over a run long enough for many cycles per user."""
    until = 3600.0
    results = dcsim.run(closed(n, think, 16, until))
    req = results.frames()["requests"]
    done = req[req["status"] == "completed"]
    assert len(done) > 40 * n
    x = len(done) / until
    assert x * (done["e2e_s"].mean() + think) == pytest.approx(n, rel=0.02)


def test_same_seed_same_run_bit_for_bit_and_another_seed_differs():
    """Lengths and think times come from the service's named streams: a seed fixes the run."""
    ov = closed(12, 2.0, 8, 400.0)
    a, b = dcsim.run(ov + ["seed=3"]), dcsim.run(ov + ["seed=3"])
    pd.testing.assert_frame_equal(a.frames()["requests"], b.frames()["requests"])
    sa, sb = a.summary(), b.summary()
    assert {k: v for k, v in sa.items() if not (isinstance(v, float) and math.isnan(v))} == \
        {k: v for k, v in sb.items() if not (isinstance(v, float) and math.isnan(v))}
    c = dcsim.run(ov + ["seed=4"]).frames()["requests"]
    assert not c["output_tokens"].equals(a.frames()["requests"]["output_tokens"])


def test_users_are_spread_over_the_replicas_by_the_router():
    """Two replicas behind the least-outstanding router share the users evenly."""
    req = dcsim.run(closed(32, 0.0, 16, 300.0, f"{SVC}.replicas=2")).frames()["requests"]
    per = req.groupby("replica").size()
    assert len(per) == 2 and per.min() > 0.4 * per.sum()
    _, level = running_over_time(req[req["replica"] == 0], 300.0)
    assert level.max() == 16


def test_a_dropped_request_does_not_lose_its_user():
    """A request too large for the KV cache is dropped; its user sends the next one, so
    the users outstanding stay at the concurrency (no think time: none is ever between
    requests at the end)."""
    sim = Simulation(0, Recorder)
    cluster = Cluster(sim, Topology(1, 1, NodeSpec(GPU)), FifoScheduler())

    def lengths(rng, n):  # every third request cannot fit a 3,000-token cache
        big = (np.arange(n) % 3) == 0
        return np.where(big, 5000, 200).astype(np.int64), np.full(n, 20, dtype=np.int64)

    spec = ServiceSpec("svc", MODEL, ServiceConfig(model=MODEL.name, replicas=1, tp=TP), ClosedLoop(4, 0.0), lengths,
                       200.0, 20.0, 200.0, 3000)
    InferenceService(sim, spec, DEVICE, RoundRobinRouter(), cluster, 0, 120.0)
    req = sim.run(120.0).frames()["requests"]
    counts = req["status"].value_counts()
    assert counts["dropped"] > 50 and counts["completed"] > 100
    assert len(req) - counts["completed"] - counts["dropped"] == 4  # every user still has one outstanding


@pytest.mark.parametrize("override,field", [
    ("arrivals.concurrency=0", "arrivals.concurrency"),
    ("arrivals.concurrency=-3", "arrivals.concurrency"),
    ("arrivals.think_time_s=-1", "arrivals.think_time_s"),
    ("arrivals.think_time_s=inf", "arrivals.think_time_s"),
    ("arrivals.think_time_s=nan", "arrivals.think_time_s"),
    ("arrivals.trace_path=dcsim:traces/AzureLLMInferenceTrace_conv.csv.gz", "arrivals.trace_path"),
    ("fidelity=fluid", "fidelity"),
])
def test_bad_closed_loop_input_is_one_line_naming_the_field(override, field):
    """Each impossible value stops the build with one line: the field, the value, what is allowed."""
    ov = [o for o in closed(8) if not o.startswith(f"{SVC}.{override.split('=')[0]}=")] + [f"{SVC}.{override}"]
    with pytest.raises(ConfigError) as e:
        build(compose_config(ov))
    msg = str(e.value)
    assert "\n" not in msg
    assert msg.startswith(f"{SVC}.{field}=") and "is not allowed:" in msg
    assert override.split("=", 1)[1].split(":")[-1].split("/")[-1][:6] in msg


def test_closed_loop_arrivals_reject_bad_values_directly():
    with pytest.raises(ConfigError, match="concurrency"):
        ClosedLoop(0)
    with pytest.raises(ConfigError, match="concurrency"):
        ClosedLoop(2.5)
    with pytest.raises(ConfigError, match="think_time_s"):
        ClosedLoop(3, math.inf)
