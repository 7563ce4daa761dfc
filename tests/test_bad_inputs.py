"""The bad-input corpus: every impossible or mistyped input stops before any run.

Each case is a command line as a user types it. It must exit non-zero with exactly one
line on stderr, ``dcsim: error: ...``, naming the field (or the file and row) and what
is allowed; no traceback; nothing written. Cases run in-process through the CLI's
``main`` with the run itself replaced by a tripwire, so a bad input that slips through
validation fails at once instead of starting a simulation; a few run as real processes
to check the console.

The corpus has three parts: the issue's reported cases (issue 13, cases 1-11), hand-made
cases (unknown keys at every level, unknown choices, wrong types, inconsistent values,
malformed trace files, missing files, sweep syntax), and one out-of-range value for
every field whose range the schemas declare (dcsim.core.fields), generated from the
schemas so a new field is covered the day it is declared.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import typing
from pathlib import Path

import pytest

import dcsim.cli as cli
from dcsim.config.schema import DcsimConfig
from dcsim.core import fields as core_fields

S = "workload.services.chat"
J = "workload.training.pretrain_8b"
SHIPPED_CLIMATES = ["leesburg_va", "phoenix_az", "piedmont_it", "seattle_wa"]

# Small trace files written for the trace cases ({trace:NAME} in a command line).
GOOD_ROWS = "0.0,100,10\n0.5,200,20\n1.0,300,30\n"
TRACES: dict[str, str | bytes] = {
    "good": "t_arrival_s,prompt_tokens,output_tokens\n" + GOOD_ROWS,
    "huge_prompt": "t_arrival_s,prompt_tokens,output_tokens\n0.0,100,10\n0.5,100000000,20\n",
    "missing_column": "t_arrival_s,prompt_tokens\n0.0,100\n0.5,200\n",
    "negative_time": "t_arrival_s,prompt_tokens,output_tokens\n-1.0,100,10\n0.5,200,20\n",
    "decreasing_time": "t_arrival_s,prompt_tokens,output_tokens\n0.0,100,10\n5.0,200,20\n1.0,300,30\n",
    "zero_tokens": "t_arrival_s,prompt_tokens,output_tokens\n0.0,100,10\n0.5,0,20\n",
    "fractional_tokens": "t_arrival_s,prompt_tokens,output_tokens\n0.0,100,10\n0.5,12.5,20\n",
    "text_tokens": "t_arrival_s,prompt_tokens,output_tokens\n0.0,100,10\n0.5,many,20\n",
    "nan_time": "t_arrival_s,prompt_tokens,output_tokens\n0.0,100,10\nnan,200,20\n",
    "wrong_delimiter": "t_arrival_s;prompt_tokens;output_tokens\n0.0;100;10\n",
    "short_row": "t_arrival_s,prompt_tokens,output_tokens\n0.0,100,10\n0.5,200\n",
    "empty": "",
    "header_only": "t_arrival_s,prompt_tokens,output_tokens\n",
    "not_utf8": b"t_arrival_s,prompt_tokens,output_tokens\n0.0,100,\xff\xfe\n",
    "bad_json.jsonl": '{"timestamp": 0, "input_length": 10, "output_length": 5}\n{"timestamp": 5, "input_len\n',
    "bad_gzip.csv.gz": b"this is not gzip",
}
TRACE = [f"{S}.arrivals.process=trace", f"{S}.arrivals.trace_path={{trace:good}}"]


def trace(name: str) -> list[str]:
    return [f"{S}.arrivals.process=trace", f"{S}.arrivals.trace_path={{trace:{name}}}"]


def case(id_: str, argv: list[str], *expected: str) -> typing.Any:
    return pytest.param(argv, expected, id=id_)


# --------------------------------------------------------------------------- the issue's cases

BUILDER = "issue 13: builder fix in branch i13-build"

ISSUE = [
    case("case1_num_racks_huge", ["facility.num_racks=100000000"], "facility.num_racks", "100000000"),
    case("case2_budget_below_idle", ["facility.power.budget_kw=1", "facility.power.policy=priority"],
         "facility.power.budget_kw", "idle"),
    case("case3_budget_without_policy", ["facility.power.budget_kw=1"], "facility.power.budget_kw", "policy"),
    case("case4_duration_huge", ["duration_s=1e12"], "duration_s", "10 years"),
    case("case5_duration_inf", ["duration_s=inf"], "duration_s=inf"),
    case("case6_fault_unknown_key", ["+facility.faults=[{kind:chiller,foo:1}]"], "foo", "FaultConfig", "start_s"),
    case("case7_trace_row_huge_prompt", trace("huge_prompt"), "huge_prompt", ":3"),
    case("case8_trace_format_xml", [*TRACE, f"{S}.arrivals.trace_format=xml"], f"{S}.arrivals.trace_format", "xml",
         ),
    case("case9_replicas_too_many", [f"{S}.replicas=1000"], f"{S}.replicas=1000", "128 GPUs"),
    case("case10_redundancy", ["facility.power.stages.ups.redundancy=N+x"],
         "facility.power.stages.ups.redundancy='N+x'", "2N"),
    case("case10_carnot_fraction", ["facility.cooling.carnot_fraction=0"], "facility.cooling.carnot_fraction=0"),
    case("case11_dict_for_list", ["+facility.faults={kind:chiller}"], "facility.faults", "list"),
    case("case11_sweep_empty_value", ["-m", "facility.num_racks=1,,2"], "facility.num_racks=1,,2", "unexpected ','"),
    case("case11_unknown_climate", ["facility.climate.epw_path=london"], "facility.climate.epw_path='london'",
         *SHIPPED_CLIMATES),
]

# --------------------------------------------------------------------------- hand-made cases

UNKNOWN_KEYS = [
    case(f"unknown_key_{key.replace('.', '_')}", [f"{key}=1"], key, allowed)
    for key, allowed in [
        ("facility.foo", "num_racks"), ("facility.node.foo", "gpus_per_node"),
        ("facility.rack.foo", "gpus_per_rack"), ("facility.power.foo", "budget_kw"),
        ("facility.power.stages.ups.foo", "redundancy"), ("facility.cooling.foo", "technology"),
        ("facility.climate.foo", "epw_path"), ("facility.grid.foo", "carbon"), ("facility.storage.foo", "tau_s"),
        ("facility.network.foo", "scaleout_gbit_per_s_per_gpu"), ("facility.cost.foo", "gpu_usd"),
        (f"{S}.foo", "max_num_seqs"), (f"{S}.arrivals.foo", "process"), (f"{S}.prompt_tokens.foo", "log_mu"),
        (f"{S}.autoscale.foo", "min_replicas"), (f"{J}.foo", "tokens_per_step"), (f"{J}.parallelism.foo", "vpp"),
        ("scheduler.foo", "placement"), ("output.foo", "print_summary"),
    ]
] + [
    case("unknown_key_top_level", ["+foo=1"], "foo", "facility"),
    case("unknown_key_added_to_node", ["+facility.node.bar=2"], "facility.node.bar"),
    case("unknown_key_in_demand_response", ["+facility.grid.demand_response=[{start_s:0,foo:1}]"], "foo", "limit_kw"),
]

CATALOGUE = ["H100-SXM", "B200"]
UNKNOWN_CHOICES = [
    case("unknown_gpu", ["facility.node.gpu=H999"], "facility.node.gpu='H999'", *CATALOGUE),
    case("unknown_model", [f"{S}.model=GPT-9"], f"{S}.model='GPT-9'", "Llama-3.1-70B", "Qwen3-32B"),
    case("unknown_training_model", [f"{J}.model=Nope"], f"{J}.model='Nope'", "Llama-3.1-8B"),
    case("unknown_power_policy", ["facility.power.policy=maybe"], "facility.power.policy='maybe'", "proportional"),
    case("unknown_cooling", ["facility.cooling.technology=ice"], "facility.cooling.technology='ice'", "immersion"),
    case("unknown_condenser", ["facility.cooling.condenser=lake"], "facility.cooling.condenser='lake'", "tower"),
    case("unknown_over_feed", ["facility.power.over_feed=maybe"], "facility.power.over_feed", "cap"),
    case("unknown_rack_feed", ["facility.power.rack_feed=dc_380v"], "facility.power.rack_feed", "dc_800v"),
    case("unknown_over_density", ["facility.cooling.over_density=ignore"], "facility.cooling.over_density", "throttle"),
    case("unknown_grid_region", ["facility.grid.carbon=mars"], "facility.grid.carbon='mars'", "erco"),
    case("unknown_price", ["facility.grid.price=free"], "facility.grid.price='free'", "tou"),
    case("unknown_router", [f"{S}.router=random"], f"{S}.router='random'", "round_robin"),
    case("unknown_fidelity", [f"{S}.fidelity=exact"], f"{S}.fidelity='exact'", "fluid"),
    case("unknown_engine", [f"{S}.engine=tgi"], f"{S}.engine='tgi'", "vllm-0.11"),
    case("unknown_weight_precision", [f"{S}.weight_precision=int3"], f"{S}.weight_precision='int3'", "fp8"),
    case("unknown_kv_precision", [f"{S}.kv_precision=fp2"], f"{S}.kv_precision='fp2'", "bf16"),
    case("unknown_arrival_process", [f"{S}.arrivals.process=burst"], f"{S}.arrivals.process='burst'", "gamma"),
    case("unknown_length_distribution", [f"{S}.prompt_tokens.distribution=zipf"], f"{S}.prompt_tokens.distribution",
         "lognormal"),
    case("unknown_autoscale_metric", [f"{S}.autoscale.enabled=true", f"{S}.autoscale.metric=cpu"],
         f"{S}.autoscale.metric='cpu'", "utilisation"),
    case("unknown_autoscale_metric_disabled", [f"{S}.autoscale.metric=cpu"], f"{S}.autoscale.metric", "queue",
         ),
    case("unknown_recompute", [f"{J}.recompute=partial"], f"{J}.recompute", "selective",
         ),
    case("unknown_checkpoint", [f"{J}.checkpoint=sometimes"], f"{J}.checkpoint='sometimes'", "young_daly"),
    case("unknown_scheduler", ["scheduler.name=lottery"], "scheduler.name='lottery'", "easy_backfill"),
    case("unknown_placement", ["scheduler.placement=random"], "scheduler.placement='random'", "thermal_aware"),
    case("unknown_fault_kind", ["+facility.faults=[{kind:meteor}]"], "facility.faults.0.kind='meteor'", "utility"),
    case("cdu_fault_in_an_air_hall", ["+facility.faults=[{kind:cdu}]"], "facility.faults.0.kind='cdu'", "no CDUs"),
    case("unknown_grid_signal", ["+facility.grid.signal_limits=[{signal:wind}]"],
         "facility.grid.signal_limits.0.signal='wind'", "carbon"),
    case("unknown_job_trace_source", ["workload=philly", "workload.job_traces.philly.source=azure"],
         "workload.job_traces.philly.source='azure'", "synthetic"),
    case("unknown_workload_option", ["workload=nope"], "workload/nope", "options are"),
    case("unknown_facility_option", ["facility=nope"], "facility/nope", "small_h100"),
    case("unknown_launcher", ["-m", "hydra/launcher=nope", "facility.num_racks=1,2"], "hydra/launcher/nope"),
    case("show_config_of_a_sweep", ["-m", "--cfg", "job", "facility.num_racks=1,2"], "--cfg", "-m/--multirun"),
    case("unknown_air_delivery", ["facility.cooling.air_delivery=ducts"], "facility.cooling.air_delivery='ducts'",
         "open_tiles"),
]

WRONG_TYPES = [
    case("text_for_int", ["facility.num_racks=abc"], "facility.num_racks", "abc"),
    case("float_for_int", ["facility.num_racks=1.5"], "facility.num_racks", "1.5"),
    case("text_for_float", ["duration_s=soon"], "duration_s", "soon"),
    case("text_for_bool", ["output.write=maybe"], "output.write", "maybe"),
    case("list_for_int", ["facility.rack.gpus_per_rack=[1]"], "facility.rack.gpus_per_rack", "[1]"),
    case("mapping_for_scalar", ["facility.num_racks={a:1}"], "facility.num_racks"),
    case("list_for_mapping", ["facility.node=[1]"], "facility.node", "mapping"),
    case("scalar_for_fault", ["facility.faults=[1]"], "facility.faults"),
    case("text_for_sweep_point", ["-m", "facility.num_racks=a,b"], "facility.num_racks", "Integer"),
]

INCONSISTENT = [
    case("tp_not_divisor", [f"{S}.tp=3"], f"{S}.tp=3"),
    case("model_does_not_fit", [f"{S}.model=Llama-3.1-405B", f"{S}.tp=1"], f"{S}.tp=1"),
    case("rack_not_whole_nodes", ["facility.rack.gpus_per_rack=12"], "facility.rack.gpus_per_rack=12", "multiple"),
    case("static_policy_without_cap", ["facility.power.policy=static"], "facility.power.static_cap_w", "TDP"),
    case("static_cap_above_tdp", ["facility.power.policy=static", "facility.power.static_cap_w=5000"],
         "facility.power.static_cap_w", "TDP"),
    case("gpu_cap_below_idle", ["facility.node.gpu_power_cap_w=50"], "facility.node.gpu_power_cap_w=50", "idle"),
    case("rack_above_its_feed", ["facility.power.rack_feed_kw=20"], "facility.power.rack_feed_kw=20", "nameplate"),
    case("rack_feed_below_lowest_cap", ["facility.power.rack_feed_kw=5", "facility.power.over_feed=cap"],
         "facility.power.rack_feed_kw=5", "lowest settable cap"),
    case("row_above_its_feed", ["facility.power.row_feed_kw=100", "facility.rack.racks_per_row=4"],
         "facility.power.row_feed_kw=100", "row's nameplate"),
    case("row_feed_without_racks_per_row", ["facility.power.row_feed_kw=100"], "facility.rack.racks_per_row",
         "row_feed_kw"),
    case("rack_too_dense_for_air", ["facility.rack.gpus_per_rack=96"], "facility.rack.gpus_per_rack=96", "kW per rack"),
    case("rack_too_dense_for_open_tiles", ["facility.cooling.air_delivery=open_tiles"], "facility.rack.gpus_per_rack=32",
         "needs 0.6 C chilled water"),
    case("floor_too_small", ["facility.floor_area_m2=20"], "facility.floor_area_m2=20", "at least 29.9 m2 for 4 racks"),
    case("prefill_replicas_all", [f"{S}.prefill_replicas=4"], f"{S}.prefill_replicas=4", "decode"),
    case("autoscale_min_above_max", [f"{S}.autoscale.enabled=true", f"{S}.autoscale.min_replicas=9"],
         f"{S}.autoscale.max_replicas", "min_replicas"),
    case("parallelism_not_gpus", ["workload=training_only", f"{J}.parallelism.tp=8", f"{J}.parallelism.pp=2",
                                  f"{J}.parallelism.dp=2"], f"{J}.parallelism"),
    case("training_state_too_big", ["workload=training_only", f"{J}.model=Llama-3.1-405B", f"{J}.parallelism.tp=8",
                                    f"{J}.parallelism.dp=8"], f"{J}.parallelism"),
    case("trace_window_backwards", ["workload=philly", "workload.job_traces.philly.window_start_s=20",
                                    "workload.job_traces.philly.window_end_s=10"],
         "workload.job_traces.philly.window_end_s"),
    case("histogram_unnamed", [f"{S}.output_tokens.distribution=histogram"], f"{S}.output_tokens.histogram", "MODEL_ID:TASK"),
    case("histogram_unknown", [f"{S}.output_tokens.distribution=histogram", f"{S}.output_tokens.histogram=x:gpqa"],
         f"{S}.output_tokens.histogram='x:gpqa'", "Qwen/Qwen3-8B:gpqa"),
    case("histogram_file_missing", [f"{S}.output_tokens.distribution=histogram", f"{S}.output_tokens.histogram=x:y",
                                    f"{S}.output_tokens.histogram_path=/nonexistent/h.csv"],
         f"{S}.output_tokens.histogram_path", "readable"),
    case("histogram_outside_range", [f"{S}.output_tokens.distribution=histogram",
                                     f"{S}.output_tokens.histogram=Qwen/Qwen3-8B:gpqa", f"{S}.output_tokens.max_tokens=500"],
         f"{S}.output_tokens.max_tokens=500", "histogram"),
    case("rate_multiplier_with_closed_loop", ["workload.rate_multiplier=2", f"{S}.arrivals.process=closed"],
         "workload.rate_multiplier=2.0", "concurrency"),
    case("length_min_above_max", [f"{S}.prompt_tokens.min_tokens=500", f"{S}.prompt_tokens.max_tokens=100"],
         f"{S}.prompt_tokens"),
    case("tou_window_empty", ["facility.grid.price=tou", "facility.grid.tou_peak_start_hour=20",
                              "facility.grid.tou_peak_end_hour=20"], "facility.grid.tou_peak_end_hour=20", "distinct"),
    case("storage_without_power", ["facility.storage.capacity_kwh=100"], "facility.storage.max_power_kw"),
    case("gpu_limit_above_shutdown", ["facility.cooling.gpu_limit_c=120"], "facility.cooling.gpu_limit_c=120",
         "shutdown"),
    case("every_sweep_point_impossible", ["-m", "facility.num_racks=-1,-2"], "facility.num_racks"),
]

FILES = [
    case("trace_missing_column", trace("missing_column"), "missing_column", "output_tokens"),
    case("trace_negative_time", trace("negative_time"), "negative_time", ":2"),
    case("trace_decreasing_time", trace("decreasing_time"), "decreasing_time", ":4"),
    case("trace_zero_tokens", trace("zero_tokens"), "zero_tokens", ":3", "prompt_tokens"),
    case("trace_fractional_tokens", trace("fractional_tokens"), "fractional_tokens", ":3", "prompt_tokens"),
    case("trace_text_tokens", trace("text_tokens"), "text_tokens", ":3", "prompt_tokens"),
    case("trace_nan_time", trace("nan_time"), "nan_time", ":3"),
    case("trace_wrong_delimiter", trace("wrong_delimiter"), "wrong_delimiter"),
    case("trace_short_row", trace("short_row"), "short_row", ":3"),
    case("trace_empty", trace("empty"), "empty"),
    case("trace_header_only", trace("header_only"), "header_only"),
    case("trace_not_utf8", trace("not_utf8"), "not_utf8", "UTF-8"),
    case("trace_bad_json", trace("bad_json.jsonl"), "bad_json.jsonl", ":2"),
    case("trace_bad_gzip", trace("bad_gzip.csv.gz"), "bad_gzip.csv.gz", "gzip"),
    case("trace_missing_file", [f"{S}.arrivals.process=trace", f"{S}.arrivals.trace_path=/nonexistent/trace.csv"],
         "/nonexistent/trace.csv"),
    case("trace_is_a_directory", [f"{S}.arrivals.process=trace", f"{S}.arrivals.trace_path={{tmp}}"], "trace_path"),
    case("trace_without_path", [f"{S}.arrivals.process=trace"], f"{S}.arrivals.trace_path"),
    case("servegen_missing_dir", [f"{S}.arrivals.process=servegen", f"{S}.arrivals.trace_path=/nonexistent/sg"],
         "/nonexistent/sg"),
    case("job_trace_missing_file", ["workload=philly", "workload.job_traces.philly.path=/nope.csv"],
         "workload.job_traces.philly.path", "/nope.csv"),
    case("price_csv_missing", ["facility.grid.price=/nonexistent.csv"], "facility.grid.price", "/nonexistent.csv"),
    case("epw_missing_path", ["facility.climate.epw_path=/nonexistent/x.epw"], "facility.climate.epw_path",
         *SHIPPED_CLIMATES),
]

SWEEP_SYNTAX = [
    case("sweep_unclosed_bracket", ["-m", "facility.num_racks=[1,2"], "facility.num_racks=[1,2", "not a valid override"),
    case("sweep_stray_bracket", ["facility.num_racks=1]"], "facility.num_racks=1]", "unexpected ']'"),
    case("sweep_bad_range", ["-m", "facility.num_racks=range(1,"], "facility.num_racks=range(1,"),
    case("override_without_value_sign", ["facility.num_racks"], "facility.num_racks"),
    case("sweep_without_multirun_flag", ["facility.num_racks=1,2"], "facility.num_racks='1,2'", "dcsim -m"),
]


# --------------------------------------------------------------------------- every declared range

# Where a schema has a dict of entries, the entry the default config (or the given option) has.
ENTRY = {"facility.power.stages": "ups", "workload.services": "chat", "workload.training": "pretrain_8b",
         "workload.job_traces": "philly"}
EXTRA = {"workload.job_traces": ["workload=philly"]}
LIST_ENTRY = {"facility.faults": "kind:chiller", "facility.grid.demand_response": "start_s:0",
              "facility.grid.signal_limits": "signal:price", "facility.grid.curtailments": "start_s:0",
              "facility.rack_groups": "gpu:H200"}


def out_of_range(bounds: tuple[typing.Any, ...], is_int: bool) -> float | int | None:
    """A value just outside a declared range (None: the field has no range, only finiteness)."""
    ge, gt, le, lt, _ = bounds
    if gt is not None:
        return gt
    if ge is not None:
        return ge - 1
    if lt is not None:
        return lt
    if le is not None:
        return le + 1 if is_int else le + 0.5
    return None


def declared(cls: type, prefix: str, extra: list[str]) -> typing.Iterator[typing.Any]:
    """One out-of-range case for every bounded field under ``cls``, one NaN case for every
    float field and one pattern case for every pattern field."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        path, hint = f"{prefix}.{f.name}" if prefix else f.name, hints[f.name]
        origin, args = typing.get_origin(hint), typing.get_args(hint)
        if dataclasses.is_dataclass(hint):
            yield from declared(typing.cast(type, hint), path, extra)
        elif origin is dict:
            entry = ENTRY[path]
            yield from declared(args[1], f"{path}.{entry}", extra + EXTRA.get(path, []))
        elif origin is list and dataclasses.is_dataclass(args[0]):  # lists of scalars: checked as a whole
            for sub in declared(args[0], "", []):
                argv, expected = sub.values
                key, _, value = argv[0].partition("=")
                line = f"+{path}=[{{{LIST_ENTRY[path]},{key}:{value}}}]"
                kind = sub.id.partition("_")[0]
                yield case(f"{kind}_{path}.0.{key}", [line], f"{path}.0.{expected[0]}")
        else:
            scalar = [a for a in args if a is not type(None)] or [hint]
            meta = f.metadata
            if core_fields._PATTERN in meta:
                yield case(f"pattern_{path}", [*extra, f"{path}=X+1"], f"{path}='X+1'", meta[core_fields._PATTERN][1])
            if core_fields._BOUNDS in meta:
                bad = out_of_range(meta[core_fields._BOUNDS], scalar[0] is int)
                if bad is not None:
                    yield case(f"range_{path}", [*extra, f"{path}={bad}"], path)
            if scalar[0] is float:
                yield case(f"nan_{path}", [*extra, f"{path}=nan"], f"{path}=nan")


