"""The ``dcsim`` command (also ``python -m dcsim``): Hydra runs and sweeps.

Before Hydra starts, every run the command line asks for (each point of a sweep)
is composed and validated here, so a typo, a wrong type or an impossible value
stops with one line naming the field, the value and what is allowed, and exit
status 2 - never a traceback, never a half-done sweep.

A run that fails while it runs is recorded as error.json in its directory (with the
traceback) and reported in one line. In a sweep the other runs go on, complete runs of
an earlier attempt at the same sweep are reused, a table of every run closes the sweep
(``dcsim.io.multirun``), and the exit status is 1 if any run failed. Exit statuses:
0 every run ran (or was reused, or refused up front in a sweep), 1 a run failed,
2 the command was refused before anything ran. docs/sweeps.md tells the whole story.
"""

from __future__ import annotations

import copy
import logging
import math
import os
import re
import signal
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hydra
from hydra import compose, initialize_config_module
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

import dcsim
from dcsim.api import CONFIG_MODULE, CONFIG_NAME
from dcsim.config.build import build
from dcsim.config.keys import unknown_key_hint
from dcsim.config.store import register_configs
from dcsim.config.sweep import expand_sweep
from dcsim.core.errors import ConfigError
from dcsim.io import multirun
from dcsim.metrics import registry

log = logging.getLogger("dcsim")
register_configs()

# Command-line flags that do not run a scenario: Hydra handles them alone.
_INFO_FLAGS = {"--help", "-h", "--hydra-help", "--cfg", "-c", "--info", "-i", "--shell-completion", "-sc",
               "--resolve", "--version"}


_GRAMMAR_URL = "https://hydra.cc/docs/advanced/override_grammar/basic"


def _parse_reason(exc: BaseException) -> str | None:
    """Hydra's override parse error in words: the override, what the parser tripped on, and
    the grammar (the parser's own reason is on the message's second line, in ANTLR terms)."""
    override = getattr(exc, "override", None)
    lines = str(exc).strip().splitlines()
    if override is None or len(lines) < 2:
        return None
    reason = lines[1].split(" expecting ")[0]
    for antlr, plain in (("extraneous input", "unexpected"), ("mismatched input", "unexpected"),
                         ("no viable alternative at input", "cannot read"), ("token recognition error at:",
                                                                             "cannot read")):
        reason = reason.replace(antlr, plain)
    return (f"{override} is not a valid override: {reason} (KEY=VALUE; a sweep is KEY=a,b,c with a value "
            f"between every two commas; see {_GRAMMAR_URL})")


_BAD_CHOICE = re.compile(r"Invalid value '(.*)', expected one of \[(.*)\]$")
_MERGING = re.compile(r"Error merging override [+~]*([^=]+)=(.*)$")


def _choice_reason(exc: BaseException) -> str | None:
    """OmegaConf's refusal of a value outside an enum field, in dcsim's words: the field's
    full path, the value and the choices (and the file, when the value came from one)."""
    override: tuple[str, str] | None = None
    e: BaseException | None = exc
    while e is not None:
        lines = [line.strip() for line in str(e).strip().splitlines()]
        merging = _MERGING.match(lines[0]) if lines else None
        if merging:
            override = (merging.group(1), merging.group(2))
        bad = next((m for m in map(_BAD_CHOICE.match, lines) if m), None)
        if bad is not None:
            value, choices = bad.group(1), [c.strip() for c in bad.group(2).split(",")]
            key = getattr(e, "full_key", None) or next((x[len("full_key: "):] for x in lines if x.startswith("full_key: ")),
                                                       "")
            if override is not None and not key.startswith(override[0]):
                key = _entry_key(override, key, value)
            where = f"{lines[0].split(':')[0]}: " if lines[0].startswith("In '") else ""
            return f"{where}{key}={value!r} is not allowed: one of {choices}"
        e = e.__cause__
    return None


def _entry_key(override: tuple[str, str], key: str, value: str) -> str:
    """The full path of ``key`` inside the list an override sets (``facility.faults.0.kind``):
    OmegaConf names a list entry's field relative to the entry."""
    try:
        items = OverridesParser.create().parse_override(f"{override[0]}={override[1]}").value()
    except Exception:  # noqa: BLE001 - an unreadable override: name the field without its index
        items = None
    if isinstance(items, list):
        for i, item in enumerate(items):
            if isinstance(item, dict) and str(item.get(key)) == value:
                return f"{override[0]}.{i}.{key}"
    return f"{override[0]}.{key}"


def _merge_hint(e: BaseException) -> str | None:
    """OmegaConf's 'Cannot merge DictConfig with ListConfig' said as what the field takes."""
    key = getattr(e, "full_key", None)
    if not key or not str(e).startswith("Cannot merge"):
        return None
    if str(getattr(e, "ref_type", "")).startswith(("typing.List", "list")):
        return f"{key} takes a list, e.g. {key}=[{{key:value,...}},...]"
    return f"{key} takes a mapping, e.g. {key}={{key:value,...}}"


