"""The recorder: where components report what happened.

Records are flat rows in named tables (``requests``, ``jobs``, ``events``,
``timeseries``), each with fixed columns, turned into DataFrames only at the end
(``dcsim.metrics.frames``). Levels go to :class:`LevelMonitor`; energy to the
:class:`EnergyLedger`.

The facility reports a ``timeseries`` row per rack each control interval. At a coarser
level (:meth:`Recorder.timeseries_level`) the recorder folds them as they come into one
row per group of consecutive racks (``racks/000-031``: IT power summed, inlet and GPU
temperature the hottest, the other columns NaN as in a rack row) or drops them
(``facility``), so a 100k-GPU year keeps ~9k rows instead of ~27M.

Streamed (:meth:`Recorder.stream_timeseries`, ``output.stream_timeseries``), every
``timeseries`` row goes to a table that hands its rows to a sink (the run directory's
``timeseries.parquet``, :class:`dcsim.io.writer.TableStream`) a row group at a time; only the
rows that are not of racks (the facility's, the network's) stay in ``tables["timeseries"]``,
for the KPIs and the report, and the KPIs over racks read the rack rows back from the file.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from dcsim.core.runinfo import RunInfo
from dcsim.metrics.ledger import KINDS, EnergyLedger
from dcsim.metrics.monitors import LevelMonitor
from dcsim.metrics.results import Results
from dcsim.metrics.table import Table

if TYPE_CHECKING:
    from dcsim.core.simulation import Simulation

REQUEST_COLUMNS = (
    "request_id", "service", "replica", "status", "t_arrival_s", "t_admitted_s", "t_first_token_s", "t_done_s",
    "prompt_tokens", "output_tokens", "generated_tokens", "ttft_s", "tpot_s", "e2e_s", "queue_delay_s", "preemptions",
    "cached_tokens", "energy_j", "session_id", "call_index", "turn_index",
)
JOB_COLUMNS = (
    "job_id", "name", "model", "gpus", "status", "t_submit_s", "t_start_s", "t_end_s", "wait_s", "steps",
    "steps_done", "step_time_s", "mfu", "restarts", "lost_gpu_s", "energy_j", "effective_share",
    "run_length_s", "preemptions", "lost_steps", "racks", "job_kind", "productive_s",
    "useful_s",
)
EVENT_COLUMNS = ("t_s", "record_type", "component", "detail", "value")
TIMESERIES_COLUMNS = (
    "t_s", "component", "it_power_w", "gpu_power_w", "host_power_w", "conversion_loss_power_w",
    "cooling_power_w", "facility_power_w", "pue", "outdoor_temp_c", "gpus_busy", "gpus_allocated",
    "chiller_power_w", "heat_rejection_power_w", "pumps_power_w", "air_power_w", "water_l", "reusable_heat_w",
    "economiser_share", "wet_bulb_c", "carbon_g_per_kwh", "price_usd_per_kwh", "inlet_temp_c", "gpu_temp_c",
    "gpus_capped", "it_budget_w", "interval_s", "carbon_kg", "energy_cost_usd", "grid_power_w", "storage_j",
    "ups_battery_power_w", "generator_power_w", "ups_recharge_power_w",
)
TIMESERIES_LEVELS = ("rack", "group", "facility")
_TS_IT, _TS_INLET, _TS_GPU_TEMP = (TIMESERIES_COLUMNS.index(c) for c in ("it_power_w", "inlet_temp_c", "gpu_temp_c"))
SERVICE_COLUMNS = (
    "t_s", "service", "arrival_rate_per_s", "served_rate_per_s", "output_tokens_per_s", "batch_mean", "ttft_s",
    "tpot_s", "busy_fraction", "power_w_per_gpu", "replicas", "backlog_requests", "saturated", "interval_s",
)
TABLES = {
    "requests": REQUEST_COLUMNS,
    "jobs": JOB_COLUMNS,
    "events": EVENT_COLUMNS,
    "timeseries": TIMESERIES_COLUMNS,
    "services": SERVICE_COLUMNS,
}


class Recorder:
    """Collects a run's records, levels and energy."""

    def __init__(self, sim: Simulation) -> None:
        self._sim = sim
        env = sim.env
        clock = lambda: float(env._now)  # noqa: E731  (``env.now`` without the property call)
        self.ledger = EnergyLedger(clock)
        self.monitors: dict[str, LevelMonitor] = {}
        self.tables: dict[str, Table] = {name: Table(cols) for name, cols in TABLES.items()}
        self.run_info = RunInfo()
        self._clock = clock
        self._group_racks = 0  # racks per timeseries row; 0: a row per rack, -1: no rack rows
        self._group: list | None = None  # the rack group being folded: [name, first rack, row as a list]
        self._stream: Any = None  # the sink of the streamed timeseries (TableStream), or None
        self._streamed: Table | None = None  # every timeseries row, handed to the sink in row groups
        self._table_streams: dict[str, Any] = {}  # other tables to stream (telemetry), by name
        self._sink_tables: list[tuple[Table, Any]] = []  # (table, its stream) of every streamed table

    def stream_table(self, name: str, stream: Any) -> None:
        """Stream the table ``name`` that a component makes later with :meth:`new_table`
        (per-node telemetry) to ``stream`` (a :class:`dcsim.io.writer.TableStream`)."""
        self._table_streams[name] = stream

    def new_table(self, name: str, columns: tuple[str, ...]) -> Table:
        """A table of the run's, ``name`` in its tables: streamed in row groups when
        :meth:`stream_table` asked for it, else kept in memory to the end."""
        stream = self._table_streams.get(name)
        table = Table(columns) if stream is None else self._sink_table(columns, stream)
        self.tables[name] = table
        return table

    def _sink_table(self, columns: tuple[str, ...], stream: Any) -> Table:
        """A table that hands its rows to ``stream`` a row group at a time, finished and the
        stream closed when the results are collected."""
        table = Table(columns, sink=stream.write, sink_rows=stream.rows_per_group)
        self._sink_tables.append((table, stream))
        return table

    def timeseries_level(self, level: str, group_racks: int = 32) -> None:
        """Rows of the ``timeseries`` per interval: ``rack`` (every rack's), ``group`` (one per
        ``group_racks`` consecutive racks) or ``facility`` (no rack rows)."""
        if level not in TIMESERIES_LEVELS or group_racks < 1:
            raise ValueError(f"timeseries level {level!r} with {group_racks} racks a group: "
                             f"a level is one of {TIMESERIES_LEVELS}, groups of at least one rack")
        self._group_racks = {"rack": 0, "group": group_racks, "facility": -1}[level]

    def stream_timeseries(self, stream: Any) -> None:
        """Stream the ``timeseries`` to ``stream`` (a :class:`dcsim.io.writer.TableStream`: its
        ``write(table)`` takes ``stream.rows_per_group`` rows at a time, ``close()`` ends it)
        instead of keeping it: only the rows that are not of racks stay in memory."""
        if len(self.tables["timeseries"]):
            raise RuntimeError("the timeseries is streamed from the start of the run or not at all")
        self._stream = stream
        self._streamed = self._sink_table(TIMESERIES_COLUMNS, stream)

    def monitor(self, name: str, initial: float = 0.0) -> LevelMonitor:
        """A time-weighted monitor, created on first use."""
        mon = self.monitors.get(name)
        if mon is None:
            mon = self.monitors[name] = LevelMonitor(name, self._clock, initial)
        return mon

    def record(self, table: str, row: tuple) -> None:
        """Append a row (in the table's column order)."""
        if table == "timeseries" and (self._group_racks or self._streamed is not None):
            self._record_timeseries(row)
            return
        self.tables[table].append(row)

    def _record_timeseries(self, row: tuple) -> None:
        name = row[1]
        if not name.startswith("rack/"):
            self._flush_group()
            self.tables["timeseries"].append(row)
            if self._streamed is not None:
                self._streamed.append(row)
            return
        if self._group_racks <= 0:
            if self._group_racks == 0 and self._streamed is not None:  # a row per rack, streamed
                self._streamed.append(row)
            return
        rack = int(name[5:])
        g = self._group
        if g is not None and (rack // self._group_racks != g[1] // self._group_racks or row[0] != g[2][0]):
            self._flush_group()
            g = None
        if g is None:
            first = rack - rack % self._group_racks
            self._group = [first, first, list(row)]
            return
        g[0] = rack
        acc = g[2]
        acc[_TS_IT] += row[_TS_IT]
        for i in (_TS_INLET, _TS_GPU_TEMP):
            if not math.isnan(row[i]) and not acc[i] >= row[i]:  # the hottest (NaN: none yet)
                acc[i] = row[i]

    def _flush_group(self) -> None:
        g = self._group
        if g is not None:
            self._group = None
            acc = g[2]
            acc[1] = f"racks/{g[1]:03d}-{g[0]:03d}"
            (self.tables["timeseries"] if self._streamed is None else self._streamed).append(tuple(acc))

    def event(self, record_type: str, component: str, detail: str = "", value: float = float("nan")) -> None:
        """Record a discrete event of note at the current time."""
        self.tables["events"].append((self._clock(), record_type, component, detail, value))

    def results(self, until_s: float) -> Results:
        """Close the ledger at ``until_s`` and package everything recorded."""
        self._flush_group()
        for table, stream in self._sink_tables:
            table.finish()
            stream.close()
        self.ledger.flush(until_s)
        led = self.ledger
        energy = {kind: led.kind_totals[kind].energy_j for kind in KINDS}
        energy["facility"] = led.facility.energy_j
        return Results(
            until_s=until_s,
            seed=self._sim.rng.seed,
            tables=self.tables,
            energy_j=energy,
            meter_energy_j={m.name: (m.kind, m.energy_j) for m in led.meters},
            group_energy_j={g: led.group_energy_now_j(g) for g in led.group_totals},
            monitor_means={name: mon.mean(until_s) for name, mon in self.monitors.items()},
            monitor_max={name: mon.maximum for name, mon in self.monitors.items()},
            run_info=self.run_info,
            events_processed=self._sim.env.events_processed,
            timeseries_stream=self._stream,
        )
