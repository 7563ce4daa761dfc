"""Capacity planning: the largest deployment that fits an envelope, and its tokens/s at the SLO.

    import dcsim
    answer = dcsim.plan(power_mw=5, floor_area_m2=2000, overrides=["workload=chat", "cooling=direct_liquid"])
    answer["racks"], answer["binding"], answer["tokens_per_s"]

``dcsim plan power_mw=5 floor_area_m2=2000 workload=chat cooling=direct_liquid`` does the same
from the command line (plan options as ``key=value``, every other argument a dcsim override)
and writes ``outputs/plan/<date>/<time>/plan.json``.

Two searches, both with what dcsim already computes:

1. Racks (``facility.num_racks``), by doubling then bisection: the most racks whose design
   peak power fits the envelope and whose gross floor area (dcsim/facility/space.py) fits the
   floor. Design peak power at the meter is the IT capacity the power path is sized for,
   plus its conversion losses at that load, plus the cooling of that heat at the climate's
   worst hour of the year (the largest cooling power per watt of heat over its 8,760 hours,
   chillers at full-load COP): ``(it + loss) x (1 + max_h cooling(h))``, the controller's own
   formula. With ``power_at=it`` only the IT capacity counts. The binding limit is the one the
   next rack would break (power or space); ``slo`` when no load meets the SLO at all. Cooling
   binds through its share of the meter envelope (``design_cooling_mw``) and the rack density
   its technology allows: a denser rack is refused as dcsim refuses it, or, with
   ``facility.cooling.over_density=throttle``, its GPUs are capped (``gpu_density_cap_w``).
2. Load at the SLO: replicas = GPUs / (tp x ep) of the workload's single inference service;
   ``workload.rate_multiplier`` is searched (doubling then bisection, 2 % tolerance) at fluid
   fidelity for the highest per-replica load whose fluid steady state meets the service's SLO
   (median TTFT <= slo_ttft_s, TPOT <= slo_tpot_s, nothing left in a backlog). The fluid
   fidelity spreads the load evenly over the replicas, so this search runs on a slice of
   ``slice_racks`` racks at the same per-replica load as the fleet. The answer is then
   confirmed by one request-fidelity run of ``confirm_replicas`` replicas of the slice at
   the same per-replica load, of ``duration_s``, or 20 mean end-to-end times of an answer, or
   the time in which 20 / (1 - ``target``) requests arrive (2,000 at 99 %: about 20 misses at
   the target, so the attainment measured is not a handful of requests' luck), whichever is
   longest (at most 10 x ``duration_s``) (fewer replicas pool less, so their tail is if anything worse).
   A session workload (``arrivals.process=sessions``) warms up over a session's lifetime (tens
   of calls with think times between them: minutes), which a run of ``duration_s`` would mostly
   measure, so every slice run of one, fluid and request, lasts at least 10 x ``duration_s``;
   its calls come in sessions, so a request run also lasts until 400 sessions have started
   (their calls then vary by about 5 %; at most 50 x ``duration_s``);
   if its SLO attainment is below ``target``, the load is lowered at request fidelity by 3,
   6, 12, 24, 48 and 96 % of the fluid answer until it is met, then bisected twice between
   the last miss and the met load (each run in the history; ``slo_confirmed`` false if even
   the lowest misses). Fleet tokens/s = the slice's per-replica tokens/s x replicas; PUE and
   cost per token are the slice's fluid run's (the fleet is copies of it: power path and
   cooling scale with the megawatts; economies of scale in the cost model are not in them).
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from dcsim import __version__
from dcsim.config.build import build, to_config
from dcsim.config.compose import compose_config
from dcsim.config.schema import DcsimConfig
from dcsim.core.errors import ConfigError, require
from dcsim.scenario import Scenario
from dcsim.workloads.config import ArrivalProcess, Fidelity

MAX_RACKS = 1_000_000  # a search bound: no envelope of a real site comes near it
LOAD_TOLERANCE = 0.02  # relative width at which the load bisection stops
BACK_OFF = 0.03  # the first request-fidelity back-off step when the fluid answer misses the SLO (then doubled)
REFINE_STEPS = 2  # bisection steps at request fidelity after a back-off
# A request-fidelity run lasts at least this many mean end-to-end times of an answer (the fluid
# estimate at the answer's load; ramp-up and answers in flight at the end take ~1 of them out of
# the tokens counted) and at most MAX_DURATION_FACTOR x duration_s.
WARMUP_RUNS = 20.0
MAX_DURATION_FACTOR = 10.0
# ... and long enough for MISSES_AT_TARGET / (1 - target) requests to arrive, so that a run at
# exactly the target attainment would count about 20 misses (Poisson: +-22 %), not a handful.
MISSES_AT_TARGET = 20.0
# A session workload's calls come in sessions of tens of calls each, so its request runs also last
# until MIN_SESSIONS sessions have started (their call count then varies by ~5 %: 1 / sqrt(400)
# with the spread of calls per session), up to SESSION_DURATION_FACTOR x duration_s.
MIN_SESSIONS = 400.0
SESSION_DURATION_FACTOR = 50.0


@dataclass(frozen=True)
class PlanConfig:
    """The envelope and the search's settings (``dcsim plan KEY=VALUE``)."""

    power_mw: float = 50.0  # facility power, at the meter (power_at=meter) or IT capacity (power_at=it)
    power_at: str = "meter"
    floor_area_m2: float | None = None  # gross building area available; None: no space limit
    target: float = 0.99  # SLO attainment the answer must reach at request fidelity
    slice_racks: int = 1  # racks of the representative slice the load is searched and confirmed on
    duration_s: float = 600.0  # simulated time of each slice run
    confirm_replicas: int = 4  # replicas of the slice that serve in a request-fidelity run (the others idle)
    max_racks: int = MAX_RACKS
    out_dir: str | None = None  # None: outputs/plan/<date>/<time>
    write: bool = True

    def __post_init__(self) -> None:
        require(isinstance(self.power_mw, (int, float)) and self.power_mw > 0, "plan.power_mw", self.power_mw,
                "MW > 0")
        require(self.power_at in ("meter", "it"), "plan.power_at", self.power_at, "meter or it")
        require(self.floor_area_m2 is None or self.floor_area_m2 > 0, "plan.floor_area_m2", self.floor_area_m2,
                "m2 > 0, or null for no space limit")
        require(0 < self.target <= 1, "plan.target", self.target, "an SLO attainment in (0, 1]")
        require(self.slice_racks >= 1, "plan.slice_racks", self.slice_racks, "racks >= 1")
        require(self.confirm_replicas >= 1, "plan.confirm_replicas", self.confirm_replicas, "replicas >= 1")
        require(self.duration_s > 0, "plan.duration_s", self.duration_s, "seconds > 0")
        require(self.max_racks >= 1, "plan.max_racks", self.max_racks, "racks >= 1")


