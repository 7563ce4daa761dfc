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

Decode-heavy serving (:func:`serving_sweep`) has no measured per-cap energy in dcsim's
data: its time check is Splitwise's capped H100 (token time unchanged,
``tests/test_calibration.py``); docs/calibration.md states the gap.

    python -m dcsim.hardware.capsweep          # both sweeps, H100 300-700 W, with the errors
    python -m dcsim.hardware.capsweep --fit    # refit the DVFS curve to the compute-bound rows
"""

from __future__ import annotations

import argparse
import csv
from dataclasses import dataclass
from importlib import resources

import numpy as np

from dcsim.hardware.device import DeviceModel
from dcsim.hardware.gpus import GPUS, GpuSpec
from dcsim.hardware.models import MODELS
from dcsim.hardware.performance import training_step

SWEEP_CAPS_W = (300.0, 400.0, 500.0, 600.0, 700.0)
# The serving check: Llama-3.1-70B on 4 H100s at vLLM's default 256-sequence batch, 1,500 tokens
# of context each (a chat turn); the training check: Llama-3.1-8B on one node of 8 H100s.
SERVING_MODEL, SERVING_TP, SERVING_BATCH, SERVING_CONTEXT = "Llama-3.1-70B", 4, 256, 1500.0
TRAINING_MODEL, TRAINING_GPUS, TRAINING_TOKENS, TRAINING_MFU = "Llama-3.1-8B", 8, 8 * 8192.0, 0.4


@dataclass(frozen=True, slots=True)
class SweepPoint:
    """Time and energy of a unit of work at a cap, as ratios to the uncapped (700 W) point."""

    cap_w: float
    clock: float  # relative SM clock
    power_w: float  # per GPU
    time_ratio: float
    energy_ratio: float


def load_points(kind: str) -> list[dict[str, str]]:
    """The measured rows of one kind (``compute_bound`` or ``training``), by rising cap."""
    text = resources.files("dcsim.data").joinpath("capsweep/h100_cap_sweep.csv").read_text(encoding="utf-8")
    rows = [r for r in csv.DictReader(text.splitlines()) if r["kind"] == kind]
    if not rows:
        raise ValueError(f"capsweep kind must be one of compute_bound, training; got {kind!r}")
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
        t, p = (float(x) for x in dev.iteration(*args))
        out.append(SweepPoint(cap, float(dev.iteration_clock(*args)), p, t / t0, p * t / (p0 * t0)))
    return out


def measured_training_ratios() -> dict[float, tuple[float, float]]:
    """cap -> (time ratio, derived energy ratio) of the measured training sweep (module docstring)."""
    rows = {float(r["cap_w"]): float(r["throughput"]) for r in load_points("training")}
    draw = {float(r["cap_w"]): float(r["avg_power_w"]) for r in load_points("compute_bound")}
    full = rows[700.0]
    return {cap: (full / tps, draw[cap] / draw[700.0] * full / tps) for cap, tps in rows.items()}


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
    print(f"Decode-heavy serving ({SERVING_MODEL}, TP {SERVING_TP}, batch {SERVING_BATCH}, vllm-0.11); "
          "no measured per-cap energy (docs/calibration.md):")
    for p in serving_sweep(args.gpu):
        print(f"  {p.cap_w:4.0f} W: clock {p.clock:.3f}, {p.power_w:5.1f} W; time per token x{p.time_ratio:.3f}, "
              f"energy per token x{p.energy_ratio:.3f}")


if __name__ == "__main__":
    main()
