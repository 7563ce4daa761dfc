"""output.stream_timeseries: timeseries.parquet written as the run goes, in bounded memory,
the same file and the same KPIs as a run that holds the table to the end."""

from __future__ import annotations

import hashlib
import math

import pandas as pd
import pytest

import dcsim.io.writer as writer
import dcsim.metrics.table as table_mod
from dcsim.api import compose_config
from dcsim.cli import run_and_write
from dcsim.config.build import build
from dcsim.core.errors import ConfigError
from dcsim.io.reader import check_run, is_complete, read_summary
from dcsim.metrics.recorder import TIMESERIES_COLUMNS
from dcsim.metrics.table import Table

BASE = ["facility.num_racks=10", "duration_s=1800", "workload=inference_only", "output.report=false",
        "output.print_summary=false"]
# small blocks and row groups, so half an hour of 10 racks (360 rows) makes three row groups, and
# a read-back budget of two racks' rows, so the rack KPIs take five passes over the file
BLOCK_ROWS, GROUP_ROWS, READ_BACK = 64, 128, 60


@pytest.fixture
def small_groups(monkeypatch):
    monkeypatch.setattr(table_mod, "BLOCK_ROWS", BLOCK_ROWS)
    monkeypatch.setattr(writer, "ROW_GROUP_ROWS", GROUP_ROWS)
    monkeypatch.setattr(writer, "READ_BACK_VALUES", READ_BACK)


def _run(tmp_path, name, overrides):
    cfg = compose_config([*BASE, *overrides])
    run_dir = tmp_path / name
    return run_and_write(build(cfg), cfg, run_dir, []), run_dir


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _same(a, b):
    return a == b or (isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b))


@pytest.mark.parametrize("level", ["rack", "group"])
def test_the_streamed_file_and_kpis_are_those_of_the_run_held_in_memory(tmp_path, small_groups, level):
    """Byte for byte the same timeseries.parquet, in several row groups, and every KPI equal
    (power_swing_rack_w from the rack rows read back, peaks and PUE from the facility rows)."""
    over = [f"output.timeseries_level={level}", "output.timeseries_group_racks=4"]
    held, held_dir = _run(tmp_path, "held", over)
    streamed, streamed_dir = _run(tmp_path, "streamed", [*over, "output.stream_timeseries=true"])
    import pyarrow.parquet as pq

    f = pq.ParquetFile(streamed_dir / "timeseries.parquet")
    assert f.metadata.num_rows == (360 if level == "rack" else 150)
    assert f.metadata.num_row_groups == math.ceil(f.metadata.num_rows / GROUP_ROWS) > 1
    assert _sha(streamed_dir / "timeseries.parquet") == _sha(held_dir / "timeseries.parquet")
    ts = pd.read_parquet(streamed_dir / "timeseries.parquet")
    assert list(ts.columns) == list(TIMESERIES_COLUMNS)
    assert ts.component.dtype == "string" and ts.gpus_busy.dtype == "float64"
    skip = {"wall_time_s"}
    assert {k: v for k, v in streamed.items() if k not in skip and not _same(v, held[k])} == {}
    assert set(streamed) == set(held)
    if level == "rack":
        assert held["power_swing_rack_w"] > 0  # the KPI read back is not trivially NaN or zero
    assert held["peak_it_power_w"] > 0 and held["pue"] > 1
    assert is_complete(streamed_dir, verify_hashes=True)
    assert sorted(p.name for p in streamed_dir.iterdir()) == sorted(p.name for p in held_dir.iterdir())
    assert read_summary(streamed_dir)["files"] == read_summary(held_dir)["files"]


def test_a_streamed_run_keeps_only_the_rows_not_of_racks(tmp_path, small_groups):
    """In memory: the facility's and the network's rows (the report's), not the racks'."""
    cfg = compose_config([*BASE, "output.stream_timeseries=true"])
    stream = writer.TableStream(tmp_path, "timeseries", TIMESERIES_COLUMNS)
    results = build(cfg).run(on_sim=lambda sim: sim.recorder.stream_timeseries(stream))
    kept = results.frames()["timeseries"]
    assert stream.rows == 360 and len(kept) == 60
    assert set(kept.component) == {"facility", "network"}
    whole = pd.read_parquet(stream.tmp)  # closed, not yet renamed into place
    rest = whole[~whole.component.str.startswith("rack")].reset_index(drop=True)
    pd.testing.assert_frame_equal(kept, rest)
    assert dict(stream.rack_rows) == {f"rack/{i:03d}": 30 for i in range(10)}