PLAN_FIELDS = {f.name: f for f in dataclasses.fields(PlanConfig)}

HELP = """usage: dcsim plan [OPTION=VALUE ...] [dcsim override ...]

The largest deployment that fits a power and space envelope, its tokens/s at the workload's
SLO, and the limit that binds (docs/planning.md). Options (default):
  power_mw=50           the power envelope, MW
  power_at=meter        meter: design peak at the utility meter; it: provisioned IT capacity
  floor_area_m2=null    gross building area available, m2 (null: no space limit)
  target=0.99           SLO attainment the answer must reach at request fidelity
  slice_racks=1         racks of the slice the load is searched on
  confirm_replicas=4    replicas serving in each request-fidelity run
  duration_s=600        simulated seconds of each fluid run (10 x for sessions; at least of each request run)
  max_racks=1000000     a bound on the rack search
  out_dir=null          the run directory (null: outputs/plan/DATE/TIME)
  write=true            write plan.json and plan.txt
Every other argument is a dcsim override: workload=chat, cooling=direct_liquid,
climate=phoenix_az, hardware=b200, facility=liquid_h100_100kw, workload.services.chat.slo_ttft_s=0.5
  dcsim plan power_mw=50 workload=chat cooling=direct_liquid climate=phoenix_az"""


def parse_plan_args(args: list[str]) -> tuple[PlanConfig, list[str]]:
    """(the plan options, the dcsim overrides) of ``dcsim plan``'s arguments: ``KEY=VALUE``
    whose key is a PlanConfig field is a plan option, anything else a dcsim override."""
    options: dict[str, Any] = {}
    overrides: list[str] = []
    for a in args:
        key, eq, value = a.partition("=")
        if not eq or key not in PLAN_FIELDS:
            overrides.append(a)
            continue
        options[key] = _parse_value(key, value)
    return PlanConfig(**options), overrides


