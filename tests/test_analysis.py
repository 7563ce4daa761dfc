"""dcsim.analysis: a sweep loaded into one typed DataFrame, tables across a sweep, and
the plots, on real run directories written by dcsim (in-process and by the CLI)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest
import yaml

import dcsim
from dcsim.analysis import (
    load_run,
    load_sweep,
    load_sweep_tables,
    plot_cost_per_token_vs_density,
    plot_energy_per_token_vs_density,
    plot_goodput_vs_checkpoint_interval,
    plot_kpi_vs,
    plot_latency_cdf,
    plot_power_stack,
    plot_pue_vs_outdoor,
    plot_utilisation,
)
from dcsim.analysis.plots import axis_label, hourly_pue, per_token_decomposition, plot_decomposition_vs
from dcsim.analysis.report import report_png
from dcsim.analysis.sweep import typed_column
from dcsim.io.writer import write_run

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
BASE = ["duration_s=300"]
# The sweep the fixture writes: directory name -> (overrides, how the run ends).
POINTS = {
    "0": (BASE + ["facility.rack.gpus_per_rack=32", "facility.cooling.technology=air"], "ok"),
    "1": (BASE + ["facility.rack.gpus_per_rack=64", "facility.cooling.technology=air"], "failed"),
    # summary.json without its overrides (as dcsim.run + write_run leave it): read from .hydra/overrides.yaml
    "2": (BASE + ["facility.rack.gpus_per_rack=64", "facility.cooling.technology=direct_liquid", "seed=3"],
          "ok, overrides in yaml"),
    "10": (BASE + ["facility.rack.gpus_per_rack=32", "facility.cooling.technology=direct_liquid",
                   "facility.power.oversubscription=1.25", "output.report=false"], "ok"),
}
REFUSAL = "facility.rack.gpus_per_rack=64 is not allowed: at most 40 kW per rack with air cooling"


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


@pytest.fixture(scope="module")
def sweep(tmp_path_factory) -> Path:
    """multirun/DAY/TIME/{0,1,2,10} as Hydra lays it out, plus a run in progress (3)."""
    root = tmp_path_factory.mktemp("sweep") / "multirun"
    sweep_dir = root / "2026-01-01" / "00-00-00"
    for name, (overrides, how) in POINTS.items():
        d = sweep_dir / name
        (d / ".hydra").mkdir(parents=True)
        (d / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
        if how == "failed":
            (d / "error.json").write_text(json.dumps({"status": "refused", "error": REFUSAL,
                                                      "overrides": overrides}) + "\n")
            continue
        results = dcsim.run(overrides)
        summary = results.summary()
        if how == "ok":
            summary.update(dcsim_version=dcsim.__version__, overrides=overrides, wall_time_s=0.5)
        write_run(d, results.frames(), summary)
    # an earlier attempt's record beside a complete run: the summary wins
    (sweep_dir / "10" / "error.json").write_text(json.dumps({"status": "failed", "error": "killed"}))
    unfinished = sweep_dir / "3"
    (unfinished / ".hydra").mkdir(parents=True)
    (unfinished / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(BASE))
    (sweep_dir / "multirun.yaml").write_text("hydra: {}\n")
    return root


@pytest.fixture(scope="module")
def df(sweep) -> pd.DataFrame:
    return load_sweep(sweep)


@pytest.fixture(scope="module")
def run(df):
    return load_run(df["run_dir"].iloc[0])


# --- load_sweep --------------------------------------------------------------------------

def test_one_row_per_run_directory_in_numeric_order(df, sweep):
    """Run directories are found below the multirun root and sorted as numbers (10 after 2);
    a directory with neither summary.json nor error.json (a run in progress) is no row;
    summary.json makes a run complete even beside an old error.json."""
    assert [Path(p).name for p in df["run_dir"]] == ["0", "1", "2", "10"]
    assert all(Path(p).is_absolute() for p in df["run_dir"])
    assert list(df["status"]) == ["ok", "failed", "ok", "ok"]
    assert df["failure"].tolist()[1] == "refused" and df["failure"].isna().tolist() == [True, False, True, True]
    assert df["error"].isna().tolist() == [True, False, True, True]
    assert df.loc[1, "error"] == REFUSAL
    assert df.loc[2, "overrides"] == " ".join(POINTS["2"][0])


def test_override_columns_are_typed(df):
    """Each override key is a column, typed as Hydra parsed it; a key some runs lack is NA."""
    assert df["facility.rack.gpus_per_rack"].dtype == np.dtype("int64")
    assert df["facility.rack.gpus_per_rack"].tolist() == [32, 64, 64, 32]
    assert df["facility.cooling.technology"].dtype == "string"
    assert df["facility.cooling.technology"].tolist() == ["air", "air", "direct_liquid", "direct_liquid"]
    assert df["facility.power.oversubscription"].dtype == np.dtype("float64")
    oversubscription = df["facility.power.oversubscription"]
    assert np.isnan(oversubscription[:3]).all() and oversubscription[3] == 1.25
    assert df["output.report"].dtype == "boolean"
    assert df["output.report"].isna().tolist() == [True, True, True, False] and not df.loc[3, "output.report"]
    assert df.attrs["override_columns"] == ["duration_s", "facility.rack.gpus_per_rack",
                                            "facility.cooling.technology", "seed",
                                            "facility.power.oversubscription", "output.report"]


def test_runs_name_what_they_simulated(df):
    """Every complete run names its GPU, cooling, climate and policies, whichever config set
    them: the cooling column follows the override, the rest are the defaults."""
    ok = df[df["status"] == "ok"]
    assert ok["cooling_technology"].tolist() == ok["facility.cooling.technology"].tolist()
    assert df["cooling_technology"].dtype == "string" and pd.isna(df.loc[1, "cooling_technology"])
    assert set(ok["gpu_model"]) == {"H100-SXM"} and set(ok["climate"]) == {"leesburg_va"}
    assert set(ok["scheduler"]) == {"fifo"} and set(ok["power_policy"]) == {"none"}


def test_dict_override_leaves_are_typed_columns(tmp_path):
    """A dict override (racks and GPUs per rack moved together, as rack_density sweeps them)
    is a column of its text and one typed column per leaf, so refused points keep their
    density too."""
    points = {"0": "facility={num_racks:18,rack:{gpus_per_rack:16}}", "1": "facility={num_racks:2,rack:{gpus_per_rack:144}}"}
    for name, override in points.items():
        (tmp_path / name).mkdir()
        (tmp_path / name / "error.json").write_text(json.dumps(
            {"status": "refused", "error": "too dense", "overrides": [override, "facility.cooling.technology=air"]}))
    df = load_sweep(tmp_path)
    assert df["facility"].tolist() == ["{num_racks:18,rack:{gpus_per_rack:16}}", "{num_racks:2,rack:{gpus_per_rack:144}}"]
    assert df["facility.num_racks"].dtype == np.dtype("int64") and df["facility.num_racks"].tolist() == [18, 2]
    assert df["facility.rack.gpus_per_rack"].tolist() == [16, 144]
    assert df.attrs["override_columns"] == ["facility", "facility.num_racks", "facility.rack.gpus_per_rack",
                                            "facility.cooling.technology"]


def test_override_that_is_also_a_kpi_shares_its_column(df):
    """seed is an override of run 2 only and a KPI of every complete run: one column, the
    failed run's value NA (it neither overrode it nor has a summary)."""
    assert df["seed"].tolist()[0] == 0 and df["seed"].tolist()[2:] == [3, 0]
    assert pd.isna(df.loc[1, "seed"])
    assert df["duration_s"].tolist() == [300, 300, 300, 300]


