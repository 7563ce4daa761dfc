"""Racks that lose power (thermal shutdown, a UPS run out, a tripped PDU): their work stops,
is requeued or lost and counted, and comes back when the rack does."""

from __future__ import annotations

import numpy as np
import pytest

import dcsim
from dcsim.facility import controller

REL = 1e-9


def _run_with(monkeypatch, overrides: list[str], actions: list[tuple[float, str, list[int], str]]):
    """Run with ``(t_s, "off"|"on", racks, cause)`` calls of the facility's rack-power API."""
    init = controller.Facility.__init__

    def patched(self, sim, spec):
        init(self, sim, spec)
        for t, what, racks, cause in actions:
            fn = self.power_off_racks if what == "off" else self.power_on_racks
            sim.env.timeout(t).callbacks.append(lambda _ev, fn=fn, racks=racks, cause=cause: fn(racks, cause))

    monkeypatch.setattr(controller.Facility, "__init__", patched)
    return dcsim.run(overrides + ["output.write=false"])


def _conserved(r) -> None:
    e = r.energy_j
    assert e["gpu"] + e["host"] + e["conversion_loss"] + e["cooling"] == pytest.approx(e["facility"], rel=REL)
    consumers = sum(v for kind, v in r.meter_energy_j.values() if kind in ("gpu", "host"))
    assert consumers == pytest.approx(e["gpu"] + e["host"], rel=REL)


def test_racks_powered_off_stop_their_work_and_come_back(monkeypatch):
    """The default mix; racks 0 and 1 lose power ("ups") from 300 s to 600 s. Meanwhile they
    draw only their share of the server-fan meter, every replica and job on them is
    interrupted at 300 s and starts again elsewhere or after 600 s, the training job loses
    its steps since its last checkpoint, and the ledger balances."""
    r = _run_with(monkeypatch, ["duration_s=1200"], [(300.0, "off", [0, 1], "ups"), (600.0, "on", [0, 1], "ups")])
    f = r.frames()
    ev = f["events"]
    offs = ev[ev["record_type"] == "power_off"]
    assert list(offs["component"]) == ["rack/000", "rack/001"] and set(offs["t_s"]) == {300.0}
    ons = ev[ev["record_type"] == "power_on"]
    assert list(ons["component"]) == ["rack/000", "rack/001"] and set(ons["t_s"]) == {600.0}
    hit = ev[ev["record_type"] == "interrupt"]
    assert set(hit["t_s"]) == {300.0} and len(hit) >= 2
    assert (hit["detail"] == "ups").all()
    ts = f["timeseries"]
    for rack in ("rack/000", "rack/001"):
        rows = ts[ts["component"] == rack].set_index("t_s")["it_power_w"]
        on_w, off_w = rows.loc[240.0], rows.loc[300.0:540.0]
        assert (off_w < 0.1 * on_w).all(), rack
        assert rows.loc[660.0] > 0.5 * on_w  # work runs there again
    starts = ev[(ev["record_type"] == "start") & (ev["t_s"] >= 300.0)]
    replicas = [c for c in hit["component"] if "/replica/" in c]
    assert replicas and sum("/replica/" in c for c in starts["component"]) >= len(replicas)  # replacements
    jobs = f["jobs"].set_index("name")
    requeued_jobs = [c.removeprefix("job/") for c in hit["component"] if c.startswith("job/")]
    assert requeued_jobs, "a training job ran on racks 0-1"
    assert {f"job/{j}" for j in requeued_jobs} <= set(starts["component"])  # started again
    s = r.summary()
    assert s["rack_power_offs"] == 2
    assert s["powered_off_gpu_hours"] == pytest.approx(2 * 32 * 300.0 / 3600.0, rel=REL)
    assert s["training_jobs_interrupted"] == len(requeued_jobs)
    assert s["training_steps_lost"] == pytest.approx(float(jobs.loc[requeued_jobs, "lost_steps"].sum()), rel=REL)
    assert s["training_steps_lost"] > 0  # no checkpoints in the default jobs: all progress is lost
    assert s["requests_requeued"] + s["requests_lost"] > 0
    _conserved(r)


