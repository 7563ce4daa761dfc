"""The KPI registry: every key of a run's summary with its unit, label, format and definition.

One line per KPI. The ``dcsim`` command's summary table, the plots' axis labels and the
KPI tables of docs/metrics.md (``python tools/metrics_doc.py``) read it, and the sweep
table's columns are :func:`sweep_table_columns` (``dcsim.io.multirun.KPIS`` is a copy a
test holds equal to them); a KPI computed in ``dcsim.metrics.kpis`` and not registered here fails
``tests/test_metrics_docs.py``. Keys that share a definition (``ttft_p50_s``,
``ttft_p99_s``) are one row of the doc.
"""

from __future__ import annotations

import importlib.util
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dcsim.core.units import KWH_J
from dcsim.hardware.catalogue import CatalogueFileError, catalogue_path, user_directories

# Units a value may be shown in (the CLI table): name -> (multiply by, divide by), so that
# a shown value is exactly ``value * mul / div``. "$" is a prefix ("$1.11").
SHOWN_UNITS: dict[str, tuple[float, float]] = {
    "%": (100.0, 1.0), "kWh": (1.0, KWH_J), "kJ": (1.0, 1e3), "ms": (1e3, 1.0), "min": (1.0, 60.0), "h": (1.0, 3600.0),
    "$": (1.0, 1.0), "tokens/s": (1.0, 1.0), "req/s": (1.0, 1.0),
}
TEXT_UNITS = ("text", "list")  # values that are not numbers


@dataclass(frozen=True)
class Kpi:
    """One KPI: ``key`` as in summary.json, ``unit`` of the stored value (SI; ``-`` for counts
    and ratios, ``text``/``list`` for non-numbers), a ``label`` for tables and axes, a format
    spec ``fmt`` for the shown value, its ``definition`` (markdown: docs/metrics.md), the
    doc ``section``, and ``shown`` (one of SHOWN_UNITS) when it is shown in another unit."""

    key: str
    unit: str
    label: str
    fmt: str
    definition: str
    section: str
    shown: str | None = None
    heading: str | None = None  # a short column heading for the sweep table, where it has one
    # A derived KPI: its value from the summary's other KPIs (SI values), computed after them.
    compute: Callable[[dict[str, Any]], Any] | None = None

    def value_text(self, value: Any) -> str:
        """The value as shown, with its unit: ``56.8 %``, ``73.1 kWh``, ``$1.11``; ``n/a`` if missing."""
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return "n/a"
        if self.unit in TEXT_UNITS:
            return str(value)
        unit = self.shown or self.unit
        if self.shown is not None:
            mul, div = SHOWN_UNITS[self.shown]
            if (mul, div) != (1.0, 1.0):
                value = value * mul / div
        number = format(value, self.fmt)
        if unit == "$":
            return f"${number}"
        return number if unit == "-" else f"{number} {unit}"

    def axis_label(self) -> str:
        """``label (unit)``: ``energy per output token, facility (J)``."""
        return f"{self.label} ({self.unit})"


def _per_mw(value: Any, power_w: Any) -> float:
    """``value`` per MW of ``power_w``; NaN when either is missing or the power is not positive."""
    if value is None or power_w is None or not power_w > 0:
        return math.nan
    return float(value) / (float(power_w) / 1e6)


_ROWS: list[Kpi] = []
_section = ""


def _k(key: str, unit: str, label: str, definition: str, fmt: str = ".4g", shown: str | None = None,
       heading: str | None = None, compute: Callable[[dict[str, Any]], Any] | None = None) -> None:
    _ROWS.append(Kpi(key, unit, label, fmt, definition, _section, shown, heading, compute))


def _same(definition: str, unit: str, fmt: str = ".4g", shown: str | None = None, **labels: str) -> None:
    """Several keys with one definition and unit (one row of the doc): key=label, ..."""
    for key, label in labels.items():
        _k(key, unit, label, definition, fmt, shown)


# --- run -------------------------------------------------------------------------------------
_section = "run"
_k("seed", "-", "seed", "the run's seed; every random stream is spawned from it", "d")
_k("duration_s", "s", "simulated time", "T", ".2f", "h")
_k("gpus_total", "-", "GPUs", "GPUs in the facility", "d")
_same("the engine profiles the services use (`vllm-0.11`, `splitwise-2023`; comma-separated, empty without "
      "services), the least calibrated of their statuses on this GPU (`measured`: fitted to that engine's "
      "measurements on this GPU; `derived`: carried from the same die; `uncalibrated`: another GPU's constants "
      "on this GPU's datasheet), and, when uncalibrated, what the constants were taken from (docs/calibration.md)",
      "text", "s", serving_engine="serving engine profile", calibration_status="calibration",
      calibration_note="calibration note")
_same("what the run simulated, by name, whichever config set it: the GPU (`H100-SXM`; of a mixed fleet, its types joined by `+`, "
      "`H100-SXM+H200`), the cooling technology "
      "(`air`), the climate (a shipped one by its key, `leesburg_va`, as `climate=` names it; a file of your own "
      "by its name without the extension), the scheduling policy and placement, the power-capping policy",
      "text", "s", gpu_model="GPU model", cooling_technology="cooling technology", climate="climate",
      scheduler="scheduler", placement="placement", power_policy="power policy")
_k("events_processed", "-", "SimPy events processed",
   "SimPy events processed (a cost measure, not a KPI of the facility)", "d")
_WRITTEN_BY_CLI = ("written by the `dcsim` command beside the KPIs: the run's wall-clock time, the dcsim that "
                   "made it and the run's Hydra overrides (a rerun of a sweep reuses a run only with the same "
                   "version and overrides)")
