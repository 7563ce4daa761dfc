"""Load runs into DataFrames and plot them."""

from dcsim.analysis.load import Run, load_run
from dcsim.analysis.tables import service_table

__all__ = ["Run", "load_run", "service_table"]
