"""Utility loss and power-tree unit faults as on a real site (docs/power.md, "Faults").

Each test is a timeline: one run of the default scenario (inference and training on four
air-cooled racks, 60 s control interval) with a fault at t = 300 s, read back from the
facility's time series, its events and its summary, and checked against the run without
the fault where the fault should change nothing.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

import dcsim
from dcsim.api import compose_config
from dcsim.config.build import build
from dcsim.core.errors import ConfigError
from dcsim.facility.power_path import DEFAULT_STAGES, PowerPath

REL = 1e-9
BASE = ["duration_s=1200", "output.write=false", "facility.chiller_restart_s=120"]


def run(*overrides: str):
    return dcsim.run([*BASE, *overrides])


def facility_rows(r):
    ts = r.frames()["timeseries"]
    return ts[ts["component"] == "facility"].set_index("t_s")


def power_events(r):
    ev = r.frames()["events"]
    ev = ev[ev["component"].str.startswith(("power/", "cooling/")) & (ev["record_type"] != "overload")]
    return [(round(t, 6), kind, comp) for t, kind, comp in zip(ev["t_s"], ev["record_type"], ev["component"])]


def assert_energy_balances(r):
    """The ledger's facility energy is IT + losses + cooling, and what the grid, the UPS
    battery and the generator supplied between them is that plus the battery's recharge."""
    s = r.summary()
    e = r.energy_j
    assert e["gpu"] + e["host"] + e["conversion_loss"] + e["cooling"] == pytest.approx(e["facility"], rel=REL)
    supplied = s["grid_energy_j"] + s["ups_battery_energy_j"] + s["generator_energy_j"]
    assert supplied == pytest.approx(e["facility"] + s["ups_recharge_energy_j"], rel=REL)


@pytest.fixture(scope="module")
def base():
    return run()


def test_utility_loss_shorter_than_ride_through(base):
    """A 200 s feed loss at 300 s: the battery carries everything for the generator's 10 s
    start, the generator until the feed returns at 500 s; the grid draws nothing meanwhile.
    Chillers stop with the power and restart 120 s after it returns (430 s), pumps and air
    handlers run on the UPS throughout: the racks warm in the chiller gap and cool after.
    No rack loses power."""
    r = run("+facility.faults=[{kind: utility, start_s: 300, duration_s: 200}]")
    assert power_events(r) == [
        (300.0, "fault", "power/utility"), (310.0, "generator", "power/generator"),
        (430.0, "restart", "cooling/chiller"), (500.0, "repair", "power/utility")]
    fac = facility_rows(r)
    assert [300.0, 310.0, 360.0, 420.0, 430.0, 480.0, 500.0] == [t for t in fac.index if 300 <= t <= 500]
    on_battery, on_generator = fac.loc[[300.0]], fac.loc[310.0:480.0]
    assert (on_battery["ups_battery_power_w"] == on_battery["facility_power_w"]).all()
    # the generator also recharges the battery: the 10 s it gave, over 10 x 10 s (Eaton)
    assert (on_generator["generator_power_w"] == on_generator["facility_power_w"]
            + on_generator["ups_recharge_power_w"]).all()
    drawn_j = 10.0 * fac.loc[300.0, "facility_power_w"]
    assert fac.loc[310.0, "ups_recharge_power_w"] == pytest.approx(drawn_j / 100.0, rel=REL)
    assert (fac.loc[420.0:, "ups_recharge_power_w"] == 0).all()  # restored by 410 s
    assert (fac.loc[300.0:480.0, "grid_power_w"] == 0).all()
    assert (fac.loc[:240.0, "grid_power_w"] == fac.loc[:240.0, "facility_power_w"]).all()
    assert (fac.loc[500.0:, "grid_power_w"] > 0).all()
    # on the battery the transformer is dark and the chillers and heat rejection are off
    assert (fac.loc[300.0:420.0, "chiller_power_w"] == 0).all() and fac.loc[430.0, "chiller_power_w"] > 0
    assert fac.loc[300.0, "heat_rejection_power_w"] == 0 and fac.loc[300.0, "air_power_w"] > 0
    assert fac.loc[300.0, "conversion_loss_power_w"] < facility_rows(base).loc[300.0, "conversion_loss_power_w"]
    # the racks warm while no chiller runs, cool once they do
    inlet = fac["inlet_temp_c"]
    assert inlet.loc[:240.0].max() == pytest.approx(inlet.iloc[0])
    assert inlet.loc[420.0] > inlet.iloc[0] + 5
    assert inlet.loc[1140.0] < inlet.loc[420.0] - 3
    s = r.summary()
    assert s["ups_battery_energy_j"] == pytest.approx(10.0 * fac.loc[300.0, "facility_power_w"], rel=REL)
    assert s["rack_power_offs"] == 0
    # the same work: GPU energy as without the fault (the servers' fans draw more in the warmer air)
    assert s["gpu_energy_j"] == pytest.approx(base.summary()["gpu_energy_j"], rel=0.01)
    assert_energy_balances(r)


