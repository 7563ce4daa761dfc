"""Fit the performance, power and power-cap models to the Splitwise measurements.

Input is the Splitwise ``perf_model.csv`` (Patel et al., "Splitwise: Efficient Generative
LLM Inference Using Phase Splitting", ISCA 2024; github.com/Mutinifni/splitwise-sim @
8f99e7dc, ``data/perf_model.csv``, MIT licence). Columns: model, hardware, prompt_size,
batch_size, token_size, peak_power, average_power (fraction of TDP, 0 = not measured),
prompt_time, token_time, e2e_time (ms), tensor_parallel. Llama-2-70B runs at TP 2/4/8
and BLOOM-176B at TP 8, on ``a100-80gb``, ``h100-80gb`` and ``h100-80gb-pcap`` (an H100
under a power cap).

**Observations** (medians over the repeated rows of one configuration):

- *prompt*: one per (model, TP, prompt_size, batch_size). Prompt times do not depend on
  token_size, so the token-size sweep is not counted seven times. At batch_size > 1 the
  measured prompt time grows as batch x the single-prompt time, i.e. the prompts were
  prefilled one after another: such a row is predicted as ``batch`` prefill iterations
  of ``prompt_size`` tokens each.
- *token*: one per (model, TP, prompt_size, batch_size, token_size): one decode
  iteration of ``batch`` sequences at their mean context over the generation,
  ``prompt_size + n / 2`` with n the tokens actually generated,
  ``(e2e_time - prompt_time) / token_time`` (generation stops near 680 tokens even
  when token_size asks for up to 8192), at most token_size.
- Excluded: TP 2 at batch 64 (prompt time 8x *below* batch 32 while e2e time rises 9x:
  64 x 640 tokens of KV cache, 13.4 GB, do not fit beside 138 GB of weights on two
  80 GB GPUs, so the run degenerated).

**Performance fit**, per GPU over both models: the efficiencies (compute, memory) are
searched on a 0.02 grid; the other parameters enter linearly (the all-reduce bandwidth
efficiency as its inverse) and are solved by non-negative least squares on relative
error, each (model, phase) group weighted equally; the grid point with the lowest mean
absolute relative error wins and its linear part is refined to least absolute
relative error (iteratively reweighted least squares).

**Power fit** (A100 only: the H100 rows carry no power): the measured average power of
a request is over its prompt (``batch`` prefills) and its ``token_size - 1`` decode
iterations; the model predicts that time-weighted average from the fitted performance
model and :class:`GpuPowerModel`. The averages alone hardly constrain the compute weight,
so the peak power of rows whose prefill lasted >= 0.2 s (0.92-1.09 of TDP, median 1.02; taken at most TDP)
is matched to the predicted prefill power as well; the activity weights are searched on
a grid to minimise the mean squared relative error over both. Excluded: the zero (not
measured) rows and Llama-2-70B at 8192-token prompts (0.17-0.18 of TDP at every TP, idle
level, while the same runs at 4096 tokens read 0.39-0.68 and their peak power reached
TDP: the average missed the run).

**Cap check** (nothing fitted): ``h100-80gb-pcap`` against ``h100-80gb`` row by row.
Splitwise's capped H100 is SplitwiseSim's ``dgx-h100-pcap`` SKU, rated 7,140 W against
10,200 W for ``dgx-h100`` (configs/hardware_repo/skus/), i.e. 70 % of the power; we take
a per-GPU cap of 0.7 x 700 W = 490 W, and report the model's capped/uncapped time ratios
there. The clock-power curve is the catalogue's DVFS curve, from a measured H100 cap
sweep (``dcsim.hardware.capsweep``).

    python -m dcsim.hardware.calibrate PATH/perf_model.csv --write

writes the ``splitwise-2023`` engine profile, ``dcsim/data/calibration/splitwise-2023/``:
A100-80GB and H100-SXM as fitted (the power weights fitted on A100 serve both, with the
idle power as the floor, as Splitwise measured no other part's power), H200 derived from
the H100 fit (same die), B200, GB200, GB300 and MI300X marked uncalibrated with the H100 fit.
"""