DECLARED = list(declared(DcsimConfig, "", []))

CORPUS = ISSUE + UNKNOWN_KEYS + UNKNOWN_CHOICES + WRONG_TYPES + INCONSISTENT + FILES + SWEEP_SYNTAX + DECLARED


# --------------------------------------------------------------------------- running a case

@pytest.fixture(scope="module")
def trace_dir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("traces")
    for name, content in TRACES.items():
        file = d / (name if "." in name else f"{name}.csv")
        file.write_bytes(content if isinstance(content, bytes) else content.encode())
    return d


def expand(argv: list[str], trace_dir: Path, tmp: Path) -> list[str]:
    out = []
    for a in argv:
        for name in TRACES:
            a = a.replace(f"{{trace:{name}}}", str(trace_dir / (name if "." in name else f"{name}.csv")))
        out.append(a.replace("{tmp}", str(tmp)))
    return out


def written(tmp: Path) -> list[Path]:
    """Anything a run would leave: a summary, tables, logs."""
    return sorted(p for p in tmp.rglob("*") if p.is_file())


def test_corpus_is_large_and_covers_the_issue():
    ids = [p.id for p in CORPUS]
    assert len(ids) == len(set(ids)), "case ids repeat"
    assert len(CORPUS) >= 120
    assert {f"case{n}" for n in range(1, 12)} <= {i.split("_")[0] for i in ids}