def test_a_rack_stays_off_while_any_cause_holds_it(monkeypatch):
    """Two causes hold rack 0 off; it comes back only when the second lets go, and the time a
    thermal shutdown holds it counts from when that cause joined."""
    r = _run_with(monkeypatch, ["duration_s=900"], [(120.0, "off", [0], "ups"), (180.0, "off", [0], "thermal"),
                                                     (300.0, "on", [0], "ups"), (480.0, "on", [0], "thermal")])
    ev = r.frames()["events"]
    sw = ev[ev["record_type"].isin(["power_off", "power_on"])]
    assert list(zip(sw["t_s"], sw["record_type"], sw["detail"])) == [(120.0, "power_off", "ups"),
                                                                      (480.0, "power_on", "thermal")]
    s = r.summary()
    assert s["powered_off_gpu_hours"] == pytest.approx(32 * 360.0 / 3600.0, rel=REL)
    assert s["thermal_shutdown_gpu_hours"] == pytest.approx(32 * 300.0 / 3600.0, rel=REL)  # held 180-480 s
    _conserved(r)


def _fault_run(overrides: list[str], fault: str):
    return dcsim.run(["duration_s=3000", "output.write=false", f"+facility.faults=[{fault}]"] + overrides)


def _racks(r):
    ts = r.frames()["timeseries"]
    return ts[ts["component"].str.startswith("rack/")], ts[ts["component"] == "facility"].set_index("t_s")


def test_chiller_fault_timeline_throttles_within_the_limit_and_loses_no_work():
    """Air hall, default mix; the chiller fails completely from 600 s to 1800 s. The racks'
    inlet rises from 24 C every interval of the fault, the throttle holds every GPU at or
    under 87 C (thermal caps from 600 s, IT power down), nothing shuts down and no work is
    lost; after the repair the inlet falls back toward 24 C; the ledger balances."""
    r = _fault_run([], "{kind:chiller,start_s:600,duration_s:1200,capacity_share:0}")
    racks, fac = _racks(r)
    rack0 = racks[racks["component"] == "rack/000"].set_index("t_s")
    assert (rack0.loc[:540.0, "inlet_temp_c"] == 24.0).all()
    during = rack0.loc[600.0:1740.0, "inlet_temp_c"].to_numpy()
    assert during[0] > 24.0 and (np.diff(during) > 0).all()
    assert racks["gpu_temp_c"].max() <= 87.0 + 1e-9
    assert racks.set_index("t_s").loc[1200.0:1740.0, "gpu_temp_c"].max() == pytest.approx(87.0, abs=1e-9)
    assert rack0.loc[2940.0, "inlet_temp_c"] < rack0.loc[1740.0, "inlet_temp_c"] - 20.0
    assert fac.loc[1200.0:1740.0, "it_power_w"].mean() < fac.loc[300.0:540.0, "it_power_w"].mean()
    ev = r.frames()["events"]
    caps = ev[(ev["record_type"] == "cap") & (ev["detail"] == "thermal")]
    assert caps["t_s"].min() >= 600.0
    s = r.summary()
    assert s["thermally_throttled_gpu_hours"] > 0
    for k in ("gpu_thermal_shutdowns", "rack_power_offs", "training_steps_lost", "requests_requeued", "requests_lost"):
        assert s[k] == 0, k
    _conserved(r)


LIQUID = ["facility.cooling.technology=direct_liquid"]
CDU_FAULT = "{kind:cdu,start_s:600,duration_s:1200}"


