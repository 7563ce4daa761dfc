"""Power-capping policies, decided from a view without a simulation."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dcsim.policies.power import (
    DEFAULT_PRIORITY,
    PowerConsumer,
    PowerView,
    PriorityCapping,
    ProportionalCapping,
    StaticCap,
    draw_w,
    projected_w,
)
from dcsim.policies.registry import POWER_POLICIES

MIN_W, TDP_W = 200.0, 700.0  # H100 SXM: power limit range 200-700 W


def consumer(work_id, kind="training", gpus=8, uncapped=650.0, cap=None, priority=None):
    return PowerConsumer(work_id, kind, DEFAULT_PRIORITY[kind] if priority is None else priority, gpus, uncapped, cap)


def view(consumers, budget, fixed=10_000.0):
    consumers = tuple(consumers)
    it = fixed + sum(draw_w(c, c.cap_w_per_gpu) for c in consumers)
    return PowerView(budget, it, fixed, consumers, MIN_W, TDP_W)


def apply(v: PowerView, changes) -> PowerView:
    """The view after the facility applies ``changes`` (same demand)."""
    cs = tuple(PowerConsumer(c.work_id, c.kind, c.priority, c.gpus, c.uncapped_w_per_gpu,
                             changes.get(c.work_id, c.cap_w_per_gpu)) for c in v.consumers)
    return PowerView(v.budget_w, v.it_power_w, v.fixed_w, cs, v.gpu_min_cap_w, v.gpu_tdp_w)


def caps_after(v, changes):
    return {c.work_id: changes.get(c.work_id, c.cap_w_per_gpu) for c in v.consumers}


MIXED = [consumer(1, "training", 64, 680.0), consumer(2, "training", 32, 600.0),
         consumer(3, "inference", 16, 450.0), consumer(4, "inference", 8, 300.0)]
DEMAND_W = 10_000.0 + 64 * 680 + 32 * 600 + 16 * 450 + 8 * 300


def test_registry_names():
    assert {"none", "static", "proportional", "priority"} <= set(POWER_POLICIES)


def test_none_never_caps_and_lifts_existing_caps():
    v = view([consumer(1, cap=300.0), consumer(2)], budget=1.0)
    assert POWER_POLICIES["none"]().decide(v) == {1: None}


def test_static_caps_everything_once_clamped_to_the_gpu_range():
    v = view(MIXED, budget=None)
    assert StaticCap(400.0).decide(v) == {1: 400.0, 2: 400.0, 3: 400.0, 4: 400.0}
    assert StaticCap(400.0).decide(apply(v, {i: 400.0 for i in (1, 2, 3, 4)})) == {}
    assert set(StaticCap(5000.0).decide(v).values()) == {TDP_W}
    assert set(StaticCap(50.0).decide(v).values()) == {MIN_W}


@pytest.mark.parametrize("cls", [ProportionalCapping, PriorityCapping])
def test_no_caps_under_the_budget_or_without_one(cls):
    assert cls().decide(view(MIXED, budget=None)) == {}
    assert cls().decide(view(MIXED, budget=DEMAND_W)) == {}


@pytest.mark.parametrize("cls", [ProportionalCapping, PriorityCapping])
@pytest.mark.parametrize("share", [0.95, 0.8, 0.6])
def test_caps_meet_a_feasible_budget(cls, share):
    budget = share * DEMAND_W
    v = view(MIXED, budget)
    policy = cls()
    changes = policy.decide(v)
    caps = caps_after(v, changes)
    assert projected_w(v, caps) <= budget
    assert policy.last_plan.shortfall_w == 0
    # Rounding down to whole watts wastes at most one watt per GPU.
    assert projected_w(v, caps) > budget - sum(c.gpus for c in MIXED)


def test_proportional_takes_the_same_share_of_everyone_s_dynamic_power():
    v = view(MIXED, 0.8 * DEMAND_W)
    caps = caps_after(v, ProportionalCapping(cap_step_w=0).decide(v))
    kept = [(caps[c.work_id] - MIN_W) / (c.uncapped_w_per_gpu - MIN_W) for c in MIXED]
    assert kept == pytest.approx([kept[0]] * 4)
    assert projected_w(v, caps) == pytest.approx(0.8 * DEMAND_W)


def test_priority_slows_training_first_and_inference_only_once_training_is_at_the_minimum():
    dyn_training = 64 * (680 - MIN_W) + 32 * (600 - MIN_W)
    # Less than training's dynamic power to shed: inference untouched.
    v = view(MIXED, DEMAND_W - 0.5 * dyn_training)
    caps = caps_after(v, PriorityCapping().decide(v))
    assert caps[3] is None and caps[4] is None
    assert caps[1] is not None and caps[1] > MIN_W and caps[2] > MIN_W
    # More than training can give: training at the minimum, then inference.
    v = view(MIXED, DEMAND_W - dyn_training - 1000.0)
    caps = caps_after(v, PriorityCapping().decide(v))
    assert caps[1] == caps[2] == MIN_W
    assert caps[3] is not None and MIN_W < caps[3] < 450.0
    assert projected_w(v, caps) <= v.budget_w


def test_priority_is_the_configured_order_not_the_kind():
    cs = [consumer(1, "training", priority=5), consumer(2, "inference", priority=1)]
    v = view(cs, 10_000.0 + 8 * 650 + 8 * 500)
    caps = caps_after(v, PriorityCapping().decide(v))
    assert caps[1] is None and caps[2] is not None


@pytest.mark.parametrize("cls", [ProportionalCapping, PriorityCapping])
def test_infeasible_budget_sets_every_cap_to_the_minimum_and_reports_the_shortfall(cls):
    floor_w = 10_000.0 + sum(c.gpus for c in MIXED) * MIN_W
    v = view(MIXED, floor_w - 5_000.0)
    policy = cls()
    caps = caps_after(v, policy.decide(v))
    assert set(caps.values()) == {MIN_W}
    assert policy.last_plan.shortfall_w == pytest.approx(5_000.0)


@pytest.mark.parametrize("cls", [ProportionalCapping, PriorityCapping])
def test_caps_are_lifted_when_load_falls_with_hysteresis(cls):
    """Timeline: over budget -> capped; demand back inside the band -> caps kept; well below -> lifted."""
    budget = 0.8 * DEMAND_W
    policy = cls(hysteresis=0.05)
    v = view(MIXED, budget)
    v = apply(v, policy.decide(v))
    capped = caps_after(v, {})
    assert all(cap is not None for cap in list(capped.values())[:2])
    # Same demand next interval: nothing changes (no flapping).
    assert policy.decide(v) == {}
    # Demand falls to just under the budget: inside the band, caps may only rise, and stay in budget.
    def with_demand(v, factor):
        cs = tuple(PowerConsumer(c.work_id, c.kind, c.priority, c.gpus, c.uncapped_w_per_gpu * factor,
                                 c.cap_w_per_gpu) for c in v.consumers)
        return PowerView(v.budget_w, v.it_power_w, v.fixed_w, cs, v.gpu_min_cap_w, v.gpu_tdp_w)
    band = with_demand(v, 0.78)
    changes = policy.decide(band)
    after = caps_after(band, changes)
    for wid, cap in after.items():
        assert capped[wid] is None or cap is None or cap >= capped[wid]
    assert projected_w(band, after) <= budget
    # Demand well below the band: every cap lifted.
    low = with_demand(apply(band, changes), 0.6)
    assert all(cap is None for cap in caps_after(low, policy.decide(low)).values())


@pytest.mark.parametrize("cls", [ProportionalCapping, PriorityCapping])
def test_decisions_are_deterministic(cls):
    v = view(MIXED, 0.7 * DEMAND_W)
    assert cls().decide(v) == cls().decide(v)
    # Same consumers in another order: the same caps per work_id.
    rev = PowerView(v.budget_w, v.it_power_w, v.fixed_w, tuple(reversed(v.consumers)), MIN_W, TDP_W)
    assert cls().decide(rev) == cls().decide(v)


@st.composite
def views(draw):
    n = draw(st.integers(1, 8))
    cs = []
    for i in range(n):
        kind = draw(st.sampled_from(["training", "inference"]))
        uncapped = draw(st.floats(50.0, 750.0))
        cap = draw(st.one_of(st.none(), st.floats(MIN_W, TDP_W)))
        cs.append(PowerConsumer(i, kind, DEFAULT_PRIORITY[kind], draw(st.integers(1, 64)), uncapped, cap))
    fixed = draw(st.floats(0.0, 50_000.0))
    demand = fixed + sum(c.gpus * c.uncapped_w_per_gpu for c in cs)
    budget = draw(st.one_of(st.none(), st.floats(0.3, 1.3).map(lambda f: f * demand)))
    return PowerView(budget, demand, fixed, tuple(cs), MIN_W, TDP_W)


@settings(max_examples=300, deadline=None)
@given(views(), st.sampled_from(["proportional", "priority"]), st.floats(0.0, 0.2))
def test_property_budget_met_when_feasible_and_caps_within_gpu_range(v, name, hysteresis):
    policy = POWER_POLICIES[name](hysteresis=hysteresis)
    changes = policy.decide(v)
    caps = caps_after(v, changes)
    for wid, cap in changes.items():
        assert cap is None or MIN_W <= cap <= TDP_W
        assert cap != next(c.cap_w_per_gpu for c in v.consumers if c.work_id == wid)  # only changed entries
    if v.budget_w is None:
        return
    floor_w = v.fixed_w + sum(c.gpus * min(c.uncapped_w_per_gpu, MIN_W) for c in v.consumers)
    if floor_w <= v.budget_w:
        assert projected_w(v, caps) <= v.budget_w * (1 + 1e-9)
        assert policy.last_plan.shortfall_w == 0
    else:
        assert policy.last_plan.shortfall_w > 0
    assert policy.decide(v) == changes  # deterministic


@pytest.mark.parametrize("cls", [ProportionalCapping, PriorityCapping])
def test_demand_just_under_the_budget_keeps_caps_on(cls):
    """Hysteresis: caps come off only once demand is ``hysteresis`` below the budget, not at the budget."""
    budget = 0.9 * DEMAND_W
    policy = cls(hysteresis=0.05)
    v = view(MIXED, budget)
    v = apply(v, policy.decide(v))
    # Demand now 2 % under the budget (inside the 5 % band): the caps stay (they may rise, not vanish).
    cs = [PowerConsumer(c.work_id, c.kind, c.priority, c.gpus, c.uncapped_w_per_gpu, c.cap_w_per_gpu)
          for c in v.consumers]
    fixed = budget * 0.98 - sum(c.gpus * c.uncapped_w_per_gpu for c in cs)
    inside = PowerView(budget, v.it_power_w, fixed, tuple(cs), MIN_W, TDP_W)
    caps = caps_after(inside, policy.decide(inside))
    assert any(cap is not None for cap in caps.values())
    # 6 % under: all lifted.
    below = PowerView(budget, v.it_power_w, fixed - 0.04 * budget, tuple(cs), MIN_W, TDP_W)
    assert all(cap is None for cap in caps_after(below, policy.decide(below)).values())


@pytest.mark.parametrize("cls", [ProportionalCapping, PriorityCapping])
def test_caps_stay_within_the_gpu_range_at_the_edges(cls):
    """A draw above TDP (a transient) never yields a cap above TDP; rounding never goes below the minimum."""
    hot = [consumer(1, "training", 8, 720.0)]
    v = view(hot, 10_000.0 + 8 * 720.0 - 1.0)
    caps = caps_after(v, cls().decide(v))
    assert caps[1] is not None and caps[1] <= TDP_W
    odd_min = PowerView(1.0, 0.0, 0.0, (consumer(1, "training", 8, 650.0),), 200.5, TDP_W)
    assert cls().decide(odd_min) == {1: 200.5}
