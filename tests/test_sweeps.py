"""Sweeps (``dcsim -m``): parallel launchers, failures, resuming, the summary table, progress.

The command runs as a user runs it (a subprocess in a scratch directory, as in
test_cli.py) on tiny scenarios. The deliberately broken run is a real failure: a
directory already sits where the run must write ``requests.parquet``, so writing its
results fails (as on a full disk or a read-only share) after validation has passed.
"""

from __future__ import annotations

import csv
import fcntl
import io
import json
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

from dcsim.io import multirun
from dcsim.io.multirun import RunRow

REPO = Path(__file__).resolve().parents[1]
TINY = ["duration_s=60", "workload=inference_only", "output.report=false", "output.print_summary=false"]
SEEDS = "seed=1,2"


def dcsim(args: list[str], cwd: Path, timeout: float = 180) -> subprocess.CompletedProcess:
    """``python -m dcsim ARGS`` in ``cwd``, outside the repository, stdio captured (not a terminal)."""
    env = dict(os.environ)
    env.pop("HYDRA_FULL_ERROR", None)
    env["PYTHONPATH"] = str(REPO)  # this checkout's dcsim, whichever one is installed
    env.setdefault("MPLBACKEND", "Agg")
    return subprocess.run([sys.executable, "-m", "dcsim", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


def read_csv(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text())))


def kpis(summary_path: Path) -> dict:
    s = json.loads(summary_path.read_text())
    return {k: s[k] for k in ("pue", "gpu_energy_j", "facility_energy_j", "requests_completed", "ttft_p99_s",
                              "energy_per_output_token_facility_j")}


def show(proc: subprocess.CompletedProcess) -> str:
    return f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"


# --------------------------------------------------------------------------- parallel by default


@pytest.fixture(scope="module")
def joblib_sweep(tmp_path_factory):
    """A 2-point sweep with the default launcher: (process, sweep dir)."""
    tmp = tmp_path_factory.mktemp("joblib_sweep")
    # -m after the first overrides, as in `dcsim +experiment=X -m key=a,b`: dcsim moves it first
    proc = dcsim([*TINY, "-m", SEEDS, f"hydra.sweep.dir={tmp / 'sweep'}"], cwd=tmp)
    assert proc.returncode == 0, show(proc)
    return proc, tmp / "sweep"


def test_sweep_runs_on_the_joblib_launcher_on_every_core(joblib_sweep):
    """`dcsim -m` launches its runs through joblib with n_jobs=-1 (all cores), each run in
    its own numbered directory, with no traceback and no stray error line."""
    proc, sweep = joblib_sweep
    assert "Joblib.Parallel(n_jobs=-1" in proc.stdout, proc.stdout
    assert "Traceback" not in proc.stdout + proc.stderr
    assert proc.stderr.strip() == "", proc.stderr
    for num, seed in ((0, 1), (1, 2)):
        summary = json.loads((sweep / str(num) / "summary.json").read_text())
        assert summary["seed"] == seed
        assert f"seed={seed}" in summary["overrides"]


def test_single_run_does_not_use_the_launcher(tmp_path):
    """A run without -m runs in the dcsim process itself: no launcher, no sweep table."""
    proc = dcsim([*TINY, f"hydra.run.dir={tmp_path / 'run'}"], cwd=tmp_path)
    assert proc.returncode == 0, show(proc)
    assert "Joblib" not in proc.stdout and "dcsim sweep:" not in proc.stdout
    assert (tmp_path / "run" / "summary.json").is_file()
    assert not (tmp_path / "run" / "error.json").exists()


def test_sweep_summary_table_and_csv(joblib_sweep):
    """The sweep ends with one table row per run (swept value, status, KPIs) and the same
    rows in sweep_summary.csv, whose KPIs are the runs' summary.json values."""
    proc, sweep = joblib_sweep
    lines = proc.stdout.splitlines()
    head = next(i for i, line in enumerate(lines) if line.startswith("dcsim sweep: 2 runs (2 ok)"))
    assert "every run: duration_s=60 workload=inference_only" in lines[head + 1]
    header = lines[head + 2].split()
    assert header[:3] == ["#", "seed", "status"] and "PUE" in header, lines[head + 2]
    for num, seed in ((0, 1), (1, 2)):
        row = lines[head + 3 + num].split()
        summary = json.loads((sweep / str(num) / "summary.json").read_text())
        assert row[:3] == [str(num), str(seed), "ok"], row
        assert row[3] == f"{summary['pue']:.3f}"
    rows = read_csv(sweep / "sweep_summary.csv")
    assert [(r["run"], r["seed"], r["status"]) for r in rows] == [("0", "1", "ok"), ("1", "2", "ok")]
    for r in rows:
        summary = json.loads((Path(r["run_dir"]) / "summary.json").read_text())
        for key in ("pue", "gpu_utilisation", "energy_per_output_token_facility_j", "ttft_p99_s", "slo_attainment"):
            assert float(r[key]) == summary[key], key  # the CSV carries the full precision
        assert int(r["jobs_completed"]) == summary["jobs_completed"]
        assert r["overrides"] == " ".join(summary["overrides"])