def test_kpis_equal_summary_json(df):
    """Every scalar of summary.json is a column with its value; nested dicts are flattened
    with dots; lists (the overrides) are left out; the run directory's bookkeeping
    (complete, files, provenance_files) is not a KPI column; failed runs have NA KPIs."""
    for i in (0, 2, 3):
        summary = json.loads((Path(df.loc[i, "run_dir"]) / "summary.json").read_text())
        assert summary["services"], "the default scenario has an inference service"
        for name, info in summary["services"].items():
            for key, value in info.items():
                assert df.loc[i, f"services.{name}.{key}"] == pytest.approx(value, nan_ok=True), key
        assert not {"complete", "files", "provenance_files"} & set(df.columns)
        for key, value in summary.items():
            if isinstance(value, (dict, list)) or key in ("seed", "duration_s", "complete", "files", "provenance_files"):
                continue
            got = df.loc[i, key]
            if value is None:
                assert pd.isna(got), key
            elif isinstance(value, str):
                assert got == value, key
            else:
                assert got == pytest.approx(value, rel=0, abs=0), key
    assert df.loc[1, ["pue", "energy_per_output_token_facility_j", "gpus_total"]].isna().all()
    assert df["pue"].dtype == np.dtype("float64")
    assert df["gpus_total"].dtype == "Int64"  # integers, NA for the failed run
    assert df["requests_completed"].dtype == "Int64"
    assert df["dcsim_version"].dtype == "string" and pd.isna(df.loc[2, "dcsim_version"])
    assert "overrides" in df.columns and not df["overrides"].isna().any()