def _parse_value(key: str, value: str) -> Any:
    kind = str(PLAN_FIELDS[key].type)
    if value.lower() in ("null", "none") and "None" in kind:
        return None
    try:
        if kind.startswith("float"):
            return float(value)
        if kind.startswith("int"):
            return int(value)
    except ValueError:
        raise ConfigError(f"plan.{key}", value, "a number" if kind.startswith("float") else "an integer") from None
    if kind.startswith("bool"):
        require(value.lower() in ("true", "false"), f"plan.{key}", value, "true or false")
        return value.lower() == "true"
    return value


# --------------------------------------------------------------------------- configs


def _service(c: DcsimConfig) -> str:
    names = list(c.workload.services)
    require(len(names) == 1, "workload.services", names,
            "a workload of one inference service (e.g. workload=chat, reasoning, agentic_coding, inference_only)")
    return names[0]


def _with(c: DcsimConfig, racks: int, replicas: int, multiplier: float, fidelity: Fidelity,
          duration_s: float) -> DcsimConfig:
    """``c`` with ``racks`` racks serving ``replicas`` replicas at ``multiplier`` of the load."""
    name = _service(c)
    svc = dataclasses.replace(c.workload.services[name], replicas=replicas, fidelity=fidelity)
    workload = dataclasses.replace(c.workload, services={name: svc}, rate_multiplier=multiplier, training={},
                                   job_traces={})
    return dataclasses.replace(c, facility=dataclasses.replace(c.facility, num_racks=racks), workload=workload,
                               duration_s=duration_s)


def _replicas_per_rack(c: DcsimConfig) -> int:
    svc = c.workload.services[_service(c)]
    per_rack = c.facility.rack.gpus_per_rack // (svc.tp * svc.ep)
    require(per_rack >= 1, f"workload.services.{_service(c)}.tp", svc.tp,
            f"a replica (tp x ep GPUs) that fits in a rack of {c.facility.rack.gpus_per_rack} GPUs")
    return per_rack


def worst_hour_cooling_per_w(s: Scenario) -> float:
    """The largest cooling power per watt of heat over the climate's year (full-load COP)."""
    cl, plant = s.facility.climate, s.facility.plant
    wet = cl.wet_bulb_c if cl.wet_bulb_c is not None else cl.dry_bulb_c
    pairs = sorted({(round(float(d), 1), round(float(min(w, d)), 1)) for d, w in zip(cl.dry_bulb_c, wet)})
    return max(plant.coefficients(d, w).total for d, w in pairs)


def envelope_point(s: Scenario, cooling_per_w: float) -> dict[str, Any]:
    """Design powers and areas of a built facility."""
    f = s.facility
    it_w = f.it_capacity_w
    loss_w = f.power_path.loss_w(it_w)
    return {"racks": f.topology.num_racks, "gpus": f.topology.gpus_total, "it_capacity_w": it_w,
            "design_loss_w": loss_w, "design_cooling_w": (it_w + loss_w) * cooling_per_w,
            "design_meter_w": (it_w + loss_w) * (1.0 + cooling_per_w), "gross_floor_area_m2": f.space.gross_m2,
            "density_cap_w": f.density_cap_w}