def test_a_typo_in_a_sweep_stops_it_before_any_run(tmp_path):
    """Pre-validation still composes every point before the launcher starts: a typo stops
    the whole sweep with one line and exit 2, and nothing is launched."""
    proc = dcsim(["-m", *TINY, "facility.num_rackz=1,2", f"hydra.sweep.dir={tmp_path / 'sweep'}"], cwd=tmp_path)
    assert proc.returncode == 2, show(proc)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "facility.num_rackz" in lines[0], show(proc)
    assert "Joblib" not in proc.stdout
    assert not (tmp_path / "sweep").exists()


def test_validation_expands_every_sweep_syntax():
    """The up-front validation counts the runs Hydra will launch, glob over a group included."""
    from dcsim import cli

    assert cli.validate(["-m", "seed=range(0,3)", *TINY]) == (None, [], 3, None)
    assert cli.validate(["-m", "workload=glob([inference_only,training_only])", "duration_s=60"]) == (None, [], 2, None)
    err, refused, _, _ = cli.validate(["-m", "seed=1,,2"])
    assert err is not None and "seed=1,,2" in err and refused == []


def test_validation_crosses_an_experiment_sweep_with_the_command_line():
    """An experiment's own sweep (hydra.sweeper.params) is checked up front like a command
    line's: rack_density's 7 densities x 4 coolings are 28 runs, its 6 impossible points
    refused one line each before any starts; a command-line key replaces the experiment's."""
    from dcsim import cli

    err, refused, n_runs, _ = cli.validate(["+experiment=rack_density", "-m"])
    assert err is None and n_runs == 28 and len(refused) == 6
    assert all("facility.cooling.technology=air" in line or "facility.cooling.technology=rear_door" in line
               for line in refused)
    assert cli.validate(["-m", "+experiment=rack_density", "facility.cooling.technology=immersion"]) == (None, [], 7, None)


def test_composed_runs_equal_hydra_s_own_composition():
    """The validation shortcut (group choices composed once per distinct choice, the other
    overrides applied to a copy) gives the config Hydra composes for each run: group options,
    dict merges, additions, deletions and plain values, in any order."""
    from hydra import compose, initialize_config_module
    from omegaconf import OmegaConf

    from dcsim import cli
    from dcsim.api import CONFIG_MODULE, CONFIG_NAME

    runs = [
        ["seed=3", "duration_s=60"],
        ["workload=training_only", "~workload.training.sft_7b", "duration_s=120"],
        ["facility={num_racks:3,rack:{gpus_per_rack:16}}", "scheduler=easy_backfill", "seed=4"],
        ["+experiment=rack_density", "facility.cooling.technology=immersion", "+facility.grid.demand_response=[]"],
        ["duration_s=60", "workload=training_only", "workload.training.pretrain_8b.gpus=16"],
    ]
    with initialize_config_module(config_module=CONFIG_MODULE, version_base="1.3"):
        for run, cfg in cli.composed_runs(runs):
            full = compose(config_name=CONFIG_NAME, overrides=run)
            assert OmegaConf.to_container(cfg) == OmegaConf.to_container(full), run
        bad = cli.composed_runs([["seed=1"], ["facility.num_racks=many"]])
        next(bad)
        with pytest.raises(Exception, match="facility.num_racks=many"):
            next(bad)