def test_a_single_run_directory_is_a_sweep_of_one(df):
    one = load_sweep(df["run_dir"].iloc[0])
    assert len(one) == 1 and one.loc[0, "pue"] == df.loc[0, "pue"]


def test_override_values_parse_with_hydra_grammar(tmp_path):
    """Lists stay as written, ``+key`` is ``key``, quoted numbers are strings, deletions
    have no column, and a mix of strings and numbers across runs is a string column."""
    overrides = [["+facility.faults=[{kind: chiller, start_s: 900}]", "facility.grid.carbon=pjm", "x.code='1'",
                  "~facility.grid.price", "x.flag=true", "x.n=null"],
                 ["facility.grid.carbon=300", "x.code='2'", "x.flag=false", "x.n=3"]]
    for i, ov in enumerate(overrides):
        d = tmp_path / str(i)
        d.mkdir()
        (d / "error.json").write_text(json.dumps({"error": "refused", "overrides": ov}))
    df = load_sweep(tmp_path)
    assert df["facility.faults"].tolist()[0] == "[{kind: chiller, start_s: 900}]"
    assert df["facility.grid.carbon"].dtype == "string"
    assert df["facility.grid.carbon"].tolist() == ["pjm", "300"]
    assert df["x.code"].tolist() == ["1", "2"]
    assert df["x.flag"].dtype == np.dtype("bool") and df["x.flag"].tolist() == [True, False]
    assert df["x.n"].dtype == "Int64" and pd.isna(df.loc[0, "x.n"]) and df.loc[1, "x.n"] == 3
    assert df["failure"].tolist() == ["failed", "failed"]  # error.json without a status
    assert "facility.grid.price" not in df.columns
    assert (df["status"] == "failed").all()


def test_typed_column_rules():
    assert typed_column([1, 2]).dtype == np.dtype("int64")
    assert typed_column([1, None]).dtype == "Int64"
    assert typed_column([1, 2.5]).dtype == np.dtype("float64")
    assert typed_column([True, None]).dtype == "boolean"
    assert typed_column([None, None]).dtype == np.dtype("float64")
    assert typed_column(["a", 3, True]).tolist() == ["a", "3", "true"]
    assert typed_column([float("nan"), 2]).dtype == "Int64"  # a JSON NaN is missing, not a float