def _one_line(exc: BaseException) -> str:
    """A Hydra/OmegaConf error as one line: the message and its cause, plus what is allowed."""
    parsed = _parse_reason(exc) or _choice_reason(exc)
    if parsed is not None:
        return parsed
    parts: list[str] = []
    e: BaseException | None = exc
    while e is not None:
        lines = [line.strip() for line in str(e).strip().splitlines()]
        first = _merge_hint(e) or (lines[0] if lines else type(e).__name__)
        if first.endswith(":") and len(lines) > 1:  # "... raised while composing config:" and the error
            first = f"{first} {lines[1]}"
        first = first.rstrip(".")
        at = getattr(e, "full_key", None) or next((x[len("full_key: "):] for x in lines if x.startswith("full_key: ")), None)
        if at and at not in " ".join(parts) + first:  # a bad value in a YAML file: name its key
            first = f"{first} (at {at})"
        if first not in parts:
            parts.append(first)
        options = getattr(e, "options", None)
        if options:  # an unknown config option: name the real ones (not the schemas)
            parts.append(f"options are {[o for o in options if not o.startswith('base_')]}")
        key = getattr(e, "full_key", None) or _override_key(first)
        if key and "not in" in str(e):
            hint = unknown_key_hint(key, getattr(e, "object_type", None))
            if hint is not None:
                parts.append(hint)
        e = e.__cause__
    return ": ".join(parts)


def _override_key(message: str) -> str | None:
    """The key of a Hydra 'Could not override 'KEY'' message."""
    prefix = "Could not override '"
    return message[len(prefix):].split("'")[0] if message.startswith(prefix) else None


# Launchers that come with an optional extra of dcsim (pyproject.toml).
_LAUNCHER_EXTRAS = {"ray": "ray", "submitit_slurm": "slurm", "submitit_local": "slurm"}


def _is_multirun(argv: list[str]) -> bool:
    from hydra._internal.utils import get_args_parser

    return bool(get_args_parser().parse_known_args(argv)[0].multirun)


def _split_overrides(argv: list[str]) -> tuple[list[str], list[str]]:
    """(the task's overrides, Hydra's own: hydra.*, hydra/GROUP=OPTION) of the command line."""
    from hydra._internal.utils import get_args_parser

    args, _ = get_args_parser().parse_known_args(argv)
    ours = [o for o in args.overrides if not o.lstrip("+~").startswith("hydra")]
    return ours, [o for o in args.overrides if o not in ours]


def _runs_requested(argv: list[str]) -> list[list[str]]:
    """The override lists of every run the command line asks for (sweeps expanded), in
    Hydra's job order."""
    overrides, hydra_overrides = _split_overrides(argv)
    if not _is_multirun(argv):
        parsed = OverridesParser.create().parse_overrides(overrides)  # a syntax error is reported here
        for o in parsed:
            if o.is_sweep_override():
                raise ConfigError(o.key_or_group, _line(o).partition("=")[2],
                                  f"one value for a single run; a sweep over several needs -m: dcsim -m {_line(o)}")
        return [overrides]
    # Hydra's basic sweeper crosses the config's hydra.sweeper.params (an experiment's sweep)
    # with the command line's, a command-line key replacing the config's
    fixed = [_line(o) for o in OverridesParser.create().parse_overrides(overrides) if not o.is_sweep_override()]
    cfg = compose(config_name=CONFIG_NAME, overrides=hydra_overrides + fixed, return_hydra_config=True)
    if _optimising(cfg):  # the sampler picks the points as it goes: the fixed part is checked, once
        return [fixed]
    params = OmegaConf.select(cfg, "hydra.sweeper.params") or {}
    return expand_sweep([f"{k}={v}" for k, v in params.items()] + overrides)


def _line(override: Any) -> str:
    """The text of an override parsed from the command line (which always has one)."""
    assert override.input_line is not None
    return str(override.input_line)


# Compositions of the config's group choices, shared by every validation in this process
# (the package's config repository does not change while it runs).
_BASES: dict[tuple[str, ...], DictConfig] = {}


def composed_runs(runs: list[list[str]]) -> Iterator[tuple[list[str], DictConfig]]:
    """Each run's config as Hydra composes it, for many runs at the cost of few (inside an
    initialised Hydra). Hydra composes the defaults list (the config group choices) and then
    applies every other override to the result; runs with the same group choices share
    that composition here (and across calls), and the rest of each run's overrides are applied to a copy of
    it by Hydra's own step, with Hydra's errors."""
    from hydra._internal.config_loader_impl import ConfigLoaderImpl
    from hydra.core.global_hydra import GlobalHydra

    loader: Any = GlobalHydra.instance().config_loader()  # the implementation has the repository
    repo = loader.repository
    parser = OverridesParser.create()
    for overrides in runs:
        parsed = parser.parse_overrides(overrides)
        # as Hydra's defaults list sorts them: a group option (not a dict) picks a config
        is_group = [o.package is not None or (repo.group_exists(o.key_or_group) and not isinstance(o.value(), dict))
                    for o in parsed]
        groups = tuple(_line(o) for o, g in zip(parsed, is_group) if g)
        if groups not in _BASES:
            if len(_BASES) >= 64:
                _BASES.pop(next(iter(_BASES)))
            _BASES[groups] = compose(config_name=CONFIG_NAME, overrides=list(groups))
        cfg = copy.deepcopy(_BASES[groups])
        ConfigLoaderImpl._apply_overrides_to_config([o for o, g in zip(parsed, is_group) if not g], cfg)
        yield overrides, cfg


