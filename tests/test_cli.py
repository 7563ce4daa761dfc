"""The ``dcsim`` command, run as a user runs it: a subprocess in a scratch directory.

Every run passes ``hydra.run.dir`` (and ``hydra.sweep.dir``) inside ``tmp_path`` and
uses ``cwd=tmp_path``, so nothing lands in the repository and the tests also prove
that ``conf/`` is found as the packaged ``dcsim.conf`` from any directory.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SHORT = "duration_s=300"

KPI_LABELS = (
    "PUE",
    "TTFT p50 / p99",
    "energy per output token, facility",
    "training jobs completed",
)
SUMMARY_KEYS = (
    "gpu_utilisation",
    "it_energy_j",
    "facility_energy_j",
    "pue",
    "energy_per_output_token_gpu_j",
    "energy_per_output_token_facility_j",
    "ttft_p50_s",
    "ttft_p99_s",
    "tpot_p50_s",
    "tpot_p99_s",
    "jobs_completed",
    "job_wait_mean_s",
)
RUN_FILES = (
    "summary.json",
    "requests.parquet",
    "jobs.parquet",
    "timeseries.parquet",
    "events.parquet",
    "report.png",
    ".hydra/config.yaml",
)


def dcsim(args: list[str], cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run ``python -m dcsim ARGS`` in ``cwd`` as a user would, outside the repository."""
    env = dict(os.environ)
    env.pop("HYDRA_FULL_ERROR", None)  # Hydra's default error mode
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1])  # this checkout's dcsim, whichever is installed
    env.setdefault("MPLBACKEND", "Agg")
    return subprocess.run([sys.executable, "-m", "dcsim", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


def dir_args(tmp: Path) -> list[str]:
    """Hydra output locations inside the scratch directory."""
    return [f"hydra.run.dir={tmp / 'run'}", f"hydra.sweep.dir={tmp / 'multirun'}"]


def summaries_under(tmp: Path) -> list[Path]:
    return sorted(tmp.rglob("summary.json"))


# --------------------------------------------------------------------------- default run


@pytest.fixture(scope="module")
def default_run(tmp_path_factory):
    """One short default run (5 simulated minutes): the process, its run dir and its summary."""
    tmp = tmp_path_factory.mktemp("cli_default")
    assert REPO not in tmp.parents
    proc = dcsim([SHORT, f"hydra.run.dir={tmp / 'run'}"], cwd=tmp)
    assert proc.returncode == 0, f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    run_dir = tmp / "run"
    summary = json.loads((run_dir / "summary.json").read_text())
    return proc, run_dir, summary


def test_default_run_exits_zero_and_prints_kpi_table(default_run):
    """`dcsim duration_s=300` succeeds and prints the headline KPI table."""
    proc, _, summary = default_run
    assert proc.returncode == 0
    assert "Traceback" not in proc.stdout + proc.stderr
    for label in KPI_LABELS:
        assert label in proc.stdout, f"KPI label {label!r} missing from:\n{proc.stdout}"
    pue_line = next(line for line in proc.stdout.splitlines() if line.strip().startswith("PUE"))
    assert f"{summary['pue']:.3f}" in pue_line  # the table shows the numbers it wrote


def test_default_run_writes_complete_run_dir(default_run):
    """A run directory holds the summary, the four tables, a real PNG report and Hydra's config."""
    _, run_dir, _ = default_run
    for name in RUN_FILES:
        path = run_dir / name
        assert path.is_file(), f"{name} missing from {sorted(p.name for p in run_dir.iterdir())}"
        assert path.stat().st_size > 0, f"{name} is empty"
    assert (run_dir / "report.png").read_bytes()[:8] == PNG_MAGIC
    assert "duration_s: 300" in (run_dir / ".hydra" / "config.yaml").read_text()
    for name in ("requests", "jobs", "timeseries", "events"):
        pd.read_parquet(run_dir / f"{name}.parquet")  # readable parquet


def test_summary_json_has_unit_named_kpis(default_run):
    """summary.json carries the documented KPI keys, with units in their names, as JSON numbers."""
    _, _, summary = default_run
    for key in SUMMARY_KEYS:
        assert key in summary, f"{key} missing from summary.json keys {sorted(summary)}"
    for key in ("gpu_utilisation", "it_energy_j", "facility_energy_j", "pue", "ttft_p50_s", "tpot_p50_s"):
        assert isinstance(summary[key], (int, float)) and summary[key] > 0, (key, summary[key])
    assert isinstance(summary["jobs_completed"], int)
    assert 0 < summary["gpu_utilisation"] <= 1
    assert summary["facility_energy_j"] > summary["it_energy_j"]
    assert summary["pue"] == pytest.approx(summary["facility_energy_j"] / summary["it_energy_j"])
    assert summary["duration_s"] == 300
    assert summary["overrides"] == [SHORT]


def test_summary_agrees_with_parquet_tables(default_run):
    """The KPIs in summary.json can be recomputed from the tables written beside them."""
    _, run_dir, s = default_run
    req = pd.read_parquet(run_dir / "requests.parquet")
    jobs = pd.read_parquet(run_dir / "jobs.parquet")
    done = req[req["status"] == "completed"]
    assert len(done) > 0
    assert s["requests_arrived"] == len(req)
    assert s["requests_completed"] == len(done)
    assert s["ttft_p50_s"] == pytest.approx(float(np.median(done["ttft_s"].dropna())))
    assert s["ttft_p99_s"] == pytest.approx(float(np.percentile(done["ttft_s"].dropna(), 99)))
    assert s["tpot_p50_s"] == pytest.approx(float(np.median(done["tpot_s"].dropna())))
    assert s["tpot_p99_s"] == pytest.approx(float(np.percentile(done["tpot_s"].dropna(), 99)))
    assert s["jobs_submitted"] == len(jobs)
    assert s["jobs_completed"] == int((jobs["status"] == "completed").sum())
    started = jobs[jobs["t_start_s"].notna()]
    assert len(started) > 0
    assert s["job_wait_mean_s"] == pytest.approx(float(started["wait_s"].mean()))
    assert s["training_energy_j"] == pytest.approx(float(jobs["energy_j"].sum()))
    assert s["it_energy_j"] == pytest.approx(s["gpu_energy_j"] + s["host_energy_j"])


# --------------------------------------------------------------------------- bad input

JOB = "workload.training.pretrain_8b"
# (id, extra args, field the error line must name, value it must name right after the field or None)
BAD_INPUT = [
    ("unknown_key", ["facility.num_rackz=3"], "facility.num_rackz", None),
    ("wrong_type", ["facility.num_racks=abc"], "facility.num_racks", "abc"),
    ("negative", ["facility.num_racks=-2"], "facility.num_racks", "-2"),
    ("tp_not_divisor", ["workload.services.chat.tp=3"], "workload.services.chat.tp", "3"),
    ("model_too_big", ["workload.services.chat.model=Llama-3.1-405B", "workload.services.chat.tp=1"],
     "workload.services.chat.tp", "1"),
    ("unknown_option", ["workload=nope"], "workload", "nope"),
    ("unknown_gpu", ["facility.node.gpu=H999"], "facility.node.gpu", "H999"),
    ("added_unknown_key", ["+facility.node.bar=2"], "facility.node.bar", "2"),
    ("parallelism_not_gpus", ["workload=training_only", f"{JOB}.parallelism.tp=8", f"{JOB}.parallelism.pp=2",
                              f"{JOB}.parallelism.dp=2"], f"{JOB}.parallelism", "tp=8"),
    ("training_state_too_big", ["workload=training_only", f"{JOB}.model=Llama-3.1-405B", f"{JOB}.parallelism.tp=8",
                                f"{JOB}.parallelism.dp=8"], f"{JOB}.parallelism", "tp=8"),
    ("negative_arrival_rate", ["workload.services.chat.arrival_rate_per_s=-1"],
     "workload.services.chat.arrival_rate_per_s", "-1.0"),
    ("negative_failure_rate", ["workload=training_only", f"{JOB}.failure_rate_scale=-0.5"],
     f"{JOB}.failure_rate_scale", "-0.5"),
    ("trace_window_backwards", ["workload=philly", "workload.job_traces.philly.window_start_s=20",
                                "workload.job_traces.philly.window_end_s=10"], "workload.job_traces.philly.window_end_s",
     "10.0"),
]


def assert_one_clear_error(proc: subprocess.CompletedProcess, tmp: Path, field: str, value: str | None) -> str:
    """Non-zero exit, one stderr line naming the field (and value), no traceback, nothing run."""
    out = f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    assert proc.returncode != 0, out
    assert proc.returncode == 2, out  # usage errors exit 2 by design
    assert "Traceback" not in proc.stdout, out
    assert "Traceback" not in proc.stderr, out
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, out
    line = lines[0]
    assert "error" in line.lower(), out
    assert field in line, f"field {field!r} not named in: {line}"
    if value is not None:
        pattern = re.escape(field) + r"\W{0,3}" + re.escape(value) + r"(?![\w.])"
        assert re.search(pattern, line), f"value {value!r} of {field!r} not named in: {line}"
    assert summaries_under(tmp) == [], f"a run was written: {summaries_under(tmp)}"
    return line


@pytest.mark.parametrize("args,field,value", [c[1:] for c in BAD_INPUT], ids=[c[0] for c in BAD_INPUT])
def test_bad_input_is_one_clear_line(tmp_path, args, field, value):
    """A typo, wrong type or impossible value stops with exit 2 and one line naming field and value."""
    proc = dcsim([*args, SHORT, *dir_args(tmp_path)], cwd=tmp_path)
    assert_one_clear_error(proc, tmp_path, field, value)
    assert "PUE" not in proc.stdout  # no KPI table: nothing ran


def test_impossible_point_of_a_sweep_is_refused_and_the_rest_runs(tmp_path):
    """In a sweep, a point with an impossible value is refused up front with one line naming
    the field and the value, and recorded as error.json; the valid points run."""
    proc = dcsim(["-m", "facility.num_racks=2,-1", SHORT, *dir_args(tmp_path)], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    refusals = [line for line in proc.stderr.splitlines() if line.startswith("dcsim: refused run")]
    assert len(refusals) == 1 and "facility.num_racks=-1" in refusals[0]
    assert len(summaries_under(tmp_path / "multirun")) == 1
    errors = list((tmp_path / "multirun").rglob("error.json"))
    assert len(errors) == 1 and "facility.num_racks" in errors[0].read_text()


def test_sweep_whose_every_point_is_impossible_stops_up_front(tmp_path):
    """A sweep with no runnable point stops with one clear line and runs nothing."""
    proc = dcsim(["-m", "facility.num_racks=-2,-1", SHORT, *dir_args(tmp_path)], cwd=tmp_path)
    assert_one_clear_error(proc, tmp_path, "facility.num_racks", "-2")
    assert not (tmp_path / "multirun").exists() or summaries_under(tmp_path / "multirun") == []


@pytest.mark.parametrize("override,says", [
    ("+facility.faults=[{kind:chiller,foo:1}]",
     "Key 'foo' not in 'FaultConfig': keys of facility.faults.<i> are ['kind', 'start_s', 'duration_s', "
     "'capacity_share', 'stage', 'units']"),
    ("workload.services.chat.arrivals.trace_format=xml",
     "workload.services.chat.arrivals.trace_format='xml' is not allowed: one of ['auto', 'azure', 'mooncake', 'generic']"),
    ("+facility.faults=[{kind:chiller},{kind:meteor}]",
     "facility.faults.1.kind='meteor' is not allowed: one of ['chiller', 'utility', 'power_unit', 'cdu']"),
], ids=["unknown_key_of_a_list_item", "enum_choice", "enum_choice_in_a_list_entry"])
def test_composition_errors_name_the_schema_and_what_it_allows(override, says):
    """Errors OmegaConf raises while composing (checked in this process, on this checkout's
    code) say what the schema allows: an unknown key of a list item lists that item's keys
    (not the top level's), a bad choice lists the enum's values."""
    from dcsim.cli import validate

    err, refused, _, _ = validate([override])
    assert err is not None and "\n" not in err and refused == []
    assert says in err, err


def test_a_bad_choice_in_a_yaml_file_names_its_key(tmp_path):
    """A bad enum value in a config file (not an override) names the file, the allowed
    values and the key it was found at, in one line."""
    from dcsim.cli import validate

    (tmp_path / "experiment").mkdir()
    (tmp_path / "experiment" / "bad.yaml").write_text("# @package _global_\nfacility:\n  power:\n    policy: max\n")
    err, _, _, _ = validate([f"hydra.searchpath=[file://{tmp_path}]", "+experiment=bad"])
    assert err is not None and "\n" not in err
    assert err.startswith("In 'experiment/bad': ")
    assert "facility.power.policy='max' is not allowed: one of ['none', 'static', 'proportional', 'priority']" in err


# --------------------------------------------------------------------------- help and packaging


def test_help_explains_overrides_options_and_sweeps(tmp_path):
    """`dcsim --help` says how to change a parameter, pick a config option and run a sweep."""
    proc = dcsim(["--help"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    assert "Traceback" not in text + proc.stderr
    assert "dcsim" in text
    # change a parameter
    assert "KEY=VALUE" in text
    assert "change a parameter" in text
    assert "facility.rack.gpus_per_rack=" in text
    # pick a config option, and the options there are to pick
    assert "GROUP=OPTION" in text
    assert "pick a config option" in text
    assert "workload=inference_only" in text
    assert re.search(r"^workload:.*\binference_only\b", text, re.M), text
    # run a sweep
    assert re.search(r"dcsim -m \S+=\S+,\S+", text), text
    assert "sweep" in text
    assert summaries_under(tmp_path) == []


def test_runs_from_outside_the_repository(tmp_path):
    """`python -m dcsim` finds its packaged conf/ from any directory, for composing and for running."""
    assert REPO not in tmp_path.parents and tmp_path != REPO
    cfg = dcsim(["--cfg", "job", "workload=inference_only"], cwd=tmp_path)
    assert cfg.returncode == 0, cfg.stderr
    assert "replicas: 8" in cfg.stdout  # the packaged conf/workload/inference_only.yaml was used
    run = dcsim(["duration_s=60", "output.report=false", f"hydra.run.dir={tmp_path / 'run'}"], cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "PUE" in run.stdout
    assert (tmp_path / "run" / "summary.json").is_file()
    assert not (tmp_path / "run" / "report.png").exists()


def test_a_legal_but_large_run_is_warned_with_its_time_and_memory():
    """5,000 requests/s for an hour at request fidelity is 18 M requests: legal, and the
    warning says what it costs at docs/performance.md's measured speed and memory; the
    same run at fluid fidelity and the default scenario are not warned."""
    from dcsim import cli
    from dcsim.cli import validate

    big = ["workload.services.chat.arrival_rate_per_s=5000", "duration_s=3600"]
    err, refused, n, warning = validate(big)
    assert (err, refused, n) == (None, [], 1)
    assert warning == ("warning: about 18,000,000 requests at request fidelity: roughly 15 min and 8.1 GB for the "
                       "run (docs/performance.md); fidelity=fluid takes seconds")
    assert validate([*big, "workload.services.chat.fidelity=fluid"])[3] is None
    assert validate([])[3] is None
    assert cli.size_warning(cli.LARGE_RUN_REQUESTS - 1) is None


def test_a_large_time_series_held_in_memory_is_warned_unless_it_streams():
    """3,125 racks for 30 days at hourly control keep 2.25 M rack rows (~2.2 GB at the measured
    ~970 B a row) in memory at rack level: warned, with the options that avoid it; streamed
    or at facility level it is not."""
    from dcsim.cli import validate

    big = ["facility=h100_16k", "facility.num_racks=3125", "facility.network.switch_radix=128",
           "workload=inference_only", "workload.services.chat.fidelity=fluid", f"duration_s={30 * 86400}"]
    warning = validate(big)[3]
    assert warning == ("warning: about 2,251,440 time-series rows held in memory to the end of the run: roughly "
                       "2.2 GB (docs/performance.md); output.stream_timeseries=true writes them as the run goes, "
                       "output.timeseries_level=group or facility keeps fewer")
    assert validate([*big, "output.stream_timeseries=true"])[3] is None
    assert validate([*big, "output.timeseries_level=facility"])[3] is None
