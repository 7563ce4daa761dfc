"""Energy is an exact ledger: conservation laws hold to rounding."""

from __future__ import annotations

import numpy as np
import pytest

REL = 1e-9


def test_consumers_sum_to_it_energy(default_results):
    """Sum of every GPU and host meter equals the IT total, integrated independently."""
    r = default_results
    consumers = sum(e for kind, e in r.meter_energy_j.values() if kind in ("gpu", "host"))
    assert consumers == pytest.approx(r.energy_j["gpu"] + r.energy_j["host"], rel=REL)
    assert sum(r.group_energy_j.values()) == pytest.approx(consumers, rel=REL)


def test_it_plus_losses_plus_cooling_is_facility_energy(default_results):
    """IT energy + conversion losses + cooling equals the facility (utility) meter."""
    e = default_results.energy_j
    assert e["gpu"] + e["host"] + e["conversion_loss"] + e["cooling"] == pytest.approx(e["facility"], rel=REL)
    assert e["conversion_loss"] > 0 and e["cooling"] > 0


def test_timeseries_integrates_to_the_ledger(default_results):
    """Interval-mean powers of the timeseries times interval lengths add up to the totals."""
    r = default_results
    ts = r.frames()["timeseries"]
    fac = ts[ts["component"] == "facility"].sort_values("t_s")
    t = fac["t_s"].to_numpy()
    dt = np.diff(np.append(t, r.until_s))
    for col, total in (("facility_power_w", r.energy_j["facility"]), ("cooling_power_w", r.energy_j["cooling"]),
                       ("it_power_w", r.energy_j["gpu"] + r.energy_j["host"])):
        assert float(np.sum(fac[col].to_numpy() * dt)) == pytest.approx(total, rel=REL)
    # the racks' rows and the scale-out network's row (its switches stand outside the compute racks)
    racks = ts[ts["component"].str.startswith("rack/") | (ts["component"] == "network")]
    rack_dt = np.diff(np.append(np.unique(t), r.until_s))
    per_t = racks.groupby("t_s")["it_power_w"].sum().to_numpy()
    assert float(np.sum(per_t * rack_dt)) == pytest.approx(r.energy_j["gpu"] + r.energy_j["host"], rel=REL)


def test_summary_kpis_follow_from_the_ledger(default_results):
    """PUE is facility over IT energy; the per-token KPIs are the documented ratios."""
    s = default_results.summary()
    e = default_results.energy_j
    assert s["pue"] == pytest.approx(e["facility"] / (e["gpu"] + e["host"]), rel=REL)
    assert 1.05 < s["pue"] < 2.0
    assert s["energy_per_output_token_gpu_j"] == pytest.approx(s["inference_gpu_energy_j"] / s["output_tokens"])
    assert s["energy_per_output_token_facility_j"] == pytest.approx(
        s["energy_per_output_token_gpu_j"] * e["facility"] / e["gpu"])
