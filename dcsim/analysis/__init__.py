"""Load runs and sweeps into DataFrames and plot them (docs/analysis.md)."""

from dcsim.analysis.load import Run, load_run
from dcsim.analysis.pareto import pareto_front, plot_pareto
from dcsim.analysis.plots import (
    per_token_decomposition,
    plot_cost_per_token_vs_density,
    plot_decomposition_vs,
    plot_energy_per_token_vs_density,
    plot_goodput_vs_checkpoint_interval,
    plot_kpi_vs,
    plot_latency_cdf,
    plot_power_stack,
    plot_pue_vs_outdoor,
    plot_utilisation,
)
from dcsim.analysis.sweep import load_sweep, load_sweep_tables
from dcsim.analysis.tables import service_table

__all__ = [
    "Run", "load_run", "load_sweep", "load_sweep_tables", "service_table",
    "plot_power_stack", "plot_pue_vs_outdoor", "plot_utilisation", "plot_latency_cdf", "plot_kpi_vs",
    "plot_energy_per_token_vs_density", "plot_cost_per_token_vs_density", "plot_goodput_vs_checkpoint_interval",
    "per_token_decomposition", "plot_decomposition_vs", "pareto_front", "plot_pareto",
]