from __future__ import annotations

import argparse
import csv
import itertools
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from dcsim.hardware.device import DeviceModel
from dcsim.hardware.gpus import GPUS, GpuSpec
from dcsim.hardware.models import MODELS
from dcsim.hardware.performance import InferencePerfParams, iteration_cost, prefill_attn_pairs, tp_comm_s
from dcsim.hardware.power import GpuPowerModel
from dcsim.hardware.profiles import carried_power, dump_profile, load_profile

HARDWARE = {"a100-80gb": "A100-80GB", "h100-80gb": "H100-SXM", "h100-80gb-pcap": "H100-SXM"}
MODEL = {"llama2-70b": "Llama-2-70B", "bloom-176b": "BLOOM-176B"}
FITTED_HARDWARE = ("a100-80gb", "h100-80gb")
POWER_HARDWARE = "a100-80gb"
CAPPED_HARDWARE, UNCAPPED_HARDWARE = "h100-80gb-pcap", "h100-80gb"
# SplitwiseSim dgx-h100-pcap: 7,140 W of dgx-h100's 10,200 W (see module docstring).
PCAP_SHARE_OF_TDP = 7140.0 / 10200.0
PROMPT, TOKEN = 0, 1
PHASES = {PROMPT: "prompt", TOKEN: "token"}
EFFICIENCY_GRID = np.round(np.arange(0.30, 1.0001, 0.02), 2)


ENGINE = "splitwise-2023"
FITTED_BY = "python -m dcsim.hardware.calibrate ../shared/data/calibration/splitwise/perf_model.csv --write"
# (GPU, the measured GPU whose constants it takes, status, why)
CARRIED = (
    ("H200", "H100-SXM", "derived", "the H100 die with HBM3e: the Splitwise H100 fit on the H200 datasheet figures"),
    ("B200", "H100-SXM", "uncalibrated", "not in Splitwise: the H100 fit on the B200 datasheet figures"),
    ("GB200", "H100-SXM", "uncalibrated", "not in Splitwise: the H100 fit on the GB200 datasheet figures"),
    ("GB300", "H100-SXM", "uncalibrated", "not in Splitwise: the H100 fit on the GB300 datasheet figures"),
    ("MI300X", "H100-SXM", "uncalibrated", "not in Splitwise: the H100 fit on the MI300X datasheet figures"),
)


def shipped_perf(gpu_name: str) -> InferencePerfParams:
    """The performance constants the splitwise-2023 profile ships for a GPU."""
    return load_profile(gpu_name, ENGINE).perf


def write_profiles(perf: dict[str, InferencePerfParams], power: GpuPowerModel) -> None:
    """The splitwise-2023 profile files (see module docstring)."""
    from pathlib import Path

    out = Path(__file__).resolve().parent.parent / "data" / "calibration" / ENGINE
    out.mkdir(parents=True, exist_ok=True)
    weights = {"static_w": None, "compute_weight": power.compute_weight, "memory_weight": power.memory_weight,
               "overhead_weight": power.overhead_weight}
    basis = {"A100-80GB": "Splitwise (Patel et al., ISCA 2024) perf_model.csv: Llama-2-70B and BLOOM-176B on a100-80gb; "
                          "power weights fitted on its A100 power",
             "H100-SXM": "Splitwise (Patel et al., ISCA 2024) perf_model.csv: Llama-2-70B and BLOOM-176B on h100-80gb; "
                         "power weights of the A100 fit (no H100 power published)"}
    for gpu, text in basis.items():
        (out / f"{gpu}.yaml").write_text(dump_profile(ENGINE, gpu, "measured", text, FITTED_BY, perf[gpu], weights))
    for gpu, src, status, why in CARRIED:
        (out / f"{gpu}.yaml").write_text(dump_profile(ENGINE, gpu, status, why, FITTED_BY, perf[src],
                                                      carried_power(weights, GPUS[src], GPUS[gpu])))


def pcap_w() -> float:
    """Per-GPU power cap assumed for Splitwise's ``h100-80gb-pcap``."""
    return PCAP_SHARE_OF_TDP * GPUS["H100-SXM"].tdp_w


