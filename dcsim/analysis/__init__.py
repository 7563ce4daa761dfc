"""Load runs into DataFrames and plot them."""

from dcsim.analysis.load import Run, load_run

__all__ = ["Run", "load_run"]