def _hydra_error(e: Exception, hydra_overrides: list[str]) -> str:
    """A bad Hydra override as one line; a launcher from an extra that is not installed says
    how to install it."""
    line = _one_line(e)
    for o in hydra_overrides:
        group, _, option = o.partition("=")
        if group == "hydra/launcher" and option in _LAUNCHER_EXTRAS and f"hydra/launcher/{option}'" in line:
            extra = _LAUNCHER_EXTRAS[option]
            return f"{line}: the {option} launcher comes with dcsim's {extra} extra: pip install -e '.[{extra}]'"
    return line


# A run legal but large enough to say so before it starts: requests simulated at request
# fidelity, and the speed and memory docs/performance.md measures for them (20,000-25,000
# requests per second of simulation, 429-436 MB at the peak for 1M requests on one core,
# 2026-12-07).
LARGE_RUN_REQUESTS = 5_000_000
MEASURED_REQUESTS_PER_S = 20_000.0
MEASURED_BYTES_PER_REQUEST = 450.0


def expected_requests(scenario: Any) -> float:
    """Requests the scenario's request-fidelity services will simulate (a trace's rows; an
    open arrival process's mean rate x duration; a closed loop is not counted)."""
    n = 0.0
    for spec, _ in scenario.services:
        if spec.config.fidelity != "request":
            continue
        if spec.trace is not None:
            n += len(spec.trace.prompt_tokens)
        elif hasattr(spec.arrivals, "mean_rate_per_s"):
            n += spec.arrivals.mean_rate_per_s(0.0, scenario.duration_s) * scenario.duration_s
    return n


def size_warning(requests: float) -> str | None:
    """A one-line warning with the time and memory such a run takes, or None for a run of
    ordinary size."""
    if requests < LARGE_RUN_REQUESTS:
        return None
    minutes = requests / MEASURED_REQUESTS_PER_S / 60.0
    gbytes = requests * MEASURED_BYTES_PER_REQUEST / 1e9
    return (f"warning: about {requests:,.0f} requests at request fidelity: roughly {minutes:,.0f} min and "
            f"{gbytes:,.1f} GB for the run (docs/performance.md); fidelity=fluid takes seconds")


# Time-series rows held in memory to the end of a run: what a row costs at the peak, from
# docs/performance.md ("Facility scale": the 100k-GPU week at rack level, 525,336 rows, 856 MiB
# held against 372 MiB streamed, 2026-12-07: ~970 B a row); warned above 2 GB.
MEASURED_BYTES_PER_TIMESERIES_ROW = 970.0
LARGE_HELD_TIMESERIES_BYTES = 2e9


