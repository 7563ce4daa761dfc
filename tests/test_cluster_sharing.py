"""Training and inference sharing one cluster: harvesting, preemption without loss,
topology-aware placement and whole-run accounting."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import dcsim
from dcsim.api import compose_config
from dcsim.config.build import build
from dcsim.hardware.gpus import GPUS
from dcsim.hardware.models import MODELS
from dcsim.hardware.performance import training_step

# ------------------------------------------------------------------ harvesting (timeline)
# conf/workload/harvest.yaml from 02:00 (the diurnal trough) for 4 h into the morning rise
HARVEST = ["workload=harvest", "facility.climate.start_hour=2", "duration_s=14400", "output.write=false"]


def training_gpus_over_time(events: pd.DataFrame) -> pd.Series:
    """GPUs held by training jobs after each start or release (from the event log)."""
    ev = events[events["component"].astype(str).str.startswith("job/")
                & events["record_type"].isin(["start", "end"])]
    delta = np.where(ev["record_type"] == "start", ev["value"], -ev["value"])
    return pd.Series(np.cumsum(delta), index=ev["t_s"].to_numpy())


def replica_delays(events: pd.DataFrame) -> pd.Series:
    """Seconds from asking for each new replica (submit) to its serving."""
    ev = events[events["component"].astype(str).str.startswith("chat/replica/")]
    sub = ev[ev["record_type"] == "submit"].set_index("component")["t_s"]
    serve = ev[ev["record_type"] == "serve"].set_index("component")["t_s"]
    later = sub[sub > 0]
    return (serve.reindex(later.index) - later)


@pytest.fixture(scope="module")
def harvest_runs():
    scenario = build(compose_config(HARVEST + ["scheduler=inference_first"]))
    return scenario, scenario.run(), dcsim.run(HARVEST + ["scheduler=fifo"])


def test_training_harvests_the_trough_and_inference_reclaims_within_the_delay(harvest_runs):
    scenario, r, _ = harvest_runs
    ev = r.frames()["events"]
    held = training_gpus_over_time(ev)
    # at the start inference holds 6 replicas x 8 GPUs and training the other 80
    assert held.loc[:200].iloc[-1] == 80
    # in the trough inference scales down and queued training takes what it released
    trough = held.loc[:7200]
    assert trough.max() > 80
    downs = ev[(ev["record_type"] == "scale") & (ev["detail"] == "down")]
    assert len(downs) and downs["t_s"].iloc[0] < trough.idxmax()
    # as load rises inference scales up and takes GPUs back from training by preemption
    preempts = ev[ev["record_type"] == "preempt"]
    assert len(preempts) >= 1
    assert held.loc[trough.idxmax():].min() < trough.max()
    # every new replica serves within the preempted job's checkpoint write plus the model load
    load_s = scenario.services[0][0].autoscale.model_load_s
    write_s = max(j.preempt_write_s for j in scenario.jobs)
    delays = replica_delays(ev).dropna()
    assert len(delays) >= 5
    assert (delays <= load_s + write_s + 1e-6).all(), delays.describe()
    s = r.summary()
    assert s["training_preemptions"] == len(preempts)


def test_fifo_makes_inference_wait_behind_training(harvest_runs):
    _, r_first, r_fifo = harvest_runs
    delays = replica_delays(r_fifo.frames()["events"])
    assert delays.isna().any() or delays.max() > 3600  # some replica never got GPUs in time
    assert r_fifo.summary()["training_preemptions"] == 0
    assert r_first.summary()["ttft_p99_s"] < r_fifo.summary()["ttft_p99_s"]


# --------------------------------------------------------- topology-aware placement
JOB = "workload.training.pretrain_8b"
# 8 racks of 4 nodes, rack uplinks 4:1 oversubscribed; one communication-heavy data-parallel
# 8B job on 4 nodes (a small 256k-token batch: the gradient all-reduce rivals compute)
TOPO = ["workload=training_only", "~workload.training.finetune_70b", "~workload.training.sft_7b",
        "facility.num_racks=8", f"{JOB}.gpus=32", f"{JOB}.steps=50", f"{JOB}.tokens_per_step=262144",
        "facility.network.rack_uplink_oversubscription=4",
        "duration_s=3600", "output.write=false"]


def test_packing_gives_a_shorter_step_than_spreading_by_the_models_amount():
    packed = dcsim.run(TOPO + ["scheduler.placement=pack"]).frames()["jobs"].iloc[0]
    spread = dcsim.run(TOPO + ["scheduler.placement=spread"]).frames()["jobs"].iloc[0]
    assert packed["racks"] == 1 and spread["racks"] == 4
    model, gpu = MODELS["Llama-3.1-8B"], GPUS["H100-SXM"]
    bw = 400e9 / 8
    full = training_step(model, gpu, 32, 262144, 0.40, 32, bw, 0.8)
    # one node per rack: the rack uplink carries 1/4 of full bandwidth for the ring
    quarter = training_step(model, gpu, 32, 262144, 0.40, 32, bw / 4, 0.8)
    assert packed["step_time_s"] == pytest.approx(full.time_s, rel=1e-12)
    assert spread["step_time_s"] == pytest.approx(quarter.time_s, rel=1e-12)
    assert spread["step_time_s"] > 1.5 * packed["step_time_s"]


# --------------------------------------------------------------- accounting (property)
SCHEDULERS = ["fifo", "easy_backfill", "priority", "inference_first"]
PLACEMENTS = ["pack", "spread", "power_aware", "thermal_aware"]


@st.composite
def small_scenarios(draw):
    sched = draw(st.sampled_from(SCHEDULERS))
    place = draw(st.sampled_from(PLACEMENTS))
    failures = draw(st.booleans())
    ov = ["workload=harvest", "facility.num_racks=2", f"scheduler={sched}", f"scheduler.placement={place}",
          f"seed={draw(st.integers(0, 1000))}", f"duration_s={draw(st.sampled_from([900, 1800, 2700]))}",
          "facility.control_interval_s=60", "output.write=false",
          f"workload.services.chat.arrival_rate_per_s={draw(st.sampled_from([0.5, 2.0, 6.0]))}",
          "workload.services.chat.replicas=2", "workload.services.chat.autoscale.max_replicas=4",
          "workload.services.chat.autoscale.model_load_s=60", "workload.services.chat.autoscale.scale_down_delay_s=120",
          f"workload.services.chat.autoscale.target={draw(st.sampled_from([2.0, 8.0, 32.0]))}"]
    for name in ("pretrain_8b_a", "pretrain_8b_b", "pretrain_8b_c", "finetune_70b", "sft_8b"):
        key = f"workload.training.{name}"
        ov += [f"{key}.gpus={draw(st.sampled_from([8, 16]))}", f"{key}.steps={draw(st.integers(5, 400))}",
               f"{key}.checkpoint_interval_s={draw(st.sampled_from([120, 600]))}",
               f"{key}.submit_time_s={draw(st.integers(0, 600))}"]
        if failures:
            ov += [f"{key}.failures=true", f"{key}.failure_rate_scale=2000", f"{key}.restart_s=30"]
    ov.append("workload.training.finetune_70b.gpus=16")
    return ov, failures


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow],
          phases=[Phase.explicit, Phase.reuse, Phase.generate])  # whole runs: no slow shrinking
@given(small_scenarios())
def test_every_job_and_request_is_accounted_for(case):
    ov, failures = case
    r = dcsim.run(ov)
    f = r.frames()
    req, jobs, ev = f["requests"], f["jobs"], f["events"]
    # requests: ids 0..n-1 once each, every one in a known state; drops carry a reason
    ids = np.sort(req["request_id"].to_numpy())
    np.testing.assert_array_equal(ids, np.arange(len(req)))
    assert set(req["status"].astype(str)) <= {"completed", "running", "queued", "dropped"}
    assert (req["status"] == "dropped").sum() == (ev["record_type"] == "drop").sum()
    # jobs: one row each, in a known state, never more steps than asked
    assert len(jobs) == 5 and jobs["job_id"].is_unique
    assert set(jobs["status"].astype(str)) <= {"completed", "running", "queued", "not_submitted"}
    assert (jobs["steps_done"] <= jobs["steps"]).all()
    done = jobs[jobs["status"] == "completed"]
    assert (done["steps_done"] == done["steps"]).all()
    # preemption loses nothing beyond the checkpoint it writes; only failures lose work
    if not failures:
        assert (jobs["lost_steps"] == 0).all()
    requeues = ev[ev["record_type"] == "requeue"].groupby(ev["component"].astype(str)).size()
    for _, job in jobs.iterrows():
        assert job["preemptions"] == requeues.get(f"job/{job['name']}", 0)
    # GPUs: never more allocated than exist
    ts = f["timeseries"]
    assert ts[ts["component"] == "facility"]["gpus_allocated"].max() <= r.summary()["gpus_total"] + 1e-9
    assert not math.isnan(r.summary()["gpu_utilisation"])


# ------------------------------------------------------------------ power contention
# 112 kW: 100 kW before the scale-out network's 8.9 kW of IT power (about 12 kW at the meter) was metered;
# the same scenario, the same job waiting until t = 1,216 s (docs/network.md)
BUDGET = ["workload=training_only", "facility.power.budget_kw=112", "duration_s=1800", "output.write=false"]


def test_power_admission_refuses_starts_that_would_exceed_the_budget():
    """Without admission (and no capping policy, so no budget: one would be refused as
    ignored) the jobs push IT power past the budget's IT share; with it, a job waits until
    its extra power fits and the budget holds at every tick."""
    def run(overrides: list[str]):
        f = dcsim.run(overrides).frames()
        fac = f["timeseries"][f["timeseries"]["component"] == "facility"].reset_index(drop=True)
        return f["jobs"].set_index("name"), fac

    held_jobs, held = run(BUDGET + ["scheduler.power_admission=true"])
    free_jobs, free = run([o for o in BUDGET if "budget_kw" not in o])
    held_excess_w = float((held["it_power_w"] - held["it_budget_w"]).max())
    free_excess_w = float((free["it_power_w"] - held["it_budget_w"]).max())  # the same ticks, the held run's budget
    assert free_excess_w > 10e3
    assert held_excess_w <= 0.0
    assert held_jobs.loc["finetune_70b", "t_start_s"] > free_jobs.loc["finetune_70b", "t_start_s"]
    assert held_jobs["t_start_s"].notna().sum() < free_jobs["t_start_s"].notna().sum()
