"""Training jobs at run time: failures, checkpoints and power swings."""

from __future__ import annotations

import math

import pytest

import dcsim
from dcsim.api import compose_config
from dcsim.config.build import build
from dcsim.hardware import training as tm

DAY_S = 86400.0
# One 64-GPU job that runs for the whole horizon; failure rates scaled up so that the
# statistics are tight in a short test.
LONG_JOB = ["workload=training_only", "~workload.training.finetune_70b", "~workload.training.sft_7b",
            "workload.training.pretrain_8b.gpus=64", "workload.training.pretrain_8b.steps=100000000",
            "workload.training.pretrain_8b.failures=true", "facility.control_interval_s=3600", "output.write=false"]


def job_of(overrides: list[str]):
    return build(compose_config(overrides)).jobs[0]


def test_mean_time_between_interruptions_is_one_over_n_lambda():
    """With per-GPU hazard lambda on N GPUs, interruptions arrive at rate N lambda while the
    job runs: the count over ~1,100 expected matches within 4 standard deviations. Restarts
    take 10 minutes, a third of the wall time, so counting downtime as exposure would show."""
    ov = LONG_JOB + ["workload.training.pretrain_8b.failure_rate_scale=3000", "duration_s=" + str(20 * DAY_S),
                     "workload.training.pretrain_8b.checkpoint=fixed", "workload.training.pretrain_8b.restart_s=600"]
    spec = job_of(ov)
    r = dcsim.run(ov)
    job = r.frames()["jobs"].iloc[0]
    rate = spec.failure_rate_per_s
    assert rate == pytest.approx(64 * tm.interruption_rate_per_s(1) * 3000, rel=1e-9)
    down_s = job["restarts"] * (spec.restart_s + spec.reload_s)
    ckpt_s = (r.until_s / spec.checkpoint_interval_s) * spec.checkpoint_write_s  # upper bound on sync stalls
    running_s = r.until_s - down_s
    expected = running_s * rate
    assert expected > 1000
    assert abs(job["restarts"] - expected) < 4 * math.sqrt(expected) + ckpt_s * rate


def waste(interval_s: float, scale: float) -> float:
    ov = LONG_JOB + [f"workload.training.pretrain_8b.failure_rate_scale={scale}", f"duration_s={20 * DAY_S}",
                     "workload.training.pretrain_8b.checkpoint=fixed",
                     f"workload.training.pretrain_8b.checkpoint_interval_s={interval_s}",
                     "workload.training.pretrain_8b.restart_s=60"]
    return 1.0 - float(dcsim.run(ov).frames()["jobs"].iloc[0]["effective_share"])


def test_waste_is_least_at_the_young_daly_interval():
    """Simulated waste (1 - productive share of wall time) against checkpoint interval has
    its minimum at the Young/Daly interval: lower there than at half or twice it, and
    within 15 % of the first-order model's value."""
    scale = 3000.0
    spec = job_of(LONG_JOB + [f"workload.training.pretrain_8b.failure_rate_scale={scale}",
                              "workload.training.pretrain_8b.checkpoint=young_daly",
                              "workload.training.pretrain_8b.restart_s=60"])
    yd = spec.checkpoint_interval_s
    w = {k: waste(k * yd, scale) for k in (0.5, 1.0, 2.0)}
    assert w[1.0] < w[0.5] and w[1.0] < w[2.0]
    model = tm.expected_waste_fraction(yd, spec.checkpoint_write_s, spec.restart_s + spec.reload_s,
                                       1.0 / spec.failure_rate_per_s)
    assert w[1.0] == pytest.approx(model, rel=0.15)


def test_productive_time_counts_capped_steps_at_the_speed_they_ran():
    """A job with no failures or checkpoints is productive all the time it runs, even when
    a demand-response window caps it for half an hour: effective share 1 and fewer steps done
    than uncapped (the window slowed them); goodput counts the steps at full speed, so less
    than GPUs x wall time (tests/test_goodput.py integrates it)."""
    ov = ["workload=training_only", "~workload.training.finetune_70b", "~workload.training.sft_7b",
          "workload.training.pretrain_8b.gpus=64", "workload.training.pretrain_8b.steps=100000000",
          "workload.training.pretrain_8b.checkpoint=none", "duration_s=7200", "output.write=false",
          "facility.power.policy=priority",
          "+facility.grid.demand_response=[{start_s: 1800, duration_s: 1800, limit_kw: 60}]"]
    r = dcsim.run(ov)
    job = r.frames()["jobs"].iloc[0]
    assert job["t_start_s"] == 0.0 and job["lost_gpu_s"] == 0.0
    assert job["effective_share"] == pytest.approx(1.0, rel=1e-12)
    uncapped_steps = 7200 / job["step_time_s"]  # the step time at the end is the uncapped one
    assert job["steps_done"] < 0.9 * uncapped_steps
    goodput_h = r.summary()["training_goodput_gpu_hours"]
    assert goodput_h == pytest.approx(64 * job["useful_s"] / 3600, rel=1e-12)
    assert goodput_h < 0.9 * 64 * 7200 / 3600


SWING = ["workload=training_only", "~workload.training.finetune_70b", "~workload.training.sft_7b",
         "workload.training.pretrain_8b.gpus=128", "workload.training.pretrain_8b.power_swing=true",
         "workload.training.pretrain_8b.comm_overlap=0",
         "facility.control_interval_s=1", "duration_s=600", "output.write=false"]


def test_one_second_series_shows_the_step_power_swing_and_storage_smooths_it():
    """Sampled every second, facility power swings with the training step; a battery that
    smooths the grid draw cuts the swing seen at the utility meter by more than half."""
    free = dcsim.run(SWING).summary()
    spec = job_of(SWING)
    assert spec.step.exposed_comm_s > 0
    assert free["power_swing_rack_w"] > 0 and free["power_swing_facility_w"] > 10e3
    assert free["power_swing_grid_w"] == pytest.approx(free["power_swing_facility_w"])
    stored = dcsim.run(SWING + ["facility.storage.capacity_kwh=50", "facility.storage.max_power_kw=100",
                                "facility.storage.tau_s=60"]).summary()
    assert stored["power_swing_facility_w"] == pytest.approx(free["power_swing_facility_w"], rel=1e-6)
    assert stored["power_swing_grid_w"] < 0.5 * stored["power_swing_facility_w"]
    assert stored["grid_energy_j"] == pytest.approx(stored["facility_energy_j"], rel=0.02)
