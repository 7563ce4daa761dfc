"""Notebook-ready tables of a run."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

PERCENTILES = (50, 90, 99)


def service_table(requests: pd.DataFrame, summary: dict[str, Any]) -> pd.DataFrame:
    """One row per inference service: latency percentiles (s), throughput, SLO attainment
    and energy per output token, from a run's requests table and summary.

    Works on ``load_run(path)`` (``run.requests, run.summary``) and on in-process results
    (``results.frames()["requests"], results.summary()``).
    """
    duration_s = summary["duration_s"]
    fac_ratio = summary["facility_energy_j"] / summary["gpu_energy_j"] if summary["gpu_energy_j"] else np.nan
    rows = []
    for name, info in summary.get("services", {}).items():
        req = requests[requests["service"] == name]
        done = req[req["status"] == "completed"]
        row: dict[str, Any] = {"service": name, "requests": len(req), "completed": len(done),
                               "dropped": int((req["status"] == "dropped").sum())}
        for col in ("ttft_s", "tpot_s", "e2e_s"):
            v = done[col].dropna().to_numpy()
            for q in PERCENTILES:
                row[f"{col[:-2]}_p{q}_s"] = float(np.percentile(v, q)) if len(v) else np.nan
        tokens = info.get("output_tokens", 0)
        row["output_tokens_per_s"] = tokens / duration_s
        row["requests_per_s"] = len(done) / duration_s
        ttft_slo, tpot_slo = info.get("slo_ttft_s"), info.get("slo_tpot_s")
        if ttft_slo is not None or tpot_slo is not None:
            ok = pd.Series(True, index=done.index)
            if ttft_slo is not None:
                ok &= done["ttft_s"] <= ttft_slo
            if tpot_slo is not None:
                ok &= done["tpot_s"].isna() | (done["tpot_s"] <= tpot_slo)
            decided = len(done) + row["dropped"]
            row["slo_attainment"] = float(ok.sum()) / decided if decided else np.nan
            row["goodput_requests_per_s"] = float(ok.sum()) / duration_s
        row["preemptions"] = info.get("preemptions", 0)
        row["energy_per_output_token_gpu_j"] = info.get("energy_per_output_token_gpu_j", np.nan)
        row["energy_per_output_token_facility_j"] = row["energy_per_output_token_gpu_j"] * fac_ratio
        rows.append(row)
    return pd.DataFrame(rows).set_index("service") if rows else pd.DataFrame()