def test_battery_lasts_its_energy_over_the_load():
    """With the generator slower (600 s) than the feed loss lasts, the battery alone carries
    the load; it lasts its energy over the load, longer at part load than its ride-through
    rating at full load: ride-through 120 s at rated load gives about 124 s at this load."""
    cfg = [*BASE, "facility.ups_ride_through_s=120", "facility.generator_start_s=600",
           "+facility.faults=[{kind: utility, start_s: 300, duration_s: 100}]"]
    spec = build(compose_config(cfg)).facility
    ups = spec.power_path.stage("ups")
    assert spec.ups_energy_j == pytest.approx(120.0 * (ups.usable_w + ups.loss_w(ups.usable_w)), rel=REL)
    r = dcsim.run(cfg)
    # 100 s < what the battery lasts; the chillers restart 120 s after the feed returns
    assert power_events(r) == [(300.0, "fault", "power/utility"), (400.0, "repair", "power/utility"),
                               (520.0, "restart", "cooling/chiller")]
    s = r.summary()
    fac = facility_rows(r)
    drawn = fac.loc[300.0:399.0]
    assert s["ups_battery_energy_j"] == pytest.approx((drawn["facility_power_w"] * drawn["interval_s"]).sum(),
                                                      rel=REL)
    assert s["ups_battery_energy_j"] < spec.ups_energy_j
    assert_energy_balances(r)


def test_the_battery_recharges_over_ten_times_its_discharge_and_a_second_outage_finds_it_part_full():
    """After a 60 s outage on the battery alone the grid restores the energy it gave at a
    constant draw over 10 x 60 s (Eaton's rule of thumb, facility.ups_recharge_time_factor);
    a second outage 140 s later finds the battery holding its capacity less what is still
    owed, and empties it: the two outages drew exactly E1 + (capacity - E1 + E1 x 140 / 600)."""
    cfg = [*BASE, "facility.ups_ride_through_s=120", "facility.generator_start_s=1000",
           "+facility.faults=[{kind: utility, start_s: 300, duration_s: 60}, {kind: utility, start_s: 500, "
           "duration_s: 400}]"]
    capacity_j = build(compose_config(cfg)).facility.ups_energy_j
    r = dcsim.run(cfg)
    fac, s = facility_rows(r), r.summary()
    first = fac.loc[300.0:359.0]
    e1_j = float((first["ups_battery_power_w"] * first["interval_s"]).sum())
    between = fac.loc[360.0:499.0]
    assert len(between) == 3 and list(between["ups_recharge_power_w"]) == pytest.approx([e1_j / 600.0] * 3, rel=REL)
    assert list(between["grid_power_w"]) == pytest.approx(list(between["facility_power_w"] + e1_j / 600.0), rel=REL)
    held_j = capacity_j - e1_j + e1_j * 140.0 / 600.0
    assert s["ups_battery_energy_j"] == pytest.approx(e1_j + held_j, rel=REL)
    empty_s = 500.0 + held_j / fac.loc[500.0, "facility_power_w"]  # about: the load moves as the racks warm
    assert [e[:2] for e in power_events(r) if e[2].startswith("power/")][:4] == [
        (300.0, "fault"), (360.0, "repair"), (500.0, "fault"), (pytest.approx(empty_s, rel=0.05), "outage")]
    # after the feed returns at 900 s the recharge resumes; by the end it has restored part of it
    assert (fac.loc[900.0:, "ups_recharge_power_w"] > 0).all()
    assert 0 < s["ups_recharge_energy_j"] < s["ups_battery_energy_j"]
    assert_energy_balances(r)


