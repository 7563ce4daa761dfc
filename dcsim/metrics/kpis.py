"""The KPIs of a run, computed from its record tables, energy ledger and run-info record.

Each KPI's unit, label, format and definition is registered in ``dcsim.metrics.registry``
(docs/metrics.md is generated from it). Keys carry their unit: ``_j`` joules, ``_w``
watts, ``_s`` seconds; dimensionless ratios (``pue``, ``gpu_utilisation``) have none.
Computed with numpy on the record tables' columns (pandas is for
``dcsim.metrics.frames``); sums and means skip NaN, as the tidy frames' would.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from dcsim.core.runinfo import RunInfo, ServiceInfo, ServiceTotals
from dcsim.metrics import registry
from dcsim.metrics.table import rows_by_code

if TYPE_CHECKING:
    from dcsim.metrics.results import Results
    from dcsim.metrics.table import Table


class _Rows:
    """Some rows of a record table (all, or those a mask selects), column by column."""

    def __init__(self, table: Table, mask: np.ndarray | None = None) -> None:
        self._table = table
        self._mask = mask
        self._cols: dict[str, np.ndarray] = {}

    def __getitem__(self, name: str) -> np.ndarray:
        col = self._cols.get(name)
        if col is None:
            col = self._table.column(name)
            if self._mask is not None:
                col = col[self._mask]
            self._cols[name] = col
        return col

    def __len__(self) -> int:
        return len(self._table) if self._mask is None else int(self._mask.sum())

    def where(self, mask: np.ndarray) -> _Rows:
        """The rows of these where ``mask`` (one value per row of these) is true."""
        if self._mask is None:
            return _Rows(self._table, mask)
        full = self._mask.copy()
        full[full] = mask
        return _Rows(self._table, full)


def _sum(values: np.ndarray) -> float:
    """Sum, NaN skipped (0.0 when empty)."""
    return float(np.nansum(values))


def _mean(values: np.ndarray) -> float:
    """Mean, NaN skipped (NaN when nothing is left): the sum with NaN as 0 over the count."""
    count = int((~np.isnan(values)).sum())
    return float(np.nansum(values) / count) if count else math.nan


def _max(values: np.ndarray) -> float:
    """Maximum, NaN skipped (NaN when nothing is left)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN: NaN is the answer
        return float(np.nanmax(values)) if len(values) else math.nan


def _pct(values: np.ndarray, q: float) -> float:
    v = values[~np.isnan(values)]
    return float(np.percentile(v, q)) if len(v) else math.nan


def _ratio(num: float, den: float) -> float:
    return num / den if den > 0 else math.nan


def summarise(results: Results) -> dict[str, Any]:
    """Headline KPIs of one run (see docs/metrics.md for each definition)."""
    tables = results.tables
    e = results.energy_j
    info = results.run_info
    duration_s = results.until_s
    gpus_total = info.gpus_total
    it_j = e["gpu"] + e["host"]
    out: dict[str, Any] = {
        "seed": results.seed,
        "duration_s": duration_s,
        "gpus_total": gpus_total,
        **info.scenario.described,
        "gpu_utilisation": _ratio(results.monitor_means.get("gpus_busy", 0.0), gpus_total),
        "gpu_allocation": _ratio(results.monitor_means.get("gpus_allocated", 0.0), gpus_total),
        "gpu_energy_j": e["gpu"],
        "host_energy_j": e["host"],
        # the facility's server-fan meter (dcsim/facility/controller.py), inside host energy
        "server_fan_energy_j": results.meter_energy_j.get("server_fans", ("host", 0.0))[1],
        # the facility's scale-out network meter (dcsim/facility/controller.py), inside host energy
        "network_energy_j": results.meter_energy_j.get("network", ("host", 0.0))[1],
        "it_energy_j": it_j,
        "conversion_loss_energy_j": e["conversion_loss"],
        "cooling_energy_j": e["cooling"],
        "facility_energy_j": e["facility"],
        "pue": _ratio(e["facility"], it_j),
        "it_power_mean_w": it_j / duration_s,
        "facility_power_mean_w": e["facility"] / duration_s,
    }
    jobs = _Rows(tables["jobs"])
    out.update(_facility_kpis(_Rows(tables["timeseries"]), results, it_j))
    inference = _inference_totals(info.services)
    out.update(_inference_kpis(_Rows(tables["requests"]), _Rows(tables["services"]), info.services, inference, e,
                               duration_s))
    out.update(_cost_kpis(out, info, inference, duration_s))
    out.update(_session_kpis(_Rows(tables["requests"]), tables["events"], out))
    out.update(_response_kpis(_Rows(tables["requests"]), out))
    out.update(_training_kpis(jobs, out))
    out.update(_flops_kpis(jobs, info, inference, out, duration_s))
    out.update(_power_off_kpis(tables["events"], results, info.services))
    out["jobs_dropped_too_large"] = info.scenario.trace_jobs_dropped
    out["events_processed"] = results.events_processed
    for k in registry.derived_kpis():
        assert k.compute is not None
        out[k.key] = k.compute(out)
    return out


