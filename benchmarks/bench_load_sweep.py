"""Loading a sweep (run on request, not in the test suite).

    python benchmarks/bench_load_sweep.py              # 300 runs
    python benchmarks/bench_load_sweep.py --runs 3000

Writes a synthetic multirun of N run directories in a temporary directory: one real run
(the default scenario, 60 simulated seconds) written by ``dcsim.io.writer.write_run``,
copied N times with Hydra's ``.hydra/overrides.yaml`` and the summary's overrides set
to a grid of rack density x cooling x seed; every tenth point is a refused run
(``error.json`` only). Then times, in this fresh process:

- ``load_sweep``: the first call (it imports Hydra's override parser) and the median of
  five more;
- ``load_sweep_tables`` of two columns of ``requests`` over every complete run.
"""

from __future__ import annotations

import argparse
import itertools
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import yaml


def make_sweep(root: Path, runs: int) -> Path:
    """A multirun directory of ``runs`` run directories; returns the multirun root."""
    import dcsim
    from dcsim.io.writer import write_run

    template = root / "template"
    results = dcsim.run(["duration_s=60"])
    write_run(template, results.frames(), results.summary())
    summary = json.loads((template / "summary.json").read_text())
    sweep = root / "multirun" / "2026-01-01" / "00-00-00"
    grid = itertools.product(range(1000), ("air", "direct_liquid"), (32, 40, 64))
    for num, (seed, cooling, gpus) in zip(range(runs), grid):
        overrides = [f"seed={seed}", f"facility.cooling.technology={cooling}", f"facility.rack.gpus_per_rack={gpus}",
                     "duration_s=60", "output.report=false"]
        d = sweep / str(num)
        (d / ".hydra").mkdir(parents=True)
        (d / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
        if num % 10 == 9:
            (d / "error.json").write_text(json.dumps({"status": "refused", "error": "refused", "overrides": overrides}))
            continue
        for f in template.iterdir():
            if f.suffix == ".parquet":
                shutil.copyfile(f, d / f.name)
        (d / "summary.json").write_text(json.dumps({**summary, "seed": seed, "overrides": overrides,
                                                    "wall_time_s": 0.1}, indent=2))
    return root / "multirun"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=300)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        sweep = make_sweep(Path(tmp), args.runs)
        from dcsim.analysis import load_sweep, load_sweep_tables

        t0 = time.perf_counter()
        df = load_sweep(sweep)
        first_s = time.perf_counter() - t0
        again = []
        for _ in range(5):
            t0 = time.perf_counter()
            load_sweep(sweep)
            again.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        req = load_sweep_tables(df, "requests", columns=["service", "ttft_s"])
        tables_s = time.perf_counter() - t0
    ok = int((df["status"] == "ok").sum())
    print(f"load_sweep: {len(df)} runs ({ok} complete), {df.shape[1]} columns: "
          f"first call {first_s:.3f} s, then median {statistics.median(again):.3f} s")
    print(f"load_sweep_tables(requests, 2 columns): {len(req):,} rows from {ok} runs in {tables_s:.3f} s")


if __name__ == "__main__":
    main()