def test_ups_recharge_time_factor_must_be_positive():
    with pytest.raises(ConfigError, match="facility.ups_recharge_time_factor"):
        build(compose_config([*BASE, "facility.ups_recharge_time_factor=0"]))


def test_unit_fault_config_errors():
    """A stage that is not in the path, more units than it has, or a stage on another
    kind of fault is a one-line error naming the field, the value and what is allowed."""
    cases = [
        ("[{kind: power_unit, stage: switchgear}]", "facility.faults.0.stage='switchgear'", "['transformer', 'ups', 'pdu']"),
        ("[{kind: power_unit, stage: ups, units: 6}]", "facility.faults.0.units=6", "1..5"),
        ("[{kind: power_unit}]", "facility.faults.0.stage=None", "one of"),
        ("[{kind: chiller, stage: ups}]", "facility.faults.0.stage='ups'", "null unless kind is power_unit"),
    ]
    for faults, field, allowed in cases:
        with pytest.raises(ConfigError) as e:
            build(compose_config([*BASE, f"+facility.faults={faults}"]))
        msg = str(e.value)
        assert field in msg and allowed in msg and "\n" not in msg, msg


def test_failed_units_move_the_losses_and_the_capacity():
    """PowerPath with failed units: N+1 UPS of 5 losing one keeps its capacity (the four left
    may all be loaded) and its four units carry the load with one unit's no-load loss less;
    the same UPS under N loses a fifth of its capacity; all units out reaches no rack."""
    stages = [s for s in DEFAULT_STAGES if s.name != "psu"]
    path = PowerPath.build(100e3, stages)
    one = path.with_failed_units({"ups": 1})
    assert not path.degraded({"ups": 1}) and path.degraded({"ups": 2})
    assert one.usable_capacity_w() == pytest.approx(path.usable_capacity_w(), rel=1e-9)
    ups, ups4 = path.stage("ups"), one.stage("ups")
    assert ups4.units == 4 and ups4.rated_w == ups.rated_w
    at_w = 50e3
    expected = 4 * ups.rated_w * ups.no_load + ups.proportional * at_w + ups.square * at_w ** 2 / (4 * ups.rated_w)
    assert ups4.loss_w(at_w) == pytest.approx(expected, rel=1e-12)
    assert ups4.loss_w(at_w) < ups.loss_w(at_w)  # one no-load loss less than the square-law rise
    n_stages = [replace(s, redundancy="N") if s.name == "ups" else s for s in stages]
    n_path = PowerPath.build(100e3, n_stages)
    assert n_path.degraded({"ups": 1})
    # the four left carry 4/5 of the UPS output the path was sized for
    assert n_path.with_failed_units({"ups": 1}).stage("ups").usable_w == pytest.approx(
        0.8 * n_path.stage("ups").usable_w)
    assert not path.with_failed_units({"pdu": 2}).reaches_racks
    with pytest.raises(ValueError, match="3 cannot fail"):
        path.with_failed_units({"pdu": 3})


