"""H100 power-cap sweeps: dcsim's DVFS model against measured cap sweeps.

The measured points are ``dcsim/data/capsweep/h100_cap_sweep.csv`` (paper, figure or
table, how each value was read; DATA_SOURCES.md):

- ``compute_bound``: average power and SM clock per cap of a compute-bound H100 workload
  (Ujeniya et al. 2026, arXiv 2604.11391, Fig. 6b and 9b). The catalogue's DVFS curve
  ``v(f)`` is fitted to these (:func:`fit_voltage_curve`): the dynamic share
  ``(power - idle) / (power at 700 W - idle)`` against ``f v(f)^2``.
- ``training``: tokens per second per GPU per cap of LLaMA 3 8B continued pre-training
  (Mayr et al. 2026, arXiv 2603.16164, Table 4). Nothing is fitted to these: they check
  :func:`training_sweep`. The paper gives no power per cap, so the *measured* energy ratio is
  derived: a compute-bound H100 draws its cap when the cap binds (the compute-bound rows
  draw 199-591 W at caps of 200-600 W) and the compute-bound row's 647 W at 700 W:
  ``energy ratio = draw(cap) / draw(700) x time ratio``.

- ``decode``: time and GPU energy of decode-heavy LLM inference per cap, as changes from a
  250 W cap (Samsi et al. 2023, arXiv 2310.03003, Table III: LLaMA 65B on 4 A100 80GB,
  GSM8K, batch 64, 256-1,024 output tokens, caps 175 and 150 W). No per-cap decode energy
  measurement on H100 was found (docs/calibration.md lists the search), so this A100 sweep
  checks :func:`decode_sweep`, which runs the same inference (a joint prefill of the batch,
  then one decode iteration per output token) on the catalogue A100. Nothing is fitted to it.

Decode-heavy serving on H100 (:func:`serving_sweep`) keeps only a time check: Splitwise's
capped H100 (token time unchanged, ``tests/test_calibration.py``).

    python -m dcsim.hardware.capsweep          # the sweeps, with the errors
    python -m dcsim.hardware.capsweep --fit    # refit the DVFS curve to the compute-bound rows
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
from dataclasses import dataclass
from importlib import resources

import numpy as np

from dcsim.hardware.device import DeviceModel
from dcsim.hardware.gpus import GPUS, GpuSpec
from dcsim.hardware.models import MODELS, LlmSpec
from dcsim.hardware.performance import prefill_attn_pairs, training_step

SWEEP_CAPS_W = (300.0, 400.0, 500.0, 600.0, 700.0)
# The serving check: Llama-3.1-70B on 4 H100s at vLLM's default 256-sequence batch, 1,500 tokens
# of context each (a chat turn); the training check: Llama-3.1-8B on one node of 8 H100s.
SERVING_MODEL, SERVING_TP, SERVING_BATCH, SERVING_CONTEXT = "Llama-3.1-70B", 4, 256, 1500.0
TRAINING_MODEL, TRAINING_GPUS, TRAINING_TOKENS, TRAINING_MFU = "Llama-3.1-8B", 8, 8 * 8192.0, 0.4
# The decode check, as Samsi et al. ran it: LLaMA 65B sharded over 4 A100s, 64 GSM8K prompts at once,
# caps against the 250 W row. The prompt length is not given: 100 tokens is an assumption (a GSM8K
# question is a few sentences); 50 or 200 tokens move every error by at most 1.4 points.
DECODE_GPU, DECODE_TP, DECODE_BATCH, DECODE_PROMPT_TOKENS = "A100-80GB", 4, 64, 100.0
DECODE_REFERENCE_CAP_W, DECODE_CAPS_W, DECODE_OUTPUT_TOKENS = 250.0, (175.0, 150.0), (256, 512, 1024)


@dataclass(frozen=True, slots=True)
class SweepPoint:
    """Time and energy of a unit of work at a cap, as ratios to the uncapped (700 W) point."""

    cap_w: float
    clock: float  # relative SM clock
    power_w: float  # per GPU
    time_ratio: float
    energy_ratio: float


def load_points(kind: str) -> list[dict[str, str]]:
    """The measured rows of one kind (``compute_bound``, ``training`` or ``decode``), by rising cap."""
    text = resources.files("dcsim.data").joinpath("capsweep/h100_cap_sweep.csv").read_text(encoding="utf-8")
    all_rows = list(csv.DictReader(text.splitlines()))
    rows = [r for r in all_rows if r["kind"] == kind]
    if not rows:
        kinds = ", ".join(sorted({r["kind"] for r in all_rows}))
        raise ValueError(f"capsweep kind must be one of {kinds}; got {kind!r}")
    return sorted(rows, key=lambda r: float(r["cap_w"]))


def measured_dynamic_shares(gpu: GpuSpec) -> tuple[np.ndarray, np.ndarray]:
    """(relative clock, dynamic power share) of the compute-bound rows, the 700 W row as 1."""
    rows = load_points("compute_bound")
    mhz = np.array([float(r["sm_clock_mhz"]) for r in rows])
    power_w = np.array([float(r["avg_power_w"]) for r in rows])
    return mhz / mhz[-1], (power_w - gpu.idle_w) / (power_w[-1] - gpu.idle_w)


def fit_voltage_curve(gpu: GpuSpec) -> tuple[float, float]:
    """(voltage slope, minimum voltage) of ``v(f)`` whose ``f v(f)^2`` best matches the
    compute-bound rows below 700 W (least squares on the log, grid of 0.005 and 0.0025)."""
    clock, share = measured_dynamic_shares(gpu)
    clock, share = clock[:-1], share[:-1]
    slopes = np.arange(0.3, 2.0, 0.005)[:, None, None]
    floors = np.arange(0.5, 1.0, 0.0025)[None, :, None]
    v = np.maximum(floors, 1.0 - slopes * (1.0 - clock))
    err = np.sum(np.log(clock * v * v / share) ** 2, axis=2)
    i, j = np.unravel_index(np.argmin(err), err.shape)
    return round(float(slopes[i, 0, 0]), 4), round(float(floors[0, j, 0]), 4)


def training_sweep(gpu_name: str = "H100-SXM", caps_w=SWEEP_CAPS_W) -> list[SweepPoint]:
    """A training step of :data:`TRAINING_MODEL` on one node under each cap, as a training job
    runs it: compute stretched by the clock, exposed communication not, power at the cap."""
    gpu = GPUS[gpu_name]
    step = training_step(MODELS[TRAINING_MODEL], gpu, TRAINING_GPUS, TRAINING_TOKENS, TRAINING_MFU,
                         TRAINING_GPUS, gpu.nvlink_bw_bytes_per_s / 2.0, 1.0)
    free = DeviceModel.for_gpu(gpu)
    e0 = free.training_w() * step.time_s
    out = []
    for cap in caps_w:
        dev = free.with_cap(None if cap >= gpu.tdp_w else cap)
        time_s = step.compute_s * dev.training_slowdown() + step.exposed_comm_s
        out.append(SweepPoint(cap, dev.training_clock(), dev.training_w(), time_s / step.time_s,
                              dev.training_w() * time_s / e0))
    return out


def serving_sweep(gpu_name: str = "H100-SXM", caps_w=SWEEP_CAPS_W) -> list[SweepPoint]:
    """A decode iteration of :data:`SERVING_MODEL` at a full batch under each cap (vLLM 0.11
    profile): time per output token and GPU energy per output token, as ratios."""
    gpu = GPUS[gpu_name]
    model = MODELS[SERVING_MODEL]
    ctx = SERVING_BATCH * SERVING_CONTEXT
    args = (model, SERVING_TP, SERVING_BATCH, ctx, ctx, SERVING_BATCH)
    free = DeviceModel.for_gpu(gpu)
    t0, p0 = (float(x) for x in free.iteration(*args))
    out = []
    for cap in caps_w:
        dev = free.with_cap(None if cap >= gpu.tdp_w else cap)
        t, p, clock = (float(x) for x in dev.iteration_with_clock(*args))
        out.append(SweepPoint(cap, clock, p, t / t0, p * t / (p0 * t0)))
    return out


def measured_training_ratios() -> dict[float, tuple[float, float]]:
    """cap -> (time ratio, derived energy ratio) of the measured training sweep (module docstring)."""
    rows = {float(r["cap_w"]): float(r["throughput"]) for r in load_points("training")}
    draw = {float(r["cap_w"]): float(r["avg_power_w"]) for r in load_points("compute_bound")}
    full = rows[700.0]
    return {cap: (full / tps, draw[cap] / draw[700.0] * full / tps) for cap, tps in rows.items()}


def llama_65b() -> LlmSpec:
    """LLaMA 65B (Touvron et al. 2023, arXiv 2302.13971, Table 2: 65.2B parameters, dimension 8,192,
    64 heads, 80 layers; multi-head attention): Llama-2-70B's layers, width and head size with
    every head its own KV head. Not in the catalogue: only this check uses it."""
    return dataclasses.replace(MODELS["Llama-2-70B"], name="LLaMA-65B", params=65.2e9, active_params=65.2e9,
                               kv_heads=64, attention="mha", source="arXiv 2302.13971, Table 2",
                               params_source="arXiv 2302.13971, Table 2 (65.2B)")


def decode_sweep(output_tokens: int, gpu_name: str = DECODE_GPU, caps_w=DECODE_CAPS_W,
                 reference_cap_w: float = DECODE_REFERENCE_CAP_W) -> list[SweepPoint]:
    """One batch of Samsi et al.'s inference (:data:`DECODE_BATCH` prompts of
    :data:`DECODE_PROMPT_TOKENS`, a joint prefill, then ``output_tokens`` decode iterations over
    a growing context) under each cap, time and GPU energy as ratios to ``reference_cap_w``;
    clock and power are time-weighted means."""
    gpu, model, b, n0 = GPUS[gpu_name], llama_65b(), float(DECODE_BATCH), DECODE_PROMPT_TOKENS
    ctx = b * (n0 + np.arange(output_tokens, dtype=np.float64))
    seqs = np.full(output_tokens, b)
    prefill = (model, DECODE_TP, b * n0, b * prefill_attn_pairs(n0), b * n0, 0.0)
    decode = (model, DECODE_TP, seqs, ctx, ctx, seqs)
    free = DeviceModel.for_gpu(gpu)

    def run(cap: float) -> tuple[float, float, float]:
        dev = free.with_cap(None if cap >= gpu.tdp_w else cap)
        t, p, f = (np.concatenate([np.atleast_1d(x) for x in xs]) for xs in zip(
            *(dev.iteration_with_clock(*a) for a in (prefill, decode)), strict=True))
        return float(t.sum()), float((t * p).sum()), float((t * f).sum() / t.sum())

    t0, e0, _ = run(reference_cap_w)
    out = []
    for cap in caps_w:
        t, e, f = run(cap)
        out.append(SweepPoint(cap, f, e / t, t / t0, e / e0))
    return out


def measured_decode_ratios() -> dict[tuple[float, int], tuple[float, float]]:
    """(cap, output tokens) -> (time ratio, energy ratio) to the 250 W cap of Samsi et al.'s Table III."""
    return {(float(r["cap_w"]), int(r["output_tokens"])):
            (1.0 + float(r["time_change_pct"]) / 100.0, 1.0 + float(r["energy_change_pct"]) / 100.0)
            for r in load_points("decode")}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fit", action="store_true", help="refit the DVFS curve to the compute-bound rows")
    ap.add_argument("--gpu", default="H100-SXM", help="catalogue GPU to sweep (default H100-SXM)")
    args = ap.parse_args(argv)
    gpu = GPUS[args.gpu]
    if args.fit:
        slope, v_min = fit_voltage_curve(gpu)
        clock, share = measured_dynamic_shares(gpu)
        v = np.maximum(v_min, 1.0 - slope * (1.0 - clock))
        print(f"DVFS fit ({gpu.name}, idle {gpu.idle_w:.1f} W): dvfs_voltage_slope={slope}, dvfs_min_voltage={v_min}")
        for f, s, m in zip(clock, share, clock * v * v, strict=True):
            print(f"  clock {f:.3f}: measured dynamic share {s:.3f}, model {m:.3f} ({(m / s - 1) * 100:+.1f} %)")
        return
    measured = measured_training_ratios()
    print(f"Training ({TRAINING_MODEL}, {TRAINING_GPUS} x {gpu.name}) against Mayr et al. 2026 Table 4 "
          "(energy derived, module docstring):")
    for p in training_sweep(args.gpu):
        mt, me = measured[p.cap_w]
        print(f"  {p.cap_w:4.0f} W: clock {p.clock:.3f}, {p.power_w:5.1f} W; time x{p.time_ratio:.3f} "
              f"(measured x{mt:.3f}, {(p.time_ratio / mt - 1) * 100:+.1f} %), energy x{p.energy_ratio:.3f} "
              f"(derived x{me:.3f}, {(p.energy_ratio / me - 1) * 100:+.1f} %)")
    decode = measured_decode_ratios()
    print(f"Decode-heavy inference (LLaMA-65B, {DECODE_TP} x {DECODE_GPU}, batch {DECODE_BATCH}) against "
          f"Samsi et al. 2023 Table III, ratios to the {DECODE_REFERENCE_CAP_W:.0f} W cap:")
    for n in DECODE_OUTPUT_TOKENS:
        for p in decode_sweep(n):
            mt, me = decode[(p.cap_w, n)]
            print(f"  {n:4d} tokens, {p.cap_w:3.0f} W: clock {p.clock:.3f}, {p.power_w:5.1f} W; time x{p.time_ratio:.3f} "
                  f"(measured x{mt:.3f}, {(p.time_ratio / mt - 1) * 100:+.1f} %), energy x{p.energy_ratio:.3f} "
                  f"(measured x{me:.3f}, {(p.energy_ratio / me - 1) * 100:+.1f} %)")
    print(f"Decode-heavy serving ({SERVING_MODEL}, TP {SERVING_TP}, batch {SERVING_BATCH}, vllm-0.11); "
          "no measured per-cap energy on H100 (docs/calibration.md):")
    for p in serving_sweep(args.gpu):
        print(f"  {p.cap_w:4.0f} W: clock {p.clock:.3f}, {p.power_w:5.1f} W; time per token x{p.time_ratio:.3f}, "
              f"energy per token x{p.energy_ratio:.3f}")


if __name__ == "__main__":
    main()