def read_rows(path: str) -> list[dict[str, str]]:
    """The CSV as a list of rows."""
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _excluded(row: dict[str, str]) -> bool:
    """TP 2 at batch 64 overflowed the KV cache (see module docstring)."""
    return int(row["tensor_parallel"]) == 2 and int(row["batch_size"]) == 64


def _median_by(rows, key, value) -> dict[tuple, float]:
    groups: dict[tuple, list[float]] = {}
    for r in rows:
        groups.setdefault(key(r), []).append(value(r))
    return {k: float(np.median(v)) for k, v in groups.items()}


@dataclass(frozen=True)
class Observations:
    """Prompt and token observations of one hardware (arrays of equal length; times in s)."""

    hardware: str
    phase: np.ndarray  # PROMPT or TOKEN
    model: np.ndarray  # Splitwise model name
    tp: np.ndarray
    prompt: np.ndarray  # prompt tokens of one request
    batch: np.ndarray
    generated: np.ndarray  # tokens generated (token rows): the mean context is prompt + generated / 2
    measured_s: np.ndarray


def load_observations(path: str, hardware: str, model: str | None = None) -> Observations:
    """Prompt and token observations of one hardware (and optionally one model)."""
    rows = [r for r in read_rows(path) if r["hardware"] == hardware and (model is None or r["model"] == model)
            and r["model"] in MODEL and not _excluded(r)]
    if not rows:
        raise ValueError(f"no rows for hardware={hardware!r} model={model!r} in {path}")

    def num(r, k):
        return float(r[k])

    prompt_key = lambda r: (r["model"], int(r["tensor_parallel"]), int(r["prompt_size"]), int(r["batch_size"]))  # noqa: E731
    token_key = lambda r: prompt_key(r) + (int(r["token_size"]),)  # noqa: E731
    prompt_s = _median_by(rows, prompt_key, lambda r: num(r, "prompt_time") / 1e3)
    token_s = _median_by(rows, token_key, lambda r: num(r, "token_time") / 1e3)
    e2e_s = _median_by(rows, token_key, lambda r: num(r, "e2e_time") / 1e3)
    first_s = _median_by(rows, token_key, lambda r: num(r, "prompt_time") / 1e3)
    cols: dict[str, list] = {k: [] for k in ("phase", "model", "tp", "prompt", "batch", "generated", "measured_s")}

    def add(phase, key, generated, measured):
        for k, v in zip(("phase", "model", "tp", "prompt", "batch", "generated", "measured_s"),
                        (phase, key[0], key[1], key[2], key[3], generated, measured)):
            cols[k].append(v)

    for key, y in sorted(prompt_s.items()):
        add(PROMPT, key, 0.0, y)
    for key, y in sorted(token_s.items()):
        generated = min(float(key[4]), max(1.0, (e2e_s[key] - first_s[key]) / y))
        add(TOKEN, key, generated, y)
    return Observations(hardware, *(np.asarray(cols[k], dtype=object if k == "model" else np.float64)
                                    for k in ("phase", "model", "tp", "prompt", "batch", "generated", "measured_s")))


def _groups(obs: Observations):
    """(mask, LlmSpec, tp) of each model and TP in the observations."""
    for name in sorted(set(obs.model)):
        for tp in sorted(set(obs.tp[obs.model == name])):
            yield (obs.model == name) & (obs.tp == tp), MODELS[MODEL[name]], int(tp)


def _iteration_inputs(obs: Observations, m: np.ndarray, joint_prompts: bool = False):
    """(iterations, new tokens, attention pairs, KV tokens read, decode seqs) of the observations in ``m``.

    A prompt row is ``batch`` prefills of ``prompt`` tokens (or, with ``joint_prompts``,
    one prefill iteration of all ``batch`` prompts); a token row one decode iteration of
    ``batch`` sequences at their mean context.
    """
    is_prompt = obs.phase[m] == PROMPT
    b, p = obs.batch[m], obs.prompt[m]
    ctx = b * (p + obs.generated[m] / 2.0)
    per_iteration = b if joint_prompts else 1.0
    iterations = np.where(is_prompt, b / per_iteration, 1.0)
    new = np.where(is_prompt, per_iteration * p, b)
    pairs = np.where(is_prompt, per_iteration * prefill_attn_pairs(p), ctx)
    kv = np.where(is_prompt, per_iteration * p, ctx)
    seqs = np.where(is_prompt, 0.0, b)
    return iterations, new, pairs, kv, seqs


