"""Capacity planning (dcsim.analysis.plan, ``dcsim plan``): the answer fits the envelope and one
more rack would not, the binding limit is the one that stops it, bad inputs are one line,
plan.json holds the search history, and the same plan gives the same answer."""

from __future__ import annotations

import json
import sys

import pytest

import dcsim
from dcsim import cli
from dcsim.analysis.plan import PlanConfig, _Planner, parse_plan_args, plan
from dcsim.core.errors import ConfigError

# a small chat fleet on short runs: each plan takes a few seconds
FAST = dict(duration_s=300.0, confirm_replicas=2)
CHAT = ["workload=chat"]


@pytest.fixture(scope="module")
def power_plan(tmp_path_factory):
    return plan(PlanConfig(power_mw=0.4, out_dir=str(tmp_path_factory.mktemp("plan")), **FAST), CHAT)


def _point(overrides, racks, **options):
    return _Planner(PlanConfig(write=False, **FAST, **options), overrides).facility_point(racks)


def test_power_binds_and_one_more_rack_would_not_fit(power_plan):
    a = power_plan["answer"]
    assert a["binding"] == "power"
    assert a["design_meter_mw"] <= 0.4
    more = _point(CHAT, a["racks"] + 1, power_mw=0.4)
    assert more["design_meter_w"] > 0.4e6 and not more["power_ok"]
    # the design peak at the meter is the IT capacity plus its losses plus the worst hour's cooling
    assert a["design_meter_mw"] > a["it_capacity_mw"]
    assert a["gpus"] == a["racks"] * 32 and a["replicas"] == a["gpus"] // 2


def test_power_at_it_counts_only_the_it_capacity():
    p = _Planner(PlanConfig(power_mw=0.4, power_at="it", write=False, **FAST), CHAT)
    racks, binding = p.racks()
    assert binding == "power"
    assert p.facility_point(racks)["it_capacity_w"] <= 0.4e6 < p.facility_point(racks + 1)["it_capacity_w"]
    assert racks > plan_racks_at_meter()


def plan_racks_at_meter() -> int:
    return _Planner(PlanConfig(power_mw=0.4, write=False, **FAST), CHAT).racks()[0]


def test_space_binds_when_the_floor_is_the_tighter_limit():
    p = _Planner(PlanConfig(power_mw=5.0, floor_area_m2=100.0, write=False, **FAST), CHAT)
    racks, binding = p.racks()
    assert binding == "space"
    assert p.facility_point(racks)["gross_floor_area_m2"] <= 100.0 < p.facility_point(racks + 1)["gross_floor_area_m2"]
    assert p.facility_point(racks + 1)["power_ok"]


def test_load_at_the_slo_is_confirmed_at_request_fidelity(power_plan):
    a = power_plan["answer"]
    assert a["slo_confirmed"] and a["slo_attainment_request"] >= 0.99
    assert abs(a["request_vs_fluid"]) < 0.05  # within 5 %, as the issue asks
    assert a["tokens_per_s"] > 0 and a["pue"] > 1.0 and a["cost_per_million_tokens_usd"] > 0
    loads = [h for h in power_plan["history"] if h["search"] == "load"]
    met = [h["load_per_replica"] for h in loads if h["meets_slo"]]
    missed = [h["load_per_replica"] for h in loads if not h["meets_slo"]]
    # the fluid answer is the highest load that met the SLO, just below the lowest that did not
    assert a["load_per_replica"] <= max(met) and missed and min(missed) > a["load_per_replica"]


def test_slo_binds_when_no_load_meets_it():
    out = plan(PlanConfig(power_mw=0.2, write=False, **FAST), CHAT + ["workload.services.chat.slo_tpot_s=0.001"])
    assert out["answer"]["binding"] == "slo" and out["answer"]["tokens_per_s"] == 0.0


def test_plan_json_holds_the_envelope_answer_and_history(power_plan, tmp_path):
    saved = json.loads((power_plan_dir(power_plan) / "plan.json").read_text())
    assert saved["answer"]["racks"] == power_plan["answer"]["racks"]
    assert saved["envelope"]["power_mw"] == 0.4
    kinds = {(h["search"], h.get("fidelity")) for h in saved["history"]}
    assert {("racks", None), ("load", "fluid"), ("confirm", "request")} <= kinds
    assert (power_plan_dir(power_plan) / "plan.txt").read_text().count("binding limit") == 1


def power_plan_dir(out):
    from pathlib import Path

    return Path(out["run_dir"])


def test_same_plan_same_answer(power_plan):
    again = dcsim.plan(PlanConfig(power_mw=0.4, write=False, **FAST), CHAT)
    assert again["answer"] == power_plan["answer"]
    strip = [{k: v for k, v in h.items() if k != "wall_s"} for h in again["history"]]
    assert strip == [{k: v for k, v in h.items() if k != "wall_s"} for h in power_plan["history"]]


