"""A 1,000-point sweep on a two-node Ray cluster and on the joblib launcher (run on request,
not in the test suite).

    python benchmarks/bench_ray_sweep.py                        # 1,000 points on each launcher
    python benchmarks/bench_ray_sweep.py --runs 100 --joblib-runs 50 --keep /tmp/sweeps

The sweep is ``seed=range(0,N)`` of tiny runs (``duration_s=10 workload=inference_only
output.report=false output.print_summary=false``), run as a user runs it (``python -m dcsim
-m ...`` in a subprocess):

- on the default joblib launcher (``n_jobs=-1``: every core of this machine);
- on a local Ray cluster of two nodes with one CPU each (``ray.cluster_utils.Cluster``: a
  head and a worker node, as ``ray start --head --num-cpus=1`` and ``ray start
  --address=HEAD --num-cpus=1`` make them, in a private RAY_TMPDIR), joined with
  ``hydra/launcher=ray hydra.launcher.ray.init.address=HEAD``; the cluster is shut down at
  the end, also on failure.

Then it checks that every run present in both sweeps has the same ``summary.json``, key for
key and bit for bit (``wall_time_s`` aside; NaN equal to NaN), and prints for each launcher
the wall time of the command, runs/s, runs that did not end ok, the last line of
``progress.log``, and for Ray how many runs each node ran (Ray's task list). Exits 1 if a
summary differs or a run did not end ok.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

TINY = ["duration_s=10", "workload=inference_only", "output.report=false", "output.print_summary=false"]
RAY_TASK = "_run_job"  # the name of hydra-ray-launcher's remote function: one task per run


def sweep(root: Path, name: str, runs: int, launcher: list[str]) -> dict[str, Any]:
    """Run the sweep in ``root/name``; its wall time, exit code and run statuses."""
    sweep_dir = root / name
    args = [sys.executable, "-m", "dcsim", "-m", *TINY, f"seed=range(0,{runs})", f"hydra.sweep.dir={sweep_dir}",
            *launcher]
    env = dict(os.environ, MPLBACKEND="Agg")
    with open(root / f"{name}.stdout", "w") as out, open(root / f"{name}.stderr", "w") as err:
        t0 = time.perf_counter()
        code = subprocess.run(args, cwd=root, env=env, stdout=out, stderr=err).returncode
        wall_s = time.perf_counter() - t0
    table = sweep_dir / "sweep_summary.csv"
    statuses = [r["status"] for r in csv.DictReader(table.open())] if table.is_file() else []
    log = sweep_dir / "progress.log"
    last = log.read_text().splitlines()[-1].split(" ", 1)[1] if log.is_file() else "(no progress.log)"
    return {"dir": sweep_dir, "code": code, "wall_s": wall_s, "runs": runs, "statuses": Counter(statuses),
            "progress": last}


def on_ray_cluster(root: Path, runs: int) -> dict[str, Any]:
    """The sweep on a two-node local Ray cluster, one CPU a node; adds the cluster's start-up
    time and the runs each node ran."""
    ray_tmp = tempfile.mkdtemp(prefix="dcsim-ray-", dir="/tmp")  # short: Ray's socket paths must fit 107 bytes
    os.environ["RAY_TMPDIR"] = ray_tmp  # a ray.init() elsewhere on this machine does not join this cluster
    # Ray runs its workers at niceness 15 (below its own services); joblib's run at 0: on a
    # machine shared with other work that alone would slow the Ray sweep down
    os.environ.setdefault("RAY_worker_niceness", "0")
    from ray.cluster_utils import Cluster
    from ray.util.state import list_tasks

    cluster = Cluster()
    try:
        t0 = time.perf_counter()
        head = cluster.add_node(num_cpus=1, include_dashboard=True, dashboard_port=0)  # the task list needs it
        worker = cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        start_s = time.perf_counter() - t0
        # joining a cluster: dcsim drops the launcher's object store size (cli.ray_cluster_overrides)
        result = sweep(root, "ray", runs, ["hydra/launcher=ray", f"hydra.launcher.ray.init.address={cluster.address}"])
        names = {head.node_id: "head", worker.node_id: "worker"}
        per_node: Counter[str] = Counter()
        deadline = time.monotonic() + 30  # workers report their tasks' events about once a second
        while time.monotonic() < deadline:
            tasks = list_tasks(address=cluster.address, filters=[("name", "=", RAY_TASK)], limit=10_000,  # the most
                               detail=True, raise_on_missing_output=False)  # the state API gives
            per_node = Counter(names.get(t.node_id, t.node_id or "unknown") for t in tasks)
            if sum(per_node.values()) >= runs and "unknown" not in per_node:
                break
            time.sleep(1)
        result.update(start_s=start_s, per_node=dict(per_node))
        return result
    finally:
        cluster.shutdown()
        shutil.rmtree(ray_tmp, ignore_errors=True)


def same(a: Any, b: Any) -> bool:
    """Equal, bit for bit, NaN equal to NaN, in nested dicts and lists."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return bool(a == b or (a != a and b != b))