def test_a_launcher_that_is_not_installed_is_one_clear_line(tmp_path):
    """A bad hydra/launcher option stops the command up front: exit 2, one line naming the
    option and the ones there are; a launcher of an extra says which extra to install."""
    from hydra.errors import MissingConfigException

    from dcsim import cli

    proc = dcsim(["-m", *TINY, SEEDS, "hydra/launcher=nope", f"hydra.sweep.dir={tmp_path / 'sweep'}"], cwd=tmp_path)
    assert proc.returncode == 2, show(proc)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, show(proc)
    assert "hydra/launcher/nope" in lines[0] and "'basic', 'joblib'" in lines[0], lines[0]
    assert not (tmp_path / "sweep").exists()
    missing = MissingConfigException("In 'hydra/config': Could not find 'hydra/launcher/submitit_slurm'",
                                     missing_cfg_file="hydra/launcher/submitit_slurm", options=["basic", "joblib"])
    line = cli._hydra_error(missing, ["hydra/launcher=submitit_slurm"])
    assert line.endswith("the submitit_slurm launcher comes with dcsim's slurm extra: pip install -e '.[slurm]'")
    assert "options are ['basic', 'joblib']" in line
    import importlib.util

    if importlib.util.find_spec("hydra_plugins.hydra_submitit_launcher") is None:  # as in CI: no slurm extra
        err, _, _, _ = cli.validate(["-m", *TINY, SEEDS, "hydra/launcher=submitit_slurm"])
        assert err.endswith("comes with dcsim's slurm extra: pip install -e '.[slurm]'"), err


# --------------------------------------------------------------------------- failures and resuming


def test_failed_run_is_recorded_the_sweep_goes_on_and_a_rerun_resumes(tmp_path):
    """Run 1 of three cannot write its results; run 2 is refused up front. The sweep records
    run 1's error.json (type, one-line message, overrides, traceback apart), says so in one
    line, finishes run 0, lists every status and exits 1. Rerun with the obstacle gone, it
    skips run 0 (its files untouched), runs 1 again and exits 0."""
    sweep = tmp_path / "sweep"
    args = ["-m", *TINY, "facility.num_racks=4,3,-1", f"hydra.sweep.dir={sweep}"]
    obstacle = sweep / "1" / "requests.parquet"
    obstacle.mkdir(parents=True)

    first = dcsim(args, cwd=tmp_path)
    assert first.returncode == 1, show(first)
    assert "Traceback" not in first.stderr and "Traceback" not in first.stdout
    err = [line for line in first.stderr.splitlines() if line.strip()]
    refused = [line for line in err if line.startswith("dcsim: refused run")]
    failed = [line for line in err if line.startswith("dcsim: run 1 ") and " failed: " in line]
    assert len(refused) == 1 and "facility.num_racks=-1" in refused[0], show(first)
    assert len(failed) == 1 and "IsADirectoryError" in failed[0] and "facility.num_racks=3" in failed[0], show(first)
    assert err[-1] == "dcsim: error: 1 of 3 runs failed: their error.json holds the error and the traceback"
    assert len(err) == 3, show(first)

    record = json.loads((sweep / "1" / "error.json").read_text())
    assert record["status"] == "failed"
    assert record["error_type"] == "IsADirectoryError"
    assert record["error"].startswith("IsADirectoryError: ") and "\n" not in record["error"]
    assert "facility.num_racks=3" in record["overrides"]
    assert record["traceback"].startswith("Traceback") and "write_run" in record["traceback"]
    assert not (sweep / "1" / "summary.json").exists()
    assert json.loads((sweep / "2" / "error.json").read_text())["status"] == "refused"
    done = sweep / "0" / "summary.json"
    assert done.is_file()
    rows = read_csv(sweep / "sweep_summary.csv")
    assert [r["status"] for r in rows] == ["ok", "failed", "refused"]
    assert rows[1]["error"] == record["error"] and rows[1]["pue"] == ""
    assert f"#1 failed: {record['error']}" in first.stdout

    before = (done.read_bytes(), done.stat().st_mtime_ns)
    obstacle.rmdir()
    second = dcsim(args, cwd=tmp_path)
    assert second.returncode == 0, show(second)
    skipped = [line for line in second.stderr.splitlines() if line.startswith("dcsim: skipped run")]
    assert len(skipped) == 1 and skipped[0].startswith("dcsim: skipped run 0 [") and str(sweep / "0") in skipped[0]
    assert (done.read_bytes(), done.stat().st_mtime_ns) == before  # reused, not rerun
    assert (sweep / "1" / "summary.json").is_file() and not (sweep / "1" / "error.json").exists()
    rows = read_csv(sweep / "sweep_summary.csv")
    assert [r["status"] for r in rows] == ["skipped", "ok", "refused"]
    assert float(rows[0]["pue"]) == json.loads(done.read_text())["pue"]  # the reused summary fills its row
    assert "dcsim sweep: 3 runs (1 ok, 1 skipped, 1 refused)" in second.stdout


