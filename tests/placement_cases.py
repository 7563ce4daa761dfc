"""Scenarios whose every placement tests/test_placement_index.py pins (digests recorded with
the scan-per-placement code before the free-GPU index, tests/data/placements.json)."""

from __future__ import annotations

import hashlib
import json

from dcsim.api import compose_config
from dcsim.config.build import build
from dcsim.workloads import cluster as cluster_mod

CASES = {
    "default_fifo_pack": [],
    "backfill_spread": ["scheduler=easy_backfill", "scheduler.placement=spread"],
    "priority_power_aware": ["scheduler=priority", "scheduler.placement=power_aware"],
    "inference_first_thermal": ["scheduler=inference_first", "scheduler.placement=thermal_aware"],
    "nvl72_domains": ["facility=nvl72_gb200", "workload=inference_only", "workload.services.chat.replicas=5",
                      "workload.services.chat.tp=8", "duration_s=600"],
    "fluid_many_replicas": ["facility=h100_16k", "facility.num_racks=40", "workload=inference_only",
                            "workload.services.chat.replicas=150", "workload.services.chat.fidelity=fluid",
                            "workload.services.chat.tp=4", "duration_s=7200"],
    "fluid_two_node_replicas": ["facility=h100_16k", "facility.num_racks=40", "workload=mixed",
                                "workload.services.chat.replicas=60", "workload.services.chat.fidelity=fluid",
                                "workload.services.chat.tp=16", "duration_s=7200"],
    "philly_backfill": ["workload=philly", "facility=philly_512", "scheduler=easy_backfill", "duration_s=86400"],
}


def placements(overrides: list[str]) -> tuple[int, str]:
    """Every placement of a run, in order (work name, nodes, time): their count and a digest."""
    seen: list = []
    orig = cluster_mod.Cluster._apply

    def spy(self, p):
        seen.append((self.sim.now_s, self._queued[p.work_id][0].name, [list(x) for x in p.nodes]))
        orig(self, p)

    cluster_mod.Cluster._apply = spy
    try:
        build(compose_config([*overrides, "output.write=false"])).run()
    finally:
        cluster_mod.Cluster._apply = orig
    return len(seen), hashlib.sha256(json.dumps(seen).encode()).hexdigest()


if __name__ == "__main__":
    import sys
    import time
    out = {}
    for name, ov in CASES.items():
        t0 = time.perf_counter()
        out[name] = placements(ov)
        print(name, out[name], f"{time.perf_counter() - t0:.1f} s", file=sys.stderr)
    print(json.dumps(out, indent=1))
