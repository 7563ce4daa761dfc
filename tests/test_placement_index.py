"""The free-GPU index (dcsim.policies.scheduling.FreeGpus) places exactly as the scan does."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from placement_cases import CASES, placements

from dcsim.policies.scheduling import ClusterView, FreeGpus, PackPlacement, QueuedWork, _Room

EXPECTED = json.loads((Path(__file__).parent / "data" / "placements.json").read_text())


def random_free(rng: random.Random, nodes: int, g: int) -> list[int]:
    """Free GPUs per node: mostly whole or empty nodes, some partial (as a busy cluster has)."""
    return [rng.choice([0, 0, g, g, g, rng.randint(0, g)]) for _ in range(nodes)]


@pytest.mark.parametrize("g,npr,domain", [(8, 4, 1), (8, 2, 1), (4, 18, 18), (4, 5, 2), (8, 3, 1)])
def test_index_places_as_the_scan(g, npr, domain):
    rng = random.Random(g * 100 + npr * 10 + domain)
    pack = PackPlacement()
    for _ in range(60):
        nodes = rng.randint(1, 40)
        free = random_free(rng, nodes, g)
        view = ClusterView(gpus_per_node=g, free_by_node=tuple(free), queue=(), nodes_per_rack=npr)
        index = FreeGpus(free, g, npr)
        # the cluster's index after changes, and a decision's fork after takes, agree with the scan
        for _ in range(rng.randint(0, 5)):
            n = rng.randrange(nodes)
            free[n] = rng.randint(0, g)
            index.set(n, free[n])
        fork = index.fork()
        for _ in range(rng.randint(0, 4)):
            n = rng.randrange(nodes)
            free[n] = rng.randint(0, free[n])
            fork[n] = free[n]
        assert list(fork) == free and fork.total == sum(free)
        for gpus in sorted({1, g // 2 or 1, g, 2 * g, 3 * g, npr * g, (npr + 1) * g, 2 * npr * g, rng.randint(1, 5 * g)}):
            if gpus > g and gpus % g:
                continue  # multi-node work takes whole nodes
            assert pack.place(gpus, fork, view, domain_nodes=domain) == pack.place(gpus, free, view, domain_nodes=domain)


def test_a_decision_takes_from_a_fork_not_from_the_cluster():
    index = FreeGpus([8, 8, 4, 0], 8, 2)
    view = ClusterView(gpus_per_node=8, free_by_node=index, queue=(), nodes_per_rack=2)
    room = _Room(view)
    work = QueuedWork(1, 4)
    nodes = room.find(PackPlacement(), work)
    assert nodes == ((2, 4),)
    room.take(work, nodes)
    assert list(room.free) == [8, 8, 0, 0] and list(index) == [8, 8, 4, 0]
    assert room.free[-2] == 0 and room.free[1:3] == [8, 0] and room.free.total == 16 and index.total == 20
    assert room.find(PackPlacement(), work) == ((0, 4),)
    with pytest.raises(TypeError):
        index[0] = 0


@pytest.mark.parametrize("name", sorted(CASES))
def test_placements_unchanged(name):
    """Every placement of these runs is the one the scan-per-placement code made."""
    assert list(placements(CASES[name])) == EXPECTED[name]