def _weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    ok = ~np.isnan(values) & (weights > 0)
    v, w = values[ok], weights[ok]
    if not len(v):
        return math.nan
    order = np.argsort(v)
    cum = np.cumsum(w[order])
    return float(v[order][np.searchsorted(cum, 0.5 * cum[-1])])


def _slo_kpis(req: _Rows, services: dict[str, ServiceInfo], duration_s: float) -> dict[str, Any]:
    """SLO attainment and goodput over requests whose fate is known (completed, dropped or lost)."""
    decided = req.where((req["status"] == "completed") | (req["status"] == "dropped") | (req["status"] == "lost"))
    met = np.zeros(len(decided), dtype=bool)
    has_slo = False
    for name, info in services.items():
        ttft_slo, tpot_slo = info.slo_ttft_s, info.slo_tpot_s
        if ttft_slo is None and tpot_slo is None:
            continue
        has_slo = True
        rows = decided["service"] == name
        ok = decided["status"] == "completed"
        if ttft_slo is not None:
            ok &= decided["ttft_s"] <= ttft_slo
        if tpot_slo is not None:
            ok &= np.isnan(decided["tpot_s"]) | (decided["tpot_s"] <= tpot_slo)
        met |= rows & ok
    if not has_slo:
        return {"slo_attainment": math.nan, "goodput_requests_per_s": math.nan}
    with_slo = {n for n, i in services.items() if i.slo_ttft_s is not None or i.slo_tpot_s is not None}
    slo_rows = np.array([name in with_slo for name in decided["service"]], dtype=bool)
    return {
        "slo_attainment": _ratio(float(met.sum()), float(slo_rows.sum())),
        "goodput_requests_per_s": float(met.sum()) / duration_s,
    }


# Heat exported to a district heating network displaces heat from a gas boiler; a
# condensing gas boiler's seasonal efficiency is ~0.9 (EU Ecodesign Regulation 813/2013
# minimum for boilers <= 400 kW: 86-92 %; assumption).
BOILER_EFFICIENCY = 0.9


def _rack_series(ts: _Rows, rack_names: list[str], column: str) -> Iterator[np.ndarray]:
    """``column`` of the rows of each of ``rack_names`` (components, sorted), an array per rack
    in row order."""
    component = ts["component"]
    code = {name: i for i, name in enumerate(rack_names)}
    rack_of_row = np.array([code.get(c, -1) for c in component], dtype=np.int64)
    values = ts[column]
    for rows in rows_by_code(rack_of_row, len(rack_names)):
        yield values[rows]


