"""Trace readers: the real public traces, our generic CSV, ServeGen descriptions, and
one-line errors that name the file and the row."""

from __future__ import annotations

import csv
import gzip
import json
import math
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
from conftest import SHARED_DATA, needs_shared

from dcsim.workloads.inference.arrivals import ArrivalProcess
from dcsim.workloads.inference.traces import (
    EmpiricalLengths,
    ServeGenWorkload,
    Trace,
    TraceError,
    read_servegen,
    read_trace,
)

TRACES = SHARED_DATA / "traces"
# The Azure 2023 traces ship with dcsim (dcsim/data/traces/, gzipped copies of shared/data's).
SHIPPED_TRACES = Path(str(resources.files("dcsim.data").joinpath("traces")))


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# --------------------------------------------------------------------------- real traces

@pytest.mark.parametrize("name,rows,first,second,minutes", [
    ("AzureLLMInferenceTrace_conv.csv.gz", 19_366, (0.0, 374, 44), (4.314579, 396, 109), 58),
    ("AzureLLMInferenceTrace_code.csv.gz", 8_819, (0.0, 4808, 10), (0.052, 3180, 8), 57),
])
def test_azure_traces_have_the_published_rows(name, rows, first, second, minutes):
    """The Azure 2023 conv and code traces read with the row counts of data/README.md, the
    known first rows (times relative to the first request, 100 ns digits kept) and no
    prefix hashes; auto detection picks the azure reader."""
    path = SHIPPED_TRACES / name
    trace = read_trace(path)
    assert len(trace) == rows
    for i, (t, p, o) in enumerate((first, second)):
        assert trace.t_arrival_s[i] == pytest.approx(t, abs=1e-9)
        assert (trace.prompt_tokens[i], trace.output_tokens[i]) == (p, o)
    assert trace.hash_ids is None
    assert trace.duration_s / 60 == pytest.approx(minutes, abs=1)
    assert np.array_equal(read_trace(path, "azure").t_arrival_s, trace.t_arrival_s)


