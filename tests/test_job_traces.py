"""Training job traces: the Philly reader, node rounding, windows, errors, the synthetic LLM mix."""

from __future__ import annotations

import csv
import gzip
import math
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
from conftest import SHARED_DATA

from dcsim.workloads.training.traces import (
    ACME_CLUSTERS,
    LLM_GPU_CHOICES,
    PHILLY_BUSY_WEEK_S,
    JobRecord,
    JobTraceError,
    llm_gpu_probabilities,
    read_philly,
    synthetic_llm_jobs,
)

SHARED_PHILLY = SHARED_DATA / "traces" / "philly" / "pollux_philly_jobs.csv"
PACKAGED_PHILLY = Path(str(resources.files("dcsim.data").joinpath("traces/pollux_philly_jobs.csv.gz")))
HEADER = "timestamp,duration,num_gpus,gpu_time,cluster\n"


def write(tmp_path: Path, body: str, name: str = "jobs.csv") -> Path:
    path = tmp_path / name
    path.write_text(body)
    return path


@pytest.fixture(scope="module")
def packaged():
    return read_philly(PACKAGED_PHILLY)


def test_philly_loads_all_jobs(packaged):
    """The shipped Philly trace loads with 82,247 jobs, first at 0 s, spanning about 109 days."""
    trace = packaged
    assert trace.n_jobs == 82_247
    assert trace.t_submit_s[0] == 0.0
    assert trace.span_s == pytest.approx(9_408_690.0)  # 2017-09-04 10:30:41 to 2017-12-22 08:02:11
    assert trace.n_rounded == 7 and trace.n_dropped == 0


def test_packaged_philly_matches_shared(packaged):
    """The shipped gzip copy loads without shared/ and, when shared/ is present, equals it."""
    assert packaged.n_jobs == 82_247
    assert packaged.name == "pollux_philly_jobs.csv.gz"
    if SHARED_PHILLY.is_file():
        shared = read_philly(SHARED_PHILLY)
        np.testing.assert_array_equal(packaged.t_submit_s, shared.t_submit_s)
        np.testing.assert_array_equal(packaged.gpus, shared.gpus)
        np.testing.assert_array_equal(packaged.duration_s, shared.duration_s)


def test_gpu_hours_are_sum_of_gpus_times_duration(packaged):
    """GPU-hours equal sum(gpus x duration) / 3600, and before rounding equal the file's gpu_time column."""
    assert packaged.gpu_hours == pytest.approx(float(np.sum(packaged.gpus * packaged.duration_s)) / 3600)
    with gzip.open(PACKAGED_PHILLY, "rt", newline="") as f:
        gpu_time = sum(float(r["gpu_time"]) for r in csv.DictReader(f) if r["gpu_time"])
    requested = float(np.sum(packaged.gpus_requested * packaged.duration_s))
    assert requested == pytest.approx(gpu_time)
    assert gpu_time / 3600 == pytest.approx(978_078.47, abs=0.01)
    # the 7 rounded jobs asked for 12 GPUs and got 16
    assert packaged.gpu_hours - requested / 3600 == pytest.approx(
        float(np.sum((packaged.gpus - packaged.gpus_requested) * packaged.duration_s)) / 3600)


def test_philly_gpu_count_distribution(packaged):
    """Philly is mostly single-GPU: 76,627 one-GPU jobs, largest 128 GPUs."""
    counts = dict(zip(*np.unique(packaged.gpus_requested, return_counts=True)))
    assert counts[1] == 76_627 and counts[8] == 1_643 and counts[12] == 7 and counts[128] == 3
    assert packaged.gpus.max() == 128


