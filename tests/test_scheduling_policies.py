"""Scheduling policies decide from constructed views: no simulation.

What users rely on: EASY backfill never delays the head's reservation; FIFO blocks behind
its head; priority scheduling preempts only lower-priority preemptible work, and as little
of it as needed; inference-first preempts training for inference; placements pick the
racks they promise; decisions never overcommit a node nor the power headroom.
"""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from dcsim.policies import PLACEMENTS, SCHEDULERS
from dcsim.policies.scheduling import (
    ClusterView,
    EasyBackfillScheduler,
    FifoScheduler,
    InferenceFirstScheduler,
    PackPlacement,
    Placement,
    PowerAwarePlacement,
    Preemption,
    PriorityScheduler,
    QueuedWork,
    RunningWork,
    SpreadPlacement,
    ThermalAwarePlacement,
)

INF = math.inf
PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# -- helpers ----------------------------------------------------------------------------------
def cluster(free, queue=(), running=(), g=8, npr=1, **kw) -> ClusterView:
    return ClusterView(g, tuple(free), tuple(queue), running=tuple(running), nodes_per_rack=npr, **kw)


def q(work_id, gpus, runtime_s=INF, **kw) -> QueuedWork:
    return QueuedWork(work_id, gpus, runtime_s=runtime_s, **kw)


def run(work_id, nodes, end=INF, kind="training", priority=0, **kw) -> RunningWork:
    nodes = tuple(nodes)
    return RunningWork(work_id, sum(c for _, c in nodes), kind, priority, nodes, expected_end_s=end, **kw)


def placements(decisions) -> list[Placement]:
    return [d for d in decisions if isinstance(d, Placement)]


def preempted(decisions) -> list[int]:
    return [d.work_id for d in decisions if isinstance(d, Preemption)]


def used_by_node(decisions) -> dict[int, int]:
    used: dict[int, int] = {}
    for p in placements(decisions):
        for node, count in p.nodes:
            used[node] = used.get(node, 0) + count
    return used


