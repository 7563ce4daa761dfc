"""Simulation kernel glue on SimPy: the clock, RNG streams, errors and units."""

from dcsim.core.errors import ConfigError, require
from dcsim.core.rng import RngStreams
from dcsim.core.simulation import Simulation

__all__ = ["ConfigError", "RngStreams", "Simulation", "require"]