def _facility_kpis(ts: _Rows, results: Results, it_j: float) -> dict[str, Any]:
    """Cooling by component, water, carbon, heat reuse, temperatures, density and headroom."""
    fi = results.run_info.facility
    component = ts["component"]
    fac = ts.where(component == "facility")
    dt = fac["interval_s"]
    gpus = results.run_info.gpus_total
    nameplate_w = fi.it_nameplate_w
    capacity_w = fi.it_capacity_w
    peak_it_w = _max(fac["it_power_w"])
    peak_fac_w = _max(fac["facility_power_w"])
    water_l = _sum(fac["water_l"])
    reuse_j = _sum(fac["reusable_heat_w"] * dt)
    facility_j = results.energy_j["facility"]
    stream = results.timeseries_stream  # streamed: the rack rows are in its file, not in ts
    if stream is None:
        rack_names = sorted({c for c in component if c.startswith("rack/")})
        n_racks, racks_it_w = len(rack_names), _rack_series(ts, rack_names, "it_power_w")
    else:
        n_racks, racks_it_w = len(stream.rack_rows), stream.rack_series("it_power_w")

    def swing(values: np.ndarray) -> float:
        v = values[~np.isnan(values)]
        return float(np.percentile(v, 95) - np.percentile(v, 5)) if len(v) else math.nan

    rack_swing = max((swing(v) for v in racks_it_w), default=math.nan)
    return {
        "grid_energy_j": _sum(fac["grid_power_w"] * dt),
        "ups_battery_energy_j": _sum(fac["ups_battery_power_w"] * dt),
        "generator_energy_j": _sum(fac["generator_power_w"] * dt),
        "ups_recharge_energy_j": _sum(fac["ups_recharge_power_w"] * dt),
        "power_swing_rack_w": rack_swing,
        "power_swing_it_w": swing(fac["it_power_w"]),
        "power_swing_facility_w": swing(fac["facility_power_w"]),
        "power_swing_grid_w": swing(fac["grid_power_w"]),
        "chiller_energy_j": _sum(fac["chiller_power_w"] * dt),
        "heat_rejection_energy_j": _sum(fac["heat_rejection_power_w"] * dt),
        "pumps_energy_j": _sum(fac["pumps_power_w"] * dt),
        "air_energy_j": _sum(fac["air_power_w"] * dt),
        "economiser_share": _ratio(_sum(fac["economiser_share"] * dt), _sum(dt)),
        "water_l": water_l,
        "wue_l_per_kwh": _ratio(water_l, it_j / 3.6e6),
        "carbon_kg": _sum(fac["carbon_kg"]),
        "energy_cost_usd": _sum(fac["energy_cost_usd"]),
        "heat_reuse_energy_j": reuse_j,
        "avoided_heating_energy_j": reuse_j / BOILER_EFFICIENCY,
        # The Green Grid's ERE and ERF (White Paper #29), counting all the reusable heat as reused
        "ere": _ratio(facility_j - reuse_j, it_j),
        "erf": _ratio(reuse_j, facility_j),
        "max_inlet_temp_c": fi.max_inlet_temp_c,
        "max_gpu_temp_c": fi.max_gpu_temp_c,
        "throttled_gpu_hours": results.monitor_means.get("gpus_capped", 0.0) * results.until_s / 3600.0,
        "thermally_throttled_gpu_hours":
            results.monitor_means.get("gpus_thermally_throttled", 0.0) * results.until_s / 3600.0,
        "it_nameplate_w": nameplate_w,
        "it_capacity_w": capacity_w,
        "oversubscription_ratio": _ratio(nameplate_w, capacity_w),
        "budget_w": fi.budget_w,
        "peak_it_power_w": peak_it_w,
        "peak_facility_power_w": peak_fac_w,
        "stranded_power_w": capacity_w - peak_it_w,
        "rack_nameplate_w": _ratio(nameplate_w - fi.network_power_w, racks) if (racks := fi.num_racks or n_racks)
        else math.nan,
        "gpus_per_it_mw": _ratio(gpus, nameplate_w / 1e6),
        "gpus_per_facility_mw": _ratio(gpus, peak_fac_w / 1e6),
        "it_mw_per_m2": _ratio(nameplate_w / 1e6, fi.floor_area_m2),
        "white_space_m2": fi.floor_area_m2,
        "gross_floor_area_m2": fi.gross_floor_area_m2,
        "it_mw_per_gross_m2": _ratio(nameplate_w / 1e6, fi.gross_floor_area_m2),
        "air_recirculation_share": fi.air_recirculation_share,
        "air_coil_supply_c": fi.air_coil_supply_c,
    }


