"""Side-by-side speed against the peer simulator Vidur 0.0.26 (run on request, not in the tests).

    python benchmarks/peer_vidur.py                    # 3 interleaved pairs, 10k requests, 16 replicas
    python benchmarks/peer_vidur.py --pairs 5 --requests 10000 --replicas 16 --qps 32

The workload of ``../shared/tools/peer-vidur/README.md``: Llama-2-7B on A100 (TP 1),
round-robin routing over 16 replicas, at most 128 sequences and 4,096 tokens a batch,
Poisson arrivals at 32 requests/s, 10,000 requests. Vidur draws zipf lengths in
1,024-4,096 tokens (theta 0.6) split prefill:decode 20:1, which average about 1,820
prompt and 91 output tokens; dcsim draws the same means uniformly (prompts 1,024-2,616,
outputs 51-131). The peer is for SPEED only: its attention table is synthetic.

Vidur is installed from PyPI into a venv under ``$TMPDIR/vidur-peer`` the first time
(``pip install vidur==0.0.26``) and run offline on its own profiles through the peer
harness (``vidur_run.sh``, which trains and caches its predictors on the first run: that
run is a warm-up and is not counted). The two simulators then run in turn, A B A B ...,
each in a fresh process under ``/usr/bin/time -v``: the machine's speed drifts, so the
ratios are of medians over the pairs. Printed per simulator: requests per second of the
simulation alone (Vidur's event loop; dcsim's ``Scenario.run()``), on the wall clock and
on CPU time, and of the whole process (interpreter start to exit, import, config, build
or predictor loading, tables and KPIs); events per request; maximum resident memory.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PEER = REPO.parent / "shared" / "tools" / "peer-vidur"
VIDUR_VERSION = "0.0.26"

# dcsim's side of the same workload (the peer README's matching overrides)
DCSIM_OVERRIDES = [
    "workload=inference_only", "facility.node.gpu=A100-80GB", "facility.num_racks=4",
    "workload.services.chat.model=Llama-2-7B", "workload.services.chat.tp=1",
    "workload.services.chat.max_num_seqs=128", "workload.services.chat.max_batch_tokens=4096",
    "workload.services.chat.router=round_robin",
    "workload.services.chat.prompt_tokens.distribution=uniform", "workload.services.chat.prompt_tokens.min_tokens=1024",
    "workload.services.chat.prompt_tokens.max_tokens=2616",
    "workload.services.chat.output_tokens.distribution=uniform", "workload.services.chat.output_tokens.min_tokens=51",
    "workload.services.chat.output_tokens.max_tokens=131",
    "output.write=false",
]


def dcsim_case(requests: int, replicas: int, qps: float) -> dict:
    """One dcsim run in this process; times from the process's start (``time.perf_counter``
    at import of this module is close to it; the interpreter's own start is in the whole-process
    figure measured outside)."""
    import resource

    t0, c0 = time.perf_counter(), time.process_time()
    from dcsim.api import compose_config
    from dcsim.config.build import build

    ov = DCSIM_OVERRIDES + [f"workload.services.chat.replicas={replicas}",
                            f"workload.services.chat.arrival_rate_per_s={qps}", f"duration_s={requests / qps}"]
    scenario = build(compose_config(ov))
    t1, c1 = time.perf_counter(), time.process_time()
    results = scenario.run()
    t2, c2 = time.perf_counter(), time.process_time()
    s = results.summary()
    return {"requests": s["requests_arrived"], "events": results.events_processed, "setup_s": t1 - t0,
            "run_s": t2 - t1, "cpu_run_s": c2 - c1, "total_s": time.perf_counter() - t0,
            "cpu_total_s": time.process_time() - c0,
            "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def _timed(cmd: list[str], env: dict | None = None) -> tuple[str, dict]:
    """Run ``cmd`` under /usr/bin/time -v: its stdout and (wall_s, cpu_s, maxrss_mb) of the whole process."""
    p = subprocess.run(["/usr/bin/time", "-v", *cmd], capture_output=True, text=True, env=env)
    if p.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed ({p.returncode}):\n{p.stderr[-2000:]}")
    return p.stdout, _time_v(p.stderr)


def _time_v(text: str) -> dict:
    def field(name: str) -> str:
        m = re.search(rf"{re.escape(name)}: (.+)", text)
        if m is None:
            raise RuntimeError(f"no {name!r} in /usr/bin/time output")
        return m.group(1).strip()

    wall = 0.0
    for part in field("Elapsed (wall clock) time (h:mm:ss or m:ss)").split(":"):
        wall = wall * 60 + float(part)
    return {"wall_s": wall, "cpu_s": float(field("User time (seconds)")) + float(field("System time (seconds)")),
            "maxrss_mb": int(field("Maximum resident set size (kbytes)")) / 1024}


def setup_vidur(work: Path) -> None:
    """The venv with Vidur from PyPI and the offline profile cache, once."""
    py = work / "venv" / "bin" / "python"
    if not py.exists():
        work.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "venv", str(work / "venv")], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", f"vidur=={VIDUR_VERSION}"], check=True)
    if not (work / "cache").exists():
        env = dict(os.environ, HF_HUB_OFFLINE="1")
        subprocess.run([str(py), str(PEER / "vidur_make_profile_cache.py"), str(work / "cache"), "a100", "a100_dgx"],
                       check=True, env=env)


def run_vidur(tag: str, requests: int, replicas: int, qps: float, work: Path) -> dict:
    env = dict(os.environ, VIDUR_WORK=str(work))
    subprocess.run(["bash", str(PEER / "vidur_run.sh"), tag, str(requests), str(replicas), str(qps)],
                   check=True, env=env, capture_output=True, text=True)
    log = (work / "logs" / f"{tag}.log").read_text()
    line = next(x for x in log.splitlines() if x.startswith("VIDUR_TIMING "))
    t = json.loads(line.split(" ", 1)[1])
    whole = _time_v((work / "logs" / f"{tag}.time").read_text())
    return {"requests": t["num_requests"], "events": t["events"], "run_s": t["run_s"], "cpu_run_s": t["cpu_run_s"],
            **whole}


def run_dcsim(requests: int, replicas: int, qps: float) -> dict:
    out, whole = _timed([sys.executable, __file__, "--dcsim-case", str(requests), str(replicas), str(qps)])
    inner = json.loads(out.strip().splitlines()[-1])
    return {**inner, **whole}


ROWS = (  # (label, function of one run's figures)
    ("requests/s, simulation alone (wall)", lambda r: r["requests"] / r["run_s"]),
    ("requests/s, simulation alone (CPU)", lambda r: r["requests"] / r["cpu_run_s"]),
    ("requests/s, whole process (wall)", lambda r: r["requests"] / r["wall_s"]),
    ("requests/s, whole process (CPU)", lambda r: r["requests"] / r["cpu_s"]),
    ("events per request", lambda r: r["events"] / r["requests"]),
    ("max RSS (MB)", lambda r: r["maxrss_mb"]),
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=10_000)
    ap.add_argument("--replicas", type=int, default=16)
    ap.add_argument("--qps", type=float, default=32.0)
    ap.add_argument("--pairs", type=int, default=3)
    ap.add_argument("--work", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "vidur-peer",
                    help="Vidur's venv, profile cache and outputs")
    ap.add_argument("--dcsim-case", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.dcsim_case:
        n, r, q = args.dcsim_case
        print(json.dumps(dcsim_case(int(n), int(r), float(q))))
        return
    setup_vidur(args.work)
    tag = f"r{args.replicas}_{args.requests}"
    print(f"warm-up (Vidur trains or loads its predictors, dcsim fills caches): {tag}", flush=True)
    run_vidur(f"{tag}_warm", args.requests, args.replicas, args.qps, args.work)
    run_dcsim(args.requests, args.replicas, args.qps)
    runs: dict[str, list[dict]] = {"vidur": [], "dcsim": []}
    for i in range(args.pairs):  # interleaved: A B A B ...
        runs["vidur"].append(run_vidur(f"{tag}_{i}", args.requests, args.replicas, args.qps, args.work))
        runs["dcsim"].append(run_dcsim(args.requests, args.replicas, args.qps))
        for name in runs:
            r = runs[name][-1]
            print(f"pair {i + 1} {name:5s}: {r['requests']} requests, run {r['run_s']:.3f} s wall "
                  f"{r['cpu_run_s']:.3f} s CPU, whole process {r['wall_s']:.2f} s wall {r['cpu_s']:.2f} s CPU, "
                  f"{r['events']} events, {r['maxrss_mb']:.0f} MB", flush=True)
    print(f"\nmedians of {args.pairs} interleaved pairs ({args.requests:,} requests, {args.replicas} replicas, "
          f"{args.qps:g} requests/s)")
    print(f"| what | Vidur {VIDUR_VERSION} | dcsim | dcsim / Vidur |\n|---|---|---|---|")
    for label, fn in ROWS:
        v = statistics.median(fn(r) for r in runs["vidur"])
        d = statistics.median(fn(r) for r in runs["dcsim"])
        fmt = (lambda x: f"{x:,.2f}") if "events" in label else (lambda x: f"{x:,.0f}")
        print(f"| {label} | {fmt(v)} | {fmt(d)} | {d / v:,.2f}x |")


if __name__ == "__main__":
    main()
