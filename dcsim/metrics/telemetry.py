"""Granular telemetry: per-node (and optionally per-GPU) power, utilisation and temperature.

What a site's monitoring (DCIM, NVIDIA DCGM) samples, at a chosen interval: one row per
node per interval, and with ``per_gpu`` one more per GPU, in the ``telemetry`` table
(``telemetry.parquet`` in the run directory; columns in ``TELEMETRY_COLUMNS``, documented in
docs/metrics.md, "Telemetry").

The powers are interval means from exact energies, not samples: a GPU's energy over an
interval is its allocation's GPU energy (``Allocation.energy_now_j``, an exact integral of
its piecewise-constant power) shared equally among the allocation's GPUs, plus idle power
while it is free; a node's host power is its idle power plus the per-busy-GPU share for the
GPU-seconds its GPUs were busy, plus its equal share of the server-fan meter. So a node's
rows integrate to its energy, and a rack's nodes to the ledger's rack energy. Temperatures
are those of the facility's model at the sample time: the rack's inlet (updated every control
interval) and a GPU at its interval-mean power (``RackThermal.gpu_temp_c``); a node's
``gpu_temp_c`` is its hottest GPU's.

Off by default. When on it only reads the simulation's state (it never advances a meter),
so the run's results are those of the run without it. Memory: the table holds
``ceil(T / interval_s) x (nodes + GPUs if per_gpu)`` rows of 11 eight-byte values; the
config builder refuses more than ``MAX_TELEMETRY_ROWS`` (about 180 MB) unless the run streams
its time-series tables (``output.stream_timeseries``: ``Recorder.new_table`` hands the rows to
``telemetry.parquet`` in row groups as the run goes).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from dcsim.metrics.table import Table

if TYPE_CHECKING:
    from dcsim.core.simulation import Simulation

TELEMETRY = "telemetry"  # the table's name (and telemetry.parquet)
TELEMETRY_COLUMNS = (
    "t_s", "interval_s", "node", "rack", "gpu", "power_w", "gpu_power_w", "host_power_w", "gpu_utilisation",
    "inlet_temp_c", "gpu_temp_c",
)
MAX_TELEMETRY_ROWS = 2_000_000  # ~180 MB of rows in memory


@dataclass(frozen=True)
class TelemetrySpec:
    """Sample every ``interval_s`` seconds; ``per_gpu``: a row per GPU besides each node's."""

    interval_s: float
    per_gpu: bool = False

    def __post_init__(self) -> None:
        if not self.interval_s > 0:
            raise ValueError(f"telemetry interval_s must be > 0, got {self.interval_s}")

    def rows(self, duration_s: float, nodes: int, gpus: int) -> int:
        """Rows the table will hold for a run of ``duration_s``."""
        return math.ceil(duration_s / self.interval_s) * (nodes + (gpus if self.per_gpu else 0))


