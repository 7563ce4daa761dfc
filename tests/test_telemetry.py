"""Granular telemetry: per-node and per-GPU power, utilisation and temperature at an interval."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import same_summary

import dcsim
from dcsim.api import compose_config
from dcsim.config.build import build
from dcsim.core.errors import ConfigError
from dcsim.io.reader import read_tables
from dcsim.io.writer import write_run
from dcsim.metrics.telemetry import MAX_TELEMETRY_ROWS, TELEMETRY_COLUMNS

RUN = ["duration_s=1800", "output.write=false"]


@pytest.fixture(scope="module")
def off():
    return dcsim.run(RUN)


@pytest.fixture(scope="module")
def on():
    # 420 s does not divide the run: the last sample covers the 120 s left
    return dcsim.run(RUN + ["output.telemetry_interval_s=420", "output.telemetry_per_gpu=true"])


def test_off_by_default_means_no_table(off, tmp_path):
    assert "telemetry" not in off.frames()
    write_run(tmp_path, off.frames(), off.summary())
    assert not (tmp_path / "telemetry.parquet").exists()
    assert "telemetry" not in read_tables(tmp_path)


def test_telemetry_only_observes(off, on):
    """The run with telemetry is the run without it (all but the SimPy event count: its sampling
    timeouts), down to every time-series value."""
    a, b = dict(off.summary()), dict(on.summary())
    assert b.pop("events_processed") > a.pop("events_processed")
    assert same_summary(a, b)
    for name in ("timeseries", "jobs", "events"):
        assert off.frames()[name].equals(on.frames()[name])


def test_node_rows_cover_the_run_at_the_interval(on):
    tel = on.frames()["telemetry"]
    assert list(tel.columns) == list(TELEMETRY_COLUMNS)
    nodes = tel[tel["gpu"] < 0]
    assert sorted(set(nodes["t_s"])) == [0.0, 420.0, 840.0, 1260.0, 1680.0]
    assert set(nodes.loc[nodes["t_s"] == 1680.0, "interval_s"]) == {120.0}
    n_nodes = on.summary()["gpus_total"] // 8
    assert nodes.groupby("t_s").size().eq(n_nodes).all()
    assert len(tel) == 5 * n_nodes * (1 + 8)


def test_node_power_integrates_to_the_ledgers_rack_and_it_energy(on):
    """Each rack's nodes' power x interval adds up to the ledger's energy of that rack (its GPUs,
    hosts and its share of the server fans) to 1e-9; all nodes plus the network meter give the
    IT energy, and the GPU rows give GPU energy and their node's GPU power."""
    tel = on.frames()["telemetry"]
    nodes = tel[tel["gpu"] < 0]
    gpus = tel[tel["gpu"] >= 0]
    energy = (nodes["power_w"] * nodes["interval_s"]).groupby(nodes["rack"]).sum()
    for rack, e_j in energy.items():
        assert e_j == pytest.approx(on.group_energy_j[f"rack/{rack:03d}"], rel=1e-9)
    s = on.summary()
    assert energy.sum() + s["network_energy_j"] == pytest.approx(s["it_energy_j"], rel=1e-9)
    assert (gpus["gpu_power_w"] * gpus["interval_s"]).sum() == pytest.approx(s["gpu_energy_j"], rel=1e-9)
    per_node = gpus.groupby(["t_s", "node"])["gpu_power_w"].sum().to_numpy()
    np.testing.assert_allclose(per_node, nodes.sort_values(["t_s", "node"])["gpu_power_w"].to_numpy(), rtol=1e-12)


def test_utilisation_is_the_time_weighted_busy_share(on):
    """The nodes' utilisation, weighted by interval length, averages to the run's GPU utilisation
    (the time-weighted busy-GPU monitor); every value is in [0, 1]."""
    tel = on.frames()["telemetry"]
    nodes = tel[tel["gpu"] < 0]
    assert nodes["gpu_utilisation"].between(0.0, 1.0 + 1e-12).all()
    mean = (nodes["gpu_utilisation"] * nodes["interval_s"]).sum() / nodes["interval_s"].sum()
    assert mean == pytest.approx(on.summary()["gpu_utilisation"], rel=1e-9)


def test_temperatures_follow_power_on_the_rack_inlet(on):
    """A GPU's temperature is its rack's inlet plus the thermal resistance x its mean power: the
    busiest GPU is the hottest, an idle node sits a few kelvin above the inlet; a node reports
    its hottest GPU."""
    tel = on.frames()["telemetry"]
    gpus = tel[tel["gpu"] >= 0]
    rise = gpus["gpu_temp_c"] - gpus["inlet_temp_c"]
    k_per_w = (rise / gpus["gpu_power_w"]).to_numpy()
    np.testing.assert_allclose(k_per_w, k_per_w[0], rtol=1e-9)
    nodes = tel[tel["gpu"] < 0].set_index(["t_s", "node"])["gpu_temp_c"].sort_index()
    hottest = gpus.groupby(["t_s", "node"])["gpu_temp_c"].max().sort_index()
    np.testing.assert_allclose(nodes.to_numpy(), hottest.to_numpy(), rtol=1e-12)


def test_one_interval_over_the_whole_run_still_balances():
    """With one sample for the whole run (work starting and ending inside it), node energy still
    adds up to IT energy less the network's."""
    r = dcsim.run(RUN + ["output.telemetry_interval_s=1800"])
    tel = r.frames()["telemetry"]
    s = r.summary()
    assert (tel["power_w"] * tel["interval_s"]).sum() == pytest.approx(s["it_energy_j"] - s["network_energy_j"],
                                                                       rel=1e-9)


def test_the_table_is_written_and_read_back(on, tmp_path):
    write_run(tmp_path, on.frames(), on.summary())
    back = read_tables(tmp_path)["telemetry"]
    assert back.equals(on.frames()["telemetry"])


def test_more_rows_than_the_bound_are_refused():
    """A month at 1 s for 16 nodes and their 128 GPUs is ~374 M rows: refused, naming the field
    and the shortest interval the bound allows."""
    with pytest.raises(ConfigError, match=r"output\.telemetry_interval_s.*at most 2,000,000") as e:
        build(compose_config(["duration_s=2592000", "output.telemetry_interval_s=1",
                              "output.telemetry_per_gpu=true"]))
    assert f"{MAX_TELEMETRY_ROWS:,}" in str(e.value)
    with pytest.raises(ConfigError, match="telemetry_interval_s"):
        build(compose_config(["output.telemetry_interval_s=0"]))
