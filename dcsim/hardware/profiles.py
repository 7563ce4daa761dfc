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
engines and GPUs that exist. A GPU added through ``DCSIM_CATALOGUE_PATH`` (docs/extending.md)
either brings a profile file, ``<dir>/calibration/<engine>/<gpu>.yaml``, or says
``uncalibrated`` for the engine in its catalogue entry and runs on the ``H100-SXM`` fit
applied to its own datasheet figures, with the run's summary saying so.

Engines: ``vllm-0.11`` (the default; ML.ENERGY Benchmark v3, vLLM 0.11.1, 2025) and
``splitwise-2023`` (Splitwise's 2023 measurements, Patel et al., ISCA 2024), so an old
study can be rerun and a new engine added as one directory of files and one fit.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, fields
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from dcsim.hardware.catalogue import CATALOGUE_PATH_ENV, catalogue_path, load_yaml, user_directories
from dcsim.hardware.gpus import GPUS, GpuSpec
from dcsim.hardware.performance import InferencePerfParams

DEFAULT_ENGINE = "vllm-0.11"
# The measured GPU whose constants a user GPU without a profile file of its own is given
# (its catalogue entry saying ``uncalibrated`` for the engine), as the shipped MI300X profiles are.
REFERENCE_GPU = "H100-SXM"
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


def _user_profile(engine: str, gpu: str) -> Path | None:
    """``<dir>/calibration/<engine>/<gpu>.yaml`` of the first ``DCSIM_CATALOGUE_PATH`` directory that has it."""
    for d in user_directories("calibration"):
        if (d / engine / f"{gpu}.yaml").is_file():
            return d / engine / f"{gpu}.yaml"
    return None


def _carried_gpus(engine: str) -> list[str]:
    """User GPUs (``DCSIM_CATALOGUE_PATH``) whose entry says ``uncalibrated`` for ``engine``: the
    reference GPU's profile applies to them without a file of their own."""
    return [name for name, g in GPUS.items()
            if name not in GPUS.packaged and g.calibration.get(engine) == "uncalibrated"]


def profile_gpus(engine: str) -> list[str]:
    """GPUs that have a profile for ``engine``: a shipped or user file, or a user GPU carried
    from :data:`REFERENCE_GPU`."""
    shipped = {p.name[:-5] for p in _root().joinpath(engine).iterdir() if p.name.endswith(".yaml")}
    user = {p.name[:-5] for d in user_directories("calibration") if (d / engine).is_dir()
            for p in (d / engine).iterdir() if p.name.endswith(".yaml")}
    return sorted(shipped | user | set(_carried_gpus(engine)))


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


def load_profile(gpu: str, engine: str | None = None) -> EngineProfile:
    """The profile of ``engine`` (default :data:`DEFAULT_ENGINE`) on ``gpu``.

    Looked for as the shipped file, then as ``<dir>/calibration/<engine>/<gpu>.yaml`` in the
    ``DCSIM_CATALOGUE_PATH`` directories; a user GPU whose catalogue entry says
    ``uncalibrated`` for the engine and has no file gets :data:`REFERENCE_GPU`'s constants
    on its own datasheet figures (as the shipped uncalibrated profiles do), and says so.
    """
    return _load_profile(gpu, engine or DEFAULT_ENGINE, catalogue_path())


@functools.cache
def _load_profile(gpu: str, engine: str, catalogue: tuple[str, ...]) -> EngineProfile:
    # ``catalogue`` (the DCSIM_CATALOGUE_PATH of the call) is part of the cache key only.
    if engine not in engines():
        raise ProfileError(f"engine profile {engine!r} does not exist; one of {engines()}")
    shipped = _root().joinpath(engine, f"{gpu}.yaml")
    path: Traversable | Path | None = shipped if shipped.is_file() else _user_profile(engine, gpu)
    file = f"{engine}/{gpu}.yaml" if path is shipped else str(path)
    if path is None:
        if gpu in _carried_gpus(engine):
            ref = _load_profile(REFERENCE_GPU, engine, catalogue)
            basis = (f"no measurement of {engine} on {gpu} (a user catalogue GPU with no profile file): the "
                     f"{REFERENCE_GPU} fit applied to the {gpu} datasheet figures")
            return EngineProfile(engine, gpu, "uncalibrated", basis, ref.perf,
                                 carried_power(ref.power, GPUS[REFERENCE_GPU], GPUS[gpu]))
        raise ProfileError(f"engine profile {engine!r} has no calibration for GPU {gpu!r}; "
                           f"it has {profile_gpus(engine)} (a GPU of your own gets one with "
                           f"'calibration: {{{engine}: uncalibrated}}' in its file, or a profile "
                           f"<dir>/calibration/{engine}/{gpu}.yaml in {CATALOGUE_PATH_ENV})")
    prof = parse_profile(load_yaml(path.read_text(encoding="utf-8")), file)
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
