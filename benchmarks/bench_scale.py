"""Facility-scale benchmark (run on request, not part of the test suite).

    python benchmarks/bench_scale.py year [--days 365]   # 100k GPUs, mixed, failures, hourly control
    python benchmarks/bench_scale.py day                 # 8,192 GPUs for a day at 60-s control
    python benchmarks/bench_scale.py sweep [CSV]         # run time vs requests, replicas, racks
    python benchmarks/bench_scale.py plot CSV            # docs/figures/scaling.png from the sweep

``year`` and ``day`` print the CPU time of the whole process so far (import, build, run,
summary) and the peak memory; quote ``farm-bench`` timings of them (docs/performance.md,
"Facility scale"). ``sweep`` runs each point in a fresh process and records its CPU time.
"""

from __future__ import annotations

import argparse
import csv
import os
import resource
import subprocess
import sys
import time

# 100,000 GPUs: 3,125 air-cooled racks of 4 HGX H100 nodes (conf/facility/h100_16k.yaml's
# racks, hourly control), a 128-port fat tree (three tiers of 64-port switches stop at 65,536).
FACILITY_100K = ["facility=h100_16k", "facility.num_racks=3125", "facility.network.switch_radix=128"]
# Half the GPUs serve Llama-3.1-70B at TP 8 (6,250 replicas, fluid fidelity, diurnal
# arrivals); three training jobs with Llama 3's failure rates and Young/Daly checkpoints
# take 40,960 more; the rest is free (spares and failures' replacements).
MIXED_100K = [
    "workload=mixed",  # its chat service and training jobs, made facility-sized
    "workload.services.chat.model=Llama-3.1-70B", "workload.services.chat.tp=8",
    "workload.services.chat.replicas=6250", "workload.services.chat.fidelity=fluid",
    "workload.services.chat.arrival_rate_per_s=25000", "workload.services.chat.arrivals.process=diurnal",
    *(f"workload.training.{name}.{k}={v}" for name, model, gpus, mp in (
        ("pretrain_8b", "Llama-3.1-405B", 16384, 128), ("finetune_70b", "Llama-3.1-70B", 16384, 32),
        ("pretrain_8b_2", "Llama-3.1-8B", 8192, 1))
      for k, v in (("model", model), ("gpus", gpus), ("model_parallel", mp), ("steps", 10_000_000),
                   ("tokens_per_step", 16777216), ("failures", "true"), ("checkpoint", "young_daly"),
                   ("storage_gbyte_per_s", 2000.0))),
]
# 8,192 GPUs (256 racks) for a day at 60-s control: 512 fluid replicas of Llama-3.1-70B at
# TP 8 (4,096 GPUs) and a 4,096-GPU training job with failures (and the default mix's
# small jobs).
DAY_8K = [
    "facility=h100_16k", "facility.num_racks=256", "facility.control_interval_s=60", "duration_s=86400",
    "workload=mixed",
    "workload.services.chat.model=Llama-3.1-70B", "workload.services.chat.tp=8",
    "workload.services.chat.replicas=512", "workload.services.chat.fidelity=fluid",
    "workload.services.chat.arrival_rate_per_s=2000", "workload.services.chat.arrivals.process=diurnal",
    "workload.training.pretrain_8b.model=Llama-3.1-70B", "workload.training.pretrain_8b.gpus=4096",
    "workload.training.pretrain_8b.model_parallel=32", "workload.training.pretrain_8b.steps=10000000",
    "workload.training.pretrain_8b.failures=true", "workload.training.pretrain_8b.checkpoint=young_daly",
]
QUIET = ["output.write=false"]


def _report(label: str, t_start: float) -> None:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    print(f"{label}: {ru.ru_utime + ru.ru_stime:.1f} s CPU (process), {time.perf_counter() - t_start:.1f} s wall, "
          f"peak {ru.ru_maxrss / 1024:.0f} MB")


def run_case(overrides: list[str], label: str) -> None:
    t0 = time.perf_counter()
    from dcsim.api import compose_config
    from dcsim.config.build import build
    scenario = build(compose_config([*overrides, *QUIET]))
    t_built = time.perf_counter()
    r = scenario.run()
    t_run = time.perf_counter()
    s = r.summary()
    print(f"build {t_built - t0:.1f} s, run {t_run - t_built:.1f} s, summary {time.perf_counter() - t_run:.1f} s; "
          f"{r.events_processed:,} events, timeseries {len(r.tables['timeseries']):,} rows; "
          f"IT {s['it_energy_j'] / 3.6e9:,.0f} MWh, PUE {s['pue']:.3f}")
    _report(label, t0)