def test_ups_module_fault_under_n_plus_1_loses_only_redundancy(base):
    """One of five N+1 UPS modules out from 300 s for 300 s: an event says the redundancy is
    lost, no rack loses power, the IT load is exactly that of the run without the fault,
    and the UPS losses are those of four modules carrying it."""
    r = run("+facility.faults=[{kind: power_unit, stage: ups, units: 1, start_s: 300, duration_s: 300}]")
    assert power_events(r) == [(300.0, "fault", "power/ups"), (300.0, "redundancy_lost", "power/ups"),
                               (600.0, "repair", "power/ups")]
    fac, ref = facility_rows(r), facility_rows(base)
    assert (fac["it_power_w"] == ref["it_power_w"]).all()
    assert (fac["inlet_temp_c"] == ref["inlet_temp_c"]).all() and (fac["gpu_temp_c"] == ref["gpu_temp_c"]).all()
    assert r.summary()["rack_power_offs"] == 0
    spec = build(compose_config(BASE)).facility
    one = spec.power_path.with_failed_units({"ups": 1})
    for t in (300.0, 420.0, 540.0):  # losses of the interval-mean IT power, to its spread within the minute
        it_w = fac.loc[t, "it_power_w"]
        moved = one.loss_w(it_w) - spec.power_path.loss_w(it_w)
        assert fac.loc[t, "conversion_loss_power_w"] - ref.loc[t, "conversion_loss_power_w"] == pytest.approx(
            moved, rel=1e-3)
    assert list(fac.loc[600.0:, "conversion_loss_power_w"]) == pytest.approx(
        list(ref.loc[600.0:, "conversion_loss_power_w"]), rel=1e-12)  # back to five modules, to rounding
    assert_energy_balances(r)


@pytest.mark.parametrize("scheme", [(), ("facility.power.stages.pdu.redundancy=N+1", "facility.power.stages.pdu.units=3")],
                         ids=["2N", "N+1"])
def test_pdu_fault_under_2n_or_n_plus_1_is_survived(base, scheme):
    """One PDU out, of the two 2N PDUs or of three N+1 PDUs: the others carry the whole load
    (each sized so the path keeps its redundancy at the provisioned capacity); no rack loses power."""
    r = run(*scheme, "+facility.faults=[{kind: power_unit, stage: pdu, units: 1, start_s: 300, duration_s: 300}]")
    assert [e[1] for e in power_events(r)] == ["fault", "redundancy_lost", "repair"]
    assert (facility_rows(r)["it_power_w"] == facility_rows(base)["it_power_w"]).all()
    assert r.summary()["rack_power_offs"] == 0
    assert_energy_balances(r)


def rack_events(r):
    """(t, power_off/power_on, rack, cause) of the rack power API's events."""
    ev = r.frames()["events"]
    ev = ev[ev["record_type"].isin(["power_off", "power_on"])]
    return [(round(t, 6), k, c, d) for t, k, c, d in zip(ev["t_s"], ev["record_type"], ev["component"], ev["detail"])]


RACKS = ["rack/000", "rack/001", "rack/002", "rack/003"]