@pytest.mark.parametrize("argv,expected", CORPUS)
def test_bad_input_stops_with_one_line(argv, expected, trace_dir, tmp_path, monkeypatch, capsys):
    """Exit non-zero, one line naming the field (or file and row) and what is allowed, no
    traceback, nothing written; the run is never started."""
    run_dir = tmp_path / "cwd"  # a run would write under ./outputs or ./multirun
    run_dir.mkdir()
    monkeypatch.chdir(run_dir)
    args = expand(argv, trace_dir, tmp_path)

    def tripwire(*_: typing.Any, **__: typing.Any) -> None:
        raise AssertionError(f"validation let a bad input through and a run started: {argv}")

    monkeypatch.setattr(cli, "_hydra_main", tripwire)
    monkeypatch.setattr(sys, "argv", ["dcsim", *args])
    with pytest.raises(SystemExit) as stop:
        cli.main()
    err = capsys.readouterr().err
    assert stop.value.code not in (0, None), err
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("dcsim: error: "), lines[0]
    for text in expected:
        assert text in lines[0], f"{text!r} not in: {lines[0]}"
    assert written(run_dir) == [], written(run_dir)


# --------------------------------------------------------------------------- on a real console

CONSOLE = [
    (["facility.num_racks=-2"], "facility.num_racks=-2"),
    (["-m", "facility.num_racks=1,,2"], "facility.num_racks=1,,2"),
    (["+facility.faults={kind:chiller}"], "facility.faults takes a list"),
]


@pytest.mark.parametrize("argv,expected", CONSOLE, ids=["range", "sweep_syntax", "dict_for_list"])
def test_real_console_shows_one_line_and_exit_2(argv, expected, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "dcsim", *argv, f"hydra.run.dir={tmp_path}/run",
                           f"hydra.sweep.dir={tmp_path}/sweep"], capture_output=True, text=True, timeout=120,
                          cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and expected in lines[0], proc.stderr
    assert written(tmp_path) == []


def test_every_declared_range_is_in_the_corpus():
    """The generated part names every bounded field of the schema (a field added with a
    range is covered without editing this file)."""
    ids = {p.id for p in DECLARED}
    assert "range_facility.storage.tau_s" in ids
    assert "range_workload.services.chat.autoscale.interval_s" in ids
    assert "range_facility.faults.0.start_s" in ids
    assert "pattern_facility.power.stages.ups.redundancy" in ids
    assert len(DECLARED) > 150