_k("wall_time_s", "s", "wall time", _WRITTEN_BY_CLI, ".1f")
_k("dcsim_version", "text", "dcsim version", _WRITTEN_BY_CLI, "s")
_k("overrides", "list", "overrides", _WRITTEN_BY_CLI, "s")

# --- utilisation -----------------------------------------------------------------------------
_section = "utilisation"
_k("gpu_utilisation", "-", "GPU utilisation, busy",
   "(1/T) integral of busy GPUs dt / `gpus_total`. A GPU is busy while it executes an inference iteration or a "
   "training step; time-weighted, never a mean of samples", ".1f", "%", "GPU util %")
_k("gpu_allocation", "-", "GPU allocation",
   "(1/T) integral of GPUs allocated to a replica or job dt / `gpus_total`", ".1f", "%")

# --- energy and power ------------------------------------------------------------------------
_section = "energy"
_k("gpu_energy_j", "J", "GPU energy", "sum over GPUs of their ledger energy (idle GPUs included)")
_k("host_energy_j", "J", "host energy",
   "sum over nodes of host power (CPUs, memory, NICs, fans) energy; host power = idle + (busy - idle) x busy "
   "GPUs / GPUs per node less the measured reference fans, plus the server fans' model: fan ratio x the rest "
   "of the servers' IT power (docs/cooling.md, \"Air and liquid movers\"), plus the scale-out network "
   "(`network_energy_j`)")
_k("server_fan_energy_j", "J", "server fan energy",
   "energy of the servers' fans, part of `host_energy_j`: fan ratio (inlet, air share) x the rest of the servers' "
   "IT power (IT power less the fans and the network), metered by the facility (docs/cooling.md, \"Air and liquid "
   "movers\"); 0 immersed")
_k("network_energy_j", "J", "network energy",
   "energy of the scale-out fabric, part of `host_energy_j`: (NIC modules x W + switch modules x W + switches x W) "
   "x T, a constant draw from the facility's fat tree (docs/network.md, \"Network power in a run\"); 0 with "
   "`facility.network.power=false` or one scale-up domain", ",.1f", "kWh")
_k("it_energy_j", "J", "IT energy", "E_IT = `gpu_energy_j` + `host_energy_j`", ",.1f", "kWh")
_k("conversion_loss_energy_j", "J", "conversion loss energy",
   "energy lost in the transformer, UPS and PDU: integral of (P_utility(P_IT) - P_IT) dt, with each stage's loss "
   "rated x (a + b x + c x^2), x = load / rating")
_k("cooling_energy_j", "J", "cooling energy",
   "integral of cooling power dt; cooling power = heat x (1 - economiser share) / COP(outdoor) + heat x fan/pump "
   "fraction, heat = P_IT + conversion losses")
_k("facility_energy_j", "J", "facility energy",
   "E_facility, the utility meter: E_IT + losses + cooling (integrated as its own account; the equality is a "
   "checked conservation law)", ",.1f", "kWh")
_k("pue", "-", "PUE", "E_facility / E_IT over the run (energy-weighted, not a mean of interval PUEs)", ".3f",
   heading="PUE")
_k("it_power_mean_w", "W", "IT power, mean", "E_IT / T")
_k("facility_power_mean_w", "W", "facility power, mean", "E_facility / T")
_k("grid_energy_j", "J", "grid energy",
   "sum over intervals of the grid draw x interval: the facility's draw (plus the UPS battery's recharge after "
   "an outage), or with a battery (`facility.storage`) its smoothed draw (docs/grid_and_cost.md)")
_k("ups_battery_energy_j", "J", "UPS battery energy",
   "sum over intervals on the UPS battery (a utility fault before the generator runs) of facility power x "
   "interval; grid + battery + generator energy = facility + UPS recharge energy without `facility.storage` "
   "(docs/power.md, \"Faults\")")
_k("generator_energy_j", "J", "generator energy",
   "sum over intervals on the standby generator (a utility fault after `facility.generator_start_s`) of facility "
   "power plus UPS recharge x interval")
_k("ups_recharge_energy_j", "J", "UPS recharge energy",
   "sum over intervals of the UPS battery's recharge draw x interval: after an outage, the energy the battery gave "
   "over `facility.ups_recharge_time_factor` x the discharge's duration, drawn from the generator or the grid on "
   "top of the facility (docs/power.md, \"Faults\")")
_same("95th minus 5th percentile of the interval powers: the rack's IT power (the largest over racks), hall IT, "
      "facility and grid draw; resolves swings only as fine as `facility.control_interval_s` (docs/training.md, "
      "\"Power swing\")", "W", power_swing_rack_w="power swing, rack", power_swing_it_w="power swing, IT",
      power_swing_facility_w="power swing, facility", power_swing_grid_w="power swing, grid")

# --- facility --------------------------------------------------------------------------------
_section = "facility"
_same("cooling energy by component (chillers; dry-cooler or tower fans; facility pumps; CRAH/CDU, rear-door and "
      "room air movers); they add up to `cooling_energy_j`", "J", chiller_energy_j="chiller energy",
      heat_rejection_energy_j="heat rejection energy", pumps_energy_j="pump energy", air_energy_j="air mover energy")