# --------------------------------------------------------------------------- the search


class _Planner:
    def __init__(self, p: PlanConfig, overrides: list[str]) -> None:
        self.p = p
        self.base = to_config(compose_config(list(overrides)))
        self.name = _service(self.base)
        self.per_rack = _replicas_per_rack(self.base)
        self.history: list[dict[str, Any]] = []
        self.cooling_per_w: float | None = None
        self.request_duration_s = 0.0  # set from the fluid answer before the first request run
        self.arrivals_per_replica_s = 0.0  # requests per replica-second per unit of load (fluid answer)
        svc = self.base.workload.services[self.name]
        # sessions per second at a rate multiplier of 1 (0 unless a session workload)
        self.session_rate_per_s = (svc.arrivals.sessions.arrival_rate_per_s
                                   if svc.arrivals.process == ArrivalProcess.sessions else 0.0)
        self._points: dict[int, dict[str, Any]] = {}

    # ---- racks
    def facility_point(self, racks: int) -> dict[str, Any]:
        """The design powers and area of ``racks`` racks, and whether they fit (once per count)."""
        if racks in self._points:
            return self._points[racks]
        s = build(_with(self.base, racks, 0, 1.0, Fidelity.fluid, self.p.duration_s))
        if self.cooling_per_w is None:
            self.cooling_per_w = worst_hour_cooling_per_w(s)
        pt = envelope_point(s, self.cooling_per_w)
        power_w = pt["design_meter_w"] if self.p.power_at == "meter" else pt["it_capacity_w"]
        pt["power_ok"] = power_w <= self.p.power_mw * 1e6
        pt["space_ok"] = self.p.floor_area_m2 is None or pt["gross_floor_area_m2"] <= self.p.floor_area_m2
        self.history.append({"search": "racks", **pt})
        self._points[racks] = pt
        return pt

    def fits(self, racks: int) -> bool:
        pt = self.facility_point(racks)
        return bool(pt["power_ok"] and pt["space_ok"])

    def racks(self) -> tuple[int, str]:
        if not self.fits(1):
            first = self.history[-1]
            raise ConfigError("plan.power_mw" if not first["power_ok"] else "plan.floor_area_m2",
                              self.p.power_mw if not first["power_ok"] else self.p.floor_area_m2,
                              f"an envelope that holds one rack ({first['design_meter_w'] / 1e6:,.3f} MW at the meter, "
                              f"{first['it_capacity_w'] / 1e6:,.3f} MW IT, {first['gross_floor_area_m2']:,.1f} m2)")
        lo, hi = 1, 2
        while hi <= self.p.max_racks and self.fits(hi):
            lo, hi = hi, hi * 2
        if hi > self.p.max_racks:
            hi = self.p.max_racks + 1
            if self.fits(self.p.max_racks):
                return self.p.max_racks, "max_racks"
        while hi - lo > 1:
            mid = (lo + hi) // 2
            lo, hi = (mid, hi) if self.fits(mid) else (lo, mid)
        nxt = self.facility_point(lo + 1)
        return lo, "power" if not nxt["power_ok"] else "space"

    # ---- load
    def slice_run(self, racks: int, m: float, fidelity: Fidelity, search: str,
                  duration_s: float | None = None) -> dict[str, Any]:
        replicas = racks * self.per_rack
        if duration_s is None:
            duration_s = self.p.duration_s * (MAX_DURATION_FACTOR if self.session_rate_per_s else 1.0)
        if fidelity == Fidelity.request:
            replicas = min(replicas, self.p.confirm_replicas)
            duration_s = max(duration_s, self.request_duration_s, self.sample_duration_s(m, replicas))
        c = _with(self.base, racks, replicas, m * replicas / self.base_replicas, fidelity, duration_s)
        t0 = time.perf_counter()
        summ = build(c).run().summary()
        wall = time.perf_counter() - t0
        svc = c.workload.services[self.name]
        arrived, served = float(summ["requests_arrived"]), float(summ["requests_completed"])
        if fidelity == Fidelity.fluid:
            ok = (served >= 0.999 * arrived and arrived > 0
                  and _le(summ["ttft_p50_s"], svc.slo_ttft_s) and _le(summ["tpot_p50_s"], svc.slo_tpot_s))
        else:
            ok = _finite(summ["slo_attainment"]) >= self.p.target
        row = {"search": search, "fidelity": str(fidelity), "racks": racks, "replicas": replicas,
               "duration_s": duration_s,
               "load_per_replica": m, "rate_multiplier": c.workload.rate_multiplier, "meets_slo": bool(ok),
               "wall_s": wall, **{k: summ.get(k) for k in _KPIS}}
        self.history.append(row)
        return row

    def sample_duration_s(self, load: float, replicas: int) -> float:
        """Simulated seconds a request run at ``load`` on ``replicas`` replicas needs for its
        sample: until MISSES_AT_TARGET / (1 - target) requests arrive (the fluid answer's
        arrival rate; at most MAX_DURATION_FACTOR x duration_s) and, for a session workload,
        until MIN_SESSIONS sessions have started (at most SESSION_DURATION_FACTOR x duration_s)."""
        rate = self.arrivals_per_replica_s * load * replicas
        cap = MAX_DURATION_FACTOR * self.p.duration_s
        if rate <= 0.0 or self.p.target >= 1.0:
            by_requests = cap if rate > 0.0 else 0.0
        else:
            by_requests = min(MISSES_AT_TARGET / (1.0 - self.p.target) / rate, cap)
        if not self.session_rate_per_s:
            return by_requests
        multiplier = load * replicas / self.base_replicas
        return max(by_requests, min(MIN_SESSIONS / (self.session_rate_per_s * multiplier),
                                    SESSION_DURATION_FACTOR * self.p.duration_s))

    def load(self, racks: int) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        """(the fluid answer, the request-fidelity confirmation) on the slice."""
        self.base_replicas = max(1, self.base.workload.services[self.name].replicas)
        n = min(racks, self.p.slice_racks)
        lo_pt: dict[str, Any] | None = None
        m = 1.0
        pt = self.slice_run(n, m, Fidelity.fluid, "load")
        if pt["meets_slo"]:
            lo_pt, hi = pt, 2.0
            while hi < 1e6:
                pt = self.slice_run(n, hi, Fidelity.fluid, "load")
                if not pt["meets_slo"]:
                    break
                lo_pt, hi = pt, hi * 2
        else:
            hi = 1.0
            while hi > 1e-4:
                hi /= 2
                pt = self.slice_run(n, hi, Fidelity.fluid, "load")
                if pt["meets_slo"]:
                    lo_pt, hi = pt, hi * 2
                    break
        if lo_pt is None:
            return None, None
        lo_pt = self._bisect(n, lo_pt, hi, Fidelity.fluid, "load", 64)
        lo = lo_pt["load_per_replica"]
        # a request run starts empty and ends with answers in flight: long enough that the
        # answers' mean time in the system (the fluid estimate) is a small share of it
        e2e_s = _finite(lo_pt["ttft_p50_s"]) + _finite(lo_pt["tpot_p50_s"]) * _finite(lo_pt["output_tokens"]) / max(
            1.0, _finite(lo_pt["requests_completed"]))
        self.request_duration_s = min(WARMUP_RUNS * e2e_s, MAX_DURATION_FACTOR * self.p.duration_s)
        self.arrivals_per_replica_s = _finite(lo_pt["requests_arrived"]) / (
            lo_pt["replicas"] * lo_pt["duration_s"] * lo)
        confirm = self.slice_run(n, lo, Fidelity.request, "confirm")
        fail, step = lo, BACK_OFF
        while not confirm["meets_slo"] and step < 1.0:
            # the fluid median said yes, the request tail says no: back off by 3, 6, 12, ... %
            fail, lo = lo, lo_pt["load_per_replica"] * (1.0 - step)
            confirm = self.slice_run(n, lo, Fidelity.request, "confirm")
            step *= 2
        if not confirm["meets_slo"]:
            return lo_pt, confirm
        if fail != lo:  # between the last load that missed and the one that met it
            confirm = self._bisect(n, confirm, fail, Fidelity.request, "confirm", REFINE_STEPS)
        if confirm["load_per_replica"] != lo_pt["load_per_replica"] or confirm["duration_s"] != lo_pt["duration_s"]:
            # the fluid prediction at the confirmed load, over as long a run (the same warm-up in both)
            lo_pt = self.slice_run(n, confirm["load_per_replica"], Fidelity.fluid, "load", confirm["duration_s"])
        return lo_pt, confirm

    def _bisect(self, n: int, met: dict[str, Any], missed: float, fidelity: Fidelity, search: str,
                steps: int) -> dict[str, Any]:
        """The point of the highest load that meets the SLO between ``met`` and the load
        ``missed``, after at most ``steps`` bisections (or a bracket of LOAD_TOLERANCE)."""
        for _ in range(steps):
            if (missed - met["load_per_replica"]) / missed <= LOAD_TOLERANCE:
                break
            pt = self.slice_run(n, (met["load_per_replica"] + missed) / 2, fidelity, search)
            if pt["meets_slo"]:
                met = pt
            else:
                missed = pt["load_per_replica"]
        return met