def test_utility_loss_longer_than_ride_through_loses_the_it_load():
    """A 600 s feed loss at 300 s with a generator that takes 400 s and a battery of 120 s at
    rated load: the battery carries the load until its energy is spent (at 426 s: the load
    is under the UPS rating, so longer than 120 s); then every rack loses power, its
    training jobs lose their progress since the last checkpoint and its streaming requests
    are lost; the building draws nothing until the generator runs at 700 s and the racks
    come back; the chillers restart at 820 s, the feed at 900 s."""
    cfg = [*BASE, "facility.ups_ride_through_s=120", "facility.generator_start_s=400",
           "+facility.faults=[{kind: utility, start_s: 300, duration_s: 600}]"]
    spec = build(compose_config(cfg)).facility
    r = dcsim.run(cfg)
    s = r.summary()
    ev = power_events(r)
    t_out = ev[1][0]
    assert [e[1:] for e in ev] == [("fault", "power/utility"), ("outage", "power/ups"),
                                   ("generator", "power/generator"), ("restart", "cooling/chiller"),
                                   ("repair", "power/utility")]
    assert [e[0] for e in ev] == [300.0, t_out, 700.0, 820.0, 900.0] and 400 < t_out < 440
    assert rack_events(r) == ([(t_out, "power_off", rack, "ups") for rack in RACKS]
                              + [(700.0, "power_on", rack, "ups") for rack in RACKS])
    # the battery delivered exactly its energy, and nothing at all was drawn while dark
    assert s["ups_battery_energy_j"] == pytest.approx(spec.ups_energy_j, rel=REL)
    fac = facility_rows(r)
    dark = fac.loc[t_out:690.0]
    assert (dark[["it_power_w", "facility_power_w"]].abs() < 1e-6).all().all()  # zero to rounding
    assert (dark[["grid_power_w", "generator_power_w", "ups_battery_power_w"]] == 0).all().all()
    assert (fac.loc[700.0:840.0, "generator_power_w"] > 0).all() and (fac.loc[700.0:840.0, "grid_power_w"] == 0).all()
    assert (fac.loc[900.0:, "grid_power_w"] > 0).all()
    # racks heat on the battery (no heat rejection), cool while dark, heat again until the chillers
    # run (each row's temperature is the one at the end of its interval)
    inlet = fac["inlet_temp_c"]
    assert inlet.loc[420.0] > inlet.loc[240.0] + 5  # 300 s -> t_out
    assert inlet.loc[660.0] < inlet.loc[420.0]  # t_out -> 700 s
    assert inlet.loc[780.0] > inlet.loc[660.0] and inlet.loc[1140.0] < inlet.loc[780.0]
    # the work lost with the racks, counted
    assert s["rack_power_offs"] == 4
    # t_out is the event time rounded to 1 us (power_events): the tolerance is that rounding's
    assert s["powered_off_gpu_hours"] == pytest.approx(4 * 32 * (700.0 - t_out) / 3600.0, abs=4 * 32 * 0.5e-6 / 3600.0)
    assert s["training_jobs_interrupted"] >= 1 and s["training_steps_lost"] > 0
    assert s["requests_lost"] + s["requests_requeued"] > 0
    assert_energy_balances(r)


def test_ups_module_fault_under_n_sheds_the_load_above_the_remaining_modules(base):
    """With the UPS at N (five modules, no spare), one module out from 300 s for 300 s leaves
    four fifths of its capacity: racks are powered off, the last first, until the IT load
    fits (one of the four here); its work is interrupted; the IT power stays under the
    remaining capacity until the repair at 600 s brings them back."""
    n = "facility.power.stages.ups.redundancy=N"
    cfg = [*BASE, n, "+facility.faults=[{kind: power_unit, stage: ups, units: 1, start_s: 300, duration_s: 300}]"]
    spec = build(compose_config(cfg)).facility
    capacity_w = spec.power_path.with_failed_units({"ups": 1}).usable_capacity_w()
    assert capacity_w == pytest.approx(0.8 * spec.power_path.usable_capacity_w(), rel=1e-3)  # less the PDU losses
    r = dcsim.run(cfg)
    assert [e[1:] for e in power_events(r)] == [("fault", "power/ups"), ("repair", "power/ups")]
    assert rack_events(r) == [(300.0, "power_off", "rack/003", "power_path"), (600.0, "power_on", "rack/003", "power_path")]
    fac, ref = facility_rows(r), facility_rows(dcsim.run([*BASE, n]))
    assert (fac.loc[300.0:540.0, "it_power_w"] <= capacity_w).all()
    assert (ref.loc[300.0:540.0, "it_power_w"] > capacity_w).all()  # without shedding it would not fit
    assert (fac.loc[:240.0, "it_power_w"] == ref.loc[:240.0, "it_power_w"]).all()
    # the shed rack's GPUs draw nothing: at their inlet's temperature until they come back
    ts = r.frames()["timeseries"]
    shed = ts[ts["component"] == "rack/003"].set_index("t_s")
    assert (shed.loc[300.0:540.0, "gpu_temp_c"] == shed.loc[300.0:540.0, "inlet_temp_c"]).all()
    assert (shed.loc[600.0:, "gpu_temp_c"] > shed.loc[600.0:, "inlet_temp_c"]).all()
    s = r.summary()
    assert s["rack_power_offs"] == 1
    assert s["powered_off_gpu_hours"] == pytest.approx(32 * 300.0 / 3600.0, rel=REL)
    assert s["training_jobs_interrupted"] + s["requests_lost"] + s["requests_requeued"] > 0
    assert_energy_balances(r)