def _cost_kpis(out: dict[str, Any], info: RunInfo, inference: _Inference, duration_s: float) -> dict[str, Any]:
    """Capital (amortised over the run) plus energy cost and demand charge; inference's share by GPU-time."""
    capex = info.capex_usd
    fi = info.facility
    total = sum(capex.values()) + out["energy_cost_usd"] + fi.demand_charge_usd
    gpus = out["gpus_total"]
    inference_share = _ratio(inference.gpu_s, gpus * duration_s)
    tokens = out["output_tokens"]
    res = {f"capex_{k.removesuffix('_usd')}_usd": v for k, v in capex.items()}
    res.update(
        peak_demand_w=fi.peak_demand_w,
        demand_charge_usd=fi.demand_charge_usd,
        cost_total_usd=total,
        cost_per_gpu_hour_usd=_ratio(total, gpus * duration_s / 3600.0),
        cost_per_million_tokens_usd=_ratio(total * inference_share, tokens / 1e6) if tokens else math.nan,
        capital_cost_per_million_tokens_usd=(_ratio(sum(capex.values()) * inference_share, tokens / 1e6)
                                             if tokens else math.nan),
        carbon_per_output_token_g=(_ratio(out["carbon_kg"] * 1e3 * out["inference_gpu_energy_j"], out["gpu_energy_j"])
                                   / tokens) if tokens else math.nan,
    )
    return res


def _flops_kpis(jobs: _Rows, info: RunInfo, inference_totals: _Inference, out: dict[str, Any],
                duration_s: float) -> dict[str, Any]:
    """Model FLOPs done against the peak the GPUs offer, and what a FLOP costs."""
    gpu_peak = info.scenario.gpu_peak_flops_per_s
    peak = out["gpus_total"] * gpu_peak if info.scenario.peak_flops_per_s is None else info.scenario.peak_flops_per_s
    # a job's model FLOPs per step are mfu x step time x GPUs x peak (mfu is of the step
    # time it reports); trace jobs have no model, so no FLOPs (their mfu is NaN)
    per_step = np.nan_to_num(jobs["mfu"] * jobs["step_time_s"] * jobs["gpus"] * gpu_peak, nan=0.0)
    training = _sum(jobs["steps_done"] * per_step)
    inference = inference_totals.model_flops
    model = training + inference
    peak_pflops_hours = peak / 1e15 * duration_s / 3600.0
    return {
        "peak_flops_per_s": peak,
        "training_model_flops": training,
        "inference_model_flops": inference,
        "model_flops": model,
        "model_flops_utilisation": _ratio(model, peak * duration_s),
        "cost_per_peak_pflops_hour_usd": _ratio(out["cost_total_usd"], peak_pflops_hours),
        "cost_per_model_eflop_usd": _ratio(out["cost_total_usd"], model / 1e18) if model else math.nan,
    }


ITL_PERCENTILES = (50, 90, 99)


def _itl_kpis(logs: list) -> dict[str, float]:
    """ITL percentiles over every inter-token gap in ``logs`` (TokenGaps of services)."""
    if not logs:
        return {f"itl_p{q}_s": math.nan for q in ITL_PERCENTILES}
    gaps = logs[0] if len(logs) == 1 else type(logs[0]).merged(logs)  # TokenGaps.merged
    return {f"itl_p{q}_s": v for q, v in zip(ITL_PERCENTILES, gaps.percentiles(list(ITL_PERCENTILES)))}


@dataclass(frozen=True)
class _Inference:
    """The services' totals, added up in the order the services were built."""

    output_tokens: int
    gpu_s: float
    gpu_energy_j: float
    model_flops: float
    preemptions: int  # request fidelity (fluid does not model preemption)
    itl: dict[str, Any]  # every inter-token gap (TokenGaps) of each request-fidelity service


def _inference_totals(services: dict[str, ServiceInfo]) -> _Inference:
    tokens, preemptions, gpu_s, gpu_j, flops = 0, 0, 0.0, 0.0, 0.0
    itl = {}
    for name, info in services.items():
        t = info.final(name)
        tokens += int(round(t.output_tokens))
        gpu_s += t.gpu_s
        gpu_j += t.gpu_energy_j
        flops += t.model_flops
        if t.preemptions is not None:
            preemptions += t.preemptions
        if t.itl is not None:
            itl[name] = t.itl
    return _Inference(tokens, gpu_s, gpu_j, flops, preemptions, itl)