def test_rounding_to_whole_nodes_is_counted(tmp_path):
    """Jobs above one node but not a multiple of it round up to whole nodes and are counted; oversize jobs drop."""
    path = write(tmp_path, HEADER + "".join([
        "2017-10-01 00:00:00,10,1,10,a\n",
        "2017-10-01 00:00:10,10,6,60,a\n",    # within one node: kept as 6
        "2017-10-01 00:00:20,10,12,120,a\n",  # 12 -> 16
        "2017-10-01 00:00:30,10,16,160,a\n",  # multiple of 8: kept
        "2017-10-01 00:00:40,10,20,200,a\n",  # 20 -> 24
        "2017-10-01 00:00:50,10,40,400,a\n",  # 40 -> 40, dropped by max_gpus=32
    ]))
    trace = read_philly(path, max_gpus=32)
    assert trace.gpus.tolist() == [1, 6, 16, 16, 24]
    assert trace.gpus_requested.tolist() == [1, 6, 12, 16, 20]
    assert (trace.n_rounded, trace.n_dropped) == (2, 1)
    trace4 = read_philly(path, gpus_per_node=4)
    assert trace4.gpus.tolist() == [1, 8, 12, 16, 20, 40] and trace4.n_rounded == 1  # 6 -> 8


def test_window_selects_by_submit_time(tmp_path):
    """A window keeps jobs submitted in [start, end), with times made relative to its start; rows may be unsorted."""
    path = write(tmp_path, HEADER + "".join([
        "2017-10-01 00:02:00,5,1,5,b\n",
        "2017-10-01 00:00:00,5,1,5,a\n",
        "2017-10-01 00:01:00,5,2,10,a\n",
        "2017-10-01 00:03:00,5,1,5,c\n",
    ]))
    full = read_philly(path)
    assert full.t_submit_s.tolist() == [0.0, 60.0, 120.0, 180.0]
    assert full.job_id.tolist() == [1, 2, 0, 3]
    assert full[1] == JobRecord(job_id=2, t_submit_s=60.0, gpus=2, duration_s=5.0, cluster="a")
    window = read_philly(path, window_start_s=60.0, window_end_s=180.0)
    assert window.t_submit_s.tolist() == [0.0, 60.0]
    assert window.cluster == ("a", "b")


def test_busy_week_window_on_philly(packaged):
    """The documented busy week (2017-10-16 to 10-23) holds 14,185 jobs, all inside [0, 7 days)."""
    week = read_philly(PACKAGED_PHILLY, *PHILLY_BUSY_WEEK_S)
    assert week.n_jobs == 14_185
    assert week.t_submit_s.min() >= 0 and week.t_submit_s.max() < 7 * 86400
    in_full = (packaged.t_submit_s >= PHILLY_BUSY_WEEK_S[0]) & (packaged.t_submit_s < PHILLY_BUSY_WEEK_S[1])
    assert week.gpu_hours == pytest.approx(float(np.sum(packaged.gpus[in_full] * packaged.duration_s[in_full])) / 3600)


@pytest.mark.parametrize("body, row, words", [
    ("timestamp,num_gpus,cluster\n2017-10-01 00:00:00,1,a\n", 1, "missing column(s) ['duration']"),
    (HEADER + "2017-10-01 00:00:00,10,1,10,a\n2017-10-01 00:00:01,-5,1,-5,a\n", 3, "duration '-5' is negative"),
    (HEADER + "2017-10-01 00:00:00,ten,1,10,a\n", 2, "duration 'ten' is not a number"),
    (HEADER + "2017-10-01 00:00:00,10,1.5,15,a\n", 2, "num_gpus '1.5' is not a whole number"),
    (HEADER + "2017-10-01 00:00:00,10,0,0,a\n", 2, "num_gpus '0' is not a whole number"),
    (HEADER + "yesterday,10,1,10,a\n", 2, "timestamp 'yesterday'"),
    (HEADER + "2017-10-01 00:00:00,10,2,10,a\n", 2, "gpu_time 10 != num_gpus x duration = 20"),
    (HEADER + "2017-10-01 00:00:00,10,1,10\n", 2, "4 fields, expected 5"),
    (HEADER + "2017-10-01 00:00:00,nan,1,10,a\n", 2, "duration 'nan' is not finite"),
])
def test_bad_rows_name_file_and_row(tmp_path, body, row, words):
    """Each bad row raises one JobTraceError line starting with path:row."""
    path = write(tmp_path, body)
    with pytest.raises(JobTraceError) as err:
        read_philly(path)
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(f"{path}:{row}: ")
    assert words in message
    assert isinstance(err.value, ValueError)