def test_a_streamed_table_hands_over_row_groups_of_the_set_size():
    """Memory holds one row group at most; every row reaches the sink once, in order."""
    blocks: list[list[int]] = []
    t = Table(("t_s", "gpus"), sink=lambda tb: blocks.append(list(tb.data[1])), sink_rows=2048)
    for i in range(5000):
        t.append((0.0, i))
        assert len(t.data[1]) < 2048  # never a full group left in memory
    t.finish()
    assert [len(b) for b in blocks] == [2048, 2048, 904]
    assert sum(blocks, []) == list(range(5000)) and len(t) == 5000
    with pytest.raises(ValueError, match="multiple of 1024"):
        Table(("a",), sink=print, sink_rows=1000)


def test_a_run_that_fails_midway_leaves_no_file_that_looks_written(tmp_path, small_groups, monkeypatch):
    """The stream fails at its second row group (a full disk): the error propagates, the
    partial file is removed and the directory is not complete."""
    calls = []
    write = writer.TableStream.write

    def failing(self, table):
        calls.append(len(table.data[0]))
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        write(self, table)

    monkeypatch.setattr(writer.TableStream, "write", failing)
    with pytest.raises(OSError, match="No space left"):
        _run(tmp_path, "run", ["output.stream_timeseries=true"])
    run_dir = tmp_path / "run"
    assert calls == [GROUP_ROWS, GROUP_ROWS]
    assert sorted(p.name for p in run_dir.iterdir()) == []
    assert not check_run(run_dir).complete


def test_a_killed_run_leaves_only_a_temporary_name_that_the_next_run_clears(tmp_path):
    """A process killed mid-run never closes the stream: the rows so far sit under the
    temporary name (no footer, no summary.json), which readers ignore and clear_run_dir removes."""
    stream = writer.TableStream(tmp_path, "timeseries", ("t_s", "component"))
    t = Table(("t_s", "component"))
    t.append((0.0, "facility"))
    stream.write(t)
    assert stream.tmp.is_file() and not (tmp_path / "timeseries.parquet").exists()
    assert not is_complete(tmp_path)
    assert writer.clear_run_dir(tmp_path) == [".timeseries.parquet.tmp"]


def test_streaming_needs_a_run_directory():
    with pytest.raises(ConfigError, match=r"output.stream_timeseries=True.*output.write=false"):
        build(compose_config([*BASE, "output.stream_timeseries=true", "output.write=false"]))


def test_a_stream_of_no_rows_is_the_empty_table_file(tmp_path):
    """Closed without a row, the file is the one an empty table makes; nothing to read back."""
    from dcsim.metrics.frames import to_frame

    stream = writer.TableStream(tmp_path, "timeseries", TIMESERIES_COLUMNS)
    entry = stream.commit()
    writer.write_table(tmp_path / "held.parquet", to_frame(Table(TIMESERIES_COLUMNS)))
    assert entry["sha256"] == _sha(tmp_path / "held.parquet") == _sha(tmp_path / "timeseries.parquet")
    assert list(stream.rack_series("it_power_w")) == [] and not stream.tmp.exists()


def test_telemetry_streams_too_the_same_file_and_no_row_cap(tmp_path, small_groups):
    """With output.stream_timeseries the per-node telemetry goes to telemetry.parquet as the
    run goes too: byte for byte the file of the run that holds it (in several row groups), the
    same summary; and the in-memory cap on telemetry rows no longer refuses a run."""
    import pyarrow.parquet as pq

    over = ["output.telemetry_interval_s=60"]  # 30 samples x 40 nodes = 1,200 rows
    held, held_dir = _run(tmp_path, "held", over)
    streamed, streamed_dir = _run(tmp_path, "streamed", [*over, "output.stream_timeseries=true"])
    f = pq.ParquetFile(streamed_dir / "telemetry.parquet")
    assert f.metadata.num_rows == 1200 and f.metadata.num_row_groups == 10  # of 128 rows
    assert _sha(streamed_dir / "telemetry.parquet") == _sha(held_dir / "telemetry.parquet")
    assert set(held) == set(streamed) and all(_same(held[k], streamed[k]) for k in held if k != "wall_time_s")
    assert check_run(streamed_dir).complete and not list(streamed_dir.glob(".*.tmp"))
    many = [*BASE, "duration_s=86400", "output.telemetry_interval_s=1", "output.telemetry_per_gpu=true"]
    with pytest.raises(ConfigError, match="output.stream_timeseries=true streams them"):
        build(compose_config(many))  # 86,400 samples x (40 nodes + 320 GPUs) held in memory: refused
    assert build(compose_config([*many, "output.stream_timeseries=true"])).telemetry is not None