def _service_summary(info: ServiceInfo, t: ServiceTotals) -> dict[str, Any]:
    """A service's entry of the summary's ``services``: its SLO, tokens, FLOPs and energy."""
    out: dict[str, Any] = {"slo_ttft_s": info.slo_ttft_s, "slo_tpot_s": info.slo_tpot_s}
    if info.fidelity == "fluid":
        out["fidelity"] = info.fidelity
    if info.gpu:
        out["gpu"] = info.gpu
    out.update(prompt_tokens=t.prompt_tokens, model_flops=t.model_flops, output_tokens=t.output_tokens,
               gpu_energy_j=t.gpu_energy_j)
    if t.preemptions is not None:
        out["preemptions"] = t.preemptions
    if t.requests_served is not None:
        out.update(requests_served=t.requests_served, requests_arrived=t.requests_arrived)
    out["energy_per_output_token_gpu_j"] = _ratio(t.gpu_energy_j, t.output_tokens)
    return out


def _inference_kpis(req: _Rows, fluid: _Rows, services: dict[str, ServiceInfo], inference: _Inference, e: dict,
                    duration_s: float) -> dict[str, Any]:
    done = req.where(req["status"] == "completed")
    totals = [info.final(name) for name, info in services.items()]
    itl = {name: _itl_kpis([log]) for name, log in inference.itl.items()}
    pooled = next(iter(itl.values())) if len(itl) == 1 else _itl_kpis(list(inference.itl.values()))
    tokens = inference.output_tokens
    gpu_j = inference.gpu_energy_j
    per_token_gpu = _ratio(gpu_j, tokens)
    # Facility overheads (hosts, conversion losses, cooling) are shared in proportion to GPU energy.
    per_token_fac = per_token_gpu * _ratio(e["facility"], e["gpu"]) if tokens else math.nan
    out: dict[str, Any] = {
        "requests_arrived": int(len(req)),
        "requests_completed": int(len(done)),
        "requests_dropped": int((req["status"] == "dropped").sum()),
        "preemptions": inference.preemptions,
        # fluid services add their modelled cached tokens over their prompts (served x mean)
        "prompt_tokens_cached_share": _ratio(
            _sum(req["cached_tokens"]) + sum(t.cached_prompt_tokens for t, i in zip(totals, services.values(), strict=True)
                                             if i.fidelity == "fluid"),
            _sum(req["prompt_tokens"]) + sum(t.prompt_tokens for t, i in zip(totals, services.values(), strict=True)
                                             if i.fidelity == "fluid" and t.cached_prompt_tokens)),
        "prompt_tokens_cpu_tier_share": _ratio(sum(t.kv_cpu_tier_hit_tokens for t in totals), _sum(req["prompt_tokens"])),
        "kv_cpu_tier_reloads": sum(t.kv_cpu_tier_reloads for t in totals),
        "output_tokens": tokens,
        "output_tokens_per_s": tokens / duration_s,
        "ttft_p50_s": _pct(done["ttft_s"], 50),
        "ttft_p99_s": _pct(done["ttft_s"], 99),
        "tpot_p50_s": _pct(done["tpot_s"], 50),
        "tpot_p99_s": _pct(done["tpot_s"], 99),
        **pooled,
        "e2e_p50_s": _pct(done["e2e_s"], 50),
        "e2e_p99_s": _pct(done["e2e_s"], 99),
        "queue_delay_mean_s": _mean(done["queue_delay_s"]),
        "inference_gpu_energy_j": gpu_j,
        "energy_per_output_token_gpu_j": per_token_gpu,
        "energy_per_output_token_facility_j": per_token_fac,
    }
    out.update(_slo_kpis(req, services, duration_s))
    out["services"] = {name: {**_service_summary(info, info.final(name)), **itl.get(name, {})}
                       for name, info in services.items()}
    if len(fluid) and not len(req):
        # fluid fidelity: medians weighted by requests served per interval; tails are not modelled
        served = fluid["served_rate_per_s"] * fluid["interval_s"]
        out.update(
            requests_arrived=int(round(_sum(fluid["arrival_rate_per_s"] * fluid["interval_s"]))),
            requests_completed=int(round(_sum(served))),
            ttft_p50_s=_weighted_median(fluid["ttft_s"], served),
            tpot_p50_s=_weighted_median(fluid["tpot_s"], served),
        )
    return out