def test_pdu_fault_under_n_takes_its_racks_down():
    """A single PDU (N, one unit): when it fails nothing reaches the racks or the network;
    every rack is off from 300 s to the repair at 600 s and the IT load is zero; the
    transformers and UPS upstream stay energised at no load, and their heat is cooled."""
    cfg = [*BASE, "facility.power.stages.pdu.redundancy=N", "facility.power.stages.pdu.units=1",
           "+facility.faults=[{kind: power_unit, stage: pdu, units: 1, start_s: 300, duration_s: 300}]"]
    r = dcsim.run(cfg)
    assert rack_events(r) == ([(300.0, "power_off", rack, "power_path") for rack in reversed(RACKS)]
                              + [(600.0, "power_on", rack, "power_path") for rack in RACKS])
    fac = facility_rows(r)
    out = fac.loc[300.0:540.0]
    assert out["it_power_w"].abs().max() < 1e-6  # zero to rounding
    assert (0 < out["cooling_power_w"]).all() and (out["cooling_power_w"] < out["conversion_loss_power_w"]).all()
    spec = build(compose_config(cfg)).facility
    no_load_w = spec.power_path.with_failed_units({"pdu": 1}).loss_w(0.0)
    assert no_load_w > 0 and ((out["conversion_loss_power_w"] - no_load_w).abs() < 1e-9 * no_load_w).all()
    assert (fac.loc[600.0:, "it_power_w"] > 0).all()
    assert r.summary()["rack_power_offs"] == 4
    assert_energy_balances(r)


def test_without_cooling_on_the_ups_nothing_cools_until_the_generator(base):
    """With ``cooling_on_ups=false`` the battery carries the IT load alone: no cooling power
    while on it (pumps and air handlers stop with the chillers), and the battery supplies
    less than with the movers on it."""
    fault = "+facility.faults=[{kind: utility, start_s: 300, duration_s: 200}]"
    off = facility_rows(run("facility.cooling_on_ups=false", fault))
    on = facility_rows(run(fault))
    assert off.loc[300.0, "cooling_power_w"] == 0.0 and on.loc[300.0, "cooling_power_w"] > 0
    assert off.loc[300.0, "ups_battery_power_w"] == pytest.approx(
        off.loc[300.0, "it_power_w"] + off.loc[300.0, "conversion_loss_power_w"], rel=REL)
    assert off.loc[300.0, "ups_battery_power_w"] < on.loc[300.0, "ups_battery_power_w"]
    assert off.loc[310.0, "cooling_power_w"] > 0  # the generator runs the pumps and fans again


def test_a_path_fed_from_its_ups_keeps_what_it_reaches():
    """``fed_at('ups')`` drops the transformers' losses and keeps whether the racks are reached."""
    stages = [s for s in DEFAULT_STAGES if s.name != "psu"]
    path = PowerPath.build(100e3, stages)
    fed = path.fed_at("ups")
    assert [s.name for s in fed.stages] == ["ups", "pdu"]
    assert fed.loss_w(50e3) == pytest.approx(
        path.loss_w(50e3) - path.loss_by_stage_w(50e3)["transformer"], rel=1e-12)
    assert not path.with_failed_units({"pdu": 2}).fed_at("ups").reaches_racks