def test_empty_and_gzip_files(tmp_path):
    """A file with only a header is an error; a .gz file is read through gzip."""
    with pytest.raises(JobTraceError, match="no jobs"):
        read_philly(write(tmp_path, HEADER))
    gz = tmp_path / "jobs.csv.gz"
    gz.write_bytes(gzip.compress((HEADER + "2017-10-01 00:00:00,10,1,10,a\n").encode()))
    assert read_philly(gz).n_jobs == 1
    with pytest.raises(JobTraceError, match="no such file"):
        read_philly(tmp_path / "absent.csv")


def test_synthetic_mix_is_deterministic_for_a_seed():
    """The same seed gives the same jobs; another seed gives other jobs."""
    a = synthetic_llm_jobs(np.random.default_rng(7), 1000, 86400.0)
    b = synthetic_llm_jobs(np.random.default_rng(7), 1000, 86400.0)
    c = synthetic_llm_jobs(np.random.default_rng(8), 1000, 86400.0)
    np.testing.assert_array_equal(a.t_submit_s, b.t_submit_s)
    np.testing.assert_array_equal(a.gpus, b.gpus)
    np.testing.assert_array_equal(a.duration_s, b.duration_s)
    assert not np.array_equal(a.duration_s, c.duration_s)


def test_synthetic_mix_matches_acme_kalos_means():
    """Defaults reproduce AcmeTrace Kalos: mean 26.77 GPUs, median 1, median run 124 s, mean 1,260 s; Poisson arrivals."""
    kalos = ACME_CLUSTERS["kalos"]
    p = llm_gpu_probabilities()
    assert float(p @ np.array(LLM_GPU_CHOICES)) == pytest.approx(kalos["mean_gpus"], rel=1e-9)
    n, horizon = 200_000, 30 * 86400.0
    trace = synthetic_llm_jobs(np.random.default_rng(2024), n, horizon)
    assert trace.n_jobs == n and trace.n_rounded == 0 and trace.n_dropped == 0
    assert trace.gpus.mean() == pytest.approx(kalos["mean_gpus"], rel=0.05)
    assert np.median(trace.gpus) == kalos["median_gpus"]
    assert np.median(trace.duration_s) == pytest.approx(kalos["median_duration_s"], rel=0.03)
    assert trace.duration_s.mean() == pytest.approx(kalos["mean_duration_s"], rel=0.10)
    sigma = math.sqrt(2 * math.log(kalos["mean_duration_s"] / kalos["median_duration_s"]))
    assert np.log(trace.duration_s).std() == pytest.approx(sigma, rel=0.01)
    gaps = np.diff(trace.t_submit_s)
    assert gaps.mean() == pytest.approx(horizon / n, rel=0.02)
    assert gaps.std() / gaps.mean() == pytest.approx(1.0, abs=0.02)  # exponential gaps
    assert trace.t_submit_s.max() < horizon


def test_synthetic_mix_seren_and_rounding():
    """Seren's mean (5.68 GPUs) is reachable, and custom choices above one node round to whole nodes."""
    seren = ACME_CLUSTERS["seren"]
    trace = synthetic_llm_jobs(np.random.default_rng(1), 100_000, 86400.0, mean_gpus=seren["mean_gpus"])
    assert trace.gpus.mean() == pytest.approx(seren["mean_gpus"], rel=0.05)
    odd = synthetic_llm_jobs(np.random.default_rng(1), 2000, 86400.0, gpus_choices=(1, 4, 12, 24), mean_gpus=4.0)
    assert odd.n_rounded == int(np.count_nonzero(odd.gpus_requested == 12)) > 0
    assert set(odd.gpus.tolist()) <= {1, 4, 16, 24}
    with pytest.raises(ValueError, match="not reachable"):
        llm_gpu_probabilities((1, 2, 4), mean_gpus=100.0)
