"""The facility: its power path, cooling plant and climate, run by a control loop.

Conversion losses and cooling follow the IT power exactly: the ledger tells the
facility of every change of IT power, and the loss and cooling meters are set at
once. Cooling removes the heat of the IT load and of the conversion losses (all of
it is dissipated inside the building) at the outdoor temperature read at the last
control tick. The control loop runs every ``control_interval_s``: it reads the
weather and records one timeseries row for the facility and one per rack, with
mean powers over the interval taken from the ledger (so the series integrates
exactly to the energy totals).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from dcsim.facility.climate import Climate
from dcsim.facility.cooling import CoolingPlant
from dcsim.facility.power_path import PowerPath
from dcsim.facility.topology import Topology

if TYPE_CHECKING:
    from dcsim.core.simulation import Simulation


class Facility:
    """The building around the IT load."""

    def __init__(
        self,
        sim: "Simulation",
        topology: Topology,
        power_path: PowerPath,
        cooling: CoolingPlant,
        climate: Climate,
        control_interval_s: float,
    ) -> None:
        self.sim = sim
        self.topology = topology
        self.power_path = power_path
        self.cooling = cooling
        self.climate = climate
        self.control_interval_s = control_interval_s
        rec = sim.recorder
        self._ledger = rec.ledger
        self._loss = self._ledger.meter("conversion_loss", "conversion_loss")
        self._cooling = self._ledger.meter("cooling", "cooling")
        self._overloaded: list[str] = []
        self._outdoor_c = climate.outdoor_temp_c(0.0)
        self._cooling_w_per_heat_w = cooling.power_w(1.0, self._outdoor_c)  # linear in heat at a given weather
        self._no_overload_below_w = power_path.max_output_w()
        self._ledger.on_it_power_change(self._follow_it_power)
        self._busy = rec.monitor("gpus_busy")
        self._allocated = rec.monitor("gpus_allocated")
        self._rack_names = [topology.rack_name(r) for r in range(topology.num_racks)]
        self._last = self._snapshot()
        sim.env.process(self._control_loop())
        sim.on_finish(self._close_interval)

    def _follow_it_power(self, it_w: float) -> None:
        loss_w = self.power_path.loss_w(it_w)
        self._ledger.set_powers(((self._loss, loss_w), (self._cooling, (it_w + loss_w) * self._cooling_w_per_heat_w)))
        if it_w <= self._no_overload_below_w and not self._overloaded:
            return
        over = self.power_path.overloaded(it_w)
        if over != self._overloaded:
            for name in set(over) - set(self._overloaded):
                self.sim.recorder.event("overload", f"power/{name}", "stage output above its rating", it_w)
            self._overloaded = over

    def _snapshot(self) -> dict[str, float]:
        led = self._ledger
        snap = {kind: led.energy_now_j(kind) for kind in led.kind_totals}
        snap["facility"] = led.energy_now_j(None)
        snap["busy"] = self._busy.integral()
        snap["allocated"] = self._allocated.integral()
        for r in self._rack_names:
            snap[r] = led.group_energy_now_j(r) if r in led.group_totals else 0.0
        snap["t"] = self.sim.now_s
        return snap

    def _control_loop(self):
        env = self.sim.env
        while True:
            self._outdoor_c = self.climate.outdoor_temp_c(self.sim.now_s)
            self._cooling_w_per_heat_w = self.cooling.power_w(1.0, self._outdoor_c)
            self._follow_it_power(self._ledger.it_power_w())
            yield env.timeout(self.control_interval_s)
            self._close_interval(self.sim.now_s)

    def _close_interval(self, now_s: float) -> None:
        """Record the interval since the last tick."""
        start, end = self._last, self._snapshot()
        dt = end["t"] - start["t"]
        if dt <= 0:
            return
        d = {k: (end[k] - start[k]) / dt for k in end if k != "t"}
        it_w = d["gpu"] + d["host"]
        t0 = start["t"]
        self.sim.recorder.record("timeseries", (
            t0, "facility", it_w, d["gpu"], d["host"], d["conversion_loss"], d["cooling"], d["facility"],
            d["facility"] / it_w if it_w > 0 else math.nan, self.climate.outdoor_temp_c(t0),
            d["busy"], d["allocated"],
        ))
        nan = math.nan
        for r in self._rack_names:
            self.sim.recorder.record("timeseries", (t0, r, d[r], nan, nan, nan, nan, nan, nan, nan, nan, nan))
        self._last = end