def predict_s(obs: Observations, gpu: GpuSpec, params: InferencePerfParams, cap_w: float | None = None,
              power: GpuPowerModel | None = None, joint_prompts: bool = False) -> np.ndarray:
    """Predicted time of every observation with the shipped code path (``DeviceModel.iteration``)."""
    device = DeviceModel(gpu, params, power or GpuPowerModel(gpu), cap_w)
    out = np.empty_like(obs.measured_s)
    for m, llm, tp in _groups(obs):
        iterations, new, pairs, kv, seqs = _iteration_inputs(obs, m, joint_prompts)
        out[m] = iterations * device.iteration(llm, tp, new, pairs, kv, seqs)[0]
    return out


# ---------------------------------------------------------------- performance fit

_LINEAR = ("layer_overhead_s", "per_seq_overhead_s", "allreduce_hop_latency_s", "1/allreduce_bw_efficiency",
           "prefill_overhead_s")


def _linear_design(obs: Observations, gpu: GpuSpec, compute_eff: float, memory_eff: float):
    """Roofline time without the linear terms, and the linear terms' regressors (see _LINEAR)."""
    bare = InferencePerfParams(compute_eff, memory_eff, 0.0, 0.0, 0.0, 1.0, 0.0)
    base = np.empty_like(obs.measured_s)
    x = np.empty((len(base), len(_LINEAR)))
    for m, llm, tp in _groups(obs):
        iterations, new, pairs, kv, seqs = _iteration_inputs(obs, m)
        comm_at_full_bw = tp_comm_s(llm, gpu, tp, bare, new)
        base[m] = iterations * (iteration_cost(llm, gpu, tp, bare, new, pairs, kv, seqs).time_s - comm_at_full_bw)
        hops = 2 * llm.layers * 2 * (tp - 1)
        x[m] = iterations[:, None] * np.column_stack(
            [np.full(new.shape, float(llm.layers)), seqs, np.full(new.shape, float(hops)),
             comm_at_full_bw + 0.0 * new, (new > seqs).astype(float)])
    return base, x


