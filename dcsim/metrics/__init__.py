"""Measurement: the energy ledger, level monitors, records and KPI definitions."""

from dcsim.metrics.ledger import EnergyLedger, Meter
from dcsim.metrics.monitors import LevelMonitor
from dcsim.metrics.recorder import Recorder
from dcsim.metrics.results import Results

__all__ = ["EnergyLedger", "LevelMonitor", "Meter", "Recorder", "Results"]
