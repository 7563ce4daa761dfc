"""Racks that lose power (thermal shutdown, a UPS run out, a tripped PDU): their work stops,
is requeued or lost and counted, and comes back when the rack does."""

from __future__ import annotations

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
    """Two causes hold rack 0 off; it comes back only when the second lets go."""
    r = _run_with(monkeypatch, ["duration_s=900"], [(120.0, "off", [0], "ups"), (180.0, "off", [0], "thermal"),
                                                     (300.0, "on", [0], "ups"), (480.0, "on", [0], "thermal")])
    ev = r.frames()["events"]
    sw = ev[ev["record_type"].isin(["power_off", "power_on"])]
    assert list(zip(sw["t_s"], sw["record_type"], sw["detail"])) == [(120.0, "power_off", "ups"),
                                                                      (480.0, "power_on", "thermal")]
    assert r.summary()["powered_off_gpu_hours"] == pytest.approx(32 * 360.0 / 3600.0, rel=REL)
    _conserved(r)