class Telemetry:
    """Samples a cluster's nodes and GPUs every ``spec.interval_s`` into the telemetry table.

    ``cluster`` is the run's ``dcsim.workloads.cluster.Cluster`` and ``facility`` its
    ``dcsim.facility.controller.Facility`` (read only)."""

    def __init__(self, sim: Simulation, cluster: Any, facility: Any, spec: TelemetrySpec) -> None:
        self.sim = sim
        self.cluster = cluster
        self.facility = facility
        self.spec = spec
        topo = cluster.topology
        self._gpn = topo.node.gpus_per_node
        self._nodes = topo.num_nodes
        self._rack_of_node = np.arange(self._nodes) // topo.nodes_per_rack
        self._racks = topo.num_racks
        self._off_s = np.zeros(topo.num_racks)  # each rack's seconds without power at the last sample
        # each GPU's idle power (of a mixed fleet: its rack's GPU type's)
        self._idle_w = (np.repeat(np.asarray(cluster.rack_idle_w)[self._rack_of_node], self._gpn) if topo.mixed
                        else cluster.idle_w)
        self._host_idle_w = topo.node.host_idle_without_fans_w
        self._host_w_per_busy_gpu = cluster.host_w_per_busy_gpu
        ledger = sim.recorder.ledger
        self._fans = next((m for m in ledger.meters if m.name == "server_fans"), None)
        self._fan_j = self._fan_energy_j()
        # allocations seen and not yet accounted to their end: energy and busy time so far
        self._live: dict[Any, tuple[np.ndarray, float, float]] = {}
        self._t_last = sim.now_s
        # the Recorder's table (streamed to telemetry.parquet with output.stream_timeseries)
        self._table: Table = sim.recorder.new_table(TELEMETRY, TELEMETRY_COLUMNS)  # type: ignore[attr-defined]
        cluster.on_start(self._track)
        sim.env.process(self._loop())
        sim.on_finish(self._sample)

    def _fan_energy_j(self) -> float:
        """The server-fan meter's energy up to now, read without advancing it."""
        m = self._fans
        return 0.0 if m is None else m.energy_at_j(self.sim.now_s)

    def _track(self, alloc: Any) -> None:
        self._live[alloc] = (np.asarray(alloc.gpu_ids, dtype=np.int64), 0.0, 0.0)

    def _loop(self):
        while True:
            yield self.sim.env.timeout(self.spec.interval_s)
            self._sample(self.sim.now_s)

    def _sample(self, now_s: float) -> None:
        """Record the interval since the last sample."""
        t0 = self._t_last
        dt = now_s - t0
        if dt <= 0:
            return
        gpus = self._nodes * self._gpn
        # a rack without power (Cluster.stop_racks) draws nothing: its free GPUs and hosts are
        # idle only for the part of the interval it had power
        off_s = np.array([self.cluster.rack_off_s(r) for r in range(self._racks)])
        on_share = 1.0 - ((off_s - self._off_s) / dt)[self._rack_of_node]  # per node
        self._off_s = off_s
        gpu_j = np.repeat(on_share, self._gpn) * (self._idle_w * dt)
        busy_s = np.zeros(gpus)
        for alloc, (ids, e_last, b_last) in list(self._live.items()):
            end = alloc.t_released_s if alloc.released else now_s
            overlap = max(min(end, now_s) - max(t0, alloc.t_granted_s), 0.0)
            e, b = alloc.energy_now_j(), alloc.busy_now_s()
            gpu_j[ids] += (e - e_last) / len(ids) - alloc.idle_w * overlap
            busy_s[ids] += b - b_last
            if alloc.released:
                del self._live[alloc]
            else:
                self._live[alloc] = (ids, e, b)
        fan_j = self._fan_energy_j()
        fan_w_per_node = (fan_j - self._fan_j) / dt / self._nodes
        self._fan_j = fan_j
        self._t_last = now_s

        gpu_w = gpu_j / dt
        util = busy_s / dt
        node_gpu_w = gpu_w.reshape(self._nodes, self._gpn).sum(axis=1)
        node_busy = util.reshape(self._nodes, self._gpn).sum(axis=1)
        host_w = self._host_idle_w * on_share + self._host_w_per_busy_gpu * node_busy + fan_w_per_node
        inlet = np.asarray(self.facility.inlet_c)[self._rack_of_node]
        thermals = self.facility.rack_thermal
        hottest = gpu_w.reshape(self._nodes, self._gpn).max(axis=1)
        rows = self._table.append
        for n in range(self._nodes):
            rack = int(self._rack_of_node[n])
            thermal = thermals[rack]
            rows((t0, dt, n, rack, -1, node_gpu_w[n] + host_w[n], node_gpu_w[n], host_w[n],
                  node_busy[n] / self._gpn, inlet[n], thermal.gpu_temp_c(inlet[n], hottest[n])))
            if self.spec.per_gpu:
                nan = math.nan
                for g in range(n * self._gpn, (n + 1) * self._gpn):
                    rows((t0, dt, n, rack, g, gpu_w[g], gpu_w[g], nan, util[g], inlet[n],
                          thermal.gpu_temp_c(inlet[n], gpu_w[g])))
