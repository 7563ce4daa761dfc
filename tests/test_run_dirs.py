"""Run directories never lie; sweeps die cleanly.

A run directory is complete only when its summary.json says so and every file it lists is
there with the listed size and hash (``dcsim.io.reader.check_run``). These tests break runs
the ways users and machines do: an error at each step of writing (in process), SIGKILL of
``dcsim`` at seeded random moments while it runs and writes into a directory that held an
older complete run, SIGKILL of a sweep's main process (its workers must go too) and Ctrl-C
of a sweep (one line, exit 130, every finished run kept and complete).
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pytest

from dcsim.analysis.load import load_run
from dcsim.io import multirun, writer
from dcsim.io.reader import check_run, is_complete
from dcsim.io.writer import SUMMARY, TABLE_FILES, clear_run_dir, write_run

REPO = Path(__file__).resolve().parents[1]
TINY = ["duration_s=30", "workload=inference_only", "output.print_summary=false"]


def frames(value: float) -> dict[str, pd.DataFrame]:
    return {name: pd.DataFrame({"x": [value, value + 1.0]}) for name in TABLE_FILES}


def dcsim_popen(args: list[str], cwd: Path, **kw) -> subprocess.Popen:
    """``python -m dcsim ARGS`` of this checkout, in its own session (a terminal's process group)."""
    env = dict(os.environ, PYTHONPATH=str(REPO), MPLBACKEND="Agg")
    env.pop("HYDRA_FULL_ERROR", None)
    return subprocess.Popen([sys.executable, "-m", "dcsim", *args], cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True, **kw)


def _stat(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (state is [0], ppid [1],
    start time [19]), or None if there is no such process."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def descendants(pid: int) -> dict[int, str]:
    """Every process below ``pid``, with its start time (from /proc, so psutil is not needed)."""
    children: dict[int, list[int]] = {}
    starts: dict[int, str] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (fields := _stat(int(entry))) is not None:
            children.setdefault(int(fields[1]), []).append(int(entry))
            starts[int(entry)] = fields[19]
    out: dict[int, str] = {}
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out[child] = starts[child]
            todo.append(child)
    return out


def running(procs: dict[int, str]) -> list[int]:
    """Those of ``procs`` (pid: start time) still running: not gone, not a zombie, not a
    new process that reuses the pid."""
    alive = []
    for pid, start in procs.items():
        fields = _stat(pid)
        if fields is not None and fields[19] == start and fields[0] not in ("Z", "X"):
            alive.append(pid)
    return alive


def kill_all(procs: dict[int, str]) -> None:
    """Clean up after a failed test: SIGKILL the processes it started that still run, one by one."""
    for pid in running(procs):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def snapshot(d: Path) -> dict[str, tuple[int, int]]:
    """(size, mtime) of every file under ``d``."""
    return {str(p.relative_to(d)): (p.stat().st_size, p.stat().st_mtime_ns) for p in d.rglob("*") if p.is_file()}


# --------------------------------------------------------------------------- in process


def test_complete_only_when_every_listed_file_matches(tmp_path):
    """check_run: complete after write_run; a listed file missing, of another size, or (with
    verify_hashes) of other bytes, or a summary without the mark, is not complete, with the reason."""
    d = write_run(tmp_path / "run", frames(1.0), {"pue": 1.2}, {"report.png": b"png bytes"})
    assert check_run(d, verify_hashes=True).complete
    summary = json.loads((d / SUMMARY).read_text())
    assert summary["complete"] is True and summary["pue"] == 1.2
    assert [f["name"] for f in summary["files"]] == [f"{t}.parquet" for t in TABLE_FILES] + ["report.png"]

    (d / "report.png").write_bytes(b"png bytez")  # same size, other bytes
    assert is_complete(d) and not is_complete(d, verify_hashes=True)
    assert "report.png does not match its SHA-256" in check_run(d, verify_hashes=True).reason
    (d / "report.png").write_bytes(b"png")
    assert check_run(d).reason == "report.png has 3 bytes, summary.json lists 9"
    (d / "report.png").unlink()
    assert check_run(d).reason == "report.png is missing"
    with pytest.raises(FileNotFoundError, match="not a complete dcsim run directory: report.png is missing"):
        load_run(d)

    (d / SUMMARY).write_text(json.dumps({"pue": 1.2}))  # as an older dcsim wrote it: no mark, no manifest
    assert "does not say the run is complete" in check_run(d).reason
    (d / SUMMARY).write_text('{"pue": 1.')
    assert "cannot be read" in check_run(d).reason
    assert check_run(tmp_path / "nothing").reason == "no summary.json: the run did not finish"


def test_provenance_rewritten_for_another_run_makes_the_old_summary_incomplete(tmp_path):
    """Hydra rewrites .hydra/ before a new run starts; the old summary lists the old .hydra
    files by hash, so it no longer reads as complete beside the new config (even at equal size)."""
    d = tmp_path / "run"
    (d / ".hydra").mkdir(parents=True)
    (d / ".hydra" / "overrides.yaml").write_text("- seed=1\n")
    write_run(d, frames(1.0), {"seed": 1}, provenance=[".hydra/overrides.yaml", ".hydra/config.yaml"])
    assert check_run(d).complete
    assert [f["name"] for f in json.loads((d / SUMMARY).read_text())["provenance_files"]] == [".hydra/overrides.yaml"]
    (d / ".hydra" / "overrides.yaml").write_text("- seed=2\n")
    assert check_run(d).reason == ".hydra/overrides.yaml does not match its SHA-256 in summary.json"


def test_clear_removes_only_what_dcsim_wrote_summary_first(tmp_path, monkeypatch):
    """clear_run_dir removes the old summary before anything else, then the files it listed,
    the known output names and stale temporary files; Hydra's files, other files and
    directories stay."""
    d = write_run(tmp_path / "run", frames(1.0), {"pue": 1.2}, {"extra.bin": b"x"})
    (d / ".hydra").mkdir()
    (d / ".hydra" / "config.yaml").write_text("seed: 1\n")
    (d / "cli.log").write_text("")
    (d / "notes.txt").write_text("mine")
    (d / ".requests.parquet.tmp").write_bytes(b"half")
    (d / ".summary.json.tmp").write_bytes(b"{")
    (d / "error.json").write_text("{}")
    (d / "subdir").mkdir()
    order: list[str] = []
    real_unlink = Path.unlink
    monkeypatch.setattr(Path, "unlink", lambda self, *a, **k: (order.append(self.name), real_unlink(self, *a, **k)))
    removed = clear_run_dir(d)
    assert order[0] == SUMMARY and removed[0] == SUMMARY
    assert {"extra.bin", ".requests.parquet.tmp", ".summary.json.tmp", "error.json", "requests.parquet"} <= set(removed)
    assert sorted(p.name for p in d.iterdir()) == [".hydra", "cli.log", "notes.txt", "subdir"]


@pytest.mark.parametrize("step", range(15))  # 1 sync of the cleared dir, 2 per file (6), 2 for summary.json
def test_an_error_at_any_step_of_writing_never_looks_complete(tmp_path, monkeypatch, step):
    """write_run into a directory with an older complete run fails at its ``step``-th file
    operation (a rename or a sync): the directory is not complete, the old summary is gone,
    and no temporary file is left behind."""
    d = write_run(tmp_path / "run", frames(1.0), {"seed": 1}, {"report.png": b"old"})
    calls = {"n": 0}
    real_replace, real_fsync = os.replace, os.fsync

    def failing(real):
        def op(*args):
            calls["n"] += 1
            if calls["n"] == step + 1:
                raise OSError(28, "No space left on device")
            return real(*args)
        return op

    monkeypatch.setattr(writer.os, "replace", failing(real_replace))
    monkeypatch.setattr(writer.os, "fsync", failing(real_fsync))
    with pytest.raises(OSError, match="No space left"):
        write_run(d, frames(2.0), {"seed": 2}, {"report.png": b"new"})
    monkeypatch.undo()
    assert not check_run(d).complete
    assert not (d / SUMMARY).exists()
    assert not [p.name for p in d.iterdir() if p.name.endswith(".tmp")]


def test_collect_reports_a_summary_whose_files_are_missing_as_failed(tmp_path):
    """The sweep table trusts a run only when it is complete: a summary.json beside a
    missing table is a failed run, with the reason."""
    d = write_run(tmp_path / "sweep" / "0", frames(1.0), {"overrides": ["seed=1"], "pue": 1.2})
    assert [r.status for r in multirun.collect(tmp_path / "sweep", [["seed=1"]])] == ["ok"]
    (d / "jobs.parquet").unlink()
    (row,) = multirun.collect(tmp_path / "sweep", [["seed=1"]])
    assert row.status == "failed" and "jobs.parquet is missing: the run did not finish" in row.error
    assert multirun.reusable_summary(d, ["seed=1"], "x") is None


# --------------------------------------------------------------------------- SIGKILL of a run


@pytest.fixture(scope="module")
def old_run(tmp_path_factory) -> tuple[Path, float]:
    """A complete run (seed=1) made by the command, and how long the command took (s)."""
    tmp = tmp_path_factory.mktemp("old")
    t0 = time.monotonic()
    proc = dcsim_popen([*TINY, "seed=1", f"hydra.run.dir={tmp / 'run'}"], cwd=tmp)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert check_run(tmp / "run", verify_hashes=True).complete
    return tmp / "run", time.monotonic() - t0


def _killed_run(old: Path, d: Path, delay_s: float | None, rng: random.Random) -> None:
    """Copy the old complete run to ``d``, start a run of seed=2 there and SIGKILL it after
    ``delay_s``, or (None) a few milliseconds after it starts writing its tables (the
    writing phase, tables to summary.json, lasts about 10 ms)."""
    shutil.copytree(old, d)
    table, tmp = d / "requests.parquet", d / ".requests.parquet.tmp"
    old_inode = table.stat().st_ino
    proc = dcsim_popen([*TINY, "seed=2", f"hydra.run.dir={d}"], cwd=d.parent)
    try:
        if delay_s is not None:
            time.sleep(delay_s)
        else:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and proc.poll() is None:
                try:
                    if tmp.exists() or table.stat().st_ino != old_inode:  # a new table, written or being written
                        break
                except FileNotFoundError:  # cleared, not yet written
                    pass
                time.sleep(0.0005)
            time.sleep(rng.uniform(0.0, 0.012))
    finally:
        proc.kill()
        proc.communicate()


def test_sigkill_while_running_never_leaves_a_dir_that_looks_complete_and_is_not(tmp_path, old_run):
    """SIGKILL at seeded random moments of a run (seed=2) into a directory that held a
    complete run (seed=1): the reader says incomplete, or complete and every file matches its
    hash; the old summary.json is never beside a new table. A later run cleans up after the
    killed one (no temporary file left) and is complete."""
    old, full_s = old_run
    old_hashes = {f["name"]: f["sha256"] for f in json.loads((old / SUMMARY).read_text())["files"]}

    def trial(num: int) -> str:
        rng = random.Random(1300 + num)
        d = tmp_path / f"trial{num}"
        # half the kills anywhere in the run, half in its writing phase
        _killed_run(old, d, rng.uniform(0.1, 1.1) * full_s if num % 2 == 0 else None, rng)
        check = check_run(d, verify_hashes=True)
        summary = json.loads((d / SUMMARY).read_text()) if (d / SUMMARY).exists() else None
        if summary is not None and summary.get("seed") == 1:  # the old run is still there: untouched
            for name, sha256 in old_hashes.items():
                if (d / name).exists():
                    assert writer.file_digest(d / name)[1] == sha256, f"trial {num}: new {name} beside the old summary"
        if not check.complete:
            return "incomplete"
        assert check.summary is not None and check.summary["seed"] in (1, 2)
        return f"complete seed={check.summary['seed']}"

    with ThreadPoolExecutor(max_workers=2) as pool:  # two killed runs at a time: the test stays short
        seen = list(pool.map(trial, range(10)))
    assert "incomplete" in seen, seen  # some kill landed before the run finished

    last = tmp_path / "trial9"
    proc = dcsim_popen([*TINY, "seed=3", f"hydra.run.dir={last}"], cwd=tmp_path)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert check_run(last, verify_hashes=True).complete
    assert json.loads((last / SUMMARY).read_text())["seed"] == 3
    assert not [p.name for p in last.iterdir() if p.name.endswith(".tmp")]


def test_ctrl_c_of_a_single_run_says_so_in_one_line_and_leaves_nothing_half_written(tmp_path):
    """Ctrl-C while a single run simulates: one line, exit status 130, no traceback, and the
    run directory holds none of the run's outputs (Hydra's .hydra/ and log stay)."""
    d = tmp_path / "run"
    proc = dcsim_popen(["duration_s=7200", "workload=inference_only", f"hydra.run.dir={d}"], cwd=tmp_path)
    try:
        deadline = time.monotonic() + 60
        while not (d / ".hydra" / "overrides.yaml").exists() and time.monotonic() < deadline:
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.02)
        time.sleep(0.5)
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "Traceback" not in out + err
    assert [line for line in err.splitlines() if line.strip()] == [
        f"dcsim: interrupted: the run did not finish, nothing written in {d}"]
    assert sorted(p.name for p in d.iterdir()) == [".hydra", "cli.log"]


def test_ctrl_c_while_dcsim_starts_is_one_line_and_nothing_is_run(tmp_path):
    """Ctrl-C during the CLI's imports (its first second): one line, exit 130 (or, in the
    interpreter's own first milliseconds, the default SIGINT death), never a traceback,
    no run directory."""
    d = tmp_path / "run"
    proc = dcsim_popen([f"hydra.run.dir={d}"], cwd=tmp_path)
    time.sleep(0.3)
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode in (130, -signal.SIGINT), err
    assert "Traceback" not in out + err
    if proc.returncode == 130:
        assert [line for line in err.splitlines() if line.strip()] == [
            "dcsim: interrupted while starting: nothing was run"]
    assert not d.exists()


# --------------------------------------------------------------------------- sweeps


def _sweep(tmp_path: Path) -> tuple[subprocess.Popen, Path]:
    sweep = tmp_path / "sweep"
    proc = dcsim_popen(["-m", *TINY, "output.report=false", "seed=1,2,3,4,5,6", "hydra.launcher.n_jobs=2",
                        f"hydra.sweep.dir={sweep}"], cwd=tmp_path)
    return proc, sweep


def _wait_for_complete_runs(sweep: Path, n: int, proc: subprocess.Popen, timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if sum((sweep / str(i) / SUMMARY).exists() for i in range(6)) >= n:
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.02)
    raise AssertionError(f"fewer than {n} runs of the sweep finished in {timeout_s} s")


def test_sigkill_of_a_sweeps_main_process_leaves_no_worker(tmp_path):
    """After SIGKILL of the sweep's main process, its worker processes are gone within a
    few seconds and nothing in the sweep directory changes after that."""
    proc, sweep = _sweep(tmp_path)
    pids: dict[int, str] = {}
    try:
        _wait_for_complete_runs(sweep, 1, proc)
        pids = descendants(proc.pid)
        assert len(pids) >= 2, "the sweep has no worker processes"
        proc.kill()
        proc.communicate(timeout=30)  # its pipes close only when every worker holding them is gone
        deadline = time.monotonic() + 3
        while running(pids) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not running(pids), f"orphans of the killed sweep: {running(pids)}"
        before = snapshot(sweep)
        time.sleep(1)
        assert snapshot(sweep) == before
    finally:
        kill_all(pids)


@pytest.mark.parametrize("same_host", [True, False])
def test_a_worker_whose_sweep_died_before_its_run_began_exits(same_host):
    """A run queued before the sweep's main process was killed starts in an orphaned worker
    (its parent gone, re-parented): on the sweep's host it exits at once, writing nothing;
    a process on another host (a Ray or Slurm worker) is left to its own launcher."""
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # a pid that no longer runs
    host = socket.gethostname() if same_host else "another-host"
    code = (f"from dcsim.io.multirun import die_with_parent; die_with_parent({gone.pid}, {host!r}); "
            "print('ran on')")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert (proc.returncode, proc.stdout.strip()) == ((1, "") if same_host else (0, "ran on")), proc.stderr


def test_ctrl_c_of_a_sweep_stops_with_one_line_and_keeps_finished_runs(tmp_path):
    """Ctrl-C (SIGINT to the sweep's process group, as a terminal sends it): one line on
    stderr saying how many runs finished, exit status 130, no traceback, every finished
    run complete and no worker left."""
    proc, sweep = _sweep(tmp_path)
    pids: dict[int, str] = {}
    try:
        _wait_for_complete_runs(sweep, 1, proc)
        pids = descendants(proc.pid)
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
        kill_all(pids)
    assert proc.returncode == 130, err
    assert "Traceback" not in out + err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    m = re.fullmatch(rf"dcsim: interrupted: (\d) of 6 runs finished, kept in {re.escape(str(sweep))}", lines[0])
    assert m, lines[0]
    complete = [i for i in range(6) if check_run(sweep / str(i), verify_hashes=True).complete]
    assert int(m.group(1)) == len(complete) >= 1
    assert all(i in complete for i in range(6) if (sweep / str(i) / SUMMARY).exists())
    time.sleep(0.5)
    assert not running(pids), f"workers left after Ctrl-C: {running(pids)}"