_KPIS = ("output_tokens", "output_tokens_per_s", "slo_attainment", "ttft_p50_s", "ttft_p99_s", "tpot_p50_s", "tpot_p99_s", "pue",
         "cost_per_million_tokens_usd", "energy_per_output_token_facility_j", "requests_arrived",
         "requests_completed", "gpu_utilisation")


def _finite(x: Any) -> float:
    return float(x) if x is not None and math.isfinite(float(x)) else 0.0


def _le(x: Any, limit: float | None) -> bool:
    return limit is None or (x is not None and math.isfinite(float(x)) and float(x) <= limit)


def plan(p: PlanConfig | None = None, overrides: list[str] | tuple[str, ...] = (), **options: Any) -> dict[str, Any]:
    """The largest deployment that fits ``p``'s envelope (or ``PlanConfig(**options)``) with
    dcsim ``overrides`` (workload, cooling, climate, hardware, facility); see the module
    docstring. Writes plan.json when ``p.write``; returns the plan as a dict."""
    p = PlanConfig(**options) if p is None else p
    t0 = time.perf_counter()
    pl = _Planner(p, list(overrides))
    racks, binding = pl.racks()
    fac = pl.facility_point(racks)
    fluid, confirm = pl.load(racks)
    replicas = racks * pl.per_rack
    svc = pl.base.workload.services[pl.name]
    answer: dict[str, Any] = {
        "racks": racks, "gpus": fac["gpus"], "replicas": replicas, "tp": svc.tp, "ep": svc.ep,
        "it_capacity_mw": fac["it_capacity_w"] / 1e6, "design_meter_mw": fac["design_meter_w"] / 1e6,
        "design_loss_mw": fac["design_loss_w"] / 1e6, "design_cooling_mw": fac["design_cooling_w"] / 1e6,
        "gpu_density_cap_w": fac["density_cap_w"],
        "gross_floor_area_m2": fac["gross_floor_area_m2"], "binding": binding,
    }
    if fluid is None or confirm is None:
        answer.update(binding="slo", tokens_per_s=0.0, tokens_per_s_request=0.0, load_per_replica=0.0)
    else:
        per_replica = _finite(fluid["output_tokens_per_s"]) / fluid["replicas"]
        per_replica_req = _finite(confirm["output_tokens_per_s"]) / confirm["replicas"]
        answer.update(
            load_per_replica=fluid["load_per_replica"], rate_multiplier=fluid["load_per_replica"] * replicas /
            pl.base_replicas, tokens_per_s=per_replica * replicas, tokens_per_s_request=per_replica_req * replicas,
            request_vs_fluid=per_replica_req / per_replica - 1.0 if per_replica > 0 else math.nan,
            slo_attainment_request=confirm["slo_attainment"], slo_confirmed=confirm["meets_slo"],
            ttft_p99_s=confirm["ttft_p99_s"],
            tpot_p99_s=confirm["tpot_p99_s"], pue=fluid["pue"],
            cost_per_million_tokens_usd=fluid["cost_per_million_tokens_usd"],
            slice_racks=fluid["racks"], confirm_replicas=confirm["replicas"])
    out = {"dcsim_version": __version__, "envelope": dataclasses.asdict(p), "overrides": list(overrides), "service": pl.name,
           "slo": {"ttft_s": svc.slo_ttft_s, "tpot_s": svc.slo_tpot_s, "target": p.target},
           "worst_hour_cooling_per_w": pl.cooling_per_w, "answer": answer, "history": pl.history,
           "wall_time_s": time.perf_counter() - t0}
    if p.write:
        out["run_dir"] = str(write_plan(out, p.out_dir))
    return out