def test_cdu_fault_under_n_plus_1_is_survived():
    """Direct liquid, 2 CDUs (N+1) for the racks' 1; one fails from 600 s to 1800 s: an event
    says it is survived, the coolant stays at its nominal 35 C, nothing throttles or stops."""
    r = _fault_run(LIQUID + ["facility.space.cdu_spares=1"], CDU_FAULT)
    ev = r.frames()["events"]
    fault = ev[ev["component"] == "cooling/cdu"]
    assert list(zip(fault["t_s"], fault["record_type"])) == [(600.0, "fault"), (1800.0, "repair")]
    assert "1 of 2 CDUs lost; survived" in fault["detail"].iloc[0]
    racks, _ = _racks(r)
    assert (racks["inlet_temp_c"] == 35.0).all()
    s = r.summary()
    assert s["thermally_throttled_gpu_hours"] == 0 and s["rack_power_offs"] == 0
    _conserved(r)


def test_cdu_fault_under_n_heats_throttles_and_shuts_the_racks_down():
    """Direct liquid, 1 CDU (N, no spare) for all 4 racks; it fails from 600 s to 1800 s. The
    loop stops flowing: the coolant rises at 40 K / 240 s = 10 K per minute (45 C at 660 s),
    the GPUs throttle at 87 C until the lowest cap (200 W x 0.04 K/W = 8 K) cannot hold them,
    and when the coolant reaches 92 - 8 = 84 C, at 600 + 49 K / (10 K/min) = 894 s, they reach
    92 C: all 4 racks shut down then (128 GPUs), their draw drops to 0, training jobs lose
    their steps since the last checkpoint, streaming requests are lost and the rest
    requeued. Stopped, the racks hold 84 C (no heat in, none out); after the repair the
    coolant relaxes and at 1860 s, 300 s past the shutdown and with 73.2 C + 8 K under 87 C,
    they restart and the work runs again. No GPU passes 92 C. The ledger balances."""
    r = _fault_run(LIQUID + ["facility.space.cdu_spares=0"], CDU_FAULT)
    racks, fac = _racks(r)
    rack0 = racks[racks["component"] == "rack/000"].set_index("t_s")
    for t0, inlet in ((600.0, 45.0), (720.0, 65.0), (840.0, 84.0), (894.0, 84.0), (1740.0, 84.0)):
        assert rack0.loc[t0, "inlet_temp_c"] == pytest.approx(inlet, abs=1e-6), t0  # at the row's end
    assert rack0.loc[1800.0, "inlet_temp_c"] == pytest.approx(35.0 + 49.0 * np.exp(-60.0 / 240.0), rel=1e-9)
    assert rack0.loc[720.0, "gpu_temp_c"] == pytest.approx(87.0, abs=1e-9)  # throttled at the limit
    assert rack0.loc[840.0, "gpu_temp_c"] == pytest.approx(92.0, abs=1e-6)  # at the shutdown temperature at 894 s
    ev = r.frames()["events"]
    offs, ons = ev[ev["record_type"] == "power_off"], ev[ev["record_type"] == "power_on"]
    assert list(offs["t_s"]) == pytest.approx([894.0] * 4, abs=1e-6) and (offs["detail"] == "thermal").all()
    assert list(ons["t_s"]) == [1860.0] * 4
    assert (racks.set_index("t_s").loc[894.0:1740.0, "it_power_w"].abs() < 1e-6).all()  # 0 W to rounding
    assert fac.loc[1860.0, "it_power_w"] > 0.5 * fac.loc[540.0, "it_power_w"]
    starts = ev[(ev["record_type"] == "start") & (ev["t_s"] >= 1860.0)]
    lost = ev[ev["record_type"] == "lost_work"]
    assert list(lost["t_s"]) == pytest.approx([894.0] * len(lost), abs=1e-6)
    assert {c for c in lost["component"]} <= set(starts["component"])
    s = r.summary()
    assert s["gpu_thermal_shutdowns"] == 128 and s["rack_power_offs"] == 4
    assert s["thermal_shutdown_gpu_hours"] == pytest.approx(128 * (1860.0 - 894.0) / 3600.0, rel=1e-8)
    assert s["powered_off_gpu_hours"] == pytest.approx(s["thermal_shutdown_gpu_hours"], rel=REL)
    assert s["training_steps_lost"] == pytest.approx(float(lost["value"].sum()), rel=REL) and s["training_steps_lost"] > 0
    assert s["requests_requeued"] > 0 and s["requests_lost"] > 0
    req = r.frames()["requests"]
    assert int((req["status"] == "lost").sum()) == s["requests_lost"]
    assert s["max_gpu_temp_c"] <= 92.0 + 1e-6
    _conserved(r)


