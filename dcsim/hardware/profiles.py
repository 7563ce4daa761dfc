"""Engine profiles: the fitted constants of one serving engine vintage on one GPU, as data.

A profile is ``dcsim/data/calibration/<engine>/<gpu>.yaml``, written by a fitting
command (never by hand) and read here::

    engine: vllm-0.11
    gpu: H100-SXM
    status: measured        # measured | derived | uncalibrated
    basis: <what the constants were fitted on, or derived from>
    fitted_by: <the command that wrote the file>
    perf:  {<InferencePerfParams fields>}
    power: {static_w: ..., compute_weight: ..., memory_weight: ..., overhead_weight: ...}
    errors: {...}           # the fit's own errors, for the record

``measured``: fitted to measurements of that engine on that GPU. ``derived``: another
GPU's fit carried over a physical argument the file states (H200: the H100 die with
HBM3e). ``uncalibrated``: no measurement of the engine on that GPU exists; the constants
of a named measured GPU are applied to this GPU's datasheet figures, and a run that uses
it says so in its summary. A GPU with no file for an engine is an error naming the
engines and GPUs that exist.

Engines: ``vllm-0.11`` (the default; ML.ENERGY Benchmark v3, vLLM 0.11.1, 2025) and
``splitwise-2023`` (Splitwise's 2023 measurements, Patel et al., ISCA 2024), so an old
study can be rerun and a new engine added as one directory of files and one fit.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, fields
from importlib import resources
from typing import Any

import yaml

from dcsim.hardware.gpus import GpuSpec
from dcsim.hardware.performance import InferencePerfParams

DEFAULT_ENGINE = "vllm-0.11"
STATUSES = ("measured", "derived", "uncalibrated")
POWER_KEYS = ("static_w", "compute_weight", "memory_weight", "overhead_weight")
_PERF_KEYS = tuple(f.name for f in fields(InferencePerfParams))


class ProfileError(ValueError):
    """An engine profile that does not exist or cannot be read."""


@dataclass(frozen=True)
class EngineProfile:
    """Fitted constants of one engine on one GPU."""

    engine: str
    gpu: str
    status: str
    basis: str
    perf: InferencePerfParams
    power: dict[str, float | None]  # static_w (None: the idle power) and the activity weights of GpuPowerModel

    @property
    def calibrated(self) -> bool:
        """Whether the constants come from measurements of this engine on this GPU (or its die)."""
        return self.status != "uncalibrated"


def _root():
    return resources.files("dcsim.data").joinpath("calibration")


def engines() -> list[str]:
    """Engine profiles shipped."""
    return sorted(p.name for p in _root().iterdir() if p.is_dir() and not p.name.startswith(("_", ".")))


def profile_gpus(engine: str) -> list[str]:
    """GPUs that have a profile file for ``engine``."""
    return sorted(p.name[:-5] for p in _root().joinpath(engine).iterdir() if p.name.endswith(".yaml"))


def parse_profile(data: Any, file: str) -> EngineProfile:
    """An :class:`EngineProfile` from one parsed file; errors name the file and the field."""
    if not isinstance(data, dict):
        raise ProfileError(f"profile {file}: must hold a mapping, got {type(data).__name__}")
    for key in ("engine", "gpu", "status", "basis", "perf", "power"):  # "fitted_by" and "errors": for the record
        if key not in data:
            raise ProfileError(f"profile {file}: field '{key}' is missing")
    if data["status"] not in STATUSES:
        raise ProfileError(f"profile {file}: field 'status' must be one of {list(STATUSES)}, got {data['status']!r}")
    perf, power = data["perf"], data["power"]
    if not isinstance(perf, dict) or set(perf) - set(_PERF_KEYS):
        raise ProfileError(f"profile {file}: field 'perf' takes keys among {list(_PERF_KEYS)}, got {perf!r}")
    if not isinstance(power, dict) or set(power) != set(POWER_KEYS):
        raise ProfileError(f"profile {file}: field 'power' needs exactly the keys {list(POWER_KEYS)}, got {power!r}")
    try:
        if power["static_w"] is not None:
            float(power["static_w"])
        values: dict[str, Any] = {k: (None if v is None else float(v)) for k, v in perf.items()}
        params = InferencePerfParams(**values)
    except (TypeError, ValueError) as exc:
        raise ProfileError(f"profile {file}: field 'perf': {exc}") from None
    return EngineProfile(str(data["engine"]), str(data["gpu"]), str(data["status"]), str(data["basis"]),
                         params, {k: (None if v is None else float(v)) for k, v in power.items()})


@functools.cache
def load_profile(gpu: str, engine: str | None = None) -> EngineProfile:
    """The profile of ``engine`` (default :data:`DEFAULT_ENGINE`) on ``gpu``."""
    engine = engine or DEFAULT_ENGINE
    if engine not in engines():
        raise ProfileError(f"engine profile {engine!r} does not exist; one of {engines()}")
    path = _root().joinpath(engine, f"{gpu}.yaml")
    if not path.is_file():
        raise ProfileError(f"engine profile {engine!r} has no calibration for GPU {gpu!r}; "
                           f"it has {profile_gpus(engine)}")
    file = f"{engine}/{gpu}.yaml"
    prof = parse_profile(yaml.safe_load(path.read_text(encoding="utf-8")), file)
    if prof.engine != engine or prof.gpu != gpu:
        raise ProfileError(f"profile {file}: names engine {prof.engine!r} and GPU {prof.gpu!r}, not its own path")
    return prof


def carried_power(power: dict[str, float | None], src: GpuSpec, dst: GpuSpec) -> dict[str, float | None]:
    """A power fit of ``src`` applied to ``dst``: the same activity weights, the static power at
    the same share of the range from idle to TDP."""
    out = dict(power)
    if power["static_w"] is not None:
        share = (power["static_w"] - src.idle_w) / (src.tdp_w - src.idle_w)
        out["static_w"] = float(f"{dst.idle_w + share * (dst.tdp_w - dst.idle_w):.4g}")
    return out


def dump_profile(engine: str, gpu: str, status: str, basis: str, fitted_by: str, perf: InferencePerfParams,
                 power: dict[str, float | None], errors: dict[str, float] | None = None) -> str:
    """The text of a profile file (the fitting commands write these; nobody edits them by hand)."""
    if status not in STATUSES:
        raise ProfileError(f"status must be one of {list(STATUSES)}, got {status!r}")
    lines = [f"# Written by {fitted_by}; do not edit by hand.",
             f"engine: {engine}", f"gpu: {gpu}", f"status: {status}", f"basis: {basis!r}", f"fitted_by: {fitted_by!r}",
             "perf:"]
    for f in fields(InferencePerfParams):
        v = getattr(perf, f.name)
        lines.append(f"  {f.name}: {'null' if v is None else repr(v)}")
    lines.append("power:")
    lines += [f"  {k}: {'null' if power[k] is None else repr(power[k])}" for k in POWER_KEYS]
    if errors:
        lines.append("errors:  # of the fit on all rows it was fitted on: median absolute % error")
        lines += [f"  {k}: {v:.1f}" for k, v in errors.items()]
    return "\n".join(lines) + "\n"
