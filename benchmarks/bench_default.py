"""Benchmark: wall time of the default scenario and of a busier inference hour.

Run on request (not part of the test suite):

    python benchmarks/bench_default.py [--repeat 3]

Prints, per scenario, the best wall time over the repeats, simulated seconds per
wall second, events per second and requests per second.
"""

from __future__ import annotations

import argparse
import time

import dcsim

SCENARIOS = {
    "default (mixed, 1 h)": [],
    "inference_only, 1 h, 11 req/s": ["workload=inference_only"],
    "inference_only, 1 h, 44 req/s on 32 replicas": [
        "workload=inference_only", "workload.services.chat.replicas=32", "workload.services.chat.arrival_rate_per_s=44"],
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    for name, overrides in SCENARIOS.items():
        best = float("inf")
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            r = dcsim.run(overrides)
            best = min(best, time.perf_counter() - t0)
        s = r.summary()
        print(f"{name:48s} {best:6.2f} s wall  {s['duration_s'] / best:8.0f} sim-s/s  "
              f"{r.events_processed / best:9.0f} events/s  {s['requests_arrived'] / best:8.0f} requests/s")


if __name__ == "__main__":
    main()
