"""Data shipped with dcsim: catalogues, calibrations, climates, grid series, traces."""

from __future__ import annotations

PACKAGED_PREFIX = "dcsim:"


def resolve_data_path(path: str) -> str:
    """A path, with ``dcsim:NAME`` meaning a file shipped in the package's data (e.g.
    ``dcsim:traces/AzureLLMInferenceTrace_conv.csv.gz``)."""
    if not path.startswith(PACKAGED_PREFIX):
        return path
    from importlib import resources

    return str(resources.files("dcsim.data").joinpath(path[len(PACKAGED_PREFIX):]))
