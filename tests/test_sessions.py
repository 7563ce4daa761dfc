"""Agentic sessions: chains of calls sent a think time after each completion, whose
append-only context the prefix cache reuses, and synthetic system prompts it shares."""

from __future__ import annotations

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
from dcsim.workloads.inference.requests import LengthDistribution
from dcsim.workloads.inference.service import InferenceService, ServiceSpec
from dcsim.workloads.inference.sessions import (
    DurationDistribution,
    SessionArrivals,
    session_block_ids,
    system_block_ids,
)

SVC = "workload.services.chat"
SS = f"{SVC}.arrivals.sessions"
BLOCK = 64
SYSTEM = 1000  # 15 full blocks of 64 (960 tokens), a partial one shared with the session's own text
THINK_S, FIRST, NEW, OUT, CALLS = 2.0, 700, 300, 50, 4


def constant(field: str, value: float) -> list[str]:
    return [f"{field}.distribution=constant", f"{field}.mean={value}"]


def sessions(*extra: str, rate: float = 0.05, duration_s: float = 300.0) -> list[str]:
    """One Llama-3.1-8B replica (TP 1) serving sessions of CALLS calls with constant lengths and think time."""
    return [
        "workload=inference_only", f"duration_s={duration_s}", "output.write=false", f"{SVC}.model=Llama-3.1-8B",
        f"{SVC}.tp=1", f"{SVC}.replicas=1", f"{SVC}.arrivals.process=sessions", f"{SS}.arrival_rate_per_s={rate}",
        *constant(f"{SS}.calls", CALLS), *constant(f"{SS}.first_context_tokens", FIRST),
        *constant(f"{SS}.new_tokens", NEW), *constant(f"{SS}.output_tokens", OUT),
        f"{SS}.think_time.distribution=constant", f"{SS}.think_time.mean_s={THINK_S}",
        f"{SVC}.system_prompt_tokens={SYSTEM}", f"{SVC}.prefix_block_tokens={BLOCK}",
        f"{SVC}.prefix_cache_fraction=0.5", *extra,
    ]


@pytest.fixture(scope="module")
def run():
    return dcsim.run(sessions())


def test_each_call_is_sent_think_time_after_the_last_completes_and_reuses_its_prefix(run):
    """The timeline of every session: call k+1 arrives THINK_S after call k is done, its prompt
    is call k's prompt + output + new tokens, and (one replica, a cache much larger than the
    sessions in flight) its cached tokens are exactly call k's full blocks."""
    req = run.frames()["requests"].sort_values(["session_id", "call_index"])
    done = req[req["status"] == "completed"]
    assert done["session_id"].nunique() >= 5
    checked = 0
    for _, calls in done.groupby("session_id"):
        c = calls.to_dict("records")
        assert [r["call_index"] for r in c] == list(range(len(c)))
        assert c[0]["prompt_tokens"] == SYSTEM + FIRST
        for prev, nxt in zip(c, c[1:]):
            assert nxt["t_arrival_s"] == pytest.approx(prev["t_done_s"] + THINK_S, abs=1e-9)
            assert nxt["prompt_tokens"] == prev["prompt_tokens"] + OUT + NEW
            assert nxt["cached_tokens"] == prev["prompt_tokens"] // BLOCK * BLOCK
            checked += 1
    assert checked >= 15


