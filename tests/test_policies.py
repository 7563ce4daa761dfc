"""Policies decide from a view, without a simulation."""

from __future__ import annotations

from dcsim.policies import ROUTERS, SCHEDULERS
from dcsim.policies.routing import LeastOutstandingRouter, RoundRobinRouter
from dcsim.policies.scheduling import ClusterView, FifoScheduler, Placement, QueuedWork


def view(free, *gpus):
    return ClusterView(8, tuple(free), tuple(QueuedWork(i, g) for i, g in enumerate(gpus)))


def test_fifo_places_in_order_whole_nodes_and_partial_nodes():
    """Multi-node work takes whole free nodes; small work packs the first node with room."""
    out = FifoScheduler().decide(view([8, 8, 4, 0], 16, 4, 8))
    assert out == [Placement(0, ((0, 8), (1, 8))), Placement(1, ((2, 4),))]


def test_fifo_stops_at_the_first_work_that_does_not_fit():
    """The head of the queue blocks the rest, even work that would fit."""
    assert FifoScheduler().decide(view([8, 8, 0], 24, 1)) == []


def test_fifo_never_overcommits_a_node():
    """Decisions taken together never give a node more GPUs than it has free."""
    out = FifoScheduler().decide(view([8, 2], 4, 4, 2, 1))
    used = {}
    for p in out:
        for node, n in p.nodes:
            used[node] = used.get(node, 0) + n
    assert used == {0: 8, 1: 2}
    assert [p.work_id for p in out] == [0, 1, 2]


def test_routers():
    """Round robin cycles; least outstanding picks the emptiest replica, lowest index on ties."""
    rr = RoundRobinRouter()
    assert [rr.route((0, 0, 0)) for _ in range(4)] == [0, 1, 2, 0]
    assert LeastOutstandingRouter().route((3, 1, 1, 2)) == 1


def test_registries_name_every_policy():
    """Policies are selectable by name from config."""
    assert SCHEDULERS["fifo"] is FifoScheduler
    assert set(ROUTERS) == {"round_robin", "least_outstanding", "power_aware", "prefix_affinity"}


def test_power_aware_router_prefers_the_cooler_rack_among_the_least_loaded():
    """Within the load slack the lowest rack power wins; a much busier replica is never chosen."""
    from dcsim.policies.routing import PowerAwareRouter

    r = PowerAwareRouter(slack=1)
    assert r.route((3, 4, 3, 9), (50e3, 10e3, 30e3, 1e3)) == 1
    assert r.route((0, 5), (90e3, 1e3)) == 0


def test_every_router_runs_a_service_end_to_end():
    """Each registered router serves the default chat service (the power-aware one reads rack power)."""
    import dcsim

    for name in sorted(ROUTERS):
        s = dcsim.run([f"workload.services.chat.router={name}", "duration_s=300", "output.write=false"]).summary()
        assert s["requests_completed"] > 0.9 * s["requests_arrived"] > 0, name