_k("economiser_share", "-", "economiser share", "time-weighted mean share of the heat removed without the chillers")
_k("air_recirculation_share", "-", "air recirculation share",
   "with `facility.cooling.air_delivery=open_tiles`: max(0, 1 - V_tile / V_rack), the share of a rack's inlet air "
   "that is its own exhaust at the racks' design heat, V_tile = Cd x A x sqrt(2 `facility.cooling.plenum_pressure_pa` "
   "/ rho) its tiles' flow and V_rack = room-air heat / (rho cp dT) its servers' (docs/cooling.md, \"Figures and "
   "sources\", Recirculation); 0 with contained aisles")
_k("air_coil_supply_c", "°C", "room-air coil supply",
   "the chilled water the room-air coils get: the technology's `air_supply_temp_c` less r / (1 - r) x dT, the "
   "supply depression that keeps the hottest inlet at its design value with recirculation r; NaN without room air")
_k("water_l", "L", "water use",
   "cooling-tower make-up water, evaporation plus blowdown: sum over intervals of H x dt x water coefficient, the "
   "evaporation per joule of the heat the towers reject wet (Merkel's straight-line law, from the weather) x "
   "cycles / (cycles - 1); 0 with dry coolers and in the towers' dry mode (docs/cooling.md, \"Water\")")
_k("wue_l_per_kwh", "L/kWh", "WUE", "`water_l` / (E_IT in kWh) (The Green Grid's WUE)")
_k("carbon_kg", "kg CO2e", "carbon",
   "sum over intervals of facility energy x mean grid intensity over the interval (hourly EIA-930 values, split "
   "exactly at hour boundaries) x (1 - renewable share)")
_k("carbon_per_output_token_g", "g CO2e", "carbon per output token",
   "`carbon_kg` x 1000 x (E_inf / E_GPU) / N_out: the facility's carbon shared by GPU energy, like energy per token")
_k("energy_cost_usd", "USD", "energy cost",
   "sum over intervals of facility energy x mean price over the interval (flat, time-of-use or hourly)")
_k("heat_reuse_energy_j", "J", "reusable heat",
   "heat the liquid loop carries away at a useful temperature: sum over intervals of (E_IT - E_network) x "
   "liquid share x (1 - the liquid loop's unremoved share); never the power path's losses, never more than the "
   "heat rejected (0 for air and rear doors, or when the return water is below `heat_reuse_min_c`)")
_k("avoided_heating_energy_j", "J", "avoided heating energy",
   "`heat_reuse_energy_j` / 0.9, the gas a condensing boiler would burn for that heat")
_k("ere", "-", "ERE",
   "energy reuse effectiveness, (E_facility - E_reuse) / E_IT with E_reuse = `heat_reuse_energy_j` (all of the "
   "reusable heat taken by a user outside the data centre; The Green Grid, White Paper #29): PUE when nothing is "
   "reused", ".3f")
_k("erf", "-", "ERF", "energy reuse factor, E_reuse / E_facility (The Green Grid, White Paper #29); ERE = (1 - ERF) "
   "x PUE", ".3f")
_same("highest rack inlet (coolant) temperature and hottest-GPU temperature over the run's ticks", "°C",
      max_inlet_temp_c="rack inlet temperature, max", max_gpu_temp_c="GPU temperature, max")
_k("throttled_gpu_hours", "GPU-h", "throttled GPU time",
   "integral over time of GPUs whose cap is below what they would draw uncapped (power policy or thermal) / 3600")
_k("thermally_throttled_gpu_hours", "GPU-h", "thermally throttled GPU time",
   "the part of `throttled_gpu_hours` whose binding cap is thermal (temperature or rack density): a thermal cap "
   "above a GPU's uncapped draw is not counted")
_k("rack_power_offs", "-", "rack power-offs",
   "number of `power_off` events: a rack switched off by a thermal shutdown or a power fault (a rack already "
   "off for one cause is not counted again for another)", "d")
_k("gpu_thermal_shutdowns", "-", "GPU thermal shutdowns",
   "sum over `power_off` events of cause `thermal` of the rack's GPUs: GPUs stopped past their shutdown "
   "temperature (the thermal model's granularity is the rack)", "d")
_k("powered_off_gpu_hours", "GPU-h", "powered-off GPU time",
   "integral over time of the GPUs in racks without power (any cause) / 3600")
_k("thermal_shutdown_gpu_hours", "GPU-h", "thermal-shutdown GPU time",
   "integral over time of the GPUs in racks held off by a thermal shutdown / 3600")
_k("training_jobs_interrupted", "-", "training jobs interrupted by power-offs",
   "number of `lost_work` events: a training job whose racks lost power, requeued from its last checkpoint", "d")
_k("training_steps_lost", "-", "training steps lost to power-offs",
   "sum of the `lost_work` events' values: steps done since the last valid checkpoint when the job's racks "
   "lost power", ".1f")
_k("requests_requeued", "-", "requests requeued after power-offs",
   "sum over services of requests taken from a replica that lost power and routed again (fluid: the replica's "
   "in-flight requests, arrival rate per replica x (TTFT + TPOT x (mean output - 1)), added to the backlog)", ".1f")
_k("requests_lost", "-", "requests lost to power-offs",
   "requests streaming (first token sent) on a replica when it lost power: status `lost` in requests.parquet, "
   "counted as missing their SLO", "d")
_k("it_nameplate_w", "W", "IT nameplate power",
   "sum over nodes of GPUs x TDP + busy host power, plus the scale-out network's constant draw")
_k("it_capacity_w", "W", "IT capacity",
   "provisioned IT capacity of the power path: nameplate / `facility.power.oversubscription`")
_k("oversubscription_ratio", "-", "oversubscription ratio", "`it_nameplate_w` / `it_capacity_w`")
_k("budget_w", "W", "power budget", "facility power budget at the utility meter (null: none)")
_same("the highest interval-mean IT and facility power", "W", peak_it_power_w="IT power, peak",
      peak_facility_power_w="facility power, peak")
