"""KPI definitions. Each is defined, with its formula and unit, in docs/metrics.md.

Keys carry their unit: ``_j`` joules, ``_w`` watts, ``_s`` seconds; dimensionless
ratios (``pue``, ``gpu_utilisation``) have none.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from dcsim.metrics.results import Results


def _pct(values: pd.Series, q: float) -> float:
    v = values.dropna().to_numpy()
    return float(np.percentile(v, q)) if len(v) else math.nan


def _ratio(num: float, den: float) -> float:
    return num / den if den > 0 else math.nan


def summarise(results: "Results") -> dict[str, Any]:
    """Headline KPIs of one run (see docs/metrics.md for each definition)."""
    f = results.frames()
    e = results.energy_j
    meta = results.meta
    duration_s = results.until_s
    gpus_total = meta.get("gpus_total", 0)
    it_j = e["gpu"] + e["host"]
    out: dict[str, Any] = {
        "seed": results.seed,
        "duration_s": duration_s,
        "gpus_total": gpus_total,
        "gpu_utilisation": _ratio(results.monitor_means.get("gpus_busy", 0.0), gpus_total),
        "gpu_allocation": _ratio(results.monitor_means.get("gpus_allocated", 0.0), gpus_total),
        "gpu_energy_j": e["gpu"],
        "host_energy_j": e["host"],
        "it_energy_j": it_j,
        "conversion_loss_energy_j": e["conversion_loss"],
        "cooling_energy_j": e["cooling"],
        "facility_energy_j": e["facility"],
        "pue": _ratio(e["facility"], it_j),
        "it_power_mean_w": it_j / duration_s,
        "facility_power_mean_w": e["facility"] / duration_s,
    }
    out.update(_inference_kpis(f["requests"], meta, e, duration_s))
    out.update(_training_kpis(f["jobs"]))
    out["events_processed"] = results.events_processed
    return out


def _inference_kpis(req: pd.DataFrame, meta: dict, e: dict, duration_s: float) -> dict[str, Any]:
    done = req[req["status"] == "completed"]
    tokens = int(meta.get("inference_output_tokens", 0))
    gpu_j = float(meta.get("inference_gpu_energy_j", 0.0))
    per_token_gpu = _ratio(gpu_j, tokens)
    # Facility overheads (hosts, conversion losses, cooling) are shared in proportion to GPU energy.
    per_token_fac = per_token_gpu * _ratio(e["facility"], e["gpu"]) if tokens else math.nan
    return {
        "requests_arrived": int(len(req)),
        "requests_completed": int(len(done)),
        "output_tokens": tokens,
        "output_tokens_per_s": tokens / duration_s,
        "ttft_p50_s": _pct(done["ttft_s"], 50),
        "ttft_p99_s": _pct(done["ttft_s"], 99),
        "tpot_p50_s": _pct(done["tpot_s"], 50),
        "tpot_p99_s": _pct(done["tpot_s"], 99),
        "e2e_p50_s": _pct(done["e2e_s"], 50),
        "e2e_p99_s": _pct(done["e2e_s"], 99),
        "queue_delay_mean_s": float(done["queue_delay_s"].mean()) if len(done) else math.nan,
        "inference_gpu_energy_j": gpu_j,
        "energy_per_output_token_gpu_j": per_token_gpu,
        "energy_per_output_token_facility_j": per_token_fac,
    }


def _training_kpis(jobs: pd.DataFrame) -> dict[str, Any]:
    started = jobs[jobs["t_start_s"].notna()]
    done = jobs[jobs["status"] == "completed"]
    return {
        "jobs_submitted": int(len(jobs)),
        "jobs_started": int(len(started)),
        "jobs_completed": int(len(done)),
        "job_wait_mean_s": float(started["wait_s"].mean()) if len(started) else math.nan,
        "job_completion_time_mean_s": float((done["t_end_s"] - done["t_submit_s"]).mean()) if len(done) else math.nan,
        "training_energy_j": float(jobs["energy_j"].sum()),
    }
