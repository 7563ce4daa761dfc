"""Rack-scale system presets: how many GPUs a node and a rack hold, the scale-up domain and the NICs.

The presets are data: one YAML file per system in ``dcsim/data/racks/`` (GB200 NVL72,
GB300 NVL72, HGX B200, HGX H100), read into ``RACKS`` with the ``racks/`` files of the
``DCSIM_CATALOGUE_PATH`` directories (``dcsim.hardware.catalogue``, docs/extending.md).
Every figure carries its source; ``assumption: true`` marks one no source gives.
:meth:`RackSpec.scale_up_domain` and :meth:`RackSpec.scale_out` turn a preset into the
:mod:`dcsim.hardware.network` objects the collectives are costed on (docs/network.md).

The file format (units in the key names; every figure a mapping with ``value`` and
``source``; the optional ones may be left out or given as null)::

    name: gb200-nvl72
    source: <one-line summary of the sources>
    gpu: GB200                                  # a GPU catalogue name, or null
    gpus_per_node:         {value: 4, source: ...}
    nodes_per_rack:        {value: 18, source: ...}      # optional: null when the rack is a facility choice
    scaleup_domain_gpus:   {value: 72, source: ...}
    scaleup_gb_s_per_gpu:  {value: 1800, source: ...}    # bidirectional, as gpus/*.yaml nvlink_gb_s
    nics_per_gpu:          {value: 1, source: ...}       # scale-out NIC ports per GPU
    nic_gbit_s:            {value: 400, source: ...}     # line rate of one NIC port
    node_it_kw:            {value: 14.3, source: ...}    # optional: a node's maximum IT power
    rack_it_kw:            {value: 142, source: ...}     # optional: a rack's maximum IT power
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from dcsim.core.units import GB_B, KW_W
from dcsim.hardware.catalogue import (
    Catalogue,
    CatalogueFileError,
    SpecError,
    figure,
    read_directory,
    read_file,
    text,
)
from dcsim.hardware.network import ScaleOut, ScaleUpDomain


class RackSpecError(SpecError):
    """A ``RackSpec`` value that is wrong, naming the field it is in."""


class RackFileError(CatalogueFileError):
    """A rack catalogue file that cannot be loaded; the message names file and field."""

    kind = "rack"


@dataclass(frozen=True)
class RackSpec:
    """One rack-scale system: nodes, rack, scale-up domain and scale-out NICs (one file in ``dcsim/data/racks/``)."""

    name: str
    gpu: str | None  # the GPU catalogue entry it holds, None when the catalogue has none
    gpus_per_node: int
    nodes_per_rack: int | None  # None: set by the facility (power and cooling per rack), not the hardware
    scaleup_domain_gpus: int
    scaleup_bidirectional_bytes_per_s: float  # per GPU, both directions together
    nics_per_gpu: float  # scale-out NIC ports per GPU
    nic_bits_per_s: float  # line rate of one NIC port
    node_it_power_w: float | None = None  # a node's maximum IT power, where published
    rack_it_power_w: float | None = None  # a rack's maximum IT power, where published
    source: str = ""
    provenance: dict[str, str] = field(default_factory=dict, hash=False, compare=False)  # figure -> source
    assumptions: tuple[str, ...] = ()  # figures no source gives (their provenance says why)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise RackSpecError("name", "must be a non-empty string")
        for name in ("gpus_per_node", "scaleup_domain_gpus", "nodes_per_rack"):
            v = getattr(self, name)
            if v is None and name == "nodes_per_rack":
                continue
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise RackSpecError(name, f"must be a whole number >= 1, got {v!r}")
        for name in ("scaleup_bidirectional_bytes_per_s", "nics_per_gpu", "nic_bits_per_s", "node_it_power_w",
                     "rack_it_power_w"):
            v = getattr(self, name)
            if v is None and name in ("node_it_power_w", "rack_it_power_w"):
                continue
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                raise RackSpecError(name, f"must be a finite number > 0, got {v!r}")
        if self.scaleup_domain_gpus % self.gpus_per_node:
            raise RackSpecError("scaleup_domain_gpus", f"must be whole nodes of {self.gpus_per_node} GPUs, "
                                                       f"got {self.scaleup_domain_gpus}")
        rack = self.gpus_per_rack
        if rack is not None and self.scaleup_domain_gpus > rack:
            raise RackSpecError("scaleup_domain_gpus", f"must fit the rack's {rack} GPUs, got {self.scaleup_domain_gpus}")

    @property
    def gpus_per_rack(self) -> int | None:
        """GPUs in one rack, when the hardware fixes the rack (None: a facility choice)."""
        return None if self.nodes_per_rack is None else self.nodes_per_rack * self.gpus_per_node

    @property
    def scaleout_bytes_per_s_per_gpu(self) -> float:
        """One-way scale-out line rate per GPU: NIC ports per GPU x port rate / 8."""
        return self.nics_per_gpu * self.nic_bits_per_s / 8.0

    def scale_up_domain(self, efficiency: float = 1.0, hop_latency_s: float = 0.0) -> ScaleUpDomain:
        """The scale-up domain, one way at ``efficiency`` of half the bidirectional figure."""
        return ScaleUpDomain.from_bidirectional(self.scaleup_domain_gpus, self.scaleup_bidirectional_bytes_per_s,
                                                efficiency, hop_latency_s)

    def scale_out(self, efficiency: float = 1.0, latency_s: float = 0.0,
                  rack_uplink_oversubscription: float = 1.0) -> ScaleOut:
        """The scale-out network per GPU at ``efficiency`` of the NIC line rate."""
        return ScaleOut.from_gbit_per_s(self.nics_per_gpu * self.nic_bits_per_s / 1e9, efficiency, latency_s,
                                        rack_uplink_oversubscription)


# The figures of a file: key -> (attribute, factor to SI, whole number, optional, largest value allowed).
_FIGURES: dict[str, tuple[str, float, bool, bool, float]] = {
    "gpus_per_node": ("gpus_per_node", 1.0, True, False, 1024),
    "nodes_per_rack": ("nodes_per_rack", 1.0, True, True, 1024),
    "scaleup_domain_gpus": ("scaleup_domain_gpus", 1.0, True, False, 100_000),
    "scaleup_gb_s_per_gpu": ("scaleup_bidirectional_bytes_per_s", GB_B, False, False, 1e6),
    "nics_per_gpu": ("nics_per_gpu", 1.0, False, False, 64),
    "nic_gbit_s": ("nic_bits_per_s", 1e9, False, False, 1e5),
    "node_it_kw": ("node_it_power_w", KW_W, False, True, 1e4),
    "rack_it_kw": ("rack_it_power_w", KW_W, False, True, 1e4),
}
_KEYS = ("name", "source", "gpu", *_FIGURES)
_OPTIONAL = {k for k, v in _FIGURES.items() if v[3]}


def rack_from_mapping(data: Any, file: str = "<mapping>") -> RackSpec:
    """Build a ``RackSpec`` from one parsed catalogue file; errors name file and field."""
    if not isinstance(data, dict):
        raise RackFileError(file, None, f"must hold a mapping of fields, got {type(data).__name__}")
    for key in data:
        if key not in _KEYS:
            raise RackFileError(file, str(key), f"is not a rack field; allowed: {sorted(_KEYS)}")
    for key in _KEYS:
        if key not in data and key not in _OPTIONAL:
            raise RackFileError(file, key, "is missing")
    gpu = data["gpu"]
    kwargs: dict[str, Any] = {"name": text(file, "name", data["name"], RackFileError),
                              "source": text(file, "source", data["source"], RackFileError),
                              "gpu": None if gpu is None else text(file, "gpu", gpu, RackFileError)}
    provenance: dict[str, str] = {}
    assumptions: list[str] = []
    for key, (attr, factor, whole, optional, high) in _FIGURES.items():
        raw = data.get(key)
        if raw is None and optional:
            kwargs[attr] = None
            continue
        _, value, src, assumed = figure(file, key, raw, RackFileError)
        if not (math.isfinite(value) and 0 < value <= high) or (whole and value != int(value)):
            kind = "a whole number" if whole else "a number"
            raise RackFileError(file, f"{key}.value", f"must be {kind} in (0, {high:g}], got {value!r}")
        kwargs[attr] = int(value) if whole else value * factor
        provenance[key] = src
        if assumed:
            assumptions.append(key)
    try:
        return RackSpec(**kwargs, provenance=provenance, assumptions=tuple(assumptions))
    except RackSpecError as exc:
        key = next((k for k, v in _FIGURES.items() if v[0] == exc.field), exc.field)
        raise RackFileError(file, key, exc.problem) from None


def load_rack_file(path: Traversable | Path | str) -> RackSpec:
    """Read one rack YAML file."""
    return read_file(path, rack_from_mapping, RackFileError)


def load_racks(directory: Traversable | Path | str | None = None) -> dict[str, RackSpec]:
    """Read every ``*.yaml`` in ``directory`` (default: the packaged ``dcsim/data/racks``)."""
    return read_directory(directory, "racks", rack_from_mapping, RackFileError, "rack")


# The registry: the packaged files plus the user's (DCSIM_CATALOGUE_PATH, docs/extending.md).
RACKS: Catalogue[RackSpec] = Catalogue("racks", rack_from_mapping, RackFileError, "rack")


def rack_names() -> list[str]:
    """Names of the rack-scale presets."""
    return sorted(RACKS)