_k("stranded_power_w", "W", "stranded power",
   "`it_capacity_w` - `peak_it_power_w`: provisioned capacity the run never drew")
_k("rack_nameplate_w", "W per rack", "rack nameplate IT power",
   "IT nameplate per rack, the network's switches (outside the compute racks) left out")
_k("gpus_per_it_mw", "1/MW", "GPUs per IT MW", "GPUs / (IT nameplate in MW)")
_k("gpus_per_facility_mw", "1/MW", "GPUs per facility MW", "GPUs / (peak facility power in MW)")
_k("it_mw_per_m2", "MW/m²", "IT power density",
   "IT nameplate (MW) / `white_space_m2`")
_k("white_space_m2", "m²", "white space",
   "(racks + CDUs) x `facility.rack.floor_area_m2`; CDUs = ceil(liquid heat / `facility.space.cdu_capacity_kw`) "
   "+ `facility.space.cdu_spares` with liquid heat = racks x min(rack nameplate, technology limit) x liquid "
   "fraction, 0 without (docs/grid_and_cost.md)")
_k("gross_floor_area_m2", "m²", "gross floor area",
   "`white_space_m2` + `it_capacity_w` (MW) x `facility.space.support_m2_per_mw` (power and mechanical rooms); "
   "at most `facility.floor_area_m2`")
_k("it_mw_per_gross_m2", "MW/m²", "IT power per gross m²", "IT nameplate (MW) / `gross_floor_area_m2`")

# --- cost ------------------------------------------------------------------------------------
_section = "cost"
_same("amortised capital of each asset class over the run", "USD", capex_gpu_usd="capital cost, GPUs",
      capex_server_usd="capital cost, servers", capex_network_usd="capital cost, network",
      capex_cooling_usd="capital cost, cooling")
_k("capex_building_usd", "USD", "capital cost, building",
   "`gross_floor_area_m2` x `facility.cost.building_usd_per_m2` (shell, core, support fit-out), amortised over "
   "the facility life")
_k("capex_electrical_usd", "USD", "capital cost, electrical",
   "`it_capacity_w` x `facility.cost.electrical_usd_per_w` (electrical plant, white-space fit-out), amortised "
   "over the facility life")
_k("peak_demand_w", "W", "peak demand",
   "the highest mean grid draw over the utility's fixed demand intervals [k I, (k + 1) I), I = "
   "`facility.cost.demand_interval_s` (900 s), integrated exactly from the interval rows' grid draw; a partly "
   "covered interval averaged over the part covered (docs/grid_and_cost.md, \"Demand charges\")")
_k("demand_charge_usd", "USD", "demand charge",
   "`peak_demand_w` (kW) x `facility.cost.demand_charge_usd_per_kw_month` x T / (365 / 12 days): the monthly "
   "charge prorated to the run; 0 by default")
_k("cost_total_usd", "USD", "total cost", "capital + `energy_cost_usd` + `demand_charge_usd`")
_k("capital_cost_per_million_tokens_usd", "USD", "capital cost per million output tokens",
   "capital (the sum of the asset classes' `capex_*_usd`) x (inference GPU-seconds allocated / installed "
   "GPU-seconds) / (N_out / 1e6): `cost_per_million_tokens_usd` without energy", ".2f", "$")
_k("cost_per_gpu_hour_usd", "USD", "cost per GPU-hour",
   "`cost_total_usd` / (GPUs x hours), installed GPUs busy or not", ".2f", "$")
_k("cost_per_million_tokens_usd", "USD", "cost per million output tokens",
   "`cost_total_usd` x (inference GPU-seconds allocated / installed GPU-seconds) / (N_out / 1e6)", ".2f", "$")
_k("cost_per_peak_pflops_hour_usd", "USD", "cost per PFLOP/s-hour of peak",
   "`cost_total_usd` / (`peak_flops_per_s` / 1e15 x T / 3600): what an hour of a PFLOP/s of installed dense BF16 "
   "peak costs, used or not", ".2f", "$")
_k("cost_per_model_eflop_usd", "USD", "cost per EFLOP of model work",
   "`cost_total_usd` / (`model_flops` / 1e18): what the model work done cost", ".2f", "$")

# --- compute ---------------------------------------------------------------------------------
_section = "compute"
_k("peak_flops_per_s", "FLOP/s", "installed dense BF16 peak",
   "GPUs x dense BF16 peak of the GPU (datasheet, dcsim/data/gpus); of a mixed fleet (`facility.rack_groups`), "
   "summed over its GPU types")
_k("training_model_flops", "FLOP", "training model FLOPs",
   "sum over jobs of steps_done x model FLOPs per step (mfu x step_time_s x GPUs x peak, the step's own FLOPs): "
   "progress lost to failures is not counted")
_k("inference_model_flops", "FLOP", "inference model FLOPs",
   "sum over services of 2 x active params x (prompt tokens of the requests that got their first token + generated "
   "tokens); prefix-cached prompt tokens count as the model's work. Fluid fidelity: requests served x mean prompt "
   "+ output tokens")
_k("model_flops", "FLOP", "model FLOPs done", "training + inference model FLOPs")
_k("model_flops_utilisation", "-", "model FLOPs utilisation, all GPUs",
   "`model_flops` / (`peak_flops_per_s` x T), over all installed GPUs, idle ones included", ".1f", "%")

# --- inference -------------------------------------------------------------------------------
_section = "inference"
_k("requests_arrived", "-", "requests arrived",
   "requests that arrived during the run (every one has a row in `requests.parquet`)", "d")
