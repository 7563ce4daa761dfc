"""Inference benchmarks (run on request, not in the test suite).

    python benchmarks/bench_inference.py            # all cases
    python benchmarks/bench_inference.py --quick    # skip the 1,000,000-request cases

Request fidelity: Llama-2-7B on A100-80GB replicas (TP 1), Poisson arrivals at 70 % of
the replicas' modelled capacity, prompts uniform in 1,024-4,096 tokens and outputs
uniform in 51-205 tokens (prefill-to-decode ratio ~20), on 1 and 16 replicas, for
10,000 and 1,000,000 requests. Fluid fidelity: one simulated day of 1,000 Llama-3.1-8B
replicas on H100 with a diurnal load. Each case runs in a fresh process, which reports
its wall time for the simulation alone and its peak resident memory.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

A100_7B = [
    "workload=inference_only", "facility.node.gpu=A100-80GB", "facility.num_racks=4",
    "workload.services.chat.model=Llama-2-7B", "workload.services.chat.tp=1",
    "workload.services.chat.prompt_tokens.distribution=uniform", "workload.services.chat.prompt_tokens.min_tokens=1024",
    "workload.services.chat.prompt_tokens.max_tokens=4096",
    "workload.services.chat.output_tokens.distribution=uniform", "workload.services.chat.output_tokens.min_tokens=51",
    "workload.services.chat.output_tokens.max_tokens=205",
    "output.write=false",
]
FLUID_DAY = [
    "workload=inference_only", "facility.num_racks=32", "workload.services.chat.model=Llama-3.1-8B",
    "workload.services.chat.tp=1", "workload.services.chat.replicas=1000", "workload.services.chat.fidelity=fluid",
    "workload.services.chat.arrivals.process=diurnal", "workload.services.chat.arrival_rate_per_s=3000",
    "duration_s=86400",
]


def run_case(overrides: list[str], replicas: int | None, requests: int | None) -> dict:
    """One case in this process: build, size the load, run; report timings and memory."""
    from dcsim.api import compose_config
    from dcsim.config.build import build
    from dcsim.workloads.inference.fluid import ReplicaModel

    ov = list(overrides)
    if replicas is not None:
        ov.append(f"workload.services.chat.replicas={replicas}")
        s = build(compose_config(ov)).services[0][0]
        sc0 = build(compose_config(ov))
        cap = ReplicaModel.of_service(sc0.device, s).capacity_per_s * replicas
        rate = 0.7 * cap
        ov += [f"workload.services.chat.arrival_rate_per_s={rate}", f"duration_s={requests / rate}"]
    scenario = build(compose_config(ov))
    t0 = time.perf_counter()
    results = scenario.run()
    wall = time.perf_counter() - t0
    s = results.summary()
    return {
        "wall_s": wall,
        "requests": s["requests_arrived"],
        "requests_per_s": s["requests_arrived"] / wall,
        "events": results.events_processed,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "ttft_p50_s": s["ttft_p50_s"],
        "tpot_p50_s": s["tpot_p50_s"],
    }


CASES = {
    "request, 1 replica, 10k": (A100_7B, 1, 10_000),
    "request, 16 replicas, 10k": (A100_7B, 16, 10_000),
    "request, 1 replica, 1M": (A100_7B, 1, 1_000_000),
    "request, 16 replicas, 1M": (A100_7B, 16, 1_000_000),
    "fluid, 1000 replicas, 1 day": (FLUID_DAY, None, None),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="skip the 1M-request cases")
    ap.add_argument("--case", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.case:
        print(json.dumps(run_case(*CASES[args.case])))
        return
    for name in CASES:
        if args.quick and "1M" in name:
            continue
        out = subprocess.run([sys.executable, __file__, "--case", name], capture_output=True, text=True, check=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"{name:32s} {r['requests']:>9} req  {r['wall_s']:7.2f} s  {r['requests_per_s']:>8.0f} req/s  "
              f"{r['events']:>9} events  peak {r['peak_rss_mb']:7.0f} MB", flush=True)


if __name__ == "__main__":
    main()