# -- run time against size: requests, replicas, racks, three decades each ------------------------
def sweep_points() -> list[tuple[str, int, list[str]]]:
    pts = []
    for n in (1_000, 10_000, 100_000, 1_000_000):  # requests: request fidelity, 16 replicas, one hour
        pts.append(("requests", n, ["workload=inference_only", "workload.services.chat.replicas=16",
                                    "facility.num_racks=4", f"workload.services.chat.arrival_rate_per_s={n / 3600}",
                                    "workload.services.chat.tp=4"]))
    for n in (12, 125, 1_250, 12_500):  # fluid replicas of TP 8 on a 100k-GPU facility, 30 days, hourly
        pts.append(("replicas", n, [*FACILITY_100K, "workload=inference_only", f"duration_s={30 * 86400}",
                                    f"workload.services.chat.replicas={n}", "workload.services.chat.tp=8",
                                    "workload.services.chat.fidelity=fluid",
                                    f"workload.services.chat.arrival_rate_per_s={2 * n}"]))
    for n in (4, 40, 400, 4_000):  # racks, 30 days at hourly control, a fluid replica per node
        pts.append(("racks", n, ["facility=h100_16k", f"facility.num_racks={n}", "facility.network.switch_radix=128",
                                 "workload=inference_only", f"duration_s={30 * 86400}",
                                 f"workload.services.chat.replicas={4 * n}",
                                 "workload.services.chat.tp=8", "workload.services.chat.fidelity=fluid",
                                 f"workload.services.chat.arrival_rate_per_s={8 * n}"]))
    return pts


def sweep(out: str, axes: list[str]) -> None:
    """Each point of ``axes`` in a fresh process; rows appended to the CSV ``out``."""
    new = not os.path.exists(out)
    with open(out, "a", newline="") as f:
        w = csv.writer(f)
        if new:
            w.writerow(["axis", "size", "cpu_s", "peak_mb"])
        for axis, n, ov in (p for p in sweep_points() if p[0] in axes):
            code = ("import sys, resource; from benchmarks.bench_scale import run_case; "
                    f"run_case({ov!r}, 'point')")
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            subprocess.run([sys.executable, "-c", code], check=True, stdout=subprocess.DEVNULL,
                           cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
            w.writerow([axis, n, f"{cpu:.2f}", f"{after.ru_maxrss / 1024:.0f}"])
            f.flush()
            print(axis, n, f"{cpu:.2f} s CPU", flush=True)


def plot(path: str, out: str = "docs/figures/scaling.png") -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rows = list(csv.DictReader(open(path)))
    fig, ax = plt.subplots(figsize=(6, 4))
    for axis, label in (("requests", "requests (request fidelity, 1 h)"), ("replicas", "fluid replicas (100k GPUs, 30 days)"),
                        ("racks", "racks (4 replicas each, 30 days)")):
        pts = [(int(r["size"]), float(r["cpu_s"])) for r in rows if r["axis"] == axis]
        line, = ax.loglog([p[0] for p in pts], [p[1] for p in pts], "o-", label=label)
        (x1, y1) = pts[-1]  # linear in size through the largest point, for reference
        ax.loglog([x1 / 1000, x1], [y1 / 1000, y1], ":", color=line.get_color(), lw=1)
    ax.set_xlabel("size")
    ax.set_ylabel("CPU time of the whole process (s)")
    ax.set_title("dcsim run time against size (dotted: linear)")
    ax.set_ylim(0.5, 100)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=120)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("case", choices=["year", "day", "sweep", "plot"])
    ap.add_argument("csv", nargs="?", default="scaling.csv")
    ap.add_argument("--days", type=float, default=365.0)
    ap.add_argument("--axes", default="requests,replicas,racks", help="sweep: which axes")
    ap.add_argument("--level", default="facility", help="output.timeseries_level of year and day (rack, group, facility)")
    args = ap.parse_args()
    t0 = time.perf_counter()
    if args.case == "year":
        run_case([*FACILITY_100K, *MIXED_100K, f"duration_s={args.days * 86400:.0f}",
                  f"output.timeseries_level={args.level}"], f"100k GPUs, {args.days:g} days")
    elif args.case == "day":
        run_case([*DAY_8K, f"output.timeseries_level={args.level}"], f"8,192 GPUs, a day at 60 s, {args.level} rows")
    elif args.case == "sweep":
        sweep(args.csv, args.axes.split(","))
    else:
        plot(args.csv)
    del t0


if __name__ == "__main__":
    main()
