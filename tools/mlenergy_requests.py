"""How many requests each ML.ENERGY Benchmark v3 configuration submitted, and the share of GPU
memory its server could use, from the benchmark's own configs.

The benchmark (github.com/ml-energy/benchmark) submits ``num_requests x num_request_repeats``
requests at once and measures the steady state from the moment ``max_num_seqs`` of them have
their first token until all but ``max_num_seqs + 1`` have finished
(``mlenergy/benchmark/llm/benchmark.py``). ``num_requests`` is the task's
(``configs/vllm/<task>/benchmark.yaml``: 198 GPQA questions, 1,024 chat or code prompts, 1,024
images, 512 videos); the repeats are the sweep's entry for the row's ``max_num_seqs`` and GPU
count (``configs/vllm/<task>/<model>/<GPU>/sweeps.yaml``, else the task's ``sweep_defaults``).
This writes them to ``dcsim/data/mlenergy/`` for the calibration report (docs/calibration.md,
"The benchmark's steady state is not always steady"):

    git clone https://github.com/ml-energy/benchmark && git -C benchmark checkout c1d6557
    python tools/mlenergy_requests.py benchmark ../shared/data/calibration/mlenergy-v3/configurations.csv

(``benchmark`` may also be a bare git directory: files are read with ``git show``.) A row whose
sweep has no entry for its ``max_num_seqs`` is written with an empty ``num_requests``.
"""

from __future__ import annotations

import csv
import functools
import subprocess
import sys
from pathlib import Path

import yaml

OUT = Path(__file__).resolve().parent.parent / "dcsim" / "data" / "mlenergy" / "benchmark_requests.csv"
COMMIT = "c1d6557"


def _reader(repo: str):
    @functools.cache  # every row of a task reads its benchmark.yaml, every batch of a model its sweeps
    def read(path: str) -> str | None:
        p = subprocess.run(["git", "-C", repo, "show", f"{COMMIT}:{path}"], capture_output=True, text=True)
        return p.stdout if p.returncode == 0 else None
    return read


def requests_of(read, row: dict[str, str]) -> int | None:
    task, gpu = row["task"], row["gpu_model"]
    bench = yaml.safe_load(read(f"configs/vllm/{task}/benchmark.yaml"))
    base = int(bench["workload_defaults"]["num_requests"])
    default_repeats = int(bench["workload_defaults"].get("num_request_repeats", 1))
    own = read(f"configs/vllm/{task}/{row['model_id']}/{gpu}/sweeps.yaml")
    sweep = yaml.safe_load(own)["sweep"] if own else bench["sweep_defaults"]
    b, gpus = int(row["max_num_seqs"]), int(row["num_gpus"])
    for entry in sweep:
        if b in entry.get("max_num_seqs", []) and gpus in entry.get("num_gpus", [gpus]):
            repeats = entry.get("num_request_repeats", [default_repeats])
            if len(repeats) != 1:
                raise SystemExit(f"{row['model_id']} {task} {gpu} max_num_seqs {b}: several repeats {repeats}")
            return base * int(repeats[0])
    return None


def memory_utilization_of(read, row: dict[str, str]) -> float:
    """The ``gpu-memory-utilization`` the row's server ran with (its ``monolithic.config.yaml``;
    vLLM's default 0.9 when the config does not set it: the H100 multimodal configs set 0.85)."""
    text = read(f"configs/vllm/{row['task']}/{row['model_id']}/{row['gpu_model']}/monolithic.config.yaml")
    config = (yaml.safe_load(text) if text else None) or {}
    return float(config.get("gpu-memory-utilization", 0.9))


def main(argv: list[str]) -> None:
    if len(argv) != 2:
        raise SystemExit("usage: python tools/mlenergy_requests.py <ml-energy/benchmark checkout> <configurations.csv>")
    read = _reader(argv[0])
    with open(argv[1], newline="") as f:
        rows = list(csv.DictReader(f))
    keys = ("model_id", "task", "gpu_model", "num_gpus", "max_num_seqs")
    with open(OUT, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow((*keys, "num_requests", "gpu_memory_utilization"))
        for r in rows:
            n = requests_of(read, r)
            w.writerow((*(r[k] for k in keys), "" if n is None else n, memory_utilization_of(read, r)))
    print(f"wrote {OUT} ({len(rows)} rows)")


if __name__ == "__main__":
    main(sys.argv[1:])