def test_bad_input_is_one_clear_line(tmp_path):
    with pytest.raises(FileNotFoundError, match="is not a directory"):
        load_sweep(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="no run directories"):
        load_sweep(tmp_path)
    (tmp_path / "0").mkdir()
    (tmp_path / "0" / "summary.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"0/summary.json is not valid JSON"):
        load_sweep(tmp_path)
    (tmp_path / "0" / "summary.json").write_text(json.dumps({"pue": 1.2, "overrides": ["a=1"]}))
    row = load_sweep(tmp_path).iloc[0]  # no manifest: not complete, whatever it holds
    assert (row["status"], row["failure"]) == ("failed", "incomplete") and "complete" in row["error"]
    complete = {"complete": True, "files": [], "provenance_files": []}
    (tmp_path / "0" / "summary.json").write_text(json.dumps({"pue": 1.2, "overrides": ["a=[1,"], **complete}))
    with pytest.raises(ValueError, match="cannot parse override 'a=\\[1,'"):
        load_sweep(tmp_path)


def test_sweep_run_by_the_cli_loads(tmp_path):
    """A real ``dcsim -m`` sweep with a refused point: whatever the launcher, the layout
    load_sweep reads is the one the CLI writes."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "HYDRA_FULL_ERROR")}
    args = ["-m", "duration_s=60", "facility.rack.gpus_per_rack=32,64", "facility.cooling.technology=air",
            "output.report=false", f"hydra.sweep.dir={tmp_path / 'sweep'}"]
    done = subprocess.run([sys.executable, "-m", "dcsim", *args], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    df = load_sweep(tmp_path / "sweep")
    assert df["status"].tolist() == ["ok", "failed"]
    assert df["facility.rack.gpus_per_rack"].tolist() == [32, 64]
    assert df["output.report"].dtype == np.dtype("bool") and not df["output.report"].any()
    summary = json.loads((Path(df.loc[0, "run_dir"]) / "summary.json").read_text())
    assert df.loc[0, "pue"] == summary["pue"] and df.loc[0, "wall_time_s"] == summary["wall_time_s"]
    assert "40 kW" in df.loc[1, "error"] and df.loc[1, "failure"] in ("refused", "failed")


# --- load_sweep_tables -------------------------------------------------------------------

def test_sweep_tables_concatenate_complete_runs_with_their_overrides(df):
    t = load_sweep_tables(df, "requests", columns=["service", "status", "ttft_s"])
    assert list(t.columns) == ["run_dir", *df.attrs["override_columns"], "service", "status", "ttft_s"]
    per_run = {p: len(pd.read_parquet(Path(p) / "requests.parquet")) for p in df["run_dir"][df["status"] == "ok"]}
    assert t.groupby("run_dir").size().to_dict() == per_run
    assert df.loc[1, "run_dir"] not in set(t["run_dir"])
    for _, row in df[df["status"] == "ok"].iterrows():
        rows = t[t["run_dir"] == row["run_dir"]]
        assert (rows["facility.rack.gpus_per_rack"] == row["facility.rack.gpus_per_rack"]).all()
    assert t["facility.rack.gpus_per_rack"].dtype == np.dtype("int64")


def test_sweep_tables_filter_rows_and_select_runs(df, sweep):
    done = load_sweep_tables(sweep, "requests", columns=["ttft_s"], filters=[("status", "==", "completed")])
    assert len(done) == int(df["requests_completed"].sum())
    liquid = df[df["facility.cooling.technology"] == "direct_liquid"]
    t = load_sweep_tables(liquid, "timeseries", columns=["t_s", "component", "it_power_w"])
    assert set(t["run_dir"]) == set(liquid["run_dir"]) and len(liquid) == 2
    with_kpi = load_sweep_tables(df, "jobs", columns=["job_id"], attach=["gpus_total"])
    assert list(with_kpi.columns) == ["run_dir", "gpus_total", "job_id"]


def test_sweep_tables_bad_input(df):
    with pytest.raises(ValueError, match="unknown table 'request'"):
        load_sweep_tables(df, "request")
    with pytest.raises(ValueError, match="has no column 'ttft'"):
        load_sweep_tables(df, "requests", columns=["ttft"])
    with pytest.raises(ValueError, match="no complete run"):
        load_sweep_tables(df[df["status"] == "failed"], "requests")
    with pytest.raises(ValueError, match="not come from load_sweep"):
        load_sweep_tables(pd.DataFrame({"run_dir": [], "status": []}), "requests")
    with pytest.raises(ValueError, match="'t_s' is both"):
        load_sweep_tables(df.assign(t_s=0.0), "timeseries", columns=["t_s"], attach=["t_s"])


# --- plots of one run --------------------------------------------------------------------

def _facility(run):
    return run.timeseries[run.timeseries["component"] == "facility"]


def test_power_stack_tops_at_facility_power(run):
    ax = plot_power_stack(run)
    assert ax.get_xlabel() == "time (h)" and ax.get_ylabel() == "power (kW)"
    layers = ax.collections
    assert len(layers) == 3
    f = _facility(run)
    top_kw = (f["it_power_w"] + f["conversion_loss_power_w"] + f["cooling_power_w"]).max() / 1e3
    assert layers[-1].get_paths()[0].vertices[:, 1].max() == pytest.approx(top_kw)
    assert ax.get_xlim()[1] == pytest.approx(run.summary["duration_s"] / 3600)
    big = run.timeseries.copy()
    for c in ("it_power_w", "conversion_loss_power_w", "cooling_power_w"):
        big[c] *= 100
    assert plot_power_stack(big).get_ylabel() == "power (MW)"


def test_pue_scatter_has_one_point_per_hour(run):
    """A run within one hour has one point: the run's energy-weighted PUE."""
    ax = plot_pue_vs_outdoor(run)
    points = ax.collections[0].get_offsets()
    assert len(points) == 1
    assert points[0][1] == pytest.approx(run.summary["pue"], rel=1e-9)
    f = _facility(run)
    mean_temp = (f["outdoor_temp_c"] * f["interval_s"]).sum() / f["interval_s"].sum()
    assert points[0][0] == pytest.approx(mean_temp)
    assert ax.get_xlabel().endswith("(°C)") and ax.get_ylabel().endswith("(-)")
    two_hours = dcsim.run(["duration_s=7200", "workload=inference_only", "workload.services.chat.fidelity=fluid"])
    hours = hourly_pue(two_hours)
    ax = plot_pue_vs_outdoor(two_hours)
    assert len(ax.collections[0].get_offsets()) == len(hours) == 2
    s = two_hours.summary()
    assert hours["facility_energy_j"].sum() / hours["it_energy_j"].sum() == pytest.approx(s["pue"], rel=1e-9)


def test_utilisation_lines_average_to_the_kpi(run):
    ax = plot_utilisation(run)
    allocated, busy = ax.get_lines()
    assert (allocated.get_label(), busy.get_label()) == ("allocated", "busy")
    assert ax.get_ylabel() == f"share of the {run.summary['gpus_total']} GPUs (%)"
    f = _facility(run)
    y = np.asarray(busy.get_ydata())[:-1]  # the last point repeats the last interval
    time_weighted = (y * f["interval_s"].to_numpy()).sum() / run.summary["duration_s"]
    assert time_weighted == pytest.approx(100 * run.summary["gpu_utilisation"])
    with pytest.raises(ValueError, match="gpus_total is needed"):
        plot_utilisation(run.timeseries)
    assert len(plot_utilisation(run.timeseries, gpus_total=128).get_lines()) == 2
    with pytest.raises(ValueError, match="no column 'gpus_busy'"):
        plot_utilisation(run.timeseries.drop(columns="gpus_busy"), gpus_total=128)


def _requests() -> pd.DataFrame:
    return pd.DataFrame({
        "service": ["chat", "chat", "chat", "code", "code", "code"],
        "status": ["completed", "completed", "running", "completed", "dropped", "completed"],
        "ttft_s": [0.2, 0.1, np.nan, 0.5, np.nan, 0.3],
        "tpot_s": [0.03, np.nan, np.nan, 0.05, np.nan, 0.04],
        "e2e_s": [2.0, 0.1, np.nan, 5.0, np.nan, 4.0],
    })


def test_latency_cdf_one_line_per_service_over_completed_requests():
    ax = plot_latency_cdf(_requests(), "ttft_s")
    chat, code = ax.get_lines()
    assert (chat.get_label(), code.get_label()) == ("chat", "code")
    assert list(chat.get_xdata()) == [0.1, 0.2] and list(chat.get_ydata()) == [50.0, 100.0]
    assert len(code.get_xdata()) == 2
    assert ax.get_xlabel() == "TTFT (s)" and ax.get_ylabel().endswith("(%)") and ax.get_xscale() == "log"
    one = plot_latency_cdf(_requests(), "tpot_s", by=None)
    (line,) = one.get_lines()
    assert len(line.get_xdata()) == 3  # NaN TPOT (one output token) has no point
    with pytest.raises(ValueError, match="no column 'ttft'"):
        plot_latency_cdf(_requests(), "ttft")
    with pytest.raises(ValueError, match="no column 'replica'"):
        plot_latency_cdf(_requests(), by="replica")


def test_latency_cdf_of_a_run_and_of_no_requests(run):
    ax = plot_latency_cdf(run, "e2e_s")
    assert len(ax.get_lines()) == run.requests["service"].nunique()
    assert len(ax.get_lines()[0].get_xdata()) == run.summary["requests_completed"]
    empty = plot_latency_cdf(_requests().iloc[:0])
    assert not empty.get_lines() and "no completed requests" in empty.texts[0].get_text()


def test_plots_take_results_and_frames_as_well(run):
    results = dcsim.run(["duration_s=120", "workload=inference_only"])
    assert len(plot_utilisation(results).get_lines()) == 2
    assert len(plot_power_stack(results.frames()).collections) == 3
    with pytest.raises(TypeError, match="expected a Run"):
        plot_power_stack([1, 2])


def test_report_png_without_requests_draws():
    """Fluid fidelity leaves the requests table empty; the report notes it and draws."""
    results = dcsim.run(["duration_s=600", "workload=inference_only", "workload.services.chat.fidelity=fluid"])
    assert report_png(results.frames(), results.summary())[:8] == PNG_MAGIC


def test_plotting_leaves_matplotlib_settings_alone(run):
    before = {k: matplotlib.rcParams[k] for k in matplotlib.rcParams if k != "backend"}
    plot_power_stack(run)
    plot_latency_cdf(run)
    after = {k: matplotlib.rcParams[k] for k in matplotlib.rcParams if k != "backend"}
    assert after == before


# --- plots of a sweep --------------------------------------------------------------------

def test_energy_per_token_vs_density_lines_by_cooling(df):
    ax = plot_energy_per_token_vs_density(df)
    lines = ax.get_lines()
    assert [ln.get_label() for ln in lines] == ["air", "direct_liquid"]
    air, liquid = lines
    ok = df[df["status"] == "ok"]
    assert list(air.get_xdata()) == [29.0]
    assert list(air.get_ydata()) == [ok.loc[0, "energy_per_output_token_facility_j"]]
    liquid_rows = ok[ok["facility.cooling.technology"] == "direct_liquid"].sort_values("rack_nameplate_w")
    assert list(liquid.get_xdata()) == list(liquid_rows["rack_nameplate_w"] / 1e3)
    assert ax.get_xlabel() == "rack nameplate IT power (kW per rack)"
    assert ax.get_ylabel() == "energy per output token, facility (J)"
    assert any(t.get_text() == "1 refused run not shown" for t in ax.texts)  # refused, not failed: it never ran


def test_cost_per_token_vs_density(df):
    ax = plot_cost_per_token_vs_density(df, hue=None)
    (line,) = ax.get_lines()
    assert len(line.get_xdata()) == 2  # two densities (29 and 58 kW) among the 3 complete runs
    assert ax.get_ylabel() == "cost per million output tokens (USD)"
    with pytest.raises(ValueError, match="no column 'rack_nameplate_w'"):
        plot_cost_per_token_vs_density(df.drop(columns="rack_nameplate_w"))
    with pytest.raises(ValueError, match="no column 'facility.cooling.technology'"):
        plot_cost_per_token_vs_density(df.drop(columns="facility.cooling.technology"))


def test_kpi_vs_averages_replicates_and_counts_what_it_leaves_out():
    sweep = pd.DataFrame({
        "status": ["ok", "ok", "ok", "ok", "failed", "ok"],
        "workload.jobs.big.checkpoint.interval_s": [600, 600, 1800, 3600, 3600, 7200],
        "training_effective_share_mean": [0.90, 0.94, 0.95, 0.93, np.nan, np.nan],
    })
    ax = plot_goodput_vs_checkpoint_interval(sweep, "workload.jobs.big.checkpoint.interval_s")
    (line,) = ax.get_lines()
    assert list(line.get_xdata()) == [600, 1800, 3600]
    assert line.get_ydata() == pytest.approx([0.92, 0.95, 0.93])
    assert len(ax.collections[0].get_offsets()) == 4  # the replicates, as faint points
    note = ax.texts[0].get_text()
    assert note == "1 failed run not shown; 1 run without training_effective_share_mean not shown"
    assert ax.get_xlabel() == "workload.jobs.big.checkpoint.interval_s (s)"
    assert ax.get_ylabel() == "training effective share, mean over jobs (-)"
    with pytest.raises(ValueError, match="no column 'checkpoint_s'"):
        plot_goodput_vs_checkpoint_interval(sweep, "checkpoint_s")


def test_kpi_vs_general(df):
    ax = plot_kpi_vs(df, "facility.rack.gpus_per_rack", "pue", hue="facility.cooling.technology")
    assert len(ax.get_lines()) == 2 and ax.get_ylabel() == "PUE (-)"
    assert ax.get_xlabel() == "facility.rack.gpus_per_rack (-)"
    with pytest.raises(ValueError, match="'facility.cooling.technology' is not numeric"):
        plot_kpi_vs(df, "pue", "facility.cooling.technology")


def test_axis_labels_carry_units():
    """A registered KPI or request column has the registry's label and unit; any other name
    is read by its unit suffix."""
    assert axis_label("output_tokens_per_s") == "output tokens per second (1/s)"
    assert axis_label("wue_l_per_kwh") == "WUE (L/kWh)"
    assert axis_label("max_inlet_temp_c") == "rack inlet temperature, max (°C)"
    assert axis_label("energy_cost_usd") == "energy cost (USD)"
    assert axis_label("gpu_utilisation") == "GPU utilisation, busy (-)"
    assert axis_label("ttft_s") == "TTFT (s)"
    assert axis_label("rack_nameplate_kw") == "rack nameplate IT power (kW per rack)"
    assert axis_label("carbon_g_per_kwh") == "carbon g per kwh (g/kWh)"  # a timeseries column, not a KPI
    assert axis_label("workload.jobs.a.checkpoint.interval_s") == "workload.jobs.a.checkpoint.interval_s (s)"
    assert axis_label("facility.num_racks") == "facility.num_racks (-)"


# --- decomposition -------------------------------------------------------------------------

def test_decomposition_parts_sum_to_the_per_token_kpis(df):
    """Where a token's joules and dollars go: the parts add up to the KPI of each run, every part
    is non-negative, and a failed run has no row."""
    ok = df[df["status"] == "ok"]
    energy = per_token_decomposition(df, "energy")
    assert list(energy.index) == list(ok.index)
    np.testing.assert_allclose(energy.sum(axis=1), ok["energy_per_output_token_facility_j"], rtol=1e-9)
    assert (energy >= 0).all().all() and {"GPUs", "hosts", "server fans", "chillers"} <= set(energy.columns)
    # the cooling parts are the run's cooling energy, per token
    cooling = energy[["chillers", "heat rejection", "pumps", "air and rack movers"]].sum(axis=1)
    np.testing.assert_allclose(cooling, ok["cooling_energy_j"] * ok["energy_per_output_token_facility_j"]
                               / ok["facility_energy_j"], rtol=1e-9)
    cost = per_token_decomposition(df, "cost")
    np.testing.assert_allclose(cost.sum(axis=1), ok["cost_per_million_tokens_usd"], rtol=1e-9)
    assert {"gpu", "energy"} <= set(cost.columns)
    ax = plot_decomposition_vs(df.assign(rack_kw=df["rack_nameplate_w"] / 1e3), "rack_kw", "cost")
    assert ax.get_ylabel() == "cost per million tokens (USD)" and len(ax.patches) > 0
    with pytest.raises(ValueError, match="kind must be"):
        per_token_decomposition(df, "water")
