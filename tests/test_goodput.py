"""Training goodput counts useful work: the GPU-hours the kept progress needs at full speed."""

from __future__ import annotations

import math

import pytest

import dcsim
from dcsim.api import compose_config
from dcsim.config.build import build

# One 64-GPU job that runs for the whole horizon without checkpoints or failures.
LONG = ["workload=training_only", "~workload.training.finetune_70b", "~workload.training.sft_7b",
        "workload.training.pretrain_8b.gpus=64", "workload.training.pretrain_8b.steps=100000000",
        "workload.training.pretrain_8b.checkpoint=none", "output.write=false"]
# The three-job queue, run to completion.
QUEUE = ["workload=training_only", "output.write=false"]
CHILLER_FAULT = "+facility.faults=[{kind:chiller,start_s:600,duration_s:1800,capacity_share:0.0}]"


def _goodput_h(r) -> float:
    return float(r.summary()["training_goodput_gpu_hours"])


def test_capped_hours_count_at_the_speed_they_ran():
    """A demand-response window caps the job from 1,800 to 3,600 s. Integrating the cap events'
    timeline, each second counts t_full / t_step(cap) useful seconds (1 uncapped, the speed
    ratio capped): goodput is that integral x 64 GPUs / 3,600, less than the 128 GPU-hours
    held, and the steps done are the same integral over t_full."""
    ov = LONG + ["duration_s=7200", "facility.power.policy=priority",
                 "+facility.grid.demand_response=[{start_s: 1800, duration_s: 1800, limit_kw: 60}]"]
    scenario = build(compose_config(ov))
    spec, base = scenario.jobs[0], scenario.device
    r = dcsim.run(ov)
    f = r.frames()
    job = f["jobs"].iloc[0]
    caps = f["events"][f["events"]["record_type"] == "cap"]
    assert len(caps) >= 2 and caps["t_s"].min() == pytest.approx(1800.0)  # capped in the window only

    def step_s(cap_w: float) -> float:
        dev = base.with_cap(None if math.isnan(cap_w) else cap_w)
        return spec.step.compute_s * dev.training_slowdown() / base.training_slowdown() + spec.step.exposed_comm_s

    t_full = spec.useful_step_s
    assert t_full == pytest.approx(spec.step.time_s, rel=1e-12)  # this facility sets no static cap
    bounds = [0.0, *caps["t_s"], r.until_s]
    speeds = [1.0, *(t_full / step_s(c) for c in caps["value"])]
    useful_s = sum((b - a) * v for a, b, v in zip(bounds[:-1], bounds[1:], speeds, strict=True))
    assert min(speeds) < 0.9  # the window slowed the job
    assert _goodput_h(r) == pytest.approx(64 * useful_s / 3600.0, rel=1e-9)
    assert _goodput_h(r) < 64 * 7200 / 3600.0 * 0.99
    assert job["steps_done"] == math.floor(useful_s / t_full + 1e-9)
    assert job["effective_share"] == pytest.approx(1.0, rel=1e-12)  # no time was lost, only slowed


def test_a_static_cap_at_a_share_of_speed_gives_that_share_of_goodput():
    """Under a 350 W static cap for the whole run, every GPU-hour held is worth the speed
    ratio t_full / t_capped of useful GPU-hours (a 60 %-speed hour counts 0.6)."""
    ov = LONG + ["duration_s=3600", "power_policy=static", "facility.power.static_cap_w=350"]
    spec = build(compose_config(ov)).jobs[0]
    r = dcsim.run(ov)
    job = r.frames()["jobs"].iloc[0]
    speed = spec.useful_step_s / job["step_time_s"]
    assert 0.3 < speed < 0.9
    assert _goodput_h(r) == pytest.approx(64 * 3600 / 3600.0 * speed, rel=1e-9)


def test_goodput_does_not_rise_under_a_chiller_fault():
    """A 30-minute chiller loss throttles the queue's jobs: they hold their GPUs longer (the
    old GPU-hours-held figure rises by 2.7 GPU-h here) but all complete, so goodput, the
    full-speed GPU-hours of the work done, stays; cut short by the horizon, it falls."""
    free, fault = dcsim.run(QUEUE), dcsim.run(QUEUE + [CHILLER_FAULT])
    jf, jx = free.frames()["jobs"], fault.frames()["jobs"]
    held_h = lambda j: float((j["productive_s"] * j["gpus"]).sum()) / 3600.0  # noqa: E731
    assert (jf["status"] == "completed").all() and (jx["status"] == "completed").all()
    assert held_h(jx) > held_h(jf) + 2.0  # the fault slowed them
    assert _goodput_h(fault) == pytest.approx(_goodput_h(free), rel=1e-12)
    cut = ["duration_s=1500"]
    assert _goodput_h(dcsim.run(QUEUE + cut + [CHILLER_FAULT])) < _goodput_h(dcsim.run(QUEUE + cut)) - 0.2


def test_work_lost_to_failures_is_not_goodput():
    """With frequent failures and checkpoints a job that completes has done all its steps
    once: goodput is steps x t_full x GPUs / 3,600, as without failures, while the GPU time
    it held (and the lost GPU-hours) grew."""
    one = ["workload=training_only", "~workload.training.finetune_70b", "~workload.training.sft_7b",
           "workload.training.pretrain_8b.steps=400", "duration_s=36000", "output.write=false"]
    failing = one + ["workload.training.pretrain_8b.failures=true",
                     "workload.training.pretrain_8b.failure_rate_scale=20000",
                     "workload.training.pretrain_8b.checkpoint=fixed",
                     "workload.training.pretrain_8b.checkpoint_interval_s=300",
                     "workload.training.pretrain_8b.restart_s=60"]
    spec = build(compose_config(failing)).jobs[0]
    clean, hit = dcsim.run(one), dcsim.run(failing)
    job = hit.frames()["jobs"].iloc[0]
    assert job["status"] == "completed" and job["restarts"] >= 2 and job["lost_gpu_s"] > 0
    expected_h = 400 * spec.useful_step_s * spec.gpus / 3600.0
    assert _goodput_h(hit) == pytest.approx(expected_h, rel=1e-12)
    assert _goodput_h(clean) == pytest.approx(expected_h, rel=1e-12)
    assert (job["t_end_s"] - job["t_start_s"]) * spec.gpus / 3600.0 > expected_h + 1.0