def _session_kpis(req: _Rows, events: Table, out: dict[str, Any]) -> dict[str, Any]:
    """Agentic sessions: how they ended (the ``session`` events), and over the completed
    ones their calls, duration, energy and cost (their requests)."""
    kind, component, detail, value = (events.column(c) for c in ("record_type", "component", "detail", "value"))
    ends = kind == "session"
    done_ev = ends & (detail == "completed")
    calls = req.where(req["session_id"] >= 0)
    # a session is (service, id); the completed ones get a dense index (-1 for the others' calls)
    which = np.full(len(calls), -1, dtype=np.int64)
    n = 0
    services = calls["service"]
    for name in dict.fromkeys(component[done_ev]):
        ids = np.sort(value[done_ev & (component == name)].astype(np.int64))
        rows = np.flatnonzero(services == name)
        sid = calls["session_id"][rows]
        at = np.minimum(np.searchsorted(ids, sid), len(ids) - 1)
        hit = ids[at] == sid
        which[rows[hit]] = n + at[hit]
        n += len(ids)
    mine = which >= 0
    w = which[mine]
    energy = np.bincount(w, weights=calls["energy_j"][mine], minlength=n)
    first = np.full(n, np.inf)
    last = np.full(n, -np.inf)
    np.minimum.at(first, w, calls["t_arrival_s"][mine])
    np.maximum.at(last, w, calls["t_done_s"][mine])
    duration = last - first if n else np.zeros(0)
    completed_calls = calls.where(calls["status"] == "completed")
    per_session_j = float(energy.mean()) if n else math.nan
    session_facility_j, session_usd = _attributed(per_session_j, req, out)
    return {
        "sessions_started": int(ends.sum()),
        "sessions_completed": n,
        "sessions_ended_early": int((ends & np.isin(detail, ["dropped", "lost", "context_full"])).sum()),
        "calls_per_session_mean": float(np.bincount(w, minlength=n).mean()) if n else math.nan,
        "session_duration_p50_s": _pct(duration, 50),
        "session_duration_p99_s": _pct(duration, 99),
        "session_call_ttft_p50_s": _pct(completed_calls["ttft_s"], 50),
        "session_call_ttft_p99_s": _pct(completed_calls["ttft_s"], 99),
        "session_prompt_tokens_cached_share": _ratio(_sum(calls["cached_tokens"]), _sum(calls["prompt_tokens"])),
        **_turn_cached_shares(calls),
        "energy_per_session_gpu_j": per_session_j,
        "energy_per_session_facility_j": session_facility_j,
        "cost_per_session_usd": session_usd,
    }


def _turn_cached_shares(calls: _Rows) -> dict[str, float]:
    """Cached share of the prompt tokens of the calls that follow a tool and of those that
    open a later user turn (a call opens one when its ``turn_index`` exceeds its session's
    previous call's)."""
    cached, prompt = calls["cached_tokens"].astype(np.float64), calls["prompt_tokens"].astype(np.float64)
    _, service = np.unique(np.asarray(calls["service"], dtype=str), return_inverse=True)
    order = np.lexsort((calls["call_index"], calls["session_id"], service))
    turn, svc, sid = calls["turn_index"][order], service[order], calls["session_id"][order]
    same = np.zeros(len(order), dtype=bool)  # the call follows another of its session
    same[1:] = (svc[1:] == svc[:-1]) & (sid[1:] == sid[:-1])
    opens = np.zeros(len(order), dtype=bool)
    opens[1:] = same[1:] & (turn[1:] > turn[:-1])
    tool = same & ~opens  # a later call of its session in the same turn
    c, p = cached[order], prompt[order]
    return {"session_tool_call_cached_share": _ratio(float(c[tool].sum()), float(p[tool].sum())),
            "session_turn_call_cached_share": _ratio(float(c[opens].sum()), float(p[opens].sum()))}