def compare(a: Path, b: Path, runs: int) -> tuple[int, list[int]]:
    """(runs compared, job numbers whose summaries differ or are missing on one side)."""
    differ = []
    for num in range(runs):
        sa, sb = a / str(num) / "summary.json", b / str(num) / "summary.json"
        if not (sa.is_file() and sb.is_file()):
            differ.append(num)
            continue
        ja, jb = json.loads(sa.read_text()), json.loads(sb.read_text())
        ja.pop("wall_time_s", None)
        jb.pop("wall_time_s", None)
        if not same(ja, jb):
            differ.append(num)
    return runs, differ


def report(name: str, r: dict[str, Any]) -> str:
    bad = sum(n for s, n in r["statuses"].items() if s != "ok")
    lines = [f"{name}: {r['runs']} runs in {r['wall_s']:.1f} s ({r['runs'] / r['wall_s']:.2f} runs/s), exit {r['code']}, "
             f"{bad} not ok {dict(r['statuses'])}", f"  progress.log: {r['progress']}"]
    if "start_s" in r:
        lines.append(f"  cluster of 2 nodes x 1 CPU up in {r['start_s']:.1f} s; runs per node: {r['per_node']}")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=1000, help="points of the Ray sweep")
    ap.add_argument("--joblib-runs", type=int, default=None,
                    help="points of the joblib sweep (default: --runs; 0: compare with KEEP/joblib of an earlier run)")
    ap.add_argument("--keep", type=Path, default=None, help="write the sweeps here and keep them")
    args = ap.parse_args()
    joblib_runs = args.runs if args.joblib_runs is None else args.joblib_runs
    if args.keep is None and joblib_runs == 0:
        ap.error("--joblib-runs 0 needs --keep DIR (an earlier run's sweeps)")
    root = Path(tempfile.mkdtemp(prefix="bench-ray-sweep-")) if args.keep is None else args.keep
    root.mkdir(parents=True, exist_ok=True)
    try:
        if joblib_runs > 0:
            jl = sweep(root, "joblib", joblib_runs, [])
            print(report("joblib (every core)", jl), flush=True)
        else:  # the joblib sweep of an earlier invocation with the same --keep
            jl = {"dir": root / "joblib", "statuses": Counter()}
            joblib_runs = sum(1 for d in jl["dir"].glob("*/summary.json"))
        ray = on_ray_cluster(root, args.runs)
        print(report("Ray (2-node local cluster)", ray), flush=True)
        compared, differ = compare(ray["dir"], jl["dir"], min(args.runs, joblib_runs))
        print(f"summaries: {compared - len(differ)} of {compared} identical (wall_time_s aside)"
              + (f"; differ or missing: {differ[:20]}" if differ else ""))
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)
    bad = any(s != "ok" for r in (jl, ray) for s in r["statuses"]) or sum(ray["statuses"].values()) != args.runs
    sys.exit(1 if differ or bad else 0)


if __name__ == "__main__":
    main()
