"""Fit :class:`InferencePerfParams` to measured prompt and token times.

Input is the Splitwise ``perf_model.csv`` (Patel et al., ISCA 2024; MIT licence;
columns model, hardware, prompt_size, batch_size, token_size, prompt_time,
token_time in ms, tensor_parallel). Each row gives two observations:

- ``prompt_time`` at ``batch_size`` 1: one prefill iteration of ``prompt_size`` tokens
  (at larger batches the measured prompt time grows as batch x single-prompt time,
  i.e. the prompts were not prefilled together, so those rows are left out);
- ``token_time``: one decode iteration of ``batch_size`` sequences whose context is,
  on average over the generation, ``prompt_size + token_size / 2`` tokens.

For every pair of efficiencies on a grid, the overheads enter linearly, so they are
solved by least squares on relative error; the pair with the lowest error wins.

    python -m dcsim.hardware.calibrate PATH/perf_model.csv [--hardware h100-80gb] [--model llama2-70b]
"""

from __future__ import annotations

import argparse
import csv
from dataclasses import replace

import numpy as np

from dcsim.hardware.gpus import GPUS
from dcsim.hardware.models import MODELS
from dcsim.hardware.performance import InferencePerfParams, iteration_cost, prefill_attn_pairs

HARDWARE = {"a100-80gb": "A100-80GB", "h100-80gb": "H100-SXM", "h100-80gb-pcap": "H100-SXM"}
MODEL = {"llama2-70b": "Llama-2-70B"}


def load_observations(path: str, hardware: str, model: str) -> dict[str, np.ndarray]:
    """Rows of one hardware and model as arrays (times in seconds)."""
    cols: dict[str, list[float]] = {k: [] for k in ("tp", "prompt", "batch", "tokens", "prompt_s", "token_s")}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            if row["hardware"] != hardware or row["model"] != model:
                continue
            cols["tp"].append(float(row["tensor_parallel"]))
            cols["prompt"].append(float(row["prompt_size"]))
            cols["batch"].append(float(row["batch_size"]))
            cols["tokens"].append(float(row["token_size"]))
            cols["prompt_s"].append(float(row["prompt_time"]) / 1e3)
            cols["token_s"].append(float(row["token_time"]) / 1e3)
    if not cols["tp"]:
        raise ValueError(f"no rows for hardware={hardware!r} model={model!r} in {path}")
    return {k: np.asarray(v) for k, v in cols.items()}


def _design(obs: dict[str, np.ndarray], hardware: str, model: str, params: InferencePerfParams):
    """Observed times, the roofline part (without fixed terms) and the fixed-term regressors."""
    gpu, llm = GPUS[HARDWARE[hardware]], MODELS[MODEL[model]]
    tp, b, p, n = obs["tp"], obs["batch"], obs["prompt"], obs["tokens"]
    zero = replace(params, iteration_overhead_s=0.0, per_seq_overhead_s=0.0, allreduce_hop_latency_s=0.0)
    pre = _cost_by_tp(llm, gpu, tp, zero, b * p, b * prefill_attn_pairs(p), b * p, 0.0 * b)
    ctx = b * (p + n / 2.0)
    dec = _cost_by_tp(llm, gpu, tp, zero, b, ctx, ctx, b)
    hops = 2 * llm.layers * 2 * (tp - 1)
    one = b == 1
    y = np.concatenate([obs["prompt_s"][one], obs["token_s"]])
    base = np.concatenate([pre[one], dec])
    # columns: iteration overhead, per decoding sequence, per all-reduce hop
    x = np.column_stack([np.ones_like(y), np.concatenate([0 * b[one], b]), np.concatenate([hops[one], hops])])
    return y, base, x


def _cost_by_tp(llm, gpu, tp, params, new, pairs, kv, seqs):
    out = np.empty_like(tp)
    for t in np.unique(tp):
        m = tp == t
        out[m] = iteration_cost(llm, gpu, int(t), params, new[m], pairs[m], kv[m], seqs[m]).time_s
    return out


def fit(path: str, hardware: str = "h100-80gb", model: str = "llama2-70b") -> tuple[InferencePerfParams, dict[str, float]]:
    """Best-fitting parameters and their absolute percentage errors per phase."""
    obs = load_observations(path, hardware, model)
    best: tuple[float, InferencePerfParams] | None = None
    grid = np.round(np.arange(0.10, 1.0001, 0.01), 2)
    for eff_c in grid:
        for eff_m in grid:
            params = InferencePerfParams(compute_efficiency=float(eff_c), memory_efficiency=float(eff_m))
            y, base, x = _design(obs, hardware, model, params)
            w = 1.0 / y
            coef, *_ = np.linalg.lstsq(x * w[:, None], (y - base) * w, rcond=None)
            coef = np.maximum(coef, 0.0)
            err = float(np.mean(((base + x @ coef) / y - 1.0) ** 2))
            if best is None or err < best[0]:
                best = (err, replace(params, iteration_overhead_s=float(coef[0]), per_seq_overhead_s=float(coef[1]),
                                     allreduce_hop_latency_s=float(coef[2])))
    assert best is not None
    return best[1], errors(obs, hardware, model, best[1])


def errors(obs: dict[str, np.ndarray], hardware: str, model: str, params: InferencePerfParams) -> dict[str, float]:
    """Median and worst absolute percentage error of prompt and token time."""
    y, base, x = _design(obs, hardware, model, params)
    pred = base + x @ np.array([params.iteration_overhead_s, params.per_seq_overhead_s, params.allreduce_hop_latency_s])
    ape = np.abs(pred / y - 1.0) * 100.0
    k = int(np.sum(obs["batch"] == 1))
    return {
        "prompt_median_ape_pct": float(np.median(ape[:k])),
        "prompt_worst_ape_pct": float(np.max(ape[:k])),
        "token_median_ape_pct": float(np.median(ape[k:])),
        "token_worst_ape_pct": float(np.max(ape[k:])),
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("csv")
    ap.add_argument("--hardware", default="h100-80gb", choices=sorted(HARDWARE))
    ap.add_argument("--model", default="llama2-70b", choices=sorted(MODEL))
    args = ap.parse_args(argv)
    params, err = fit(args.csv, args.hardware, args.model)
    print(params)
    for k, v in err.items():
        print(f"{k}: {v:.1f}")


if __name__ == "__main__":
    main()