def test_single_run_that_fails_prints_one_line_and_exits_1(tmp_path):
    """A single run that crashes: exit 1, one stderr line naming the error and where the
    traceback went, no traceback on the terminal, error.json in the run directory."""
    run = tmp_path / "run"
    (run / "requests.parquet").mkdir(parents=True)
    proc = dcsim([*TINY, f"hydra.run.dir={run}"], cwd=tmp_path)
    assert proc.returncode == 1, show(proc)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, show(proc)
    assert lines[0].startswith("dcsim: error: run failed: IsADirectoryError: ")
    assert lines[0].endswith(f"(traceback in {run / 'error.json'})")
    assert "Traceback" not in proc.stdout + proc.stderr
    record = json.loads((run / "error.json").read_text())
    assert record["status"] == "failed" and "Traceback" in record["traceback"]
    assert not any(p.name.endswith(".tmp") for p in run.iterdir())  # no half-written file left behind


def test_reusable_summary_needs_the_same_overrides_and_version(tmp_path):
    """Only a complete run of exactly these overrides, by this dcsim version, is reused."""
    d = tmp_path / "0"
    d.mkdir()
    assert multirun.reusable_summary(d, ["seed=1"], "0.1.0") is None  # nothing there
    summary = {"overrides": ["seed=1"], "dcsim_version": "0.1.0", "pue": 1.2}
    (d / "summary.json").write_text(json.dumps(summary))
    assert multirun.reusable_summary(d, ["seed=1"], "0.1.0") is None  # no completion mark, no manifest
    complete_run(d, summary)
    assert multirun.reusable_summary(d, ["seed=1"], "0.1.0")["pue"] == 1.2
    assert multirun.reusable_summary(d, ["seed=2"], "0.1.0") is None
    assert multirun.reusable_summary(d, ["seed=1", "duration_s=60"], "0.1.0") is None
    assert multirun.reusable_summary(d, ["seed=1"], "0.2.0") is None
    (d / "summary.json").write_text('{"overrides": ["seed=1"], "dcsim_')  # damaged
    assert multirun.reusable_summary(d, ["seed=1"], "0.1.0") is None
    (d / "error.json").write_text("{}")
    assert multirun.clear_for_rerun(d) is True
    assert list(d.iterdir()) == []


def complete_run(d: Path, summary: dict) -> Path:
    """A complete run directory (empty tables) as dcsim.io.writer.write_run leaves it."""
    import pandas as pd

    from dcsim.io.writer import TABLE_FILES, write_run

    return write_run(d, {name: pd.DataFrame({"x": []}) for name in TABLE_FILES}, summary)


def _job(sweep: Path, num: int, overrides: list[str], started: float, summary: bool | None,
         finished: float | None = None) -> Path:
    """A fake run directory as Hydra and dcsim leave it: overrides.yaml at the start, then
    summary.json (True), error.json (False) or nothing (None) at ``finished``."""
    d = sweep / str(num)
    (d / ".hydra").mkdir(parents=True)
    marker = d / ".hydra" / "overrides.yaml"
    marker.write_text("".join(f"- {o}\n" for o in overrides))
    os.utime(marker, (started, started))
    if summary is not None:
        path = d / ("summary.json" if summary else "error.json")
        if summary:
            complete_run(d, {"overrides": overrides, "pue": 1.25})
        else:
            path.write_text(json.dumps({"overrides": overrides, "status": "failed", "error": "OSError: disk full"}))
        os.utime(path, (finished, finished))
    return d


def test_collect_tells_ok_skipped_failed_and_missing_runs(tmp_path):
    """The table's status of each requested run: ok (summary written after this start),
    skipped (summary older than this start), failed (error.json, or no result, or no
    directory); a stale directory of the same overrides loses to the one started last."""
    sweep = tmp_path / "sweep"
    now = time.time()
    runs = [["seed=1"], ["seed=2"], ["seed=3"], ["seed=4"], ["seed=5"]]
    _job(sweep, 0, runs[0], started=now, summary=True, finished=now + 5)
    _job(sweep, 1, runs[1], started=now, summary=True, finished=now - 3600)
    _job(sweep, 2, runs[2], started=now, summary=False, finished=now + 1)
    _job(sweep, 3, runs[3], started=now, summary=None)
    _job(sweep, 9, runs[2], started=now - 7200, summary=True, finished=now - 7000)  # stale, older sweep
    rows = multirun.collect(sweep, runs)
    assert [r.status for r in rows] == ["ok", "skipped", "failed", "failed", "failed"]
    assert rows[0].summary["pue"] == 1.25 and rows[1].summary["pue"] == 1.25
    assert rows[2].run_dir == sweep / "2" and rows[2].error == "OSError: disk full"
    assert "did not finish" in rows[3].error
    assert rows[4].run_dir is None and "never started" in rows[4].error
    assert multirun.failures(rows) == 3
    assert [r.status for r in multirun.collect(sweep, runs, written=False)][3:] == ["not written", "not written"]


