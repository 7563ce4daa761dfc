"""Duration-defined jobs from traces run through the scheduler with the facility in the
loop, and failed nodes going to repair with or without hot spares."""

from __future__ import annotations

import numpy as np
import pytest

import dcsim
from dcsim.api import compose_config
from dcsim.config.build import build
from dcsim.data import resolve_data_path
from dcsim.workloads.training.traces import PHILLY_BUSY_WEEK_S, read_philly

TWO_WEEKS_S = 14 * 86400


@pytest.fixture(scope="module")
def philly_week():
    """The documented replay: Philly's busiest week on the 512-GPU cluster, two weeks simulated."""
    ov = ["facility=philly_512", "workload=philly", f"duration_s={TWO_WEEKS_S}", "output.write=false"]
    scenario = build(compose_config(ov))
    return scenario, scenario.run()


def test_philly_busy_week_replays_every_job(philly_week):
    scenario, r = philly_week
    trace = read_philly(resolve_data_path("dcsim:traces/pollux_philly_jobs.csv.gz"), *PHILLY_BUSY_WEEK_S,
                        max_gpus=512)
    jobs = r.frames()["jobs"].sort_values("job_id")
    assert len(jobs) == len(trace) == 14_185
    assert set(jobs["status"]) <= {"completed", "running"}
    assert (jobs["status"] == "completed").sum() > 14_000
    np.testing.assert_array_equal(jobs["gpus"].to_numpy(), trace.gpus)
    np.testing.assert_allclose(jobs["t_submit_s"].to_numpy(), trace.t_submit_s)
    done = jobs[jobs["status"] == "completed"]
    # each job holds its GPUs for exactly its traced duration
    position = (done["job_id"] - jobs["job_id"].min()).to_numpy()  # job ids follow submit order
    np.testing.assert_allclose((done["t_end_s"] - done["t_start_s"]).to_numpy(), trace.duration_s[position],
                               rtol=1e-9, atol=1e-6)


def test_philly_fifo_starts_in_submit_order_and_queues_at_peak(philly_week):
    _, r = philly_week
    jobs = r.frames()["jobs"].sort_values("job_id")
    starts = jobs["t_start_s"].to_numpy()
    assert np.all(np.diff(starts) >= 0), "strict FIFO starts jobs in submission order"
    assert (jobs["wait_s"] >= 0).all()
    s = r.summary()
    # 1,150 GPUs asked for at the peak on 512: the queue builds, then drains
    assert s["job_wait_p95_s"] > 3600 and s["job_wait_p50_s"] < s["job_wait_p95_s"]
    assert s["job_wait_mean_s"] == pytest.approx(float(jobs["wait_s"].mean()))
    ts = r.frames()["timeseries"]
    assert ts[ts["component"] == "facility"]["gpus_busy"].max() <= 512


def test_philly_utilisation_is_gpu_time_held_over_capacity(philly_week):
    """Utilisation (time-weighted busy GPUs) equals the GPU-seconds the jobs held."""
    _, r = philly_week
    jobs = r.frames()["jobs"]
    end = jobs["t_end_s"].fillna(r.until_s).clip(upper=r.until_s)
    held_gpu_s = float((jobs["gpus"] * (end - jobs["t_start_s"])).sum())
    s = r.summary()
    assert s["gpu_utilisation"] == pytest.approx(held_gpu_s / (512 * r.until_s), rel=1e-9)
    assert 0.4 < s["gpu_utilisation"] < 0.7  # 79 % offered in the week, then the drain
    assert s["pue"] > 1.0 and s["training_energy_j"] > 0


def test_synthetic_llm_mix_runs_and_is_deterministic():
    # 200 jobs a day at AcmeTrace Kalos sizes offer ~78 GPUs of the 128 on average
    ov = ["workload=llm_mix", "workload.job_traces.llm_mix.n_jobs=200", "facility.control_interval_s=600",
          "duration_s=108000", "output.write=false"]
    ra = dcsim.run(ov)
    a, b = ra.frames()["jobs"], dcsim.run(ov).frames()["jobs"]
    # jobs larger than the facility's 128 GPUs are left out, and counted
    dropped = ra.summary()["jobs_dropped_too_large"]
    assert 0 < dropped < 15 and len(a) == 200 - dropped
    assert a.equals(b)
    assert (a["gpus"] <= 128).all() and (a["gpus"] == 1).mean() > 0.4
    assert (a["status"] == "completed").sum() > 150


# ------------------------------------------------------------------------ repair and spares
JOB = "workload.training.pretrain_8b"
REPAIR = ["workload=training_only", "~workload.training.finetune_70b", "~workload.training.sft_7b",
          f"{JOB}.gpus=64", f"{JOB}.steps=100000000", f"{JOB}.failures=true", f"{JOB}.failure_rate_scale=300",
          f"{JOB}.checkpoint=fixed", f"{JOB}.restart_s=60", f"{JOB}.repair_s=20000",
          "facility.control_interval_s=3600", "duration_s=1728000", "output.write=false"]


def repair_run(spares: str):
    ov = REPAIR + [f"{JOB}.hot_spare_nodes={spares}"]
    spec = build(compose_config(ov)).jobs[0]
    r = dcsim.run(ov)
    ev = r.frames()["events"]
    fails = ev[(ev["record_type"] == "failure")]
    waits = ev[ev["record_type"] == "repair_wait"]
    return spec, r.frames()["jobs"].iloc[0], fails, waits


def test_without_spares_each_node_failure_waits_for_its_repair():
    spec, job, fails, waits = repair_run("0")
    to_repair = fails["detail"].isin(spec.repair_causes)
    assert 10 < to_repair.sum() < len(fails)  # software and network faults need no repair
    # no spare: the job can only restart once its node is back, repair_s after the failure
    assert len(waits) == to_repair.sum()
    np.testing.assert_allclose(waits["value"].to_numpy(), spec.repair_s)
    down_s = job["restarts"] * (spec.restart_s + spec.reload_s) + len(waits) * spec.repair_s
    assert job["lost_gpu_s"] >= down_s * spec.gpus


def test_spares_absorb_repairs_until_they_run_out():
    _, job_none, _, waits_none = repair_run("null")
    _, job_one, _, waits_one = repair_run("1")
    _, job_many, _, waits_many = repair_run("100")
    assert len(waits_none) == 0 and len(waits_many) == 0
    # one spare covers a repair unless a second node fails while the first is in repair
    _, job_zero, _, waits_zero = repair_run("0")
    assert 0 < waits_one["value"].sum() < waits_zero["value"].sum()
    # with a spare, the wait is for the earlier repair to finish: always less than a whole repair
    assert (waits_one["value"] < 20000).all()
    assert job_many["steps_done"] > job_one["steps_done"] > job_zero["steps_done"]
    assert job_many["steps_done"] == job_none["steps_done"]  # spares that never run out