def racks_of(nodes, npr) -> set[int]:
    return {n // npr for n, _ in nodes}


# -- 1. EASY backfill: the head's reservation ------------------------------------------------
def easy_view(*rest: QueuedWork) -> ClusterView:
    """4 nodes x 8 GPUs. Nodes 0 and 1 busy until t=100 and t=200; node 2 has 4 GPUs busy
    until t=300 (4 free now); node 3 free. The head needs 3 whole nodes: at t=100 only
    nodes 0 and 3 are whole, at t=200 nodes 0, 1 and 3 are, so its shadow time is 200."""
    running = (run(50, [(0, 8)], end=100), run(51, [(1, 8)], end=200), run(52, [(2, 4)], end=300))
    return cluster([0, 0, 4, 8], (q(1, 24, runtime_s=500),) + rest, running)


def test_reservation_is_the_shadow_time_and_the_free_gpus_then():
    """The head's shadow time is the earliest expected end after which it fits."""
    v = easy_view()
    shadow, at = EasyBackfillScheduler().reservation(v.queue[0], list(v.free_by_node), v)
    assert shadow == 200
    assert at == [8, 8, 4, 8]


def test_reservation_is_infinite_when_the_head_never_fits_on_finite_work():
    """Work of unknown run time (inference replicas) never frees its GPUs for a reservation."""
    v = cluster([0, 8], [q(1, 16)], [run(50, [(0, 8)], end=INF, kind="inference")])
    shadow, at = EasyBackfillScheduler().reservation(v.queue[0], [0, 8], v)
    assert shadow == INF and at == [0, 8]


def test_easy_backfills_short_work_that_ends_before_the_shadow_time():
    """A 1-node job of 50 s fits now on node 3 and ends (t=50) before the head's shadow (200)."""
    out = EasyBackfillScheduler().decide(easy_view(q(2, 8, runtime_s=50)))
    assert out == [Placement(2, ((3, 8),))]


def test_easy_does_not_backfill_long_work_on_a_node_the_head_needs():
    """A 1000 s job on node 3 would still hold it at t=200, when the head needs it."""
    assert EasyBackfillScheduler().decide(easy_view(q(2, 8, runtime_s=1000))) == []


def test_easy_does_not_backfill_work_of_unknown_run_time_on_a_node_the_head_needs():
    """Unknown run time counts as never ending."""
    assert EasyBackfillScheduler().decide(easy_view(q(2, 8))) == []


def test_easy_backfills_long_work_on_nodes_the_head_does_not_need():
    """A long 4-GPU job on node 2 (busy until 300 anyway) leaves nodes 0, 1, 3 for the head."""
    out = EasyBackfillScheduler().decide(easy_view(q(2, 4, runtime_s=1000)))
    assert out == [Placement(2, ((2, 4),))]


def test_easy_mixed_queue_skips_only_what_would_delay_the_head():
    """Long 1-node work is skipped, later work that is safe still starts (no blocking)."""
    v = easy_view(q(2, 8, runtime_s=1000), q(3, 4, runtime_s=1000), q(4, 8, runtime_s=50))
    out = EasyBackfillScheduler().decide(v)
    assert out == [Placement(3, ((2, 4),)), Placement(4, ((3, 8),))]
    # after the decision the head's reservation is unchanged
    free = [f - used_by_node(out).get(n, 0) for n, f in enumerate(v.free_by_node)]
    after = replace(v, running=v.running + (run(3, [(2, 4)], end=1000), run(4, [(3, 8)], end=50)))
    assert EasyBackfillScheduler().reservation(v.queue[0], free, after)[0] == 200


def test_easy_backfill_keeps_taking_safe_long_work_until_the_reservation_is_full():
    """Two long 4-GPU jobs: the first fits on node 2 (not needed by the head), the second
    would take node 3 at the shadow time and is refused."""
    v = easy_view(q(2, 4, runtime_s=1000), q(3, 4, runtime_s=1000))
    assert EasyBackfillScheduler().decide(v) == [Placement(2, ((2, 4),))]


def test_easy_starts_the_fifo_prefix_first():
    """Work at the front that fits starts in order, as with FIFO."""
    v = cluster([8, 8, 8], [q(1, 8), q(2, 8), q(3, 8)])
    assert EasyBackfillScheduler().decide(v) == FifoScheduler().decide(v) == [
        Placement(1, ((0, 8),)), Placement(2, ((1, 8),)), Placement(3, ((2, 8),))]


def test_easy_reservation_counts_work_started_in_the_same_decision():
    """2 nodes, nothing running. X (8 GPUs, 50 s) starts on node 0; the head H needs both
    nodes, so its shadow time is t=50 (when X ends). Y (8 GPUs, 1000 s) would hold node 1
    until t=1000 and must not be backfilled."""
    v = cluster([8, 8], [q(1, 8, runtime_s=50), q(2, 16, runtime_s=100), q(3, 8, runtime_s=1000)])
    out = EasyBackfillScheduler().decide(v)
    assert out == [Placement(1, ((0, 8),))]


# -- property: backfill never makes the head's shadow time later ------------------------------
DIVISORS = {2: [1, 2], 4: [1, 2, 4], 8: [1, 2, 4, 8]}


@st.composite
def views(draw, power=True, busy=False):
    """A small consistent cluster: running work placed on it, a queue, rack power and
    temperature, a power headroom. ``busy``: some running work, mostly
    with known ends, and small work behind the head (EASY backfill cases)."""
    g = draw(st.sampled_from([2, 4, 8]))
    npr = draw(st.integers(1, 3))
    n_nodes = draw(st.integers(1, 8))
    sizes = DIVISORS[g] + [k * g for k in range(2, n_nodes + 1)]
    n_racks = -(-n_nodes // npr)
    free = [g] * n_nodes
    base = ClusterView(g, tuple(free), (), nodes_per_rack=npr)
    place = draw(st.sampled_from([PackPlacement(), SpreadPlacement()]))
    running = []
    ends = [10.0, 50.0, 100.0, 200.0, 500.0] + ([] if busy else [INF])
    for i in range(draw(st.integers(1 if busy else 0, 5 if busy else 8))):
        nodes = place.place(draw(st.sampled_from(sizes)), free, base)
        if nodes is None:
            continue
        for node, count in nodes:
            free[node] -= count
        preemptible = draw(st.booleans())
        running.append(RunningWork(
            1000 + i, sum(c for _, c in nodes), draw(st.sampled_from(["training", "inference"])),
            draw(st.integers(0, 3)), nodes,
            expected_end_s=draw(st.sampled_from(ends)) if not busy or draw(st.integers(0, 5)) else INF,
            t_start_s=draw(st.sampled_from([0.0, 1.0, 2.0])), preemptible=preemptible,
            releasing=preemptible and draw(st.integers(0, 4)) == 0))
    small = DIVISORS[g] + [2 * g]  # busy: work behind the head is small, so it may backfill
    queue = tuple(
        QueuedWork(i, draw(st.sampled_from(sizes if i == 0 or not busy else small)),
                   draw(st.sampled_from(["training", "inference"])), draw(st.integers(0, 3)), float(i),
                   draw(st.sampled_from([5.0, 50.0, 150.0, 1000.0, INF])),
                   draw(st.sampled_from([0.0, 100.0, 400.0])) if power else 0.0)
        for i in range(draw(st.integers(1, 6))))
    return ClusterView(
        g, tuple(free), queue, now_s=0.0, running=tuple(running), nodes_per_rack=npr,
        rack_power_w=tuple(draw(st.sampled_from([0.0, 300.0, 700.0])) for _ in range(n_racks)),
        rack_limit_w=draw(st.sampled_from([INF, 1000.0])) if power else INF,
        rack_temp_c=tuple(draw(st.sampled_from([30.0, 40.0, 50.0])) for _ in range(n_racks)),
        power_headroom_w=draw(st.sampled_from([INF, 0.0, 500.0, 1000.0])) if power else INF)


@PROPERTY
@given(views(power=False, busy=True), st.sampled_from(sorted(PLACEMENTS)))
def test_property_easy_backfill_never_makes_the_head_later(v, placement):
    """With the head at the front of the queue (it does not fit now), treat backfilled work
    as running until now + its run time: the head's shadow time is never later."""
    sched = EasyBackfillScheduler(placement=PLACEMENTS[placement]())
    out = sched.decide(v)
    head = v.queue[0]
    assume(all(p.work_id != head.work_id for p in placements(out)))  # the head is blocked
    before, _ = sched.reservation(head, list(v.free_by_node), v)
    used = used_by_node(out)
    free = [f - used.get(n, 0) for n, f in enumerate(v.free_by_node)]
    assert min(free, default=0) >= 0
    by_id = {w.work_id: w for w in v.queue}
    started = tuple(RunningWork(p.work_id, by_id[p.work_id].gpus, "training", 0, p.nodes,
                                expected_end_s=v.now_s + by_id[p.work_id].runtime_s) for p in placements(out))
    after, _ = sched.reservation(head, free, replace(v, running=v.running + started))
    assert after <= before


# -- 2. FIFO blocks, EASY does not ------------------------------------------------------------
def test_fifo_blocks_behind_the_head_easy_backfill_does_not():
    v = easy_view(q(2, 8, runtime_s=50))
    assert FifoScheduler().decide(v) == []
    assert EasyBackfillScheduler().decide(v) == [Placement(2, ((3, 8),))]


def test_fifo_starts_in_order_and_stops_at_the_first_that_does_not_fit():
    v = cluster([8, 4, 8], [q(1, 4), q(2, 8), q(3, 16), q(4, 1)])
    assert FifoScheduler().decide(v) == [Placement(1, ((1, 4),)), Placement(2, ((0, 8),))]


# -- 3. priority with preemption --------------------------------------------------------------
def test_priority_starts_highest_priority_first_then_submission_order():
    v = cluster([8, 8, 8], [q(1, 8, priority=0), q(2, 8, priority=5, t_submit_s=2.0),
                            q(3, 8, priority=5, t_submit_s=1.0)])
    assert [p.work_id for p in PriorityScheduler().decide(v)] == [3, 2, 1]


def two_busy_nodes(*queue, a=None, b=None):
    """2 nodes, both full: A (priority 0, started at 0) on node 0, B (priority 0, started
    at 10) on node 1, both preemptible unless overridden."""
    a = run(10, [(0, 8)], priority=0, t_start_s=0.0, preemptible=True) if a is None else a
    b = run(11, [(1, 8)], priority=0, t_start_s=10.0, preemptible=True) if b is None else b
    return cluster([0, 0], queue, [a, b])


def test_priority_preempts_the_latest_started_when_one_victim_is_enough():
    assert PriorityScheduler().decide(two_busy_nodes(q(1, 8, priority=5))) == [Preemption(11, "for work 1")]


def test_priority_preempts_as_many_as_needed():
    assert preempted(PriorityScheduler().decide(two_busy_nodes(q(1, 16, priority=5)))) == [11, 10]


def test_priority_preempts_the_lowest_priority_first():
    """A (priority 0, started first) goes before B (priority 1, started later)."""
    v = two_busy_nodes(q(1, 8, priority=5), b=run(11, [(1, 8)], priority=1, t_start_s=10.0, preemptible=True))
    assert preempted(PriorityScheduler().decide(v)) == [10]


def test_priority_never_preempts_equal_or_higher_priority():
    a = run(10, [(0, 8)], priority=5, preemptible=True)
    b = run(11, [(1, 8)], priority=7, preemptible=True)
    assert PriorityScheduler().decide(two_busy_nodes(q(1, 8, priority=5), a=a, b=b)) == []


def test_priority_never_preempts_non_preemptible_work():
    a = run(10, [(0, 8)], priority=0, preemptible=False)
    b = run(11, [(1, 8)], priority=0, preemptible=False)
    assert PriorityScheduler().decide(two_busy_nodes(q(1, 8, priority=5), a=a, b=b)) == []


def test_priority_skips_non_preemptible_and_preempts_the_other():
    """B (latest started) cannot be preempted, so A is."""
    b = run(11, [(1, 8)], priority=0, t_start_s=10.0, preemptible=False)
    assert preempted(PriorityScheduler().decide(two_busy_nodes(q(1, 8, priority=5), b=b))) == [10]


def test_priority_does_not_preempt_when_no_victim_set_makes_room():
    """Freeing all that may be preempted is still too little: preempt nothing."""
    b = run(11, [(1, 8)], priority=9, preemptible=True)
    assert PriorityScheduler().decide(two_busy_nodes(q(1, 16, priority=5), b=b)) == []


def test_priority_counts_releasing_work_as_room_on_its_way():
    """A is already checkpointing: its node is coming back, nothing more is preempted."""
    a = run(10, [(0, 8)], priority=0, preemptible=True, releasing=True)
    assert PriorityScheduler().decide(two_busy_nodes(q(1, 8, priority=5), a=a)) == []


def test_priority_preempts_only_what_releasing_work_does_not_cover():
    a = run(10, [(0, 8)], priority=0, preemptible=True, releasing=True)
    assert preempted(PriorityScheduler().decide(two_busy_nodes(q(1, 16, priority=5), a=a))) == [11]


def test_priority_starts_nothing_of_lower_priority_after_a_blocked_top_item():
    """The top item is blocked (and preempts); small lower-priority work that would fit on
    the free node does not start."""
    v = cluster([8, 0, 0], [q(1, 24, priority=5), q(2, 1, priority=0)],
                [run(10, [(1, 8)], preemptible=True), run(11, [(2, 8)], preemptible=True)])
    out = PriorityScheduler().decide(v)
    assert placements(out) == []
    assert sorted(preempted(out)) == [10, 11]


def test_priority_starts_what_fits_before_the_blocked_item():
    v = cluster([8, 0], [q(1, 8, priority=1), q(2, 8, priority=3), q(3, 1, priority=0)],
                [run(10, [(1, 8)], priority=0, preemptible=True)])
    out = PriorityScheduler().decide(v)
    assert out == [Placement(2, ((0, 8),)), Preemption(10, "for work 1")]


def test_priority_preempts_no_work_that_does_not_help():
    """Node 0: A (1 GPU, preemptible, started last) beside C (7 GPUs, not preemptible).
    Node 1: B (8 GPUs, preemptible). An 8-GPU job needs node 1: preempting A frees one
    GPU on a node that stays busy, so only B should be preempted."""
    v = cluster([0, 0], [q(1, 8, priority=5)], [
        run(10, [(0, 1)], priority=0, t_start_s=10.0, preemptible=True),
        run(12, [(0, 7)], priority=0, t_start_s=0.0, preemptible=False),
        run(11, [(1, 8)], priority=0, t_start_s=0.0, preemptible=True)])
    assert preempted(PriorityScheduler().decide(v)) == [11]


# -- 4. inference first -----------------------------------------------------------------------
def test_inference_first_starts_inference_before_earlier_training():
    v = cluster([8, 0], [q(1, 8, kind="training", t_submit_s=0.0), q(2, 8, kind="inference", t_submit_s=1.0)])
    assert InferenceFirstScheduler().decide(v) == [Placement(2, ((0, 8),))]


def test_inference_first_preempts_training_not_inference():
    """Running inference (even preemptible, even started last) is never a victim."""
    v = cluster([0, 0], [q(1, 8, kind="inference")], [
        run(10, [(0, 8)], kind="training", t_start_s=0.0, preemptible=True),
        run(11, [(1, 8)], kind="inference", t_start_s=10.0, preemptible=True)])
    assert InferenceFirstScheduler().decide(v) == [Preemption(10, "for work 1")]


def test_inference_first_ignores_priority_and_never_preempts_for_training():
    """Queued training, however high its priority, does not preempt running training."""
    v = cluster([0], [q(1, 8, kind="training", priority=9)],
                [run(10, [(0, 8)], kind="training", priority=0, preemptible=True)])
    assert InferenceFirstScheduler().decide(v) == []


def test_inference_first_starts_training_in_submission_order_on_what_is_left():
    v = cluster([8, 8, 8], [q(1, 8, t_submit_s=0.0), q(2, 8, kind="inference", t_submit_s=1.0),
                            q(3, 8, t_submit_s=2.0), q(4, 8, t_submit_s=3.0)])
    assert InferenceFirstScheduler().decide(v) == [
        Placement(2, ((0, 8),)), Placement(1, ((1, 8),)), Placement(3, ((2, 8),))]


def test_inference_first_starts_no_training_while_inference_waits():
    """An inference replica that does not fit (nothing to preempt) holds back all training."""
    v = cluster([8, 0], [q(1, 16, kind="inference"), q(2, 8, runtime_s=10)],
                [run(10, [(1, 8)], kind="inference")])
    assert InferenceFirstScheduler().decide(v) == []
    v = replace(v, running=(run(10, [(1, 8)], kind="training", preemptible=True),))
    assert InferenceFirstScheduler().decide(v) == [Preemption(10, "for work 1")]


def test_inference_first_never_delays_the_head_of_the_training_queue():
    """Training behind a blocked training head: later long training that would take the
    head's nodes at its shadow time does not start (FIFO or EASY order for training)."""
    v = easy_view(q(2, 8, runtime_s=1000))
    assert InferenceFirstScheduler().decide(v) == []


def test_inference_first_backfills_training_that_keeps_the_head_on_time():
    """Training runs with EASY backfilling on what inference leaves (the class docstring):
    short training starts beside a blocked training head when it ends before the shadow time."""
    v = easy_view(q(2, 8, runtime_s=50), q(3, 8, kind="inference", t_submit_s=5.0))
    assert InferenceFirstScheduler().decide(v) == [Placement(3, ((3, 8),))]
    v = easy_view(q(2, 8, runtime_s=50))
    assert InferenceFirstScheduler().decide(v) == [Placement(2, ((3, 8),))]


# -- 5. placements ----------------------------------------------------------------------------
def test_pack_puts_a_two_node_job_in_the_rack_with_the_fewest_sufficient_nodes():
    """Racks of 4 nodes with 4, 2 and 3 whole free nodes: best fit is rack 1."""
    free = [8, 8, 8, 8, 8, 8, 0, 0, 8, 8, 8, 0]
    nodes = PackPlacement().place(16, free, cluster(free, npr=4))
    assert nodes == ((4, 8), (5, 8))


def test_pack_takes_the_racks_with_most_whole_nodes_when_no_rack_suffices():
    free = [8, 0, 0, 8, 8, 0]  # racks of 3: 1 and 2 whole free nodes
    nodes = PackPlacement().place(24, free, cluster(free, npr=3))
    assert nodes == ((0, 8), (3, 8), (4, 8))


def test_pack_puts_partial_node_work_on_the_fullest_node_that_fits():
    free = [8, 3, 5, 2]
    assert PackPlacement().place(3, free, cluster(free, npr=2)) == ((1, 3),)
    assert PackPlacement().place(4, free, cluster(free, npr=2)) == ((2, 4),)


def test_spread_puts_a_four_node_job_on_four_racks():
    free = [8] * 8  # 4 racks of 2 nodes
    nodes = SpreadPlacement().place(32, free, cluster(free, npr=2))
    assert len(nodes) == 4 and racks_of(nodes, 2) == {0, 1, 2, 3}


def test_spread_uses_as_many_racks_as_have_whole_nodes():
    free = [8, 8, 0, 0, 8, 8]  # racks of 2: rack 1 is full
    nodes = SpreadPlacement().place(24, free, cluster(free, npr=2))
    assert len(nodes) == 3 and racks_of(nodes, 2) == {0, 2}


def test_power_aware_skips_racks_over_the_limit_and_prefers_the_lowest_power():
    free = [8, 8, 8]
    v = cluster(free, rack_power_w=(900.0, 300.0, 100.0), rack_limit_w=1000.0)
    place = PowerAwarePlacement()
    assert place.place(8, free, v, extra_w=200.0) == ((2, 8),)  # lowest power
    assert place.place(8, [8, 8, 0], v, extra_w=200.0) == ((1, 8),)  # next lowest
    assert place.place(8, [8, 0, 0], v, extra_w=200.0) is None  # rack 0 would reach 1100 W
    assert place.place(8, [8, 0, 0], v, extra_w=100.0) == ((0, 8),)  # exactly at the limit is allowed
    assert place.place(4, free, replace(v, rack_power_w=(950.0, 950.0, 950.0)), extra_w=100.0) is None


def test_power_aware_multi_node_work_prefers_low_power_racks():
    free = [8, 8, 8, 8]  # racks of 2
    v = cluster(free, npr=2, rack_power_w=(500.0, 100.0))
    assert PowerAwarePlacement().place(16, free, v) == ((2, 8), (3, 8))


def test_thermal_aware_prefers_the_coolest_racks():
    free = [8, 8, 8, 8, 8, 8]  # racks of 2
    v = cluster(free, npr=2, rack_temp_c=(50.0, 30.0, 40.0))
    place = ThermalAwarePlacement()
    assert place.place(8, free, v) == ((2, 8),)
    assert place.place(24, free, v) == ((2, 8), (3, 8), (4, 8))
    assert place.place(8, [8, 8, 0, 0, 8, 8], v) == ((4, 8),)  # coolest rack full: the next coolest
    assert place.place(8, [8, 8, 0, 0, 0, 0], v) == ((0, 8),)  # only the hottest has room


@pytest.mark.parametrize("name", ["pack", "spread", "power_aware", "thermal_aware"])
def test_each_placement_returns_none_when_nothing_fits(name):
    place = PLACEMENTS[name]()
    v = cluster([0, 3, 8, 4], npr=2, rack_power_w=(0.0, 0.0), rack_temp_c=(30.0, 30.0))
    assert place.place(5, [0, 3, 0, 4], v) is None  # no node with 5 free
    assert place.place(16, [0, 3, 8, 4], v) is None  # only one whole node
    assert place.place(1, [0, 0, 0, 0], v) is None
    assert place.place(8, [0, 3, 8, 4], v) == ((2, 8),)


def test_power_aware_decision_keeps_every_rack_within_its_limit():
    """One rack of 2 nodes at 0 W, limit 1000 W; two 1-node jobs adding 600 W each. Each
    alone fits; both would bring the rack to 1200 W, so only the first may start."""
    v = cluster([8, 8], [q(1, 8, extra_power_w=600.0), q(2, 8, extra_power_w=600.0)], npr=2,
                rack_power_w=(0.0,), rack_limit_w=1000.0)
    out = FifoScheduler(placement=PowerAwarePlacement()).decide(v)
    assert [p.work_id for p in out] == [1]


@PROPERTY
@given(views(), st.sampled_from(sorted(SCHEDULERS)), st.sampled_from(sorted(PLACEMENTS)))
def test_property_decisions_are_consistent(v, scheduler, placement):
    """For every scheduler and placement: placed work is queued work, placed once, with
    exactly its GPUs, never more on a node than it has free; power admission holds;
    preemptions name running, preemptible work not already releasing."""
    out = SCHEDULERS[scheduler](placement=PLACEMENTS[placement]()).decide(v)
    by_id = {w.work_id: w for w in v.queue}
    placed = placements(out)
    assert len({p.work_id for p in placed}) == len(placed)
    for p in placed:
        assert p.work_id in by_id
        assert sum(c for _, c in p.nodes) == by_id[p.work_id].gpus
        assert len({n for n, _ in p.nodes}) == len(p.nodes)
        assert all(0 <= n < len(v.free_by_node) and c > 0 for n, c in p.nodes)
        if by_id[p.work_id].gpus > v.gpus_per_node:
            assert all(c == v.gpus_per_node for _, c in p.nodes)
    for node, n in used_by_node(out).items():
        assert n <= v.free_by_node[node]
    assert sum(by_id[p.work_id].extra_power_w for p in placed) <= v.power_headroom_w
    running = {r.work_id: r for r in v.running}
    victims = preempted(out)
    assert len(set(victims)) == len(victims)
    for w in victims:
        assert running[w].preemptible and not running[w].releasing
    if scheduler == "fifo":
        assert [p.work_id for p in placed] == [w.work_id for w in v.queue[:len(placed)]]
    if scheduler == "inference_first":
        inference = [w.work_id for w in v.queue if w.kind == "inference"]
        placed_inference = [p.work_id for p in placed if by_id[p.work_id].kind == "inference"]
        assert placed_inference == inference[:len(placed_inference)]  # in submission order, first
        assert [p.work_id for p in placed][:len(placed_inference)] == placed_inference
        if len(placed_inference) < len(inference):  # an inference replica waits: no training starts
            assert len(placed) == len(placed_inference)
        else:
            assert victims == []
        assert all(running[w].kind != "inference" for w in victims)
    elif scheduler == "priority":
        sched = SCHEDULERS[scheduler]()
        order = sorted(v.queue, key=lambda w: (-sched.rank(w), w.t_submit_s, w.work_id))
        assert [p.work_id for p in placed] == [w.work_id for w in order[:len(placed)]]
        if victims:
            blocked = order[len(placed)]
            assert all(sched.rank(running[w]) < sched.rank(blocked) for w in victims)
    else:
        assert victims == []


# -- 6. power admission -----------------------------------------------------------------------
def test_fifo_power_admission_stops_at_work_over_the_headroom():
    v = cluster([8, 8, 8], [q(1, 8, extra_power_w=600.0), q(2, 8, extra_power_w=600.0),
                            q(3, 8, extra_power_w=100.0)], power_headroom_w=1000.0)
    assert [p.work_id for p in FifoScheduler().decide(v)] == [1]


def test_power_admission_counts_every_placement_of_a_decision():
    """Three 400 W jobs under a 1000 W headroom: two start, the third does not."""
    v = cluster([8, 8, 8], [q(i, 8, extra_power_w=400.0) for i in (1, 2, 3)], power_headroom_w=1000.0)
    for name in sorted(SCHEDULERS):
        assert [p.work_id for p in SCHEDULERS[name]().decide(v)] == [1, 2], name


def test_power_admission_blocks_work_over_the_headroom_even_alone():
    v = cluster([8], [q(1, 8, extra_power_w=1500.0)], power_headroom_w=1000.0)
    for name in sorted(SCHEDULERS):
        assert SCHEDULERS[name]().decide(v) == [], name


def test_easy_backfill_respects_the_power_headroom():
    """The head is over the headroom; later work starts only within what is left."""
    v = cluster([8, 8, 8], [q(1, 8, extra_power_w=2000.0), q(2, 8, 50, extra_power_w=600.0),
                            q(3, 8, 50, extra_power_w=600.0), q(4, 8, 50, extra_power_w=300.0)],
                power_headroom_w=1000.0)
    out = EasyBackfillScheduler().decide(v)
    assert [p.work_id for p in out] == [2, 4]


# -- 7. registries ----------------------------------------------------------------------------
def test_registries_name_every_scheduler_and_placement():
    assert SCHEDULERS["fifo"] is FifoScheduler
    assert SCHEDULERS["easy_backfill"] is EasyBackfillScheduler
    assert SCHEDULERS["priority"] is PriorityScheduler
    assert SCHEDULERS["inference_first"] is InferenceFirstScheduler
    assert set(SCHEDULERS) >= {"fifo", "easy_backfill", "priority", "inference_first"}
    assert PLACEMENTS["pack"] is PackPlacement
    assert PLACEMENTS["spread"] is SpreadPlacement
    assert PLACEMENTS["power_aware"] is PowerAwarePlacement
    assert PLACEMENTS["thermal_aware"] is ThermalAwarePlacement


@pytest.mark.parametrize("scheduler", ["fifo", "easy_backfill", "priority", "inference_first"])
@pytest.mark.parametrize("placement", ["pack", "spread", "power_aware", "thermal_aware"])
def test_every_scheduler_takes_every_placement(scheduler, placement):
    """placement=... is honoured: a 2-node job goes where that placement puts it."""
    sched = SCHEDULERS[scheduler](placement=PLACEMENTS[placement]())
    assert isinstance(sched.placement, PLACEMENTS[placement])
    free = [8, 8, 8, 8]  # 2 racks of 2
    v = cluster(free, [q(1, 16)], npr=2, rack_power_w=(500.0, 100.0), rack_temp_c=(30.0, 60.0))
    expected = {"pack": ((0, 8), (1, 8)), "spread": ((0, 8), (2, 8)),
                "power_aware": ((2, 8), (3, 8)), "thermal_aware": ((0, 8), (1, 8))}[placement]
    assert sched.decide(v) == [Placement(1, expected)]


def test_default_placement_is_pack():
    for name in sorted(SCHEDULERS):
        assert isinstance(SCHEDULERS[name]().placement, PackPlacement)