_k("requests_completed", "-", "requests completed", "requests with status `completed`", "d")
_k("requests_dropped", "-", "requests dropped", "requests with status `dropped`", "d")
_k("preemptions", "-", "preemptions", "sum of `preemptions` over requests", "d")
_k("prompt_tokens_cached_share", "-", "prompt tokens served from the prefix cache",
   "sum of `cached_tokens` / sum of `prompt_tokens` over requests (request fidelity; NaN without requests): "
   "the share of prompt tokens whose KV came from a replica's prefix cache instead of prefill", ".1%")
_k("prompt_tokens_cpu_tier_share", "-", "prompt tokens reloaded from the CPU-memory KV tier",
   "sum over services of the tokens of the prefix blocks that admissions reloaded from a replica's CPU-memory "
   "tier (`kv_cpu_tier_gb`) / sum of `prompt_tokens` over requests (request fidelity; 0 with the tier off, NaN "
   "without requests): part of `prompt_tokens_cached_share`, each such block reloaded over the host link "
   "(blocks x `prefix_block_tokens` x KV bytes per token / (tp x host link one way)) before its prefill, inside "
   "TTFT", ".1%")
_k("kv_cpu_tier_reloads", "-", "admissions reloading from the CPU-memory KV tier",
   "requests admitted with at least one leading prefix block found in a replica's CPU-memory tier and not in "
   "HBM, summed over services (each reload moves its blocks back to HBM)", "d")
_k("output_tokens", "-", "output tokens",
   "N_out, output tokens generated during the run, also by requests still running at the end", "d")
_k("output_tokens_per_s", "1/s", "output tokens per second", "N_out / T", ",.0f", "tokens/s")
_same("50th and 99th percentile of `ttft_s` over completed requests (linear interpolation)", "s", ".3f",
      ttft_p50_s="TTFT p50", ttft_p99_s="TTFT p99")
_same("the same for `tpot_s`", "s", ".1f", "ms", tpot_p50_s="TPOT p50", tpot_p99_s="TPOT p99")
_same("inter-token latency as serving benchmarks report it (vLLM's `benchmark_serving` ITL): the 50th, 90th and "
      "99th percentile over every gap between consecutive output tokens of every request, pooled (not per-request "
      "means), linear interpolation between order statistics. The gap of a token is t(token) - t(previous token of "
      "the same request); a request's first token has none (its wait is TTFT), so a request with n tokens generated "
      "contributes n - 1 gaps, requests still running at the end included. Iterations run back to back, so a "
      "sequence decoding in an iteration has the iteration's time as its gap; a sequence preempted and recomputed "
      "has the time since its previous token. In disaggregated serving the first token is made on the decode "
      "replica, so no gap spans the KV transfer (it is inside TTFT). The engine logs gaps in closed form, "
      "(first iteration time, slope, iterations, sequences) per decode segment and (time, 0, 1, decoders) per mixed "
      "iteration, and the percentiles are exact (bisection on the value over these weighted progressions); past "
      "2^20 records per service (about 300,000 requests) the log folds into log bins of relative width 10^-4 and "
      "the percentiles are read to within 0.005 %, or half a decode step's growth where that is larger "
      "(`TokenGaps` in `dcsim/workloads/inference/requests.py`). The mean of a request's gaps is its `tpot_s`, so "
      "the pooled mean lies within the range of TPOT; the median need not. Fluid fidelity: not modelled (NaN)",
      "s", ".1f", "ms", itl_p50_s="ITL p50", itl_p90_s="ITL p90", itl_p99_s="ITL p99")
_same("the same for `e2e_s`", "s", ".3f", e2e_p50_s="end-to-end latency p50", e2e_p99_s="end-to-end latency p99")
_k("queue_delay_mean_s", "s", "queue delay, mean", "mean of `queue_delay_s` over completed requests", ".3f")
_k("inference_gpu_energy_j", "J", "inference GPU energy",
   "E_inf, GPU energy of the GPUs while allocated to inference replicas, idle time included")
_k("energy_per_output_token_gpu_j", "J", "energy per output token, GPU", "E_inf / N_out", ".3f")
_k("energy_per_output_token_facility_j", "J", "energy per output token, facility",
   "(E_inf / N_out) x (E_facility / E_GPU): the facility's energy (hosts, conversion losses and cooling included) "
   "shared among workloads in proportion to their GPU energy", ".3f", heading="J/token facility")
_k("output_tokens_per_s_per_facility_mw", "1/(s MW)", "output tokens per second per facility MW",
   "`output_tokens_per_s` / (`peak_facility_power_w` / 1e6): the tokens a second that each megawatt of the "
   "facility's highest interval-mean draw at the utility meter (IT, conversion losses and cooling) delivers, what "
   "a site of fixed grid power would serve at this operating point. NaN without facility power",
   ",.0f", compute=lambda s: _per_mw(s.get("output_tokens_per_s"), s.get("peak_facility_power_w")))
_k("slo_attainment", "-", "SLO attainment",
   "over services with an SLO (`slo_ttft_s`, `slo_tpot_s`) and their requests whose fate is known (completed, "
   "dropped or lost): the share that completed with TTFT <= slo_ttft_s and TPOT <= slo_tpot_s (an undefined TPOT, one "
   "output token, passes). NaN when no service has an SLO", ".1f", "%", "SLO %")