def test_an_interrupted_job_loses_exactly_its_steps_since_the_last_checkpoint(monkeypatch):
    """pretrain_8b checkpoints every 200 s (asynchronously); every rack loses power at 500 s
    and gets it back at 600 s. The job loses the 100 s of steps since its 400 s checkpoint,
    waits, reloads and runs on from that checkpoint; its goodput counts what it kept."""
    J = "workload.training.pretrain_8b"
    r = _run_with(monkeypatch, ["workload=training_only", "duration_s=1500", f"{J}.checkpoint=fixed",
                                f"{J}.checkpoint_interval_s=200", f"{J}.checkpoint_async=true"],
                  [(500.0, "off", [0, 1, 2, 3], "ups"), (600.0, "on", [0, 1, 2, 3], "ups")])
    f = r.frames()
    job = f["jobs"].set_index("name").loc["pretrain_8b"]
    ev = f["events"]
    lost = ev[(ev["record_type"] == "lost_work") & (ev["component"] == "job/pretrain_8b")]
    assert list(lost["t_s"]) == [500.0]
    assert float(lost["value"].iloc[0]) == pytest.approx(100.0 / job["step_time_s"], rel=1e-9)
    starts = ev[(ev["record_type"] == "start") & (ev["component"] == "job/pretrain_8b")]
    assert list(starts["t_s"]) == [0.0, 600.0]
    assert r.summary()["training_steps_lost"] >= float(lost["value"].iloc[0])
    _conserved(r)


def test_fluid_replicas_that_lose_power_requeue_their_requests_into_the_backlog():
    """Fluid serving on direct liquid with one CDU (N) failing at 600 s: the racks shut down
    at 900 s, the replicas' in-flight requests join the backlog (requeued, none lost at this
    fidelity), replacements start when the racks do, and the ledger balances."""
    r = _fault_run(LIQUID + ["facility.space.cdu_spares=0", "workload=inference_only",
                             "workload.services.chat.fidelity=fluid"], CDU_FAULT)
    s = r.summary()
    assert s["rack_power_offs"] == 4 and s["requests_requeued"] > 0 and s["requests_lost"] == 0
    fluid = r.frames()["services"].set_index("t_s")
    assert (fluid.loc[960.0:1800.0, "replicas"] == 0).all() and fluid.loc[1920.0, "replicas"] > 0
    assert fluid.loc[1800.0, "backlog_requests"] > fluid.loc[840.0, "backlog_requests"]
    _conserved(r)


def test_telemetry_of_racks_without_power_integrates_to_the_ledger():
    """Per-node telemetry through the CDU-under-N shutdown (racks off from 894 s to 1860 s):
    each rack's nodes' power x interval still adds up to the ledger's energy of that rack, and
    the GPU rows to the GPU energy, to 1e-9 (a rack without power draws no idle power)."""
    r = _fault_run(LIQUID + ["facility.space.cdu_spares=0", "output.telemetry_interval_s=420",
                             "output.telemetry_per_gpu=true"], CDU_FAULT)
    tel = r.frames()["telemetry"]
    nodes, gpus = tel[tel["gpu"] < 0], tel[tel["gpu"] >= 0]
    energy = (nodes["power_w"] * nodes["interval_s"]).groupby(nodes["rack"]).sum()
    for rack, e_j in energy.items():
        assert e_j == pytest.approx(r.group_energy_j[f"rack/{rack:03d}"], rel=1e-9)
    assert (gpus["gpu_power_w"] * gpus["interval_s"]).sum() == pytest.approx(r.summary()["gpu_energy_j"], rel=1e-9)
    assert nodes.loc[nodes["t_s"] == 1260.0, "gpu_power_w"].abs().max() < 1e-6  # the whole sample off
