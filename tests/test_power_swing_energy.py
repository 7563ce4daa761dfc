"""Power swing redistributes a training step's power between its phases, never its energy or time."""

from __future__ import annotations

import pytest

import dcsim
from dcsim.workloads.training.job import COMM_PHASE_ACTIVITY, swing_phase_powers_w

# One 128-GPU job without compute-communication overlap (a large exposed communication
# share, where the swing matters most), sampled every second, run to completion.
JOB = ["workload=training_only", "~workload.training.finetune_70b", "~workload.training.sft_7b",
       "workload.training.pretrain_8b.gpus=128", "workload.training.pretrain_8b.comm_overlap=0",
       "workload.training.pretrain_8b.steps=60", "facility.control_interval_s=1", "duration_s=900",
       "output.write=false"]


def test_phase_powers_keep_the_step_mean_and_the_comm_phase_activity():
    """700 W training mean, 100 W idle, a 6 s compute and 4 s communication step: the compute
    phase draws idle + 600 x 10 / (6 + 0.3 x 4) = 933.3 W (no ceiling here), the comm phase
    idle + 0.3 x 833.3 W, and the time-weighted mean is 700 W."""
    compute_w, comm_w = swing_phase_powers_w(700.0, 100.0, 1e9, 6.0, 4.0)
    assert compute_w == pytest.approx(100.0 + 600.0 * 10.0 / 7.2, rel=1e-12)
    assert comm_w == pytest.approx(100.0 + COMM_PHASE_ACTIVITY * (compute_w - 100.0), rel=1e-12)
    assert (6.0 * compute_w + 4.0 * comm_w) / 10.0 == pytest.approx(700.0, rel=1e-12)


def test_phase_powers_never_pass_the_ceiling_and_still_keep_the_mean():
    """Under a 750 W ceiling the compute phase draws 750 W and the comm phase the rest of the
    step's energy: (700 x 10 - 750 x 6) / 4 = 625 W."""
    compute_w, comm_w = swing_phase_powers_w(700.0, 100.0, 750.0, 6.0, 4.0)
    assert compute_w == 750.0
    assert comm_w == pytest.approx(625.0, rel=1e-12)
    assert swing_phase_powers_w(700.0, 100.0, 750.0, 10.0, 0.0) == (700.0, 700.0)  # no comm phase: no swing


def _job(overrides: list[str]):
    r = dcsim.run(overrides)
    return r.frames()["jobs"].iloc[0], r.summary()


@pytest.mark.parametrize("extra", [[], ["power_policy=static", "facility.power.static_cap_w=450"]],
                         ids=["uncapped", "capped_450w"])
def test_job_energy_and_completion_are_the_same_with_and_without_power_swing(extra):
    """The same job, with and without the swing (uncapped, and under a 450 W static cap): the
    same completion time, GPU energy within 1e-3."""
    flat, flat_s = _job(JOB + extra)
    swung, swung_s = _job(JOB + extra + ["workload.training.pretrain_8b.power_swing=true"])
    assert flat["status"] == swung["status"] == "completed"
    assert swung["t_end_s"] == pytest.approx(flat["t_end_s"], rel=1e-12)
    assert swung["energy_j"] == pytest.approx(flat["energy_j"], rel=1e-3)
    assert swung_s["gpu_energy_j"] == pytest.approx(flat_s["gpu_energy_j"], rel=1e-3)


def test_the_swing_still_shows_in_the_one_second_series():
    """While the job runs the whole horizon, IT power without the swing is flat and with it
    swings by more than 10 kW between the phases (128 GPUs)."""
    window = JOB + ["duration_s=200"]
    flat = _job(window)[1]
    swung = _job(window + ["workload.training.pretrain_8b.power_swing=true"])[1]
    assert flat["power_swing_it_w"] < 1e3
    assert swung["power_swing_it_w"] > 10e3