_k("goodput_requests_per_s", "1/s", "goodput", "requests meeting their SLO / T", ".2f", "req/s")
_k("services", "-", "per service",
   "per service: its SLO thresholds, `gpu` (on a facility of several GPU types: its type, `prefill/decode` when "
   "its pools differ), `output_tokens`, `gpu_energy_j`, `preemptions` (request fidelity; fluid: "
   "`fidelity`, `requests_served`, `requests_arrived`), `prompt_tokens`, `model_flops`, "
   "`energy_per_output_token_gpu_j` and (request fidelity) `itl_p50_s`, `itl_p90_s`, `itl_p99_s` over that "
   "service's gaps", "s")

# agentic sessions (arrivals.process=sessions; docs/workloads.md): a session's end is an event `session`
# (detail: how it ended, value: its id); its calls are the requests with its `session_id`.
# Without sessions: counts 0, the rest NaN.
_k("sessions_started", "-", "sessions started",
   "sessions whose first call was due during the run (one `session` event each: completed, dropped, lost, "
   "context_full or running at the end)", "d")
_k("sessions_completed", "-", "sessions completed", "sessions whose every call completed (`session` events "
   "`completed`)", "d")
_k("sessions_ended_early", "-", "sessions ended early",
   "sessions ended by a dropped or lost call (the agent gives up on its task), plus those whose next call would "
   "not fit `max_context_tokens` (`context_full`)", "d")
_k("calls_per_session_mean", "-", "calls per session", "mean over completed sessions of their calls (requests)",
   ".1f")
_same("50th and 99th percentile over completed sessions of t_done(last call) - t_arrival(first call): the task's "
      "wall time, think and tool times included", "s", ".1f",
      session_duration_p50_s="session duration p50", session_duration_p99_s="session duration p99")
_same("50th and 99th percentile of `ttft_s` over the completed calls of sessions (the per-call latency an agent "
      "waits before the model's answer starts)", "s", ".3f",
      session_call_ttft_p50_s="TTFT per call p50", session_call_ttft_p99_s="TTFT per call p99")
_k("session_prompt_tokens_cached_share", "-", "session prompt tokens cached",
   "sum of `cached_tokens` / sum of `prompt_tokens` over the requests of sessions (served from the prefix cache)",
   ".1f", "%")
_k("session_tool_call_cached_share", "-", "session prompt tokens cached after a tool",
   "sum of `cached_tokens` / sum of `prompt_tokens` over the calls of sessions that follow a tool (`call_index` > 0, "
   "`turn_index` that of the session's previous call): reuse within a user turn", ".1f", "%")
_k("session_turn_call_cached_share", "-", "session prompt tokens cached opening a turn",
   "sum of `cached_tokens` / sum of `prompt_tokens` over the calls that open a session's later user turn "
   "(`turn_index` > 0 and greater than the previous call's): reuse across turn boundaries; NaN without user turns",
   ".1f", "%")
_k("energy_per_response_gpu_j", "J", "energy per response, GPU",
   "mean of `energy_j` over completed requests (GPU energy attributed to requests; idle energy not included)",
   ".1f")
_k("energy_per_response_facility_j", "J", "energy per response, facility",
   "`energy_per_response_gpu_j` x (E_inf / sum of `energy_j` over all requests) x (E_facility / E_GPU), "
   "shared as `energy_per_session_facility_j`", ".1f")
_k("cost_per_response_usd", "USD", "cost per response",
   "inference's share of `cost_total_usd` x `energy_per_response_gpu_j` / sum of `energy_j` over all requests, "
   "shared as `cost_per_session_usd`", ".5f", "$")
_k("energy_per_session_gpu_j", "J", "energy per session (task), GPU",
   "mean over completed sessions of the sum of their calls' `energy_j` (GPU energy attributed to requests; idle "
   "energy not included)", ".1f", "kJ")
_k("energy_per_session_facility_j", "J", "energy per session (task), facility",
   "`energy_per_session_gpu_j` x (E_inf / sum of `energy_j` over all requests) x (E_facility / E_GPU): the "
   "replicas' idle energy and the facility's overheads shared in proportion to attributed GPU energy, as "
   "`energy_per_output_token_facility_j` shares them", ".1f", "kJ")
_k("cost_per_session_usd", "USD", "cost per session (task)",
   "inference's share of `cost_total_usd` (x inference GPU-seconds allocated / installed GPU-seconds, as "
   "`cost_per_million_tokens_usd`) x `energy_per_session_gpu_j` / sum of `energy_j` over all requests: the "
   "inference cost shared among requests by their GPU energy, summed over a completed session's calls", ".4f", "$")

# --- training --------------------------------------------------------------------------------
_section = "training"
_k("jobs_submitted", "-", "training jobs submitted", "jobs configured (all of them have a row)", "d")
_k("jobs_started", "-", "training jobs started", "jobs granted their GPUs during the run", "d")
_k("jobs_completed", "-", "training jobs completed", "jobs that ran all their steps", "d", heading="jobs done")
_k("job_wait_mean_s", "s", "training job wait, mean", "mean `wait_s` over started jobs", ".1f", "min")
_k("job_completion_time_mean_s", "s", "training job completion time, mean",
   "mean of t_end - t_submit over completed jobs")
_same("median and 95th percentile of `wait_s` over started jobs", "s", job_wait_p50_s="training job wait p50",
      job_wait_p95_s="training job wait p95")
_k("training_energy_j", "J", "training GPU energy", "sum of `energy_j` over jobs")
_k("training_facility_energy_j", "J", "training facility energy",
   "`training_energy_j x facility_energy_j / gpu_energy_j` (overheads shared by GPU energy)")