@needs_shared(TRACES / "mooncake" / "conversation_trace.jsonl")
def test_mooncake_conversation_trace_has_the_published_rows():
    """Mooncake's conversation trace: 12,031 requests over 59 min (ms -> s), the known
    first row with its 14 prefix blocks, and one hash id per 512-token prompt block."""
    trace = read_trace(TRACES / "mooncake" / "conversation_trace.jsonl")
    assert len(trace) == 12_031
    assert (trace.t_arrival_s[0], trace.prompt_tokens[0], trace.output_tokens[0]) == (0.0, 6758, 500)
    assert trace.hash_ids[0] == tuple(range(14))
    assert trace.t_arrival_s[-1] == pytest.approx(3536.999)
    blocks = np.array([len(h) for h in trace.hash_ids])
    np.testing.assert_array_equal(blocks, -(-trace.prompt_tokens // 512))


# --------------------------------------------------------------------------- generic and auto

def test_generic_csv_round_trip_with_hash_ids_and_gzip(tmp_path):
    """The generic CSV reads columns by name (any order, extra columns ignored), shifts
    times so the first request is at 0, parses space-separated hash ids, and reads the
    same through gzip."""
    text = ("note,output_tokens,t_arrival_s,prompt_tokens,hash_ids\n"
            "a,5,10.0,600,0 1\n"
            "b,1,10.5,100,\n"
            "c,7,12.25,1025,0 2 3\n")
    plain = _write(tmp_path / "mine.csv", text)
    zipped = tmp_path / "mine.csv.gz"
    zipped.write_bytes(gzip.compress(text.encode()))
    for path in (plain, zipped):
        trace = read_trace(path)
        np.testing.assert_array_equal(trace.t_arrival_s, [0.0, 0.5, 2.25])
        np.testing.assert_array_equal(trace.prompt_tokens, [600, 100, 1025])
        np.testing.assert_array_equal(trace.output_tokens, [5, 1, 7])
        assert trace.hash_ids == ((0, 1), (), (0, 2, 3))
    no_hashes = _write(tmp_path / "plain.txt", "t_arrival_s,prompt_tokens,output_tokens\n0,1,1\n")
    assert read_trace(no_hashes).hash_ids is None


def test_auto_detects_each_format(tmp_path):
    """"auto" picks mooncake for JSON lines, azure and generic by their CSV headers."""
    az = _write(tmp_path / "a.csv", "TIMESTAMP,ContextTokens,GeneratedTokens\n"
                                    "2023-11-16 18:15:46.6805900,374,44\n2023-11-16 18:15:47,3,4\n")
    mc = _write(tmp_path / "m.log", '{"timestamp": 5, "input_length": 3, "output_length": 2, "hash_ids": [0]}\n')
    ge = _write(tmp_path / "g.csv", "t_arrival_s,prompt_tokens,output_tokens\n0.0,3,4\n")
    assert read_trace(az).t_arrival_s[1] == pytest.approx(0.31941)
    assert read_trace(mc).hash_ids == ((0,),)
    assert len(read_trace(ge)) == 1


def test_trace_validates_and_is_read_only():
    """A Trace must start at 0, never go back in time and hold token counts >= 1; its
    arrays cannot be modified by the engine."""
    trace = Trace("x", [0.0, 1.0], [1, 2], [3, 4])
    with pytest.raises(ValueError):
        trace.t_arrival_s[0] = 5.0
    with pytest.raises(ValueError, match="never decrease"):
        Trace("x", [0.0, 2.0, 1.0], [1, 1, 1], [1, 1, 1])
    with pytest.raises(ValueError, match=">= 1"):
        Trace("x", [0.0], [0], [1])


# --------------------------------------------------------------------------- errors

AZ_HEAD = "TIMESTAMP,ContextTokens,GeneratedTokens\n"
GEN_HEAD = "t_arrival_s,prompt_tokens,output_tokens\n"


def _mc(ts, inp=10, out=5):
    return json.dumps({"timestamp": ts, "input_length": inp, "output_length": out, "hash_ids": [0]}) + "\n"


ERROR_CASES = [
    # (file name, content, fmt, row or None, words the message must contain)
    ("g.csv", "t_arrival_s,prompt_tokens\n0,1\n", "auto", 1, ["missing column", "output_tokens"]),
    ("a.csv", "TIMESTAMP,ContextTokens\n2023-11-16 18:00:00,1\n", "azure", 1, ["missing column", "GeneratedTokens"]),
    ("g.csv", GEN_HEAD + "0,1,1\n-2,1,1\n", "generic", 3, ["t_arrival_s", "-2", ">= 0"]),
    ("g.csv", GEN_HEAD + "0,1,1\n5,1,1\n\n4,1,1\n", "generic", 5, ["t_arrival_s", "earlier"]),
    ("a.csv", AZ_HEAD + "2023-11-16 18:00:01.5,1,1\n2023-11-16 18:00:01.4,1,1\n", "azure", 3, ["TIMESTAMP", "earlier"]),
    ("a.csv", AZ_HEAD + "2023-11-16 18:00:01,1,1\nyesterday,1,1\n", "azure", 3, ["TIMESTAMP", "yesterday"]),
    ("m.jsonl", _mc(0) + _mc(-5), "mooncake", 2, ["timestamp", "-5"]),
    ("m.jsonl", _mc(0) + _mc(100) + _mc(99), "mooncake", 3, ["timestamp", "earlier"]),
    ("g.csv", GEN_HEAD + "0,1.5,1\n", "generic", 2, ["prompt_tokens", "1.5", "integer >= 1"]),
    ("g.csv", GEN_HEAD + "0,1,1\n1,1,0\n", "generic", 3, ["output_tokens", "'0'", "integer >= 1"]),
    ("a.csv", AZ_HEAD + "2023-11-16 18:00:01,abc,1\n", "azure", 2, ["ContextTokens", "abc"]),
    ("a.csv", AZ_HEAD + "2023-11-16 18:00:01,5,0\n", "auto", 2, ["GeneratedTokens", "'0'"]),
    ("m.jsonl", _mc(0, out=0), "mooncake", 1, ["output_length", "integer >= 1"]),
    ("m.jsonl", _mc(0) + '{"timestamp": 1, "input_length": 3}\n', "mooncake", 2, ["missing key", "output_length"]),
    ("m.jsonl", _mc(0) + "{not json\n", "mooncake", 2, ["JSON"]),
    ("g.csv", GEN_HEAD + "0,1,1,9\n", "generic", 2, ["4 fields", "3"]),
    ("e.csv", "", "auto", None, ["empty file"]),
    ("e.jsonl", "\n\n", "auto", None, ["empty file"]),
    ("h.csv", GEN_HEAD, "generic", None, ["no requests"]),
    ("g.csv", GEN_HEAD + "0,1,1\n", "parquet", None, ["fmt='parquet'", "azure", "mooncake", "generic"]),
    ("x.csv", "time,tokens\n1,2\n", "auto", 1, ["cannot tell the format", "fmt="]),
]


@pytest.mark.parametrize("name,content,fmt,row,words", ERROR_CASES,
                         ids=[f"{c[0]}-{c[4][0]}" for c in ERROR_CASES])
def test_bad_files_give_one_line_errors_naming_file_and_row(tmp_path, name, content, fmt, row, words):
    """Each malformed file raises TraceError whose message is one line starting with
    "path:row:" (or "path:" for file-level problems) and naming the culprit."""
    path = _write(tmp_path / name, content)
    with pytest.raises(TraceError) as err:
        read_trace(path, fmt)
    msg = str(err.value)
    assert "\n" not in msg
    assert msg.startswith(f"{path}:{row}: " if row is not None else f"{path}: ")
    assert err.value.row == row
    for word in words:
        assert word in msg


def test_missing_and_non_text_files_are_trace_errors(tmp_path):
    """A missing file or a binary one is a TraceError too, never a bare traceback."""
    with pytest.raises(TraceError, match="no such file"):
        read_trace(tmp_path / "absent.csv")
    bad = tmp_path / "b.csv"
    bad.write_bytes(b"t_arrival_s,prompt_tokens,output_tokens\n\xff\xfe,1,1\n")
    with pytest.raises(TraceError, match="not UTF-8"):
        read_trace(bad)


# --------------------------------------------------------------------------- lengths

def test_empirical_lengths_sample_their_probabilities():
    """Draws match the probabilities (each frequency within 5 SE over 200,000 draws),
    the mean is the weighted mean, and bad inputs are one-line ValueErrors."""
    lengths = EmpiricalLengths([100, 10, 1000], [0.3, 0.5, 0.2])
    assert lengths.mean == pytest.approx(0.5 * 10 + 0.3 * 100 + 0.2 * 1000)
    x = lengths.sample_many(np.random.default_rng(0), 200_000)
    assert x.dtype == np.int64
    for v, p in ((10, 0.5), (100, 0.3), (1000, 0.2)):
        assert np.mean(x == v) == pytest.approx(p, abs=5 * math.sqrt(p * (1 - p) / x.size))
    assert lengths.sample(np.random.default_rng(1)) in (10, 100, 1000)
    for values, probs in (([1, 2], [0.5, 0.4]), ([0, 2], [0.5, 0.5]), ([1.5], [1.0]), ([], [])):
        with pytest.raises(ValueError) as err:
            EmpiricalLengths(values, probs)
        assert "\n" not in str(err.value)


# --------------------------------------------------------------------------- ServeGen

SERVEGEN = TRACES / "servegen-m-small"
needs_servegen = needs_shared(SERVEGEN / "chunk-0-dataset.json", SERVEGEN / "chunk-0-trace.csv")


@pytest.fixture(scope="module")
def servegen() -> ServeGenWorkload:
    return read_servegen(str(SERVEGEN))


def _file_total_rate() -> np.ndarray:
    """Sum over clients of the rate column, straight from the CSV files."""
    total = None
    for path in sorted(SERVEGEN.glob("chunk-*-trace.csv")):
        with open(path, newline="") as stream:
            rate = np.array([float(row[1]) for row in csv.reader(stream)])
        total = rate if total is None else total + rate
    return total


@needs_servegen
def test_servegen_mean_rate_over_14_days_matches_the_files(servegen):
    """All 43 client descriptions load as 2,016 windows of 600 s (14 days); the workload's
    mean rate over the 14 days and over any one window is the files' summed rate
    column (1,174.4 req/s on average)."""
    assert isinstance(servegen, ArrivalProcess)
    assert len(servegen.client_ids) == 43
    assert (servegen.n_windows, servegen.window_s, servegen.duration_s) == (2016, 600.0, 14 * 86400.0)
    total = _file_total_rate()
    assert servegen.mean_rate_per_s(0.0, 14 * 86400.0) == pytest.approx(total.mean(), rel=1e-12)
    assert total.mean() == pytest.approx(1174.40, abs=0.01)
    assert servegen.mean_rate_per_s(600 * 700, 600 * 701) == pytest.approx(total[700], rel=1e-12)


@needs_servegen
def test_servegen_arrivals_reproduce_the_recorded_window_counts(servegen):
    """Over the first half hour, every 600 s window receives exactly the recorded number of
    requests (rate x 600, summed over clients); times are sorted and inside [0, until)."""
    t = servegen.arrival_times_s(np.random.default_rng(0), 1800.0)
    assert np.all(np.diff(t) >= 0) and t[0] >= 0 and t[-1] < 1800.0
    counts, _ = np.histogram(t, bins=[0, 600, 1200, 1800])
    np.testing.assert_array_equal(counts, np.rint(_file_total_rate()[:3] * 600))
    gamma_mode = read_servegen(str(SERVEGEN), chunks=[5, 8], interarrival="gamma")
    t = gamma_mode.arrival_times_s(np.random.default_rng(1), 600.0)
    assert t.size == round(gamma_mode.rate_per_s[:, 0].sum() * 600)


@needs_servegen
def test_servegen_windows_keep_their_burstiness():
    """Client 5's first window (227,350 requests, gamma shape 0.79, CV 1.12) has a gap CV
    of 1.12 within 3 % (SE ~0.3 %)."""
    wl = read_servegen(str(SERVEGEN), chunks=[5])
    t = wl.arrival_times_s(np.random.default_rng(2), 600.0)
    gaps = np.diff(t)
    assert gaps.std() / gaps.mean() == pytest.approx(wl.cv[0, 0], rel=0.03)


@needs_servegen
def test_servegen_lengths_come_from_the_shipped_pdfs(servegen):
    """Only chunk 0 ships length PDFs, so lengths are its two non-empty 6-hour windows
    mixed by its expected requests; it carries < 0.01 % of all requests. Draws lie in
    the PDFs' support and their means are within 5 SE of the mixture means."""
    assert servegen.length_coverage < 1e-4
    raw = json.loads((SERVEGEN / "chunk-0-dataset.json").read_text())
    support = set()
    for fields in raw.values():
        support |= {int(k.split(":")[0]) for k in fields["input_tokens"].strip("{}").split(",") if k}
    prompt, output = servegen.sample_lengths(np.random.default_rng(3), 50_000)
    assert set(np.unique(prompt)) <= support
    assert prompt.min() >= 1 and output.min() >= 1
    for x, dist in ((prompt, servegen.prompt_lengths), (output, servegen.output_lengths)):
        sd = math.sqrt(np.dot((dist.values - dist.mean) ** 2, dist.probabilities))
        assert x.mean() == pytest.approx(dist.mean, abs=5 * sd / math.sqrt(x.size))
    with pytest.raises(ValueError, match="no chunk-N-dataset.json"):
        read_servegen(str(SERVEGEN), chunks=[5]).sample_lengths(np.random.default_rng(), 1)


def _servegen_dir(tmp_path: Path) -> Path:
    d = tmp_path / "sg"
    d.mkdir()
    _write(d / "chunk-0-trace.csv", "0,1.0,2.5,Weibull,0.4,0.01\n600,0,0,,0,0\n1200,0.5,1.0,Gamma,1.0,2.0\n")
    _write(d / "chunk-3-trace.csv", "0,0.1,1.0,Gamma,1.0,10.0\n600,0.2,1.0,Gamma,1.0,5.0\n1200,0,0,,0,0\n")
    _write(d / "chunk-3-dataset.json", json.dumps({
        "0": {"input_tokens": "{100: 0.5, 200: 0.5}", "output_tokens": "{7: 1.0}"},
        "1200": {"input_tokens": "{}", "output_tokens": "{}"},
    }))
    return d


def test_servegen_synthetic_directory(tmp_path):
    """A small description: Weibull and gamma windows give their exact counts, nothing
    after the last window, and lengths come from the one client with a dataset."""
    wl = read_servegen(_servegen_dir(tmp_path))
    assert wl.client_ids == (0, 3) and wl.duration_s == 1800.0
    t = wl.arrival_times_s(np.random.default_rng(0), 10_000.0)
    np.testing.assert_array_equal(np.histogram(t, bins=[0, 600, 1200, 1800])[0], [660, 120, 300])
    assert wl.mean_rate_per_s(0.0, 1800.0) == pytest.approx(1080 / 1800)
    assert wl.mean_rate_per_s(1800.0, 2400.0) == 0.0
    prompt, output = wl.sample_lengths(np.random.default_rng(1), 1000)
    assert set(prompt) == {100, 200} and set(output) == {7}


@pytest.mark.parametrize("chunk0,row,words", [
    ("0,1.0,1.0,Gamma,1.0\n", 1, ["5 fields", "6"]),
    ("0,1.0,1.0,Gamma,1.0,1.0\n600,2.0,1.0,,0,0\n", 2, ["no inter-arrival pattern"]),
    ("0,1.0,1.0,Pareto,1.0,1.0\n", 1, ["pattern='Pareto'"]),
    ("0,x,1.0,Gamma,1.0,1.0\n", 1, ["non-numeric"]),
    ("0,1.0,1.0,Gamma,1.0,1.0\n", None, ["windows differ", "chunk-0-trace.csv"]),
])
def test_servegen_bad_descriptions_name_file_and_row(tmp_path, chunk0, row, words):
    """Malformed ServeGen files raise one-line TraceErrors naming the file (and row)."""
    d = _servegen_dir(tmp_path)
    _write(d / "chunk-0-trace.csv", chunk0)
    with pytest.raises(TraceError) as err:
        read_servegen(d)
    msg = str(err.value)
    assert "\n" not in msg
    expected_file = d / ("chunk-0-trace.csv" if row is not None else "chunk-3-trace.csv")
    assert msg.startswith(f"{expected_file}:{row}: " if row is not None else f"{expected_file}: ")
    for word in words:
        assert word in msg


def test_servegen_missing_directory_and_chunk(tmp_path):
    """A missing directory or a requested chunk without its trace file is a TraceError."""
    with pytest.raises(TraceError, match="no such directory"):
        read_servegen(tmp_path / "nowhere")
    with pytest.raises(TraceError, match="chunk-9-trace.csv: no such file"):
        read_servegen(_servegen_dir(tmp_path), chunks=[0, 9])