def test_the_system_prompt_is_shared_across_sessions(run):
    """Every session's first call after the very first finds the system prompt's full blocks cached."""
    req = run.frames()["requests"]
    first = req[(req["call_index"] == 0) & (req["status"] == "completed")].sort_values("t_arrival_s")
    assert first["cached_tokens"].iloc[0] == 0
    assert (first["cached_tokens"].iloc[1:] == SYSTEM // BLOCK * BLOCK).all()


def test_sessions_end_after_their_calls_and_the_kpis_follow_from_the_tables(run):
    """Each session ends once (a `session` event); the completed ones have CALLS calls, and the
    summary's session KPIs are the documented sums over their requests."""
    f, s = run.frames(), run.summary()
    ev = f["events"][f["events"]["record_type"] == "session"]
    assert ev["value"].is_unique and set(ev["detail"]) <= {"completed", "running"}
    completed = ev.loc[ev["detail"] == "completed", "value"].astype(int)
    req = f["requests"]
    mine = req[req["session_id"].isin(completed)]
    assert (mine.groupby("session_id").size() == CALLS).all()
    assert s["sessions_started"] == len(ev) == req.loc[req["session_id"] >= 0, "session_id"].nunique()
    assert s["sessions_completed"] == len(completed)
    assert s["calls_per_session_mean"] == CALLS
    per = mine.groupby("session_id")
    assert s["energy_per_session_gpu_j"] == pytest.approx(per["energy_j"].sum().mean(), rel=1e-12)
    assert s["session_duration_p50_s"] == pytest.approx(
        float(np.percentile(per["t_done_s"].max() - per["t_arrival_s"].min(), 50)), rel=1e-12)
    assert s["session_prompt_tokens_cached_share"] == pytest.approx(
        req["cached_tokens"].sum() / req["prompt_tokens"].sum(), rel=1e-12)
    assert s["energy_per_session_facility_j"] == pytest.approx(
        s["energy_per_session_gpu_j"] * s["inference_gpu_energy_j"] / req["energy_j"].sum()
        * run.energy_j["facility"] / run.energy_j["gpu"], rel=1e-9)
    assert s["cost_per_session_usd"] == pytest.approx(
        s["cost_per_million_tokens_usd"] * s["output_tokens"] / 1e6 * s["energy_per_session_gpu_j"]
        / req["energy_j"].sum(), rel=1e-9)


def test_the_affinity_router_keeps_a_session_on_the_replica_holding_its_context():
    """Synthetic block ids are enough for cache-aware routing: on 3 replicas every later call
    of a session lands where its first did and finds the previous call's blocks; round robin
    scatters the calls and most miss."""
    ov = sessions(f"{SVC}.replicas=3", f"{SVC}.router=prefix_affinity", duration_s=200.0)
    req = dcsim.run(ov).frames()["requests"]
    done = req[req["status"] == "completed"].sort_values(["session_id", "call_index"])
    later = done[done["call_index"] > 0]
    first_replica = done[done["call_index"] == 0].set_index("session_id")["replica"]
    assert len(later) >= 10 and (later["replica"].to_numpy() == first_replica[later["session_id"]].to_numpy()).all()
    assert (later["cached_tokens"] > SYSTEM).all()
    rr = dcsim.run([o for o in ov if "router" not in o] + [f"{SVC}.router=round_robin"]).frames()["requests"]
    rr_later = rr[(rr["status"] == "completed") & (rr["call_index"] > 0)]
    assert (rr_later["cached_tokens"] <= SYSTEM).mean() > 0.5


def test_first_calls_that_share_only_the_system_prompt_go_where_there_is_room():
    """A session's first call matches only the system prompt (960 of 3,960 tokens here), which
    every replica that served a session holds: with no minimum match the holder within the
    load slack wins and one replica takes every session while the others idle; with the
    default (0.5, SGLang's cache threshold) such calls go to the least loaded replica."""
    def sessions_per_replica(min_match: str) -> dict[int, int]:
        ov = sessions(f"{SVC}.replicas=4", f"{SVC}.router=prefix_affinity", f"{SVC}.affinity_min_match={min_match}",
                      *constant(f"{SS}.first_context_tokens", 3000), rate=0.2, duration_s=300.0)
        req = dcsim.run(ov).frames()["requests"]
        return req[req["call_index"] == 0].groupby("replica").size().to_dict()

    greedy, default = sessions_per_replica("0"), sessions_per_replica("0.5")
    assert len(greedy) == 1 and sum(greedy.values()) >= 50
    assert len(default) >= 3


def test_energy_stays_an_exact_ledger(run):
    e = run.energy_j
    assert e["gpu"] + e["host"] + e["conversion_loss"] + e["cooling"] == pytest.approx(e["facility"], rel=1e-9)
    consumers = sum(v for kind, v in run.meter_energy_j.values() if kind in ("gpu", "host"))
    assert consumers == pytest.approx(e["gpu"] + e["host"], rel=1e-9)


def test_same_seed_same_sessions_and_another_seed_differs():
    ov = sessions(f"{SS}.think_time.distribution=exponential", f"{SS}.calls.distribution=exponential",
                  duration_s=200.0)
    a, b = dcsim.run(ov + ["seed=5"]).frames()["requests"], dcsim.run(ov + ["seed=5"]).frames()["requests"]
    pd.testing.assert_frame_equal(a, b)
    c = dcsim.run(ov + ["seed=6"]).frames()["requests"]
    assert not (len(a) == len(c) and np.array_equal(a["t_arrival_s"], c["t_arrival_s"]))


def test_block_ids_share_the_system_prompt_grow_by_prefix_and_never_collide():
    sys0, sys1 = system_block_ids(0, SYSTEM, BLOCK), system_block_ids(1, SYSTEM, BLOCK)
    assert len(sys0) == SYSTEM // BLOCK and not set(sys0) & set(sys1)
    calls = [session_block_ids(sys0, 7, p, BLOCK) for p in (1700, 2050, 2400)]
    for a, b in zip(calls, calls[1:]):
        assert b[:len(a)] == a  # append-only context: the previous call's blocks lead the next
    other = session_block_ids(sys0, 8, 2400, BLOCK)
    assert other[:len(sys0)] == sys0 and not set(other[len(sys0):]) & set(calls[-1])
    every = [i for ids in (sys1, *calls, other) for i in ids]
    assert len(set(calls[-1]) | set(other) | set(sys1)) == len(set(every))
    assert session_block_ids(sys0, 7, 2400, BLOCK) == calls[-1]  # a function of (session, tokens) only
    assert session_block_ids(sys0, 7, 500, BLOCK) == sys0[:500 // BLOCK]


def test_a_plain_synthetic_service_shares_its_system_prompt():
    """Poisson requests with a shared system prompt: once one request has prefilled it, the
    others find its full blocks cached (before that, none: nothing else is shared)."""
    ov = ["workload=inference_only", "duration_s=120", "output.write=false", f"{SVC}.model=Llama-3.1-8B",
          f"{SVC}.tp=1", f"{SVC}.replicas=1", f"{SVC}.arrival_rate_per_s=2", f"{SVC}.system_prompt_tokens=2048",
          f"{SVC}.prefix_block_tokens={BLOCK}", f"{SVC}.prefix_cache_fraction=0.2"]
    req = dcsim.run(ov).frames()["requests"]
    assert set(req["cached_tokens"]) == {0, 2048} and (req["cached_tokens"] == 2048).mean() > 0.9
    assert (req["prompt_tokens"] > 2048).all() and (req["session_id"] == -1).all() and (req["call_index"] == -1).all()


def test_prefix_caching_with_nothing_to_share_says_so():
    ov = ["workload=inference_only", "duration_s=30", "output.write=false", f"{SVC}.prefix_cache_fraction=0.3"]
    ev = dcsim.run(ov).frames()["events"]
    warn = ev[ev["record_type"] == "warning"]
    assert len(warn) == 1 and "caches nothing" in warn["detail"].iloc[0]
    assert f"{SVC}.prefix_cache_fraction" in warn["detail"].iloc[0]


def test_a_dropped_call_ends_its_session():
    """A call larger than the KV cache is dropped and its session ends there (counted), the
    others go on."""
    sim = Simulation(0, Recorder)
    cluster = Cluster(sim, Topology(1, 1, NodeSpec(GPU)), FifoScheduler())
    const = lambda v: LengthDistribution("constant", v, 0, 0, 1, 10**6)  # noqa: E731
    work = SessionArrivals(0.2, const(6), DurationDistribution("constant", 1.0, 0, 0, 0, 10), const(500), const(700),
                           const(100), 0, 1, BLOCK, 10**6)
    # calls of 500, 1300, 2100, 2900, 3700, ... prompt tokens (+100 out): the 5th does not fit 3,000 tokens
    spec = ServiceSpec("svc", MODEL, ServiceConfig(model=MODEL.name, replicas=1, tp=TP), work, work.sample_calls,
                       1000.0, 100.0, 1000.0, 3000)
    InferenceService(sim, spec, DEVICE, RoundRobinRouter(), cluster, 0, 200.0)
    results = sim.run(200.0)
    req = results.frames()["requests"]
    dropped = req[req["status"] == "dropped"]
    assert len(dropped) > 5 and (dropped["call_index"] == 4).all()
    assert not (req["call_index"] == 5).any()  # no session went on after its dropped call
    ev = results.frames()["events"]
    ends = ev.loc[ev["record_type"] == "session", "detail"].value_counts()
    assert ends["dropped"] == len(dropped) and "completed" not in ends


@pytest.mark.parametrize("override,field", [
    (f"{SS}.arrival_rate_per_s=-1", f"{SS}.arrival_rate_per_s"),
    (f"{SS}.calls.mean=0", f"{SS}.calls.mean"),
    (f"{SS}.think_time.max_s=-2", f"{SS}.think_time.max_s"),
    (f"{SS}.max_context_tokens=1500", f"{SS}.max_context_tokens"),
    (f"{SS}.user_turn_probability=1.5", f"{SS}.user_turn_probability"),
    (f"{SS}.user_think_time.max_s=-1", f"{SS}.user_think_time.max_s"),
    (f"{SVC}.arrivals.trace_path=dcsim:traces/AzureLLMInferenceTrace_conv.csv.gz", f"{SVC}.arrivals.trace_path"),
])
def test_bad_session_input_is_one_line_naming_the_field(override, field):
    with pytest.raises(ConfigError) as e:
        build(compose_config(sessions(override)))
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith(f"{field}=") and "is not allowed:" in msg


def test_a_system_prompt_is_refused_where_it_cannot_be_added():
    ov = ["workload=inference_only", "output.write=false", f"{SVC}.arrivals.process=closed",
          f"{SVC}.system_prompt_tokens=500"]
    with pytest.raises(ConfigError, match=rf"^{SVC}.system_prompt_tokens=500 is not allowed: 0 with arrivals.process=closed"):
        build(compose_config(ov))


USER_S = 40.0  # a user's think time before a call that opens a turn (the tool's: THINK_S)


@pytest.fixture(scope="module")
def turns():
    return dcsim.run(sessions(f"{SS}.user_turn_probability=0.5", f"{SS}.user_think_time.distribution=constant",
                              f"{SS}.user_think_time.mean_s={USER_S}", duration_s=600.0))


def test_a_call_that_opens_a_user_turn_waits_the_users_think_time(turns):
    """The timeline with user turns: a call in the same turn as the previous one is sent the
    tool's think time after it completes, one that opens the next turn the user's; turns
    count up from 0 by one; the context still grows by the previous output and new tokens."""
    req = turns.frames()["requests"]
    done = req[req["status"] == "completed"].sort_values(["session_id", "call_index"])
    kinds = {"tool": 0, "user": 0}
    for _, calls in done.groupby("session_id"):
        c = calls.to_dict("records")
        assert c[0]["turn_index"] == 0
        for prev, nxt in zip(c, c[1:]):
            step = nxt["turn_index"] - prev["turn_index"]
            assert step in (0, 1)
            gap = USER_S if step else THINK_S
            kinds["user" if step else "tool"] += 1
            assert nxt["t_arrival_s"] == pytest.approx(prev["t_done_s"] + gap, abs=1e-9)
            assert nxt["prompt_tokens"] == prev["prompt_tokens"] + OUT + NEW
    assert kinds["tool"] >= 10 and kinds["user"] >= 10


def test_a_cache_lifetime_shorter_than_the_users_wait_misses_every_new_turn(turns):
    """prefix_cache_ttl_s = 20 s between the tool's 2-s think time and the user's 40-s wait:
    a call after a tool finds its previous prompt's blocks (as without a lifetime), a call
    that opens a turn finds only the system prompt's, which the other sessions keep using.
    Refused without a prefix cache."""
    life = dcsim.run(sessions(f"{SS}.user_turn_probability=0.5", f"{SS}.user_think_time.distribution=constant",
                              f"{SS}.user_think_time.mean_s={USER_S}", f"{SVC}.prefix_cache_ttl_s=20",
                              duration_s=600.0))
    for res in (turns, life):
        req = res.frames()["requests"].sort_values(["session_id", "call_index"])
        calls = req[(req["session_id"] >= 0) & (req["status"] == "completed")]
        prev_turn = calls.groupby("session_id")["turn_index"].shift(1)
        opens = calls[calls["turn_index"] > prev_turn]
        tool = calls[(calls["call_index"] > 0) & ~(calls["turn_index"] > prev_turn)]
        assert len(opens) >= 10 and len(tool) >= 10
        assert (tool["cached_tokens"] >= tool["prompt_tokens"] - OUT - NEW - BLOCK).all()
        if res is life:
            assert (opens["cached_tokens"] <= SYSTEM).all()
        else:
            assert (opens["cached_tokens"] >= opens["prompt_tokens"] - OUT - NEW - BLOCK).all()
    with pytest.raises(ConfigError, match="prefix_cache_ttl_s"):
        dcsim.run(["workload=inference_only", "duration_s=10", "output.write=false", f"{SVC}.prefix_cache_ttl_s=300"])


def test_the_cached_shares_by_trigger_follow_from_the_requests_table(turns, run):
    """`session_tool_call_cached_share` and `session_turn_call_cached_share` are the
    documented sums over the calls after a tool and the calls that open a later turn; a
    workload without turns has every call in turn 0 and no turn share (NaN), and requests of
    no session have turn -1."""
    s = turns.summary()
    req = turns.frames()["requests"].sort_values(["session_id", "call_index"])
    calls = req[req["session_id"] >= 0]
    later = calls[calls["call_index"] > 0]
    prev_turn = calls.groupby("session_id")["turn_index"].shift(1)
    opens = calls[calls["turn_index"] > prev_turn]
    tool = later.drop(opens.index)
    assert len(opens) >= 10 and len(tool) >= 10
    assert s["session_turn_call_cached_share"] == pytest.approx(
        opens["cached_tokens"].sum() / opens["prompt_tokens"].sum(), rel=1e-12)
    assert s["session_tool_call_cached_share"] == pytest.approx(
        tool["cached_tokens"].sum() / tool["prompt_tokens"].sum(), rel=1e-12)
    plain = run.frames()["requests"]
    assert (plain.loc[plain["session_id"] >= 0, "turn_index"] == 0).all()
    assert np.isnan(run.summary()["session_turn_call_cached_share"])
    other = dcsim.run(["workload=inference_only", "duration_s=20", "output.write=false"]).frames()["requests"]
    assert (other["turn_index"] == -1).all()


def test_user_turns_leave_the_other_draws_of_a_session_unchanged():
    """Turning user turns on adds draws after the others: the sessions' starts, calls,
    contexts, new and output tokens are the same draws, and the tool's think times stay
    where no call opens a turn."""
    const = lambda v: LengthDistribution("exponential", v, 0, 0, 1, 10**6)  # noqa: E731
    tool = DurationDistribution("exponential", 3.0, 0, 0, 0, 100)
    user = DurationDistribution("constant", 500.0, 0, 0, 0, 1000)
    args = (0.5, const(8), tool, const(500), const(700), const(100), 100, 1, BLOCK, 10**6)
    plain = SessionArrivals(*args).plan(np.random.default_rng(1), np.random.default_rng(2), 200.0)
    turned = SessionArrivals(*args, 0.3, user).plan(np.random.default_rng(1), np.random.default_rng(2), 200.0)
    for name in ("t_start_s", "calls", "first_context_tokens", "new_tokens", "output_tokens"):
        assert np.array_equal(getattr(plain, name), getattr(turned, name))
    opens = np.diff(turned.turn, prepend=0) > 0
    assert not opens[turned.offset].any() and (turned.turn[turned.offset] == 0).all()
    assert 0.2 < opens.mean() < 0.4
    assert (turned.think_s[opens] == 500.0).all()
    assert np.array_equal(turned.think_s[~opens], plain.think_s[~opens])


def test_the_agentic_preset_reuses_its_cache_as_measured_coding_agents_do():
    """workload=agentic_coding (TraceLab's measured tool runs and user waits, one call in 30
    opening a user turn) against TraceLab's measured token-weighted prefix-cache hit rates
    (uw-syfi/TraceLab, tab:prefix_cache_hit_rate): after a tool 97.9 % (Claude Code) / 97.2 %
    (Codex), on user-initiated steps 86.9 / 78.2 %, all 95.8 / 95.7 %. None of it is an input:
    the shares follow from the replicas' LRU caches and the affinity router (docs/workloads.md,
    "Against measured agents"; seed 0 gives 97.9 / 84.7 / 95.5 %)."""
    s = dcsim.run(["workload=agentic_coding", "facility.num_racks=1", "output.write=false"]).summary()
    assert s["session_tool_call_cached_share"] == pytest.approx(0.975, abs=0.01)
    assert 0.78 - 0.03 < s["session_turn_call_cached_share"] < 0.869 + 0.03
    assert s["session_prompt_tokens_cached_share"] == pytest.approx(0.957, abs=0.01)


def test_the_terminal_table_shows_the_sessions_when_there_are_some(turns):
    """The run's table has the session rows (completed / started, the cached shares, energy and
    cost per session) after the requests' rows; a run without sessions has none."""
    from dcsim.cli import format_summary

    s = turns.summary()
    lines = format_summary(s).splitlines()
    done = next(line for line in lines if line.strip().startswith("sessions completed / started"))
    assert done.split()[-3:] == [str(s["sessions_completed"]), "/", str(s["sessions_started"])]
    cached = next(line for line in lines if line.strip().startswith("prompt cached: all / after tool / new turn"))
    shares = [f"{100 * s[k]:.1f}" for k in ("session_prompt_tokens_cached_share", "session_tool_call_cached_share",
                                            "session_turn_call_cached_share")]
    assert cached.rstrip().endswith(" / ".join(shares) + " %")
    assert any(line.strip().startswith("energy per session (task), facility") and line.rstrip().endswith(" kJ")
               for line in lines)
    plain = dcsim.run(["workload=inference_only", "duration_s=20", "output.write=false"]).summary()
    assert not any("session" in line for line in format_summary(plain).splitlines())