_k("training_carbon_kg", "kg CO2e", "training carbon", "`carbon_kg x training_energy_j / gpu_energy_j`")
_k("training_energy_cost_usd", "USD", "training energy cost", "`energy_cost_usd x training_energy_j / gpu_energy_j`")
_k("training_interruptions", "-", "training interruptions", "sum of `restarts` over jobs", "d")
_k("training_lost_gpu_hours", "GPU-h", "training GPU time lost",
   "sum of `lost_gpu_s` / 3600: work lost since the last checkpoint, restart, reload and repair waits, times GPUs")
_k("training_effective_share_mean", "-", "training effective share, mean over jobs",
   "mean `effective_share` = productive_s / wall time, over started jobs")
_k("jobs_dropped_too_large", "-", "trace jobs dropped as too large",
   "trace jobs left out for asking more GPUs than the facility has", "d")
_k("jobs_queued_at_end", "-", "training jobs queued at the end",
   "jobs waiting for GPUs when the run ends (never started, or preempted and requeued)", "d")
_k("training_goodput_gpu_hours", "GPU-h", "training goodput",
   "sum over jobs of `useful_s x gpus` / 3600, `useful_s = steps_done x full_speed_step_s`: the GPU-hours "
   "the progress kept would need at full speed (full clock, full scale-out bandwidth); caps, throttling, "
   "stalls, restarts and lost work add none")
_k("training_preemptions", "-", "training preemptions",
   "sum of `preemptions` over jobs: checkpoint-release-requeue cycles forced by a scheduler (docs/scheduling.md)",
   "d")

# --- columns of requests.parquet (not KPIs; their labels and units for axes and the doc) ---
_section = "requests"
_k("ttft_s", "s", "TTFT",
   "t_first - t_arrival, t_first the time the request's first output token is made. It includes the queue, a "
   "reload of prefix blocks from the CPU-memory KV tier and the prefill; in disaggregated serving "
   "(`prefill_replicas` > 0) also the KV transfer to the decode replica and that replica's wait and first "
   "iteration, which recomputes the last prompt token and samples the first token (vLLM's NixlConnector behind "
   "its disaggregated proxy, whose client gets its first token from the decode instance)")
_k("tpot_s", "s", "TPOT", "(t_done - t_first) / (output_tokens - 1); NaN when output_tokens = 1")
_k("e2e_s", "s", "end-to-end latency", "t_done - t_arrival")
_k("queue_delay_s", "s", "queue delay", "t_admitted - t_arrival")
_k("energy_j", "J", "request energy",
   "the replica's GPU energy of each iteration (power x TP x duration), shared among the tokens it processed "
   "(prompt-chunk tokens and one decode token per sequence), summed over the request's tokens. Idle energy is not "
   "attributed to requests")
_k("preemptions", "-", "preemptions",
   "times the request was preempted because the KV cache was full (each time it recomputes its prompt and the "
   "tokens generated so far)", "d")
_k("cached_tokens", "-", "cached prompt tokens",
   "prompt tokens found in the replica's prefix cache (HBM or its CPU-memory tier) at admission, not prefilled", "d")
_k("session_id", "-", "session", "the agentic session the request is a call of (`arrivals.process=sessions`); -1 for "
   "requests of no session", "d")
_k("call_index", "-", "call in session", "the request's place in its session, from 0; -1 for requests of no session",
   "d")
_k("turn_index", "-", "user turn in session",
   "the session's user turn the call belongs to, from 0 (a call whose `turn_index` differs from the previous call's "
   "opened the turn, sent after a user's think time; the others follow a tool); -1 for requests of no session", "d")
_k("status", "text", "status",
   "`completed`, `running` or `queued` at the end of the run, `dropped` (prompt + output larger than the KV "
   "cache), or `lost` (streaming on a replica when its rack lost power)", "s")

SECTIONS = ("run", "utilisation", "energy", "facility", "cost", "compute", "inference", "training", "requests")
# The summary's KPIs by key, in registry order; the request table's columns apart (``preemptions`` is both).
KPIS: dict[str, Kpi] = {k.key: k for k in _ROWS if k.section != "requests"}
REQUEST_COLUMNS: dict[str, Kpi] = {k.key: k for k in _ROWS if k.section == "requests"}
# Keys the ``dcsim`` command writes into summary.json beside the KPIs of ``summarise``.
WRITTEN_BY_CLI = ("wall_time_s", "dcsim_version", "overrides")
# The KPIs of the sweep table (docs/sweeps.md), in column order.
SWEEP_TABLE = ("pue", "gpu_utilisation", "energy_per_output_token_facility_j", "ttft_p99_s", "slo_attainment",
               "jobs_completed")


def kpi(key: str) -> Kpi:
    """The registered KPI ``key``; an unknown key raises ``KeyError`` naming the registry."""
    try:
        return KPIS[key]
    except KeyError:
        raise KeyError(f"{key!r} is not a KPI of dcsim/metrics/registry.py") from None


def registered(column: str) -> Kpi | None:
    """The KPI or request-table column named ``column``, or None if it is not registered."""
    return KPIS.get(column) or REQUEST_COLUMNS.get(column) or {k.key: k for k in user_kpis()}.get(column)


# --- the user's KPIs: kpis/*.py in the DCSIM_CATALOGUE_PATH directories (docs/extending.md) ---

class KpiFileError(CatalogueFileError):
    kind = "KPI"


_USER_KPIS: dict[tuple[str, ...], tuple[Kpi, ...]] = {}