def _attributed(gpu_j: float, req: _Rows, out: dict[str, Any]) -> tuple[float, float]:
    """(facility energy, cost) of work whose requests' attributed GPU energy is ``gpu_j``:
    the replicas' idle energy and the facility's overheads shared in proportion to attributed
    GPU energy (as ``energy_per_output_token_facility_j`` shares them), inference's cost
    likewise."""
    request_j = _sum(req["energy_j"])
    inference_cost = out["cost_per_million_tokens_usd"] * out["output_tokens"] / 1e6 if out["output_tokens"] else math.nan
    fac_per_gpu = _ratio(out["facility_energy_j"], out["gpu_energy_j"])
    return (gpu_j * _ratio(out["inference_gpu_energy_j"], request_j) * fac_per_gpu,
            inference_cost * _ratio(gpu_j, request_j))


def _response_kpis(req: _Rows, out: dict[str, Any]) -> dict[str, Any]:
    """Energy and cost per completed response (request), as ML.ENERGY reports energy per response."""
    done = req.where(req["status"] == "completed")
    per_response_j = float(np.mean(done["energy_j"])) if len(done) else math.nan
    facility_j, usd = _attributed(per_response_j, req, out)
    return {"energy_per_response_gpu_j": per_response_j, "energy_per_response_facility_j": facility_j,
            "cost_per_response_usd": usd}


def _power_off_kpis(events: Table, results: Results, services: dict[str, ServiceInfo]) -> dict[str, Any]:
    """Racks that lost power (thermal shutdown, power faults) and the work it cost, from the
    events, the monitors and the services' totals."""
    kind, detail, value = (events.column(c) for c in ("record_type", "detail", "value"))
    off = kind == "power_off"
    lost_work = value[kind == "lost_work"]
    totals = [info.final(name) for name, info in services.items()]
    hours = results.until_s / 3600.0
    return {
        "rack_power_offs": int(off.sum()),
        "gpu_thermal_shutdowns": int(value[off & (detail == "thermal")].sum()),
        "powered_off_gpu_hours": results.monitor_means.get("gpus_powered_off", 0.0) * hours,
        "thermal_shutdown_gpu_hours": results.monitor_means.get("gpus_thermal_shutdown", 0.0) * hours,
        "training_jobs_interrupted": len(lost_work),
        "training_steps_lost": float(lost_work.sum()),
        "requests_requeued": float(sum(t.requests_requeued for t in totals)),
        "requests_lost": int(sum(t.requests_lost for t in totals)),
    }


def _training_kpis(jobs: _Rows, run: dict[str, Any]) -> dict[str, Any]:
    """Jobs' waits, completion, reliability; energy, carbon and cost shared by GPU energy."""
    started = jobs.where(~np.isnan(jobs["t_start_s"]))
    done = jobs.where(jobs["status"] == "completed")
    gpu_j = _sum(jobs["energy_j"])
    share = _ratio(gpu_j, run["gpu_energy_j"]) if gpu_j else 0.0
    return {
        "jobs_submitted": int(len(jobs)),
        "jobs_started": int(len(started)),
        "jobs_completed": int(len(done)),
        "job_wait_mean_s": _mean(started["wait_s"]),
        "job_wait_p50_s": _pct(started["wait_s"], 50),
        "job_wait_p95_s": _pct(started["wait_s"], 95),
        "job_completion_time_mean_s": _mean(done["t_end_s"] - done["t_submit_s"]),
        "training_energy_j": gpu_j,
        "training_facility_energy_j": share * run["facility_energy_j"],
        "training_carbon_kg": share * run["carbon_kg"],
        "training_energy_cost_usd": share * run["energy_cost_usd"],
        "jobs_queued_at_end": int((jobs["status"] == "queued").sum()),
        "training_goodput_gpu_hours": _sum(jobs["useful_s"] * jobs["gpus"]) / 3600.0,
        "training_preemptions": int(jobs["preemptions"].sum()),
        "training_interruptions": int(jobs["restarts"].sum()),
        "training_lost_gpu_hours": _sum(jobs["lost_gpu_s"]) / 3600.0,
        "training_effective_share_mean": _mean(started["effective_share"]),
    }