def test_table_shows_swept_keys_and_missing_kpis():
    """Only the keys that differ between runs get a column; shared overrides head the table;
    undefined KPIs read n/a, those of runs without a summary read '-'; errors follow."""
    s = {"pue": 1.3, "gpu_utilisation": 0.5, "energy_per_output_token_facility_j": None, "ttft_p99_s": 0.25,
         "slo_attainment": None, "jobs_completed": 3}
    rows = [RunRow(0, ["duration_s=60", "facility.num_racks=2"], "ok", Path("/s/0"), s),
            RunRow(1, ["duration_s=60", "facility.num_racks=3"], "failed", Path("/s/1"), error="ValueError: boom")]
    text = multirun.format_table(rows, "/s")
    lines = text.splitlines()
    assert lines[0] == "dcsim sweep: 2 runs (1 ok, 1 failed) -> /s"
    assert lines[1] == "  every run: duration_s=60"
    assert lines[2].split()[:3] == ["#", "facility.num_racks", "status"]
    assert lines[3].split() == ["0", "2", "ok", "1.300", "50.0", "n/a", "0.250", "n/a", "3"]
    assert lines[4].split() == ["1", "3", "failed", "-", "-", "-", "-", "-", "-"]
    assert lines[5] == "  #1 failed: ValueError: boom"
    table = read_csv_text(multirun.csv_text(rows))
    assert table[0]["facility.num_racks"] == "2" and table[0]["energy_per_output_token_facility_j"] == ""
    assert table[1]["status"] == "failed" and table[1]["error"] == "ValueError: boom"