def write_plan(out: dict[str, Any], out_dir: str | None) -> Path:
    """plan.json and plan.txt (the table) in the plan's run directory (``dcsim.io.writer.write_plan``)."""
    from dcsim.io import writer

    d = Path(out_dir) if out_dir else Path("outputs/plan") / datetime.now().strftime("%Y-%m-%d/%H-%M-%S")
    return writer.write_plan(d, out, format_plan(out))


def format_plan(out: dict[str, Any]) -> str:
    """The plan as a short table."""
    a, e = out["answer"], out["envelope"]
    area = "no limit" if e["floor_area_m2"] is None else f"{e['floor_area_m2']:,.0f} m2"
    rows = [("envelope", f"{e['power_mw']:,.2f} MW at {e['power_at']}, {area}"),
            ("racks / GPUs / replicas", f"{a['racks']:,} / {a['gpus']:,} / {a['replicas']:,} (tp {a['tp']}, ep {a['ep']})"),
            ("IT capacity / design peak at meter", f"{a['it_capacity_mw']:,.2f} MW / {a['design_meter_mw']:,.2f} MW "
                                                   f"({a['design_loss_mw']:,.2f} losses, {a['design_cooling_mw']:,.2f} "
                                                   f"cooling at the worst hour)"),
            ("gross floor area", f"{a['gross_floor_area_m2']:,.0f} m2"),
            ("binding limit", a["binding"])]
    if a["gpu_density_cap_w"] is not None:  # over_density=throttle: the cooling holds each GPU below nameplate
        rows.append(("cooling density cap", f"{a['gpu_density_cap_w']:,.0f} W per GPU"))
    if "pue" in a:
        rows += [("tokens/s at SLO (fluid / request)", f"{a['tokens_per_s']:,.0f} / {a['tokens_per_s_request']:,.0f} "
                                                        f"({a['request_vs_fluid']:+.1%}; fluid on {a['slice_racks']} rack"
                                                        f"{'s' if a['slice_racks'] != 1 else ''}, request on "
                                                        f"{a['confirm_replicas']} replicas)"),
                 ("SLO attainment (request), TTFT p99", f"{_finite(a['slo_attainment_request']):.3f}"
                                                        f"{'' if a['slo_confirmed'] else ' (below target)'}, "
                                                        f"{_finite(a['ttft_p99_s']):.3f} s"),
                 ("PUE, cost per 1M tokens", f"{a['pue']:.3f}, ${a['cost_per_million_tokens_usd']:.4f}")]
    rows.append(("search", f"{len(out['history'])} points, {out['wall_time_s']:.1f} s"))
    w = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{w}}  {v}" for k, v in rows)
