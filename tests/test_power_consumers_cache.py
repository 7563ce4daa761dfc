"""The power controller's consumers, kept between decisions, are those a rebuild gives."""

from __future__ import annotations

import dcsim
from dcsim.workloads.power_control import PowerController

# autoscaled replicas load their model after the grant (their owner comes later), training
# jobs start, fail and restart, and a budget makes the proportional policy cap them
OVERRIDES = ["workload=harvest", "facility.num_racks=2", "facility.control_interval_s=60", "duration_s=2400",
             "workload.services.chat.arrival_rate_per_s=6.0", "workload.services.chat.replicas=2",
             "workload.services.chat.autoscale.max_replicas=4", "workload.services.chat.autoscale.model_load_s=90",
             "workload.services.chat.autoscale.target=2.0", "facility.power.policy=proportional",
             "facility.power.budget_kw=60", "workload.training.pretrain_8b_a.failures=true",
             "workload.training.pretrain_8b_a.failure_rate_scale=2000", "workload.training.pretrain_8b_a.restart_s=30"]


def test_kept_consumers_decide_as_rebuilt_ones(monkeypatch):
    kept = dcsim.run(OVERRIDES)
    monkeypatch.setattr(PowerController, "_consumers", PowerController._build_consumers)
    rebuilt = dcsim.run(OVERRIDES)
    assert kept.summary()["throttled_gpu_hours"] > 0  # the caps bind, so stale consumers would show
    assert repr(kept.summary()) == repr(rebuilt.summary())
    assert kept.frames()["events"].equals(rebuilt.frames()["events"])