@pytest.mark.parametrize("args, field", [
    (["power_mw=0"], "plan.power_mw"),
    (["power_at=grid"], "plan.power_at"),
    (["target=1.5"], "plan.target"),
    (["power_mw=lots"], "plan.power_mw"),
    (["floor_area_m2=1"], "plan.floor_area_m2"),  # not even one rack fits
    (["power_mw=0.001"], "plan.power_mw"),
    (["workload=llm_mix"], "workload.services"),  # more than one service
])
def test_bad_inputs_are_one_line_and_exit_2(args, field, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["dcsim", "plan", "write=false", *args])
    with pytest.raises(SystemExit) as e:
        cli._main()
    assert e.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and field in err and "Traceback" not in err


def test_plan_options_and_overrides_are_told_apart():
    p, overrides = parse_plan_args(["power_mw=3", "floor_area_m2=null", "workload=chat", "cooling=air"])
    assert p.power_mw == 3.0 and p.floor_area_m2 is None
    assert overrides == ["workload=chat", "cooling=air"]
    with pytest.raises(ConfigError, match="plan.slice_racks"):
        parse_plan_args(["slice_racks=0"])


def test_help_lists_every_option(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["dcsim", "plan", "--help"])
    cli._main()
    out = capsys.readouterr().out
    from dcsim.analysis.plan import PLAN_FIELDS

    assert all(f"  {name}=" in out for name in PLAN_FIELDS)


def test_cooling_density_and_cooling_power_are_reported():
    dense = ["workload=chat", "facility=liquid_h100_100kw", "cooling=air"]
    with pytest.raises(ConfigError, match="at most 40 kW per rack with air cooling"):
        _point(dense, 1, power_mw=5)
    capped = _point(dense + ["facility.cooling.over_density=throttle"], 1, power_mw=5)
    assert capped["density_cap_w"] is not None and capped["density_cap_w"] < 700  # H100-SXM nameplate
    liquid = _point(["workload=chat", "cooling=direct_liquid"], 10, power_mw=5)
    air = _point(["workload=chat", "cooling=air"], 10, power_mw=5)
    # the same racks: the same IT, less cooling at the worst hour with liquid
    assert liquid["it_capacity_w"] == air["it_capacity_w"] and liquid["design_cooling_w"] < air["design_cooling_w"]
    assert air["design_meter_w"] == pytest.approx(air["it_capacity_w"] + air["design_loss_w"] + air["design_cooling_w"])


def test_request_runs_last_until_enough_requests_arrive_to_resolve_the_target():
    """A run at exactly the target attainment counts MISSES_AT_TARGET misses: 20 / (1 - target)
    requests at the fluid answer's arrival rate, at least duration_s, at most 10 x duration_s."""
    p = _Planner(PlanConfig(write=False, duration_s=600.0, target=0.99), CHAT)
    p.arrivals_per_replica_s = 0.25  # requests per replica-second at a load of 1
    assert p.sample_duration_s(1.0, 4) == pytest.approx(2000 / 1.0)  # 2,000 requests at 1 request/s
    assert p.sample_duration_s(0.5, 4) == pytest.approx(4000.0)  # half the load, twice as long
    assert p.sample_duration_s(0.1, 4) == 6000.0  # the cap, 10 x duration_s
    assert _Planner(PlanConfig(write=False, target=1.0), CHAT).sample_duration_s(1.0, 4) == 0.0  # no rate yet


def test_session_runs_cover_the_warm_up_and_enough_sessions():
    """Agentic sessions warm up over a session's lifetime: every fluid run lasts 10 x duration_s,
    every request run until 400 sessions have started (at most 50 x duration_s), and the fluid
    prediction the answer is compared with runs as long as the confirming request run."""
    d = 60.0
    out = plan(PlanConfig(power_mw=0.2, write=False, duration_s=d, confirm_replicas=2, target=0.95),
               ["workload=agentic_coding", "workload.services.agent.arrivals.sessions.calls.log_mu=1.5"])
    rate = 0.2  # conf/workload/agentic_coding.yaml: sessions per second at a multiplier of 1
    runs = [h for h in out["history"] if h.get("fidelity")]
    fluid = [h for h in runs if h["fidelity"] == "fluid"]
    request = [h for h in runs if h["fidelity"] == "request"]
    assert request and all(h["duration_s"] == 10 * d for h in fluid[:-1])
    for h in request:
        assert h["duration_s"] >= min(400 / (rate * h["rate_multiplier"]), 50 * d) * (1 - 1e-9)
        assert h["duration_s"] <= 50 * d
    a = out["answer"]
    assert a["slo_confirmed"]
    confirm = next(h for h in reversed(request) if h["meets_slo"])
    assert fluid[-1]["duration_s"] == confirm["duration_s"]
    assert fluid[-1]["load_per_replica"] == confirm["load_per_replica"] == a["load_per_replica"]
    assert abs(a["request_vs_fluid"]) < 0.05  # same load, same warm-up: the two fidelities agree