def read_csv_text(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


# --------------------------------------------------------------------------- expanding a sweep


@pytest.mark.parametrize("overrides", [
    ["seed=1,2", "facility.num_racks=2,3,4"],
    ["seed=1,2", "duration_s=60", "seed=5,6,7"],  # a key given again replaces its values, in its first place
    ["~facility.faults", "+x=[1,2]", "y={a:1}", "z=range(1,4)", "w=choice(a,b)", "v='q,r'"],
    [],
])
def test_expand_sweep_gives_hydra_basic_sweepers_jobs_in_its_order(overrides):
    """dcsim.config.sweep.expand_sweep (public override API only) lists the same runs, in the
    same job order, as Hydra's basic sweeper, which numbers the launched jobs."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from dcsim.config.sweep import expand_sweep

    parsed = OverridesParser.create().parse_overrides(overrides)
    hydra_jobs = [list(job) for batch in BasicSweeper.split_arguments(parsed, max_batch_size=None) for job in batch]
    assert expand_sweep(overrides) == hydra_jobs


def test_expand_sweep_refuses_an_interval_in_one_line():
    """The basic sweeper cannot sample an interval: a ConfigError naming the key and the value."""
    from dcsim.config.sweep import expand_sweep
    from dcsim.core.errors import ConfigError

    with pytest.raises(ConfigError, match=r"^seed='interval\(0,1\)' is not allowed: a list of values"):
        expand_sweep(["seed=interval(0,1)"])


def test_io_layer_imports_no_hydra():
    """Hydra and OmegaConf stay in dcsim/config and the CLI: the run-directory and sweep
    bookkeeping of dcsim/io works without them."""
    import ast

    for path in sorted((REPO / "dcsim" / "io").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            for name in names:
                assert name.split(".")[0] not in ("hydra", "omegaconf"), f"{path.name} imports {name}"


# --------------------------------------------------------------------------- Ray


@pytest.fixture
def ray_cluster(monkeypatch):
    """A local Ray cluster of two nodes, one CPU each (a head and a worker node, as
    `ray start --head --num-cpus=1` and `ray start --address=HEAD --num-cpus=1` make it):
    (its address, the two nodes' ids). Its files are in a private directory (RAY_TMPDIR),
    so a ``ray.init()`` elsewhere on this machine does not join it; torn down after the
    test, passed or failed."""
    pytest.importorskip("ray", reason="ray is not installed: pip install -e '.[ray]'")
    pytest.importorskip("hydra_plugins.hydra_ray_launcher", reason="hydra-ray-launcher is not installed: "
                        "pip install -e '.[ray]'")
    import shutil
    import tempfile

    from ray.cluster_utils import Cluster

    tmp = tempfile.mkdtemp(prefix="dcsim-ray-", dir="/tmp")  # short: Ray's socket paths must fit 107 bytes
    monkeypatch.setenv("RAY_TMPDIR", tmp)
    cluster = Cluster()
    try:
        # the dashboard (a free port) answers which node ran each task
        head = cluster.add_node(num_cpus=1, include_dashboard=True, dashboard_port=0)
        worker = cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        yield cluster.address, {head.node_id, worker.node_id}
    finally:
        cluster.shutdown()
        shutil.rmtree(tmp, ignore_errors=True)


def _nodes_that_ran(address: str, task: str, runs: int, timeout_s: float = 10.0) -> set[str]:
    """The ids of the nodes where ``runs`` tasks named ``task`` ran (workers report their
    tasks' events to the head about once a second: wait for them)."""
    from ray.util.state import list_tasks

    deadline = time.monotonic() + timeout_s
    while True:
        tasks = [t for t in list_tasks(address=address, filters=[("name", "=", task)], detail=True) if t.node_id]
        if len(tasks) >= runs or time.monotonic() > deadline:
            return {t.node_id for t in tasks}
        time.sleep(0.5)


def test_ray_launcher_runs_the_same_sweep_on_a_cluster_with_the_same_results(tmp_path, joblib_sweep, ray_cluster):
    """The same sweep on a two-node Ray cluster (hydra/launcher=ray joined to it with
    hydra.launcher.ray.init.address) runs on both nodes and gives bit-identical runs; its
    progress.log ends with every run done and the runs' .progress files are gone."""
    from dcsim.io.progress import PROGRESS_FILE, PROGRESS_LOG

    address, nodes = ray_cluster
    _, joblib_dir = joblib_sweep
    sweep = tmp_path / "sweep"
    proc = dcsim(["-m", *TINY, SEEDS, f"hydra.sweep.dir={sweep}", "hydra/launcher=ray",
                  f"hydra.launcher.ray.init.address={address}"],  # dcsim drops the launcher's object store size
                 cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, show(proc)
    assert "Ray Launcher is launching 2 jobs" in proc.stdout
    assert "Connected to Ray cluster" in proc.stderr  # joined the cluster, started no instance of its own
    assert "Traceback" not in proc.stdout + proc.stderr
    # one CPU per node, one per run: the second run went to the node the first did not hold
    assert _nodes_that_ran(address, "_run_job", runs=2) == nodes
    for num in (0, 1):
        assert kpis(sweep / str(num) / "summary.json") == kpis(joblib_dir / str(num) / "summary.json")
    assert [r["status"] for r in read_csv(sweep / "sweep_summary.csv")] == ["ok", "ok"]
    last = (sweep / PROGRESS_LOG).read_text().splitlines()[-1]
    assert "sweep 2/2 done, 0 failed, 0 refused" in last, last
    assert not list(sweep.glob(f"*/{PROGRESS_FILE}"))


def test_joining_a_ray_cluster_drops_the_launchers_object_store_size():
    """hydra-ray-launcher 1.2 asks for a 75 MiB object store, which Ray refuses when joining a
    running cluster: dcsim sets it to null then (an address, or RAY_ADDRESS), and only then."""
    from dcsim.cli import ray_cluster_overrides

    store = "+hydra.launcher.ray.init.object_store_memory=null"
    joins = ["-m", "seed=1,2", "hydra/launcher=ray", "hydra.launcher.ray.init.address=auto"]
    assert ray_cluster_overrides(joins, {}) == [*joins, store]
    local = ["-m", "seed=1,2", "hydra/launcher=ray"]
    assert ray_cluster_overrides(local, {}) == local  # a new local instance keeps the launcher's store
    assert ray_cluster_overrides(local, {"RAY_ADDRESS": "10.0.0.1:6379"}) == [*local, store]
    assert ray_cluster_overrides([*local, "hydra.launcher.ray.init.address=null"], {"RAY_ADDRESS": "x"}) \
        == [*local, "hydra.launcher.ray.init.address=null"]
    own = [*joins, "+hydra.launcher.ray.init.object_store_memory=1000000000"]
    assert ray_cluster_overrides(own, {}) == own  # the user's own size is theirs
    assert ray_cluster_overrides(["-m", "seed=1,2", "hydra.launcher.ray.init.address=auto"], {}) \
        == ["-m", "seed=1,2", "hydra.launcher.ray.init.address=auto"]  # not the Ray launcher


# --------------------------------------------------------------------------- progress bar


def test_progress_bar_only_on_a_terminal_and_not_in_a_sweep_of_many(monkeypatch):
    """On by default only when stderr is a terminal; in a sweep, only for a sweep of one run."""
    from dcsim import cli

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr(sys, "stderr", io.StringIO())
    assert cli.progress_wanted(multirun_mode=False) is False
    monkeypatch.setattr(sys, "stderr", Tty())
    assert cli.progress_wanted(multirun_mode=False) is True
    monkeypatch.delenv(cli._SWEEP_OF_ONE_ENV, raising=False)
    assert cli.progress_wanted(multirun_mode=True) is False
    monkeypatch.setenv(cli._SWEEP_OF_ONE_ENV, "0")
    assert cli.progress_wanted(multirun_mode=True) is False
    monkeypatch.setenv(cli._SWEEP_OF_ONE_ENV, "1")
    assert cli.progress_wanted(multirun_mode=True) is True


def test_progress_process_follows_simulated_time_and_changes_nothing():
    """The bar's SimPy process advances the bar to the simulated time in steps and leaves
    the other processes' events (and random draws) exactly as they were."""
    from dcsim import cli
    from dcsim.core.simulation import Simulation

    class Trace:
        def __init__(self, sim):
            self.sim, self.seen = sim, []

        def results(self, until_s):
            return self.seen

    def simulate(progress: cli.SimProgress | None) -> list:
        sim = Simulation(7, Trace)
        rng = sim.rng.stream("arrivals")

        def arrivals(env):
            while True:
                yield env.timeout(float(rng.exponential(3.0)))
                sim.recorder.seen.append((env.now, float(rng.random())))

        sim.env.process(arrivals(sim.env))
        if progress is not None:
            progress.attach(sim)
        return sim.run(1000.0)

    out = io.StringIO()
    bar = cli.SimProgress(1000.0, step_s=5.0, label="test", file=out, delay_s=0.0)
    with_bar = simulate(bar)
    assert bar.bar.n == pytest.approx(1000.0)
    bar.close()
    assert "simulated s" in out.getvalue()
    assert with_bar == simulate(None)
    assert len(with_bar) > 100


def _run_in_terminal(args: list[str], cwd: Path, timeout: float = 180) -> tuple[int, str]:
    """Run ``python -m dcsim ARGS`` with stdin/stdout/stderr on a pseudo-terminal; (exit, screen text)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO)
    env["MPLBACKEND"] = "Agg"
    main, child = pty.openpty()
    fcntl.ioctl(child, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 120, 0, 0))  # a 120-column terminal
    proc = subprocess.Popen([sys.executable, "-m", "dcsim", *args], cwd=cwd, env=env, stdin=child, stdout=child,
                            stderr=child, close_fds=True)
    os.close(child)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([main], [], [], 0.5)
        if ready:
            try:
                data = os.read(main, 65536)
            except OSError:  # the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        elif proc.poll() is not None:
            break
    os.close(main)
    return proc.wait(timeout=30), b"".join(chunks).decode(errors="replace")


def test_progress_bar_changes_no_result():
    """A scenario run with the bar attached gives the same summary as without it."""
    from dcsim import cli
    from dcsim.api import compose_config
    from dcsim.config.build import build

    scenario = build(compose_config(["duration_s=600", "workload=inference_only"]))
    out = io.StringIO()
    bar = cli.SimProgress(scenario.duration_s, scenario.facility.control_interval_s, "test", file=out, delay_s=0.0)
    with_bar = scenario.run(on_sim=bar.attach).summary()
    assert bar.bar.n == scenario.duration_s
    bar.close()
    assert "/600 simulated s" in out.getvalue()
    without = scenario.run().summary()
    # every KPI is the same, the event count too (an observer's wake-ups are not counted)
    assert json.dumps(with_bar, sort_keys=True) == json.dumps(without, sort_keys=True)


def test_progress_bar_shows_on_a_terminal_for_a_long_run(tmp_path):
    """On a terminal, a run that lasts longer than the bar's delay draws it over simulated
    time, then prints its KPI table as usual."""
    from dcsim import cli

    run = tmp_path / "run"
    code, screen = _run_in_terminal(["workload=inference_only", "output.report=false", "duration_s=10800",
                                     f"hydra.run.dir={run}"], cwd=tmp_path)  # about 8 s here
    assert code == 0, screen
    assert "simulated s" in screen and re.search(r"\d+%\|", screen), screen
    assert "PUE" in screen
    wall_s = json.loads((run / "summary.json").read_text())["wall_time_s"]
    assert wall_s > cli.PROGRESS_DELAY_S, f"the run took {wall_s:.1f} s: too short to show the bar"


# --------------------------------------------------------------------------- progress across runs


def test_sweep_progress_counts_the_runs_by_their_directories(tmp_path):
    """Done (summary.json), refused and failed (error.json's status), running (its .progress
    share), directories of other overrides ignored; one line on a terminal, none off it, and
    progress.log gains a line each time a run ends."""
    from dcsim.io.progress import PROGRESS_FILE, PROGRESS_LOG, SweepProgress

    runs = [[f"seed={i}"] for i in range(5)]

    def job(num: int, overrides: list[str], **files: str) -> None:
        d = tmp_path / str(num)
        (d / ".hydra").mkdir(parents=True)
        (d / ".hydra" / "overrides.yaml").write_text("".join(f"- {o}\n" for o in overrides))
        for name, text in files.items():
            (d / name.replace("_json", ".json")).write_text(text)

    job(0, runs[0], summary_json="{}")
    job(1, runs[1], error_json='{"status": "refused"}')
    job(2, runs[2], error_json='{"status": "failed"}')
    job(3, runs[3])
    (tmp_path / "3" / PROGRESS_FILE).write_text("0.25\n")
    job(9, ["seed=99"], summary_json="{}")  # an older sweep's run: not one of these
    quiet, shown = io.StringIO(), io.StringIO()
    off = SweepProgress(tmp_path, runs, stream=quiet, interactive=False)
    st = off.update()
    assert (st["done"], st["refused"], st["failed"], st["running"]) == (1, 1, 1, {3: 0.25})
    assert quiet.getvalue() == ""
    on = SweepProgress(tmp_path, runs, stream=shown, interactive=True)
    on.update()
    assert shown.getvalue().startswith("\rdcsim: sweep 3/5 done, 1 failed, 1 refused, 1 running (#3 25 %)")
    log = (tmp_path / PROGRESS_LOG).read_text().splitlines()
    assert len(log) == 2 and log[-1].split(" ", 1)[1].startswith("sweep 3/5 done")
    on.update()  # nothing ended: no new log line
    job(4, runs[4], summary_json="{}")
    on.stop()
    log = (tmp_path / PROGRESS_LOG).read_text().splitlines()
    assert len(log) == 3 and "sweep 4/5 done" in log[-1]
    assert shown.getvalue().endswith("\n")


def test_a_sweep_logs_its_progress_and_leaves_no_progress_files(joblib_sweep):
    """Off a terminal the sweep prints no progress (stderr stays empty: the test above);
    progress.log in the sweep directory ends with every run done, and the runs' .progress
    files are gone."""
    from dcsim.io.progress import PROGRESS_FILE, PROGRESS_LOG

    _, sweep = joblib_sweep
    last = (sweep / PROGRESS_LOG).read_text().splitlines()[-1]
    assert "sweep 2/2 done, 0 failed, 0 refused" in last, last
    assert not list(sweep.glob(f"*/{PROGRESS_FILE}"))


def test_a_sweep_shows_its_progress_line_on_a_terminal(tmp_path):
    code, screen = _run_in_terminal(["-m", "duration_s=3600", "workload=inference_only", "output.report=false",
                                     "output.print_summary=false", "seed=1,2", "hydra/launcher=basic",
                                     f"hydra.sweep.dir={tmp_path / 'sweep'}"], cwd=tmp_path)
    assert code == 0, screen
    assert "dcsim: sweep 0/2 done" in screen and "dcsim: sweep 2/2 done, 0 failed, 0 refused" in screen, screen
    assert re.search(r"1 running \(#\d \d+ %\)", screen), screen
    from dcsim.io.progress import PROGRESS_LOG  # the basic launcher logs it too

    last = (tmp_path / "sweep" / PROGRESS_LOG).read_text().splitlines()[-1]
    assert "sweep 2/2 done, 0 failed, 0 refused" in last, last
