"""Power admission lets in what capping can serve and refuses only what no cap could fit."""

from __future__ import annotations

import math

import pytest

import dcsim
from dcsim.api import compose_config
from dcsim.config.build import build
from dcsim.policies import SCHEDULERS
from dcsim.policies.scheduling import ClusterView, QueuedWork

# The three-job queue (two 64-GPU jobs at t = 0 and 300 s, a 32-GPU one at 600 s) under an
# 80 kW facility budget: at full power not even the first job fits it; at the H100's
# minimum cap the first does and the second does not.
TIGHT = ["workload=training_only", "facility.power.budget_kw=80", "duration_s=1800", "output.write=false"]
ADMIT = ["scheduler.power_admission=true"]
CAPPING = ["power_policy=proportional"]


def _run(overrides: list[str]):
    f = dcsim.run(overrides).frames()
    fac = f["timeseries"][f["timeseries"]["component"] == "facility"]
    events = f["events"]
    return f["jobs"].set_index("name"), fac, events


def test_a_queued_work_is_admitted_by_its_power_at_the_minimum_cap():
    """Headroom 5 kW: work drawing 10 kW at full power but 4 kW at the minimum cap is let in,
    by every scheduler; the next such work is not (4 + 4 > 5); without an admission figure the
    10 kW work is refused, as before."""
    queue = tuple(QueuedWork(i, 8, extra_power_w=10e3, admit_power_w=4e3) for i in (1, 2))
    v = ClusterView(8, (8, 8, 8), queue, power_headroom_w=5e3)
    full = ClusterView(8, (8, 8, 8), tuple(QueuedWork(i, 8, extra_power_w=10e3) for i in (1, 2)),
                       power_headroom_w=5e3)
    for name in sorted(SCHEDULERS):
        assert [p.work_id for p in SCHEDULERS[name]().decide(v)] == [1], name
        assert SCHEDULERS[name]().decide(full) == [], name


def test_capping_admission_starts_the_job_the_budget_can_serve_capped():
    """Under the 80 kW budget, admission counting full power (no capping policy) starts
    nothing; with a capping policy it starts pretrain_8b at once and the policy caps it
    between the GPU's minimum cap and its training power; IT power stays within its budget
    at every tick and the minimum caps always fit (no budget_infeasible event)."""
    spec = build(compose_config(TIGHT + ADMIT + CAPPING))
    idle_jobs, _, _ = _run(TIGHT + ADMIT)
    assert idle_jobs["t_start_s"].isna().all()
    jobs, fac, events = _run(TIGHT + ADMIT + CAPPING)
    assert jobs.loc["pretrain_8b", "t_start_s"] == 0.0
    caps = events[events["record_type"] == "cap"]["value"]
    assert len(caps) > 0
    assert caps.min() >= spec.gpu_min_cap_w and caps.max() < spec.device.training_w()
    assert float((fac["it_power_w"] - fac["it_budget_w"]).max()) <= 1e-6 * float(fac["it_budget_w"].max())
    assert (events["record_type"] == "budget_infeasible").sum() == 0
    assert jobs.loc["pretrain_8b", "useful_s"] > 0


def test_capping_admission_refuses_what_no_cap_could_fit():
    """Without admission the second 64-GPU job starts at 300 s and the controller reports
    that the GPUs at their minimum cap exceed the budget; with admission it waits (it would
    not fit at any cap), and no such report is ever made."""
    free_jobs, _, free_events = _run(TIGHT + CAPPING)
    assert free_jobs.loc["finetune_70b", "t_start_s"] == pytest.approx(300.0)
    infeasible = free_events[free_events["record_type"] == "budget_infeasible"]
    assert len(infeasible) > 0 and infeasible["t_s"].min() >= 300.0
    jobs, _, events = _run(TIGHT + ADMIT + CAPPING)
    assert math.isnan(jobs.loc["finetune_70b", "t_start_s"])
    assert (events["record_type"] == "budget_infeasible").sum() == 0