def _nnls(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Non-negative least squares by trying every support (a has a handful of columns)."""
    best: tuple[float, np.ndarray] | None = None
    n = a.shape[1]
    for k in range(n, -1, -1):
        for support in itertools.combinations(range(n), k):
            coef = np.zeros(n)
            if support:
                sol, *_ = np.linalg.lstsq(a[:, support], b, rcond=None)
                if np.any(sol < 0):
                    continue
                coef[list(support)] = sol
            err = float(np.sum((a @ coef - b) ** 2))
            if best is None or err < best[0]:
                best = (err, coef)
    assert best is not None
    return best[1]


def _group_weights(obs: Observations) -> np.ndarray:
    """Weights giving every (model, phase) group the same total."""
    w = np.zeros(len(obs.measured_s))
    for name in set(obs.model):
        for phase in PHASES:
            m = (obs.model == name) & (obs.phase == phase)
            w[m] = 1.0 / max(1, int(m.sum()))
    return w / w.sum()


def _params(compute_eff: float, memory_eff: float, coef: np.ndarray) -> InferencePerfParams:
    return InferencePerfParams(
        compute_efficiency=compute_eff, memory_efficiency=memory_eff, layer_overhead_s=float(coef[0]),
        per_seq_overhead_s=float(coef[1]), allreduce_hop_latency_s=float(coef[2]),
        allreduce_bw_efficiency=float(min(1.0, 1.0 / coef[3])) if coef[3] > 0 else 1.0,
        prefill_overhead_s=float(coef[4]))


def fit_perf(obs: Observations) -> InferencePerfParams:
    """Parameters of one GPU that best reproduce its observations (see module docstring)."""
    gpu = GPUS[HARDWARE[obs.hardware]]
    y, w = obs.measured_s, _group_weights(obs)

    def solve(base, x, weights):
        scale = np.sqrt(weights) / y
        return _nnls(x * scale[:, None], (y - base) * scale)

    best: tuple[float, float, float, np.ndarray] | None = None
    for ce in EFFICIENCY_GRID:
        for me in EFFICIENCY_GRID:
            base, x = _linear_design(obs, gpu, float(ce), float(me))
            coef = solve(base, x, w)
            coef[3] = max(coef[3], 1.0)  # the all-reduce cannot beat NVLink
            score = float(np.sum(w * np.abs((base + x @ coef) / y - 1.0)))
            if best is None or score < best[0]:
                best = (score, float(ce), float(me), coef)
    assert best is not None
    _, ce, me, coef = best
    base, x = _linear_design(obs, gpu, ce, me)
    for _ in range(30):  # least absolute relative error by iteratively reweighted least squares
        resid = np.abs((base + x @ coef) / y - 1.0)
        coef = solve(base, x, w / np.maximum(resid, 1e-3))
        coef[3] = max(coef[3], 1.0)
    return _params(ce, me, coef)


def rounded(params: InferencePerfParams, digits: int = 3) -> InferencePerfParams:
    """The parameters to ``digits`` significant digits, as shipped."""
    def r(v: float | None) -> float | None:
        return None if v is None else float(f"{v:.{digits}g}")
    values: list[Any] = [r(getattr(params, f)) for f in params.__slots__]
    return InferencePerfParams(*values)


def errors(obs: Observations, params: InferencePerfParams,
           joint_prompts: bool = False) -> dict[tuple[str, str], dict[str, float]]:
    """Median and worst absolute percentage error per (model, phase), plus per phase over all
    models; prompt errors also apart for batch 1 and larger batches."""
    pred = predict_s(obs, GPUS[HARDWARE[obs.hardware]], params, joint_prompts=joint_prompts)
    ape = np.abs(pred / obs.measured_s - 1.0) * 100.0
    out: dict[tuple[str, str], dict[str, float]] = {}
    for name in [*sorted(set(obs.model)), "all"]:
        for phase, label in PHASES.items():
            m = (obs.phase == phase) & ((obs.model == name) if name != "all" else True)
            if np.any(m):
                out[(name, label)] = {"median_ape_pct": float(np.median(ape[m])), "worst_ape_pct": float(np.max(ape[m])),
                                      "n": int(m.sum())}
            if phase == PROMPT:
                for tag, sel in (("prompt b=1", obs.batch == 1), ("prompt b>1", obs.batch > 1)):
                    mm = m & sel
                    if np.any(mm):
                        out[(name, tag)] = {"median_ape_pct": float(np.median(ape[mm])),
                                            "worst_ape_pct": float(np.max(ape[mm])), "n": int(mm.sum())}
    return out


# ---------------------------------------------------------------- power fit

@dataclass(frozen=True)
class PowerObservations:
    """Request-average power of A100 rows: per row, the prompt and decode phases' roofline parts."""

    model: np.ndarray
    tp: np.ndarray
    prompt: np.ndarray
    batch: np.ndarray
    measured_share: np.ndarray  # average power / TDP
    measured_peak_share: np.ndarray  # peak power / TDP
    prompt_s: np.ndarray  # measured prompt time
    time_s: np.ndarray  # (rows, 2): prompt phase, decode phase (sums over their iterations)
    compute_s: np.ndarray
    memory_s: np.ndarray
    rest_s: np.ndarray


def load_power_observations(path: str, params: InferencePerfParams | None = None) -> PowerObservations:
    """A100 rows with a measured average power, excluding the idle-level outliers (module docstring)."""
    gpu = GPUS[HARDWARE[POWER_HARDWARE]]
    params = params or shipped_perf(gpu.name)
    rows = [r for r in read_rows(path) if r["hardware"] == POWER_HARDWARE and r["model"] in MODEL
            and float(r["average_power"]) > 0 and not _excluded(r)
            and not (r["model"] == "llama2-70b" and int(r["prompt_size"]) == 8192)]
    key = lambda r: (r["model"], int(r["tensor_parallel"]), int(r["prompt_size"]), int(r["batch_size"]),  # noqa: E731
                     int(r["token_size"]))
    share = _median_by(rows, key, lambda r: float(r["average_power"]))
    peak = _median_by(rows, key, lambda r: float(r["peak_power"]))
    prompt_s = _median_by(rows, key, lambda r: float(r["prompt_time"]) / 1e3)
    cols: dict[str, list] = {k: [] for k in ("model", "tp", "prompt", "batch", "share", "peak", "prompt_s", "t", "c", "m", "o")}
    for (name, tp, p, b, n), s in sorted(share.items()):
        llm = MODELS[MODEL[name]]
        pre = iteration_cost(llm, gpu, tp, params, p, prefill_attn_pairs(p), p, 0)
        ctx = b * (p + np.arange(1, n, dtype=np.float64))  # n - 1 decode iterations after the prefill
        dec = iteration_cost(llm, gpu, tp, params, b, ctx, ctx, b)
        t = np.array([b * float(pre.time_s), float(np.sum(dec.time_s))])
        c = np.array([b * float(pre.compute_s), float(np.sum(dec.compute_s))])
        m = np.array([b * float(pre.memory_s), float(np.sum(dec.memory_s))])
        o = t - np.array([b * max(float(pre.compute_s), float(pre.memory_s)),
                          float(np.sum(np.maximum(dec.compute_s, dec.memory_s)))])
        k_ = (name, tp, p, b, n)
        for k, v in zip(cols, (name, tp, p, b, s, peak[k_], prompt_s[k_], t, c, m, o)):
            cols[k].append(v)
    return PowerObservations(np.asarray(cols["model"], dtype=object), *(np.asarray(cols[k], dtype=np.float64)
                             for k in ("tp", "prompt", "batch", "share", "peak", "prompt_s", "t", "c", "m", "o")))


PEAK_MIN_PROMPT_S = 0.2  # peak power is compared only where the prefill lasted this long


def _phase_shares(obs: PowerObservations, compute_w, memory_w, overhead_w, gpu: GpuSpec) -> np.ndarray:
    """Power / TDP of each row's prompt and decode phase (weights may be broadcast arrays).

    Within a phase the iterations are alike, so the phase's activity is taken from its
    summed roofline parts and clipped at full activity like a single iteration.
    """
    act = np.minimum(1.0, (compute_w * obs.compute_s + memory_w * obs.memory_s + overhead_w * obs.rest_s) / obs.time_s)
    return (gpu.idle_w + (gpu.tdp_w - gpu.idle_w) * act) / gpu.tdp_w


def predict_power_share(obs: PowerObservations, power: GpuPowerModel) -> tuple[np.ndarray, np.ndarray]:
    """Predicted request-average and peak power / TDP of every row."""
    phase = _phase_shares(obs, power.compute_weight, power.memory_weight, power.overhead_weight, power.gpu)
    return np.sum(phase * obs.time_s, axis=1) / np.sum(obs.time_s, axis=1), np.max(phase, axis=1)


def _peak_rows(obs: PowerObservations) -> np.ndarray:
    """Rows whose prefill lasted long enough for the peak reading to have caught it."""
    return obs.prompt_s >= PEAK_MIN_PROMPT_S


def fit_power(obs: PowerObservations) -> GpuPowerModel:
    """Activity weights that best reproduce the request-average power and, where the prefill
    lasted long enough to be caught, the peak power (measured peak capped at TDP); mean
    squared relative error over both sets of rows."""
    gpu = GPUS[HARDWARE[POWER_HARDWARE]]
    grid = np.round(np.arange(0.0, 1.5001, 0.01), 2)
    peak_rows = _peak_rows(obs)
    target_peak = np.minimum(obs.measured_peak_share[peak_rows], 1.0)
    wm, wo = grid[:, None, None, None], grid[None, :, None, None]  # (memory, overhead, row, phase)
    best: tuple[float, GpuPowerModel] | None = None
    for wc in np.round(np.arange(0.0, 3.0001, 0.05), 2):
        phase = _phase_shares(obs, wc, wm, wo, gpu)
        avg = np.sum(phase * obs.time_s, axis=-1) / np.sum(obs.time_s, axis=-1)
        peak = np.max(phase, axis=-1)[..., peak_rows]
        err = np.concatenate([(avg / obs.measured_share - 1.0) ** 2, (peak / target_peak - 1.0) ** 2], axis=-1).mean(-1)
        j, k = np.unravel_index(int(np.argmin(err)), err.shape)
        if best is None or err[j, k] < best[0]:
            best = (float(err[j, k]), GpuPowerModel(gpu, float(wc), float(grid[j]), float(grid[k])))
    assert best is not None
    return best[1]


def power_errors(obs: PowerObservations, power: GpuPowerModel) -> dict[str, float]:
    """Errors of the request-average power (percent, RMS in points of TDP) and of the peak power."""
    avg, peak = predict_power_share(obs, power)
    ape = np.abs(avg / obs.measured_share - 1.0) * 100.0
    rows = _peak_rows(obs)
    peak_ape = np.abs(peak[rows] / np.minimum(obs.measured_peak_share[rows], 1.0) - 1.0) * 100.0
    return {"median_ape_pct": float(np.median(ape)), "worst_ape_pct": float(np.max(ape)),
            "rms_points_of_tdp": float(np.sqrt(np.mean((avg - obs.measured_share) ** 2)) * 100.0),
            "n": int(len(ape)), "peak_median_ape_pct": float(np.median(peak_ape)),
            "peak_worst_ape_pct": float(np.max(peak_ape)), "peak_n": int(rows.sum())}


# ---------------------------------------------------------------- cap fit

def cap_pairs(path: str) -> tuple[Observations, Observations]:
    """Capped and uncapped H100 observations, row for row."""
    capped = load_observations(path, CAPPED_HARDWARE)
    free = load_observations(path, UNCAPPED_HARDWARE)
    same = (np.array_equal(capped.phase, free.phase) and np.array_equal(capped.tp, free.tp)
            and np.array_equal(capped.prompt, free.prompt) and np.array_equal(capped.batch, free.batch))
    if not same:
        raise ValueError("capped and uncapped H100 observations do not pair up")
    return capped, free


def slowdowns(capped: Observations, free: Observations, power: GpuPowerModel, params: InferencePerfParams,
              cap_w: float) -> tuple[np.ndarray, np.ndarray]:
    """(measured, predicted) ratio of capped to uncapped time of every observation pair."""
    gpu = GPUS["H100-SXM"]
    device_free = DeviceModel(gpu, params, replace(power, gpu=gpu))
    device_cap = replace(device_free, cap_w=cap_w)
    pred = np.empty_like(free.measured_s)
    for m, llm, tp in _groups(free):
        iterations, new, pairs, kv, seqs = _iteration_inputs(free, m)
        pred[m] = device_cap.iteration(llm, tp, new, pairs, kv, seqs)[0] / device_free.iteration(
            llm, tp, new, pairs, kv, seqs)[0]
    return capped.measured_s / free.measured_s, pred


def cap_report(capped: Observations, free: Observations, power: GpuPowerModel, params: InferencePerfParams,
               cap_w: float) -> dict[str, dict[str, float]]:
    """Measured and predicted median slowdown per phase, and the error of the predicted capped times."""
    measured, pred = slowdowns(capped, free, power, params, cap_w)
    ape = np.abs(predict_s(capped, GPUS["H100-SXM"], params, cap_w, power) / capped.measured_s - 1.0) * 100.0
    out = {}
    for phase, label in PHASES.items():
        m = capped.phase == phase
        out[label] = {"measured_median_slowdown": float(np.median(measured[m])),
                      "predicted_median_slowdown": float(np.median(pred[m])),
                      "predicted_min_slowdown": float(np.min(pred[m])),
                      "predicted_max_slowdown": float(np.max(pred[m])),
                      "slowdown_median_ape_pct": float(np.median(np.abs(pred[m] / measured[m] - 1.0)) * 100.0),
                      "time_median_ape_pct": float(np.median(ape[m])), "time_worst_ape_pct": float(np.max(ape[m]))}
    return out


# ---------------------------------------------------------------- CLI

def _fmt_params(p: InferencePerfParams) -> str:
    return ", ".join(f"{f}={getattr(p, f):.3g}" for f in p.__slots__ if getattr(p, f) is not None)


def print_error_table(hardware: str, err: dict[tuple[str, str], dict[str, float]]) -> None:
    """One line per (model, phase)."""
    for (name, phase), e in err.items():
        print(f"  {hardware:15s} {name:11s} {phase:11s} n={e['n']:3d}  median {e['median_ape_pct']:5.1f} %"
              f"  worst {e['worst_ape_pct']:5.1f} %")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("csv")
    ap.add_argument("--shipped", action="store_true", help="report the errors of the shipped constants without refitting")
    ap.add_argument("--write", action="store_true", help="write the splitwise-2023 profile files")
    args = ap.parse_args(argv)

    print(f"Performance (data files: dcsim/data/calibration/{ENGINE}/)")
    fitted: dict[str, InferencePerfParams] = {}
    for hw in FITTED_HARDWARE:
        obs = load_observations(args.csv, hw)
        gpu_name = HARDWARE[hw]
        params = shipped_perf(gpu_name) if args.shipped else rounded(fit_perf(obs))
        fitted[gpu_name] = params
        print(f"{gpu_name}: {_fmt_params(params)}")
        print_error_table(hw, errors(obs, params))
        joint = errors(obs, params, joint_prompts=True)
        print("  batched prompts read as one joint prefill instead (not fitted): " + "; ".join(
            f"{name} median {joint[(name, 'prompt b>1')]['median_ape_pct']:.1f} %, worst "
            f"{joint[(name, 'prompt b>1')]['worst_ape_pct']:.1f} %" for name in sorted(set(obs.model))))

    power_obs = load_power_observations(args.csv, fitted["A100-80GB"])
    power = GpuPowerModel(GPUS["A100-80GB"]) if args.shipped else fit_power(power_obs)
    pe = power_errors(power_obs, power)
    print(f"\nPower (A100 request-average, n={pe['n']}): compute_weight={power.compute_weight:.2f}, "
          f"memory_weight={power.memory_weight:.2f}, overhead_weight={power.overhead_weight:.2f}")
    print(f"  average: median {pe['median_ape_pct']:.1f} %, worst {pe['worst_ape_pct']:.1f} %, "
          f"RMS {pe['rms_points_of_tdp']:.1f} points of TDP; peak (n={pe['peak_n']}, prefill >= "
          f"{PEAK_MIN_PROMPT_S:g} s, measured capped at TDP): median {pe['peak_median_ape_pct']:.1f} %, "
          f"worst {pe['peak_worst_ape_pct']:.1f} %")

    if args.write:
        write_profiles(fitted, power)
        print(f"wrote dcsim/data/calibration/{ENGINE}/")

    capped, free = cap_pairs(args.csv)
    cap_w = pcap_w()
    power_h100 = replace(power, gpu=GPUS["H100-SXM"])
    print(f"\nCap ({cap_w:.0f} W per H100, the catalogue's DVFS curve, nothing fitted):")
    for phase, r in cap_report(capped, free, power_h100, fitted["H100-SXM"], cap_w).items():
        print(f"  {phase:6s} slowdown measured {r['measured_median_slowdown']:.3f}, predicted median "
              f"{r['predicted_median_slowdown']:.3f} (range {r['predicted_min_slowdown']:.3f}-"
              f"{r['predicted_max_slowdown']:.3f}), ratio error median {r['slowdown_median_ape_pct']:.1f} %; "
              f"capped time error median {r['time_median_ape_pct']:.1f} %, worst {r['time_worst_ape_pct']:.1f} %")


if __name__ == "__main__":
    main()
