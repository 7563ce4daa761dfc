"""GPU catalogue: the datasheet and measured numbers every model in dcsim starts from.

The catalogue is data: one YAML file per GPU in ``dcsim/data/gpus/``, read into ``GPUS``
(with the ``gpus/`` files of the ``DCSIM_CATALOGUE_PATH`` directories, see
``dcsim.hardware.catalogue``). Adding a GPU is adding a file; no code changes
(docs/extending.md). Every figure in a
file carries its provenance (the datasheet, measurement or estimate it comes from), and
a figure no source gives is marked ``assumption: true`` with the reason in its source.

Peak FLOP/s are *dense* (no structured sparsity): datasheets quote some precisions with
2:4 sparsity only, and those figures are halved (each file says so). Bandwidths are
bytes per second; NVLink (AMD: Infinity Fabric) is the per-GPU bidirectional aggregate
as quoted by the vendor, of which half flows each way.

Idle power is not on datasheets. It is measured for the A100: the AcmeTrace telemetry of
two A100 LLM clusters (Hu et al., NSDI 2024; ../shared/data/telemetry/acme,
gpu_power_*_cdf.csv) shows idle GPUs at 58-66 W out of a 400 W TDP (the 5-25th
percentiles, before the busy mode). The other SXM and OAM parts carry that idle share of
TDP, 62 / 400 = 0.155, marked as an assumption in their files until a measurement of
each part replaces it.

The file format (units in the key names; every figure a mapping with ``value`` and
``source``, ``assumption: true`` where no source gives the figure)::

    name: H100-SXM
    source: <one-line summary of the sources>       # GpuSpec.source
    calibration: {vllm-0.11: measured, splitwise-2023: measured}
    memory_gb:        {value: 80, source: ...}
    hbm_tb_s:         {value: 3.35, source: ...}
    nvlink_gb_s:      {value: 900, source: ...}
    tdp_w:            {value: 700, source: ...}
    idle_w:           {share_of_tdp: 0.155, source: ..., assumption: true}   # or value: <W>
    peak_dense_tflops:                               # precisions it runs natively
      bf16: {value: 989.4, source: ...}
      fp8:  {value: 1979, source: ...}
    throttle_temp_c:  {value: 87, source: ...}       # clocks come down above it
    shutdown_temp_c:  {value: 92, source: ...}
    min_power_cap_w:  {value: 200, source: ...}      # lowest settable power limit
    price_usd:        {value: 27500, source: ...}
    dvfs_voltage_slope: {value: 0.715, source: ...}  # optional: the DVFS curve below
    dvfs_min_voltage:   {value: 0.755, source: ...}  # optional
    host_link_gb_s:   {value: 128, source: ...}      # optional: CPU <-> GPU, both directions (PCIe, C2C)

**DVFS.** Under a power cap the SM clock falls to a share ``f`` of its maximum and the
voltage with it: ``v(f) = max(dvfs_min_voltage, 1 - dvfs_voltage_slope x (1 - f))`` as a
share of the voltage at the maximum clock, so the clock-domain dynamic power scales as
``f x v(f)^2`` (:meth:`GpuSpec.dvfs_power_share`). Both figures are optional; a file
without them takes the H100 curve (:data:`HOPPER_DVFS`), recorded as an assumption.

``calibration`` names, per serving-engine profile, whether dcsim's fitted constants for
this GPU are ``measured`` (fitted to measurements of that engine on this GPU),
``derived`` (carried from another GPU over a stated physical argument) or
``uncalibrated`` (another GPU's fit applied to this GPU's datasheet figures); the
profiles themselves are ``dcsim/data/calibration/<engine>/<gpu>.yaml``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import numpy as np

from dcsim.core.units import GB_B, TB_B, TFLOPS
from dcsim.hardware.catalogue import (
    Catalogue,
    CatalogueFileError,
    SpecError,
    figure,
    read_directory,
    read_file,
    text,
)

# Share of TDP an idle SXM GPU draws: AcmeTrace A100 clusters, 62 W / 400 W.
IDLE_SHARE_OF_TDP = 62.0 / 400.0
# Precisions a catalogue entry may give a dense peak for, in the order they are listed.
GPU_PRECISIONS = ("bf16", "fp8", "fp4")
CALIBRATION_STATUSES = ("measured", "derived", "uncalibrated")
# H100 DVFS curve (voltage slope, minimum voltage share): the two-parameter v(f) through the
# compute-bound H100 cap sweep of Ujeniya et al. 2026 (arXiv 2604.11391, Fig. 6b SM clock and
# Fig. 9b power per cap; dcsim/data/capsweep/h100_cap_sweep.csv), least squares on the log of
# the dynamic share with the catalogue idle power; `python -m dcsim.hardware.capsweep --fit`.
HOPPER_DVFS = (0.715, 0.755)


class GpuSpecError(SpecError):
    """A ``GpuSpec`` value that is wrong, naming the field it is in."""


class GpuFileError(CatalogueFileError):
    """A GPU catalogue file that cannot be loaded; the message names file and field."""

    kind = "gpu"


@dataclass(frozen=True, slots=True)
class GpuSpec:
    """Datasheet (and, where measured, measured) description of one GPU model."""

    name: str
    peak_bf16_flops: float  # dense, FLOP/s
    hbm_bytes: float
    hbm_bw_bytes_per_s: float
    tdp_w: float
    idle_w: float
    nvlink_bw_bytes_per_s: float  # per GPU, both directions together
    source: str
    # Dense peak FLOP/s of each precision the tensor cores run natively (keys among
    # GPU_PRECISIONS, bf16 always, equal to peak_bf16_flops).
    peak_flops_per_s: dict[str, float] = field(hash=False)
    throttle_temp_c: float  # firmware lowers clocks above it
    shutdown_temp_c: float  # the GPU shuts down above it
    min_power_cap_w: float  # lowest settable power limit
    price_usd: float  # purchase price of one GPU
    price_source: str
    calibration: dict[str, str] = field(hash=False)  # engine profile -> measured | derived | uncalibrated
    # v(f) = max(dvfs_min_voltage, 1 - dvfs_voltage_slope (1 - f)), shares of the maximum clock's voltage
    dvfs_voltage_slope: float = HOPPER_DVFS[0]
    dvfs_min_voltage: float = HOPPER_DVFS[1]
    # CPU <-> GPU link per GPU, both directions together (PCIe, NVLink-C2C); None: not in the file
    host_link_bw_bytes_per_s: float | None = None
    provenance: dict[str, str] = field(default_factory=dict, hash=False, compare=False)  # figure -> source
    assumptions: tuple[str, ...] = ()  # figures no source gives (their provenance says why)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise GpuSpecError("name", "must be a non-empty string")
        for f in ("peak_bf16_flops", "hbm_bytes", "hbm_bw_bytes_per_s", "tdp_w", "nvlink_bw_bytes_per_s",
                  "price_usd"):
            v = getattr(self, f)
            if not (math.isfinite(v) and v > 0):
                raise GpuSpecError(f, f"must be a finite number > 0, got {v!r}")
        if not 0 <= self.idle_w < self.tdp_w:
            raise GpuSpecError("idle_w", f"must be in [0, tdp_w={self.tdp_w:g}), got {self.idle_w!r}")
        self._check_peaks()
        if not 0 < self.throttle_temp_c < self.shutdown_temp_c <= 150:
            raise GpuSpecError("throttle_temp_c", f"need 0 < throttle_temp_c < shutdown_temp_c <= 150 C, got "
                                                  f"{self.throttle_temp_c!r} and {self.shutdown_temp_c!r}")
        if not self.idle_w < self.min_power_cap_w <= self.tdp_w:
            raise GpuSpecError("min_power_cap_w", f"must be above idle_w={self.idle_w:g} and at most "
                                                  f"tdp_w={self.tdp_w:g}, got {self.min_power_cap_w!r}")
        if not (math.isfinite(self.dvfs_voltage_slope) and self.dvfs_voltage_slope >= 0):
            raise GpuSpecError("dvfs_voltage_slope", f"must be a finite number >= 0, got {self.dvfs_voltage_slope!r}")
        if not 0 < self.dvfs_min_voltage <= 1:
            raise GpuSpecError("dvfs_min_voltage", f"must be a share in (0, 1], got {self.dvfs_min_voltage!r}")
        h = self.host_link_bw_bytes_per_s
        if h is not None and not (math.isfinite(h) and h > 0):
            raise GpuSpecError("host_link_bw_bytes_per_s", f"must be a finite number > 0 or None, got {h!r}")
        if not self.price_source:
            raise GpuSpecError("price_source", "must name where the price comes from")
        if not self.calibration:
            raise GpuSpecError("calibration", "must give the status of at least one engine profile")
        for engine, status in self.calibration.items():
            if status not in CALIBRATION_STATUSES:
                raise GpuSpecError(f"calibration.{engine}",
                                   f"must be one of {list(CALIBRATION_STATUSES)}, got {status!r}")

    def _check_peaks(self) -> None:
        peaks = self.peak_flops_per_s
        for p, v in peaks.items():
            if p not in GPU_PRECISIONS:
                raise GpuSpecError("peak_flops_per_s", f"precision {p!r} is not one of {list(GPU_PRECISIONS)}")
            if not (math.isfinite(v) and v > 0):
                raise GpuSpecError(f"peak_flops_per_s.{p}", f"must be a finite number > 0, got {v!r}")
        if peaks.get("bf16") != self.peak_bf16_flops:
            raise GpuSpecError("peak_flops_per_s.bf16", "must be given and equal peak_bf16_flops")
        if "fp4" in peaks and "fp8" not in peaks:
            raise GpuSpecError("peak_flops_per_s.fp4", "a GPU with native fp4 also runs fp8 natively")
        for low, high in (("fp8", "bf16"), ("fp4", "fp8")):
            if low in peaks and peaks[low] < peaks[high]:
                raise GpuSpecError(f"peak_flops_per_s.{low}", f"is below the {high} peak: not a dense figure?")

    def dvfs_power_share(self, clock):
        """Clock-domain dynamic power at a relative SM clock, as a share of that at the maximum:
        ``f x v(f)^2`` (module docstring); arrays welcome."""
        v = np.maximum(self.dvfs_min_voltage, 1.0 - self.dvfs_voltage_slope * (1.0 - clock))
        return clock * v * v

    @property
    def native_precisions(self) -> tuple[str, ...]:
        """Precisions the tensor cores run natively, in GPU_PRECISIONS order."""
        return tuple(p for p in GPU_PRECISIONS if p in self.peak_flops_per_s)

    def peak_flops(self, precision: str) -> float:
        """Dense peak FLOP/s at ``precision``; a precision the GPU cannot run natively is an error."""
        peaks = self.peak_flops_per_s
        if precision not in peaks:
            raise ValueError(f"GPU {self.name} does not run {precision} natively; it runs "
                             f"{list(self.native_precisions)}")
        return peaks[precision]


# Figures of a file: key -> (GpuSpec field, factor from the file's unit to SI).
_FIGURES: dict[str, tuple[str, float]] = {
    "memory_gb": ("hbm_bytes", GB_B),
    "hbm_tb_s": ("hbm_bw_bytes_per_s", TB_B),
    "nvlink_gb_s": ("nvlink_bw_bytes_per_s", GB_B),
    "tdp_w": ("tdp_w", 1.0),
    "throttle_temp_c": ("throttle_temp_c", 1.0),
    "shutdown_temp_c": ("shutdown_temp_c", 1.0),
    "min_power_cap_w": ("min_power_cap_w", 1.0),
    "price_usd": ("price_usd", 1.0),
}
_KEYS = ("name", "source", "calibration", "idle_w", "peak_dense_tflops", *_FIGURES)
# Optional figures: key -> the default when a file leaves it out (an assumption then).
_OPTIONAL = {"dvfs_voltage_slope": HOPPER_DVFS[0], "dvfs_min_voltage": HOPPER_DVFS[1]}
# Optional figures without a default (absent: None, what needs them refuses to run): key -> (field, factor).
_OPTIONAL_NO_DEFAULT = {"host_link_gb_s": ("host_link_bw_bytes_per_s", GB_B)}
# GpuSpec fields a file's keys land in, to name the key of a GpuSpecError.
_FIELD_TO_KEY = {f: k for k, (f, _) in _FIGURES.items()} | {
    "peak_bf16_flops": "peak_dense_tflops.bf16", "peak_flops_per_s": "peak_dense_tflops",
    "idle_w": "idle_w", "price_source": "price_usd.source", "name": "name",
    "dvfs_voltage_slope": "dvfs_voltage_slope", "dvfs_min_voltage": "dvfs_min_voltage",
    "host_link_bw_bytes_per_s": "host_link_gb_s"}


def _text(file: str, key: str, value: Any) -> str:
    return text(file, key, value, GpuFileError)


def _figure(file: str, key: str, data: Any, value_keys: tuple[str, ...] = ("value",)) -> tuple[str, float, str, bool]:
    """One figure mapping: (which value key, value, source, assumption)."""
    return figure(file, key, data, GpuFileError, value_keys)


def spec_from_mapping(data: Any, file: str = "<mapping>") -> GpuSpec:
    """Build a ``GpuSpec`` from one parsed catalogue file; errors name file and field."""
    if not isinstance(data, dict):
        raise GpuFileError(file, None, f"must hold a mapping of fields, got {type(data).__name__}")
    for key in data:
        if key not in _KEYS and key not in _OPTIONAL and key not in _OPTIONAL_NO_DEFAULT:
            raise GpuFileError(file, str(key), f"is not a GPU field; allowed: "
                                               f"{sorted((*_KEYS, *_OPTIONAL, *_OPTIONAL_NO_DEFAULT))}")
    for key in _KEYS:
        if key not in data:
            raise GpuFileError(file, key, "is missing")

    kwargs: dict[str, Any] = {"name": _text(file, "name", data["name"]), "source": _text(file, "source", data["source"])}
    provenance: dict[str, str] = {}
    assumptions: list[str] = []
    for key, (attr, factor) in _FIGURES.items():
        _, value, src, assumed = _figure(file, key, data[key])
        kwargs[attr] = value * factor
        provenance[key] = src
        if assumed:
            assumptions.append(key)
    kwargs["price_source"] = provenance["price_usd"]
    for key, default in _OPTIONAL.items():
        if key in data:
            _, kwargs[key], provenance[key], assumed = _figure(file, key, data[key])
        else:
            kwargs[key], assumed = default, True
            provenance[key] = "not given: the H100 DVFS curve (gpus.HOPPER_DVFS)"
        if assumed:
            assumptions.append(key)

    for key, (attr, factor) in _OPTIONAL_NO_DEFAULT.items():
        if key in data:
            _, value, provenance[key], assumed = _figure(file, key, data[key])
            kwargs[attr] = value * factor
            if assumed:
                assumptions.append(key)
    which, value, src, assumed = _figure(file, "idle_w", data["idle_w"], ("value", "share_of_tdp"))
    if which == "share_of_tdp" and not 0 <= value < 1:
        raise GpuFileError(file, "idle_w.share_of_tdp", f"must be a share in [0, 1), got {value!r}")
    kwargs["idle_w"] = value * kwargs["tdp_w"] if which == "share_of_tdp" else value
    provenance["idle_w"] = src
    if assumed:
        assumptions.append("idle_w")

    peaks = data["peak_dense_tflops"]
    if not isinstance(peaks, dict) or not peaks:
        raise GpuFileError(file, "peak_dense_tflops", f"must map precisions ({list(GPU_PRECISIONS)}) to figures, "
                                                      f"got {peaks!r}")
    flops: dict[str, float] = {}
    for p in peaks:
        if p not in GPU_PRECISIONS:
            raise GpuFileError(file, f"peak_dense_tflops.{p}", f"is not a precision; allowed: {list(GPU_PRECISIONS)}")
    if "bf16" not in peaks:
        raise GpuFileError(file, "peak_dense_tflops.bf16", "is missing: every GPU gives its dense bf16 peak")
    for p in GPU_PRECISIONS:
        if p in peaks:
            _, value, src, assumed = _figure(file, f"peak_dense_tflops.{p}", peaks[p])
            flops[p] = value * TFLOPS
            provenance[f"peak_dense_tflops.{p}"] = src
            if assumed:
                assumptions.append(f"peak_dense_tflops.{p}")
    kwargs["peak_flops_per_s"] = flops
    kwargs["peak_bf16_flops"] = flops["bf16"]

    cal = data["calibration"]
    if not isinstance(cal, dict) or not cal:
        raise GpuFileError(file, "calibration", f"must map engine profiles to one of {list(CALIBRATION_STATUSES)}, "
                                                f"got {cal!r}")
    kwargs["calibration"] = {}
    for engine, status in cal.items():
        if status not in CALIBRATION_STATUSES:
            raise GpuFileError(file, f"calibration.{engine}", f"must be one of {list(CALIBRATION_STATUSES)}, "
                                                              f"got {status!r}")
        kwargs["calibration"][str(engine)] = status
    try:
        return GpuSpec(**kwargs, provenance=provenance, assumptions=tuple(assumptions))
    except GpuSpecError as exc:
        head = exc.field.split(".")[0]
        key = _FIELD_TO_KEY.get(head, exc.field)
        if key == "peak_dense_tflops" and "." in exc.field:
            key = f"peak_dense_tflops.{exc.field.split('.', 1)[1]}"
        raise GpuFileError(file, key, exc.problem) from None


def load_gpu_file(path: Traversable | Path | str) -> GpuSpec:
    """Read one GPU YAML file into a ``GpuSpec``."""
    return read_file(path, spec_from_mapping, GpuFileError)


def load_gpus(directory: Traversable | Path | str | None = None) -> dict[str, GpuSpec]:
    """Read every ``*.yaml`` in ``directory`` (default: the packaged ``dcsim/data/gpus``)."""
    return read_directory(directory, "gpus", spec_from_mapping, GpuFileError, "GPU")


# The registry: the packaged files plus the user's (DCSIM_CATALOGUE_PATH, docs/extending.md).
GPUS: Catalogue[GpuSpec] = Catalogue("gpus", spec_from_mapping, GpuFileError, "GPU")


def gpu_names() -> list[str]:
    """Names accepted wherever a GPU is chosen."""
    return sorted(GPUS)