def held_timeseries_rows(cfg: DictConfig, scenario: Any) -> float:
    """Time-series rows the run keeps in memory until its end: none when they stream to disk;
    else a row per control interval for the facility, for the network and, at ``rack`` level,
    for each rack (``group``: each group of racks)."""
    out = cfg.output
    if out.stream_timeseries:  # (build() refuses it without output.write)
        return 0.0
    racks = scenario.facility.topology.num_racks
    per_tick = 2 + {"rack": racks, "group": -(-racks // out.timeseries_group_racks)}.get(str(out.timeseries_level), 0)
    return per_tick * scenario.duration_s / scenario.facility.control_interval_s


def timeseries_warning(rows: float) -> str | None:
    """A one-line warning when the time series held to the end of a run is large, or None."""
    gbytes = rows * MEASURED_BYTES_PER_TIMESERIES_ROW / 1e9
    if gbytes * 1e9 < LARGE_HELD_TIMESERIES_BYTES:
        return None
    return (f"warning: about {rows:,.0f} time-series rows held in memory to the end of the run: roughly "
            f"{gbytes:,.1f} GB (docs/performance.md); output.stream_timeseries=true writes them as the run goes, "
            f"output.timeseries_level=group or facility keeps fewer")


def validate(argv: list[str]) -> tuple[str | None, list[str], int, str | None]:
    """Check every requested run before any starts.

    Returns (fatal error, refusals, number of runs, warnings): a fatal error (a typo, a wrong
    type, a launcher that is not installed, or, for a single run, an impossible value)
    stops the command; in a sweep, points with impossible values are refused one line each
    while the others run; the warnings (one a line, or None) say how long and how much memory
    the largest run will take when that is a lot (:func:`size_warning`, :func:`timeseries_warning`).
    """
    from hydra._internal.utils import get_args_parser

    if get_args_parser().parse_known_args(argv)[1]:  # Hydra's own parser reports them, at once
        return None, [], 0, None
    refused: list[str] = []
    largest = rows = 0.0
    with initialize_config_module(config_module=CONFIG_MODULE, version_base="1.3"):  # once for every run
        hydra_overrides = _split_overrides(argv)[1]
        try:
            runs = _runs_requested(argv)
        except Exception as e:  # noqa: BLE001 - any parse or composition error is reported as one line
            return _hydra_error(e, hydra_overrides), [], 0, None
        if hydra_overrides:  # the same for every run: checked once, with the first run
            try:
                compose(config_name=CONFIG_NAME, overrides=hydra_overrides + runs[0], return_hydra_config=True)
            except Exception as e:  # noqa: BLE001 - Hydra/OmegaConf composition errors
                return _hydra_error(e, hydra_overrides), [], len(runs), None
        try:
            for overrides, cfg in composed_runs(runs):
                try:
                    check_optimize(cfg)
                    scenario = build(cfg)
                    largest = max(largest, expected_requests(scenario))
                    rows = max(rows, held_timeseries_rows(cfg, scenario))
                except ConfigError as e:
                    if len(runs) == 1:
                        return str(e), [], 1, None
                    refused.append(f"refused run [{' '.join(overrides)}]: {e}")
        except Exception as e:  # noqa: BLE001 - Hydra/OmegaConf composition errors
            return _one_line(e), [], len(runs), None
    if refused and len(refused) == len(runs):
        return refused[0], [], len(runs), None
    warnings = [w for w in (size_warning(largest), timeseries_warning(rows)) if w is not None]
    return None, refused, len(runs), "\n".join(warnings) or None


# The rows of the headline table: KPIs shown on one line. Their labels, units and formats
# come from the KPI registry (dcsim/metrics/registry.py).
SUMMARY_ROWS: tuple[tuple[str, ...], ...] = (
    ("gpus_total",), ("duration_s",), ("gpu_utilisation",), ("gpu_allocation",), ("it_energy_j",),
    ("facility_energy_j",), ("pue",), ("requests_completed", "requests_arrived"), ("output_tokens_per_s",),
    ("energy_per_output_token_gpu_j",), ("energy_per_output_token_facility_j",), ("ttft_p50_s", "ttft_p99_s"),
    ("tpot_p50_s", "tpot_p99_s"), ("itl_p50_s", "itl_p90_s", "itl_p99_s"), ("slo_attainment", "goodput_requests_per_s"),
    ("preemptions",), ("jobs_completed", "jobs_submitted"), ("job_wait_mean_s",), ("model_flops_utilisation",),
    ("cost_per_gpu_hour_usd", "cost_per_model_eflop_usd"),
)
# Shown after the requests' rows when a run has agentic sessions: (label, or None for the
# registry's, KPIs on the line).
SESSION_ROWS: tuple[tuple[str | None, tuple[str, ...]], ...] = (
    (None, ("sessions_completed", "sessions_started")),
    ("prompt cached: all / after tool / new turn",
     ("session_prompt_tokens_cached_share", "session_tool_call_cached_share", "session_turn_call_cached_share")),
    (None, ("energy_per_session_facility_j",)), (None, ("cost_per_session_usd",)),
)


def format_summary(s: dict[str, Any]) -> str:
    """The headline KPIs as an aligned table."""
    rows = []
    sessions = SESSION_ROWS if s.get("sessions_started") else ()
    for keys in SUMMARY_ROWS:
        slo = s.get("slo_attainment")
        no_slo = keys[0] == "slo_attainment" and (slo is None or slo != slo)
        rows.append((registry.row_label(keys), "no SLO set" if no_slo else registry.row_text(keys, s)))
        if keys == ("preemptions",):
            rows.extend((label or registry.row_label(k), registry.row_text(k, s)) for label, k in sessions)
    if s.get("serving_engine"):
        engine = ("serving_engine", "calibration_status")
        rows.append((registry.row_label(engine), registry.row_text(engine, s)))
    rows.extend((k.label, k.value_text(s.get(k.key))) for k in registry.user_kpis())
    width = max(len(k) for k, _ in rows)
    text = "\n".join(f"  {k:<{width}}  {v}" for k, v in rows)
    if s.get("calibration_note"):
        text += f"\n  note: {s['calibration_note']}"
    return text


# --------------------------------------------------------------------------- progress

# The bar shows only once a run has taken this long (wall time): short runs stay quiet.
PROGRESS_DELAY_S = 3.0
# Updates per run, at most: the bar's SimPy process wakes every duration/this (or every
# control interval, if longer), so it costs a few hundred events per run.
PROGRESS_UPDATES = 200
# Set by main() for the sweep's worker processes: "1" when the sweep has a single run,
# the only case where a run of a sweep may draw a progress bar.
_SWEEP_OF_ONE_ENV = "_DCSIM_SWEEP_OF_ONE"
# Set by main() for a sweep: HOST:PID of the sweep's main process, which the launcher's
# worker processes die with (multirun.die_with_parent).
_SWEEP_PID_ENV = "_DCSIM_SWEEP_PID"


class SimProgress:
    """A tqdm bar over simulated time, advanced by a SimPy process every ``step_s``.

    ``attach(sim)`` starts it in a run's simulation (``Simulation.observe``). It only reads
    the clock, so the run's results, its event count included, do not change.
    """

    def __init__(self, duration_s: float, step_s: float, label: str, file: Any = None,
                 delay_s: float = PROGRESS_DELAY_S) -> None:
        from tqdm import tqdm

        self.step_s = step_s
        self.bar = tqdm(total=duration_s, desc=label, file=file if file is not None else sys.stderr,
                        delay=delay_s, leave=False, dynamic_ncols=True,
                        bar_format="{desc} {percentage:3.0f}%|{bar}| {n:,.0f}/{total:,.0f} simulated s "
                                   "[{elapsed}<{remaining}]")

    def attach(self, sim: Any) -> None:
        sim.observe(self.step_s, self._advance)
        sim.on_finish(self._finish)

    def _finish(self, until_s: float) -> None:
        self.bar.update(until_s - self.bar.n)

    def _advance(self, now_s: float) -> None:
        self.bar.update(min(now_s, self.bar.total) - self.bar.n)

    def close(self) -> None:
        self.bar.close()


def progress_wanted(multirun_mode: bool) -> bool:
    """A progress bar only on a terminal, and in a sweep only when it has a single run."""
    if not sys.stderr.isatty():
        return False
    return not multirun_mode or os.environ.get(_SWEEP_OF_ONE_ENV) == "1"


# --------------------------------------------------------------------------- one run


def run_and_write(scenario: Any, cfg: DictConfig, run_dir: Path, overrides: list[str],
                  progress: bool = False, provenance: tuple[str, ...] = (), share_file: bool = False) -> dict[str, Any]:
    """Run a built scenario and write its run directory; return its summary. ``provenance``:
    Hydra's files in the run directory that summary.json's manifest lists (by hash).
    ``progress``: a bar on the terminal; ``share_file``: keep the share of simulated time
    done in the run directory's ``.progress`` while it runs (a sweep's progress line)."""
    step_s = max(scenario.duration_s / PROGRESS_UPDATES, scenario.facility.control_interval_s)
    observers: list[Any] = []
    if progress:
        observers.append(SimProgress(scenario.duration_s, step_s, "dcsim"))
    share = None
    if share_file and cfg.output.write:  # a sweep's runs tell its progress line how far they are
        from dcsim.io.progress import RunProgressFile

        share = RunProgressFile(run_dir, scenario.duration_s, step_s)
        observers.append(share)

    streamed = {}
    if cfg.output.write and cfg.output.stream_timeseries:  # timeseries.parquet written as the run goes
        from dcsim.io.writer import TableStream
        from dcsim.metrics.recorder import TIMESERIES_COLUMNS

        streamed["timeseries"] = TableStream(run_dir, "timeseries", TIMESERIES_COLUMNS)
        if cfg.output.telemetry_interval_s is not None:  # and telemetry.parquet
            from dcsim.metrics.telemetry import TELEMETRY, TELEMETRY_COLUMNS

            streamed[TELEMETRY] = TableStream(run_dir, TELEMETRY, TELEMETRY_COLUMNS)

    def attach(sim: Any) -> None:
        for o in observers:
            o.attach(sim)
        for name, stream in streamed.items():
            if name == "timeseries":
                sim.recorder.stream_timeseries(stream)
            else:
                sim.recorder.stream_table(name, stream)

    try:
        summary = _run_and_write(scenario, cfg, run_dir, overrides, provenance, attach if observers or streamed
                                 else None, observers, streamed)
    except BaseException:  # a failed or interrupted run leaves no streamed file behind
        for stream in streamed.values():
            stream.abort()
        raise
    if share is not None:
        share.remove()
    return summary


def _run_and_write(scenario: Any, cfg: DictConfig, run_dir: Path, overrides: list[str], provenance: tuple[str, ...],
                   attach: Any, observers: list[Any], streamed: dict[str, Any]) -> dict[str, Any]:
    t0 = time.perf_counter()
    try:
        results = scenario.run(on_sim=attach) if attach is not None else scenario.run()
    finally:
        for o in observers:
            o.close()
    wall_s = time.perf_counter() - t0
    summary = results.summary()
    summary.update(dcsim_version=dcsim.__version__, overrides=list(overrides), wall_time_s=wall_s)
    if cfg.output.write:
        from dcsim.io.writer import write_run

        frames = results.frames()
        extra = {}
        if cfg.output.report:
            from dcsim.analysis.report import report_png

            extra["report.png"] = report_png(frames, summary)
        write_run(run_dir, frames, summary, extra, provenance=provenance, streamed=streamed)
    return summary


def _record(run_dir: Path, exc: BaseException, overrides: list[str], status: str, message: str) -> Path | None:
    """Write the run's error.json; None (and the reason on stderr) if it cannot be written."""
    from dcsim.io.writer import write_error

    try:
        return write_error(run_dir, multirun.error_record(exc, overrides, status, message, dcsim.__version__))
    except OSError as e:
        print(f"dcsim: could not write {run_dir / 'error.json'}: {multirun.one_line(e)}", file=sys.stderr)
        return None


# The rows of the last sweep this process ran (read by main() for its exit status).
last_sweep: list[multirun.RunRow] | None = None
# What main() tells on Ctrl-C: the sweep under way (directory, requested runs), or the run.
_sweep_started: tuple[str, list[list[str]]] | None = None
_single_run_dir: Path | None = None
# The progress line of the sweep under way (a module global: the launcher pickles the
# callback object for its workers, and a thread does not pickle).
_sweep_progress: Any = None


def _optimising(config: DictConfig) -> bool:
    """Whether the sweep's sweeper samples its points (Optuna) rather than crossing lists."""
    return "optuna" in str(OmegaConf.select(config, "hydra.sweeper._target_", default="")).lower()


def _started_runs(sweep_dir: str) -> list[list[str]]:
    """The overrides of each run a sweep started (``.hydra/overrides.yaml`` of its numbered
    directories), in job order: the runs of a sweeper that samples them."""
    import yaml

    dirs = [d for d in Path(sweep_dir).iterdir() if d.name.isdigit() and (d / ".hydra" / "overrides.yaml").is_file()] \
        if Path(sweep_dir).is_dir() else []
    return [[str(o) for o in yaml.safe_load((d / ".hydra" / "overrides.yaml").read_text()) or []]
            for d in sorted(dirs, key=lambda d: int(d.name))]


def _requested_runs(config: DictConfig) -> list[list[str]]:
    """The override list of every run of the sweep Hydra is running, in job order (for a
    sampling sweeper, the runs started so far)."""
    if _optimising(config):
        return _started_runs(str(config.hydra.sweep.dir))
    params = OmegaConf.select(config, "hydra.sweeper.params") or {}
    return expand_sweep([f"{k}={v}" for k, v in params.items()] + [str(o) for o in config.hydra.overrides.task])


class SweepSummary(Callback):
    """Hydra callback (conf/config.yaml): while a multirun runs, its progress across runs
    (``dcsim.io.progress``: one line on a terminal, ``progress.log`` in the sweep
    directory); after it, print the sweep summary and write sweep_summary.csv
    (``dcsim.io.multirun.finish_sweep``)."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        global _sweep_started, _sweep_progress
        _sweep_started = (str(config.hydra.sweep.dir), _requested_runs(config))
        # runs that write nothing tell nothing; a sampling sweeper's runs are not known beforehand
        if bool(OmegaConf.select(config, "output.write", default=True)) and not _optimising(config):
            from dcsim.io.progress import SweepProgress

            _sweep_progress = SweepProgress(*_sweep_started)
            _sweep_progress.start()

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        global last_sweep, _sweep_progress
        if _sweep_progress is not None:
            _sweep_progress.stop()
            _sweep_progress = None
        written = bool(OmegaConf.select(config, "output.write", default=True))
        last_sweep = multirun.finish_sweep(str(config.hydra.sweep.dir), _requested_runs(config), written=written)


# optimize.constraints: "KPI<number" (<, <=, >, >=); optimize.directions: one of these per objective
_CONSTRAINT = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*(<=|>=|<|>)\s*([-+]?[0-9.]+(?:[eE][-+]?[0-9]+)?)\s*")
_COMPARE = {"<": float.__lt__, "<=": float.__le__, ">": float.__gt__, ">=": float.__ge__}
_DIRECTIONS = ("minimize", "maximize")


def check_optimize(cfg: DictConfig) -> None:
    """ConfigError for an ``optimize`` key a run cannot return (docs/sweeps.md, "Design-space search")."""
    o = cfg.optimize
    kpis = "a summary KPI of dcsim/metrics/registry.py (docs/metrics.md)"
    for name in o.objectives:
        if registry.registered(str(name)) is None:
            raise ConfigError("optimize.objectives", str(name), kpis)
    directions = [str(d) for d in o.directions]
    if directions and (len(directions) != len(o.objectives) or any(d not in _DIRECTIONS for d in directions)):
        raise ConfigError("optimize.directions", directions,
                          f"minimize or maximize for each of the {len(o.objectives)} objectives, or none (all minimize)")
    for c in o.constraints:
        m = _CONSTRAINT.fullmatch(str(c))
        if m is None or registry.registered(m[1]) is None:
            raise ConfigError("optimize.constraints", str(c), f"KPI<number (<, <=, >, >=), the KPI {kpis}")


def objective_values(cfg: DictConfig, summary: dict[str, Any] | None) -> float | list[float] | None:
    """What the run returns to the sweeper: the ``optimize.objectives`` KPIs of ``summary``
    (one float, or a list for several), or None without objectives. A run without a summary
    (refused, failed), without a finite value of an objective or breaking a constraint returns
    ``optimize.penalty`` for each objective (its negative for a maximised one)."""
    o = cfg.optimize
    if not o.objectives:
        return None
    directions = [str(d) for d in o.directions] or ["minimize"] * len(o.objectives)
    penalised = [float(o.penalty) if d == "minimize" else -float(o.penalty) for d in directions]
    if summary is None:  # refused or failed
        return penalised[0] if len(penalised) == 1 else penalised
    values = [_number(summary, str(name)) for name in o.objectives]
    for c in o.constraints:
        m = _CONSTRAINT.fullmatch(str(c))
        assert m is not None  # check_optimize
        v = _number(summary, m[1])
        if math.isnan(v) or not _COMPARE[m[2]](v, float(m[3])):
            values = [math.nan]
    if any(not math.isfinite(v) for v in values):
        values = penalised
    return values[0] if len(values) == 1 else values


def _number(summary: dict[str, Any], name: str) -> float:
    """The summary's number ``name``, NaN when it has none."""
    v = summary.get(name)
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else math.nan


@hydra.main(version_base="1.3", config_path="pkg://dcsim.conf", config_name="config")
def _hydra_main(cfg: DictConfig) -> float | list[float] | None:
    global _single_run_dir
    hc = HydraConfig.get()
    run_dir = Path(hc.runtime.output_dir)
    overrides = list(hc.overrides.task)
    sweep = hc.mode == RunMode.MULTIRUN
    label = " ".join(overrides) or "default scenario"
    name = f"run {hc.job.num} [{label}]" if sweep else label
    host, _, pid = os.environ.get(_SWEEP_PID_ENV, "").rpartition(":")
    if sweep and pid.isdigit():  # a launcher's worker dies with the sweep
        multirun.die_with_parent(int(pid), host)
    if not sweep:
        _single_run_dir = run_dir
    reused = multirun.reusable_summary(run_dir, overrides, dcsim.__version__) if sweep else None
    if reused is not None:
        print(f"dcsim: skipped {name}: complete in {run_dir}", file=sys.stderr, flush=True)
        return objective_values(cfg, reused)
    # whatever an earlier run left here goes before this run writes anything (its summary first)
    if multirun.clear_for_rerun(run_dir):
        what = "the run of other overrides or another dcsim version" if sweep else "the earlier run"
        print(f"dcsim: {name}: replacing {what} in {run_dir}", file=sys.stderr, flush=True)
    provenance = () if hc.output_subdir is None else \
        tuple(f"{hc.output_subdir}/{f}" for f in ("config.yaml", "overrides.yaml"))
    try:
        check_optimize(cfg)
        scenario = build(cfg)
    except ConfigError as e:  # impossible values: reported by validate() before the sweep started
        _record(run_dir, e, overrides, multirun.REFUSED, str(e))
        if sweep:  # a refused point of a sweep: recorded, the sweep goes on
            return objective_values(cfg, None)
        print(f"dcsim: error: {e}", file=sys.stderr)
        raise SystemExit(2) from None
    try:
        summary = run_and_write(scenario, cfg, run_dir, overrides, progress=progress_wanted(sweep),
                                provenance=provenance, share_file=sweep)
    except Exception as e:  # noqa: BLE001 - any failure of a run is recorded and reported in one line
        message = multirun.one_line(e)
        path = _record(run_dir, e, overrides, multirun.FAILED, message)
        where = f" (traceback in {path})" if path is not None else ""
        if sweep:  # recorded; the sweep goes on and exits 1 at its end
            print(f"dcsim: {name} failed: {message}{where}", file=sys.stderr, flush=True)
            return objective_values(cfg, None)
        print(f"dcsim: error: run failed: {message}{where}", file=sys.stderr)
        raise SystemExit(1) from None
    if cfg.output.print_summary:
        where = f" -> {run_dir}" if cfg.output.write else ""
        print(f"dcsim {dcsim.__version__}: {label}{where}\n{format_summary(summary)}", flush=True)
    return objective_values(cfg, summary)


def help_text(argv: list[str]) -> str:
    """``dcsim --help``: the packaged help template (conf/hydra/help/) with the config groups
    less the schema nodes (``base_*``, internal), the catalogue's GPUs, models and cooling
    technologies (shipped and DCSIM_CATALOGUE_PATH's), and the config the overrides compose."""
    import string
    import textwrap

    from hydra.core.global_hydra import GlobalHydra
    from omegaconf import open_dict

    from dcsim.config.store import SCHEMAS
    from dcsim.facility.cooling import TECHNOLOGIES
    from dcsim.hardware.gpus import GPUS
    from dcsim.hardware.models import MODELS

    overrides = [a for a in argv if not a.startswith("-")]
    with initialize_config_module(config_module=CONFIG_MODULE, version_base="1.3"):
        cfg = compose(config_name=CONFIG_NAME, overrides=overrides, return_hydra_config=True)
        loader: Any = GlobalHydra.instance().config_loader()
        groups = []
        for group in sorted(g for g in loader.list_groups("") if g != "hydra"):
            options = [o for o in sorted(loader.get_group_options(group)) if o not in SCHEMAS]
            groups.append(f"{group}: {', '.join(options)}")
    template = str(cfg.hydra.help.template)
    with open_dict(cfg):
        del cfg["hydra"]

    def listed(key: str, names: list[str]) -> str:
        return textwrap.fill(", ".join(names), width=110, initial_indent=f"{key}: ", subsequent_indent="  ",
                             break_on_hyphens=False)

    catalogue = "\n".join((
        "\n== Catalogue (dcsim/data/ and DCSIM_CATALOGUE_PATH; add your own: docs/extending.md) ==",
        listed("facility.node.gpu", sorted(GPUS)),
        listed("workload.services.NAME.model", sorted(MODELS)),
        listed("facility.cooling.technology", sorted(TECHNOLOGIES))))
    return string.Template(template).safe_substitute(APP_CONFIG_GROUPS="\n".join(groups) + "\n" + catalogue + "\n",
                                                     CONFIG=OmegaConf.to_yaml(cfg))


def multirun_flag_first(argv: list[str]) -> list[str]:
    """``-m``/``--multirun`` moved before the overrides: Hydra's parser takes overrides only
    before the first flag, so ``dcsim +experiment=X -m key=a,b`` would otherwise stop at
    ``key=a,b`` as an unrecognised argument."""
    flags = [a for a in argv if a in ("-m", "--multirun")]
    return flags + [a for a in argv if a not in ("-m", "--multirun")]


def main() -> None:
    """Console entry point. Ctrl-C stops it with one line and exit status 130."""
    try:
        _main()
    except KeyboardInterrupt:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C does not cut the last line short
        print(f"dcsim: {_interrupted()}", file=sys.stderr, flush=True)
        raise SystemExit(130) from None


def _interrupted() -> str:
    """What Ctrl-C left: the runs of the sweep that finished, or the single run cut short
    (its partial outputs removed)."""
    if _sweep_started is not None:
        return multirun.interrupted_line(*_sweep_started)
    if _single_run_dir is not None:
        from dcsim.io.reader import is_complete
        from dcsim.io.writer import clear_run_dir

        if is_complete(_single_run_dir):  # interrupted after its summary.json was written
            return f"interrupted: the run had finished, kept in {_single_run_dir}"
        clear_run_dir(_single_run_dir)
        return f"interrupted: the run did not finish, nothing written in {_single_run_dir}"
    return "interrupted before any run started"


def _plan(args: list[str]) -> None:
    """``dcsim plan KEY=VALUE ...``: capacity planning (dcsim.analysis.plan, docs/planning.md);
    a bad option or override is one line and exit status 2."""
    from dcsim.analysis.plan import HELP, format_plan, parse_plan_args, plan

    if {"--help", "-h"}.intersection(args):
        print(HELP)
        return
    try:
        p, overrides = parse_plan_args(args)
        out = plan(p, overrides)
    except ConfigError as e:
        print(f"dcsim plan: error: {e}", file=sys.stderr)
        raise SystemExit(2) from None
    except Exception as e:  # noqa: BLE001 - a composition error of an override: one line
        print(f"dcsim plan: error: {_one_line(e)}", file=sys.stderr)
        raise SystemExit(2) from None
    where = f" -> {out['run_dir']}" if "run_dir" in out else ""
    print(f"dcsim {dcsim.__version__} plan: {' '.join(args)}{where}\n{format_plan(out)}", flush=True)


_RAY_STORE = "hydra.launcher.ray.init.object_store_memory"


def ray_cluster_overrides(argv: list[str], environ: dict[str, str] | None = None) -> list[str]:
    """``argv`` with ``+hydra.launcher.ray.init.object_store_memory=null`` added when the sweep
    joins a running Ray cluster (``hydra/launcher=ray`` with an address, or ``RAY_ADDRESS``)
    and says nothing of the object store: hydra-ray-launcher 1.2 otherwise asks for a 75 MiB
    store, which Ray refuses when connecting to an existing cluster ("object_store_memory
    must not be provided"). A local Ray instance keeps the launcher's store."""
    env = os.environ if environ is None else environ
    if "hydra/launcher=ray" not in argv or any(_RAY_STORE in a for a in argv):
        return argv
    address = [a.partition("=")[2] for a in argv if a.lstrip("+").startswith("hydra.launcher.ray.init.address=")]
    joins = address[-1].lower() not in ("", "null", "none") if address else bool(env.get("RAY_ADDRESS"))
    return [*argv, f"+{_RAY_STORE}=null"] if joins else argv


def _main() -> None:
    global last_sweep, _sweep_started, _single_run_dir
    if sys.argv[1:2] == ["plan"]:
        _plan(sys.argv[2:])
        return
    argv = sys.argv[1:] = ray_cluster_overrides(multirun_flag_first(sys.argv[1:]))
    if {"--help", "-h"}.intersection(argv):
        try:
            print(help_text(argv))
        except Exception as e:  # noqa: BLE001 - a bad override or catalogue file: one line
            print(f"dcsim: error: {_one_line(e)}", file=sys.stderr)
            raise SystemExit(2) from None
        return
    if _INFO_FLAGS.intersection(argv):
        shown = sorted(_INFO_FLAGS.intersection(argv) - {"--resolve"})
        if _is_multirun(argv) and shown:  # Hydra would raise a bare ValueError
            print(f"dcsim: error: {shown[0]} cannot be combined with -m/--multirun: it shows one composed config; "
                  "drop -m to see the config of one point (its values on the command line)", file=sys.stderr)
            raise SystemExit(2)
        _hydra_main()
        return
    err, refused, n_runs, warning = validate(argv)
    if err is not None:
        print(f"dcsim: error: {err}", file=sys.stderr)
        raise SystemExit(2)
    for line in refused + (warning.splitlines() if warning else []):
        print(f"dcsim: {line}", file=sys.stderr)
    if _is_multirun(argv):  # the launcher's worker processes inherit these
        os.environ[_SWEEP_OF_ONE_ENV] = "1" if n_runs == 1 else "0"
        os.environ[_SWEEP_PID_ENV] = f"{socket.gethostname()}:{os.getpid()}"
        multirun.start_reaper(f"{_SWEEP_PID_ENV}={os.environ[_SWEEP_PID_ENV]}")
    last_sweep, _sweep_started, _single_run_dir = None, None, None
    _hydra_main()
    rows = last_sweep
    if rows is not None and multirun.failures(rows):
        print(f"dcsim: error: {multirun.failures(rows)} of {len(rows)} runs failed: "
              "their error.json holds the error and the traceback", file=sys.stderr)
        raise SystemExit(1)


if __name__ == "__main__":
    main()