def _load_kpi_file(path: Path) -> Kpi:
    """The ``KPI`` a user's file defines (a :class:`Kpi` with ``compute``)."""
    spec = importlib.util.spec_from_file_location(f"dcsim_user_kpi_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise KpiFileError(str(path), None, "cannot be imported as a Python module")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as e:  # noqa: BLE001 - the user's code: any failure is named with its file
        raise KpiFileError(str(path), None, f"fails to import: {type(e).__name__}: {e}") from None
    k = getattr(module, "KPI", None)
    if not isinstance(k, Kpi) or k.compute is None:
        raise KpiFileError(str(path), "KPI", "must be a dcsim.metrics.registry.Kpi with a compute function")
    if k.key in KPIS or k.key in REQUEST_COLUMNS:
        raise KpiFileError(str(path), "KPI", f"key {k.key!r} is a shipped KPI; choose another key")
    return k


def user_kpis() -> tuple[Kpi, ...]:
    """The KPIs of the user's ``kpis/*.py`` files, in file-name order; each file defines
    ``KPI``. Loaded once per value of ``DCSIM_CATALOGUE_PATH``."""
    where = catalogue_path()
    if where not in _USER_KPIS:
        files = sorted((f for d in user_directories("kpis") for f in d.glob("*.py")), key=lambda f: f.name)
        found = [_load_kpi_file(f) for f in files]
        keys = [k.key for k in found]
        for f, k in zip(files, found):
            if keys.count(k.key) > 1:
                raise KpiFileError(str(f), "KPI", f"key {k.key!r} is defined by more than one file")
        _USER_KPIS[where] = tuple(found)
    return _USER_KPIS[where]


def derived_kpis() -> tuple[Kpi, ...]:
    """The KPIs computed from the others, the registry's then the user's, in that order."""
    return tuple(k for k in KPIS.values() if k.compute is not None) + user_kpis()


def sweep_heading(k: Kpi) -> str:
    """The sweep table's heading of a KPI: its short heading, else its label and unit (``TTFT p99 s``)."""
    if k.heading is not None:
        return k.heading
    unit = k.shown or k.unit
    return k.label if unit == "-" else f"{k.label} {unit}"


def sweep_table_columns() -> tuple[tuple[str, str, str], ...]:
    """(summary key, heading, format) of the sweep table's KPIs, the format ``%`` for a share
    shown in per cent (as ``dcsim.io.multirun`` formats them)."""
    out = []
    for key in SWEEP_TABLE:
        k = KPIS[key]
        out.append((key, sweep_heading(k), "%" if k.shown == "%" else k.fmt))
    return tuple(out)


def row_label(keys: tuple[str, ...]) -> str:
    """One label for KPIs shown on one line: the words their labels share, then what differs,
    ``TTFT p50 / p99``, ``requests completed / arrived``, ``SLO attainment / goodput``."""
    labels = [KPIS[k].label.split(" ") for k in keys]
    shared = 0
    while all(len(w) > shared + 1 for w in labels) and len({tuple(w[: shared + 1]) for w in labels}) == 1:
        shared += 1
    head = " ".join(labels[0][:shared])
    rest = " / ".join(" ".join(w[shared:]) for w in labels)
    return f"{head} {rest}" if head else rest


def row_text(keys: tuple[str, ...], summary: dict[str, Any]) -> str:
    """The values of KPIs shown on one line: one unit at the end when they share it
    (``0.090 / 0.815 s``), else each with its own (``99.4 % / 5.51 req/s``)."""
    ks = [KPIS[k] for k in keys]
    texts = [k.value_text(summary.get(k.key)) for k in ks]
    units = {k.shown or k.unit for k in ks}
    unit = units.pop() if len(units) == 1 else None
    if unit is None or unit in ("-", "$", *TEXT_UNITS) or len(ks) == 1:
        return " / ".join(texts)
    suffix = f" {unit}"
    bare = [t.removesuffix(suffix) for t in texts]
    return " / ".join(bare) + suffix


# --- docs/metrics.md -------------------------------------------------------------------------

DOC_BEGIN = "<!-- KPI table {section}: generated from dcsim/metrics/registry.py by tools/metrics_doc.py -->"
DOC_END = "<!-- end of generated table -->"


def markdown_table(section: str) -> str:
    """The doc table of one section: keys sharing a definition on one row."""
    rows = [k for k in (REQUEST_COLUMNS if section == "requests" else KPIS).values() if k.section == section]
    groups: list[list[Kpi]] = []
    for k in rows:
        if groups and groups[-1][-1].definition == k.definition:
            groups[-1].append(k)
        else:
            groups.append([k])
    head = "column" if section == "requests" else "key"
    lines = [f"| {head} | unit | definition |", "|---|---|---|"]
    for g in groups:
        keys = ", ".join(f"`{k.key}`" for k in g)
        units = ", ".join(dict.fromkeys(k.unit for k in g))
        lines.append(f"| {keys} | {units} | {g[0].definition} |")
    return "\n".join(lines)


def render_doc(text: str) -> str:
    """``text`` (docs/metrics.md) with every generated table replaced by the registry's.
    Raises ``ValueError`` if a section's markers are missing or unbalanced."""
    for section in SECTIONS:
        begin = DOC_BEGIN.format(section=section)
        pattern = re.compile(re.escape(begin) + r"\n.*?" + re.escape(DOC_END), re.DOTALL)
        if len(pattern.findall(text)) != 1:
            raise ValueError(f"docs/metrics.md needs one {begin!r} ... {DOC_END!r} block")
        block = f"{begin}\n{markdown_table(section)}\n{DOC_END}"
        text = pattern.sub(block.replace("\\", "\\\\"), text)  # the block literally (backslashes escaped)
    return text
