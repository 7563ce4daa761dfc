"""Validation declared where a config field is.

A schema dataclass declares a field's range beside its default::

    tau_s: float = bounded(60.0, gt=0)
    share: float = bounded(0.02, ge=0, le=1)
    redundancy: str = matching("N", r"N|N\\+[0-9]+|2N", "N, N+k or 2N")

and :func:`check_fields` walks a typed config object (nested dataclasses, dicts and lists
of them) and raises :class:`~dcsim.core.errors.ConfigError` for the first field out of its
range, naming the field's full dotted path, its value and what is allowed. Every float is
also refused when it is NaN, and when it is infinite unless the field says ``allow_inf``,
so an unbounded field cannot carry an impossible number into the simulation either.
Fields left ``None`` (optional, "not set") are not checked.

The metadata is plain :func:`dataclasses.field` metadata, which Hydra and OmegaConf ignore,
so schemas stay free of any config library.
"""

from __future__ import annotations

import dataclasses
import math
import re
from enum import StrEnum
from typing import Any

from dcsim.core.errors import ConfigError

_BOUNDS = "dcsim.bounds"
_PATTERN = "dcsim.pattern"

# Units read off a field's name (units are in names in dcsim), for the "allowed" text.
_UNIT_SUFFIXES = (
    ("_per_s_per_gpu", "per s per GPU"), ("_gbit_per_s", "Gbit/s"), ("_gbyte_per_s", "GB/s"), ("_per_s", "per s"),
    ("_usd_per_kwh", "USD/kWh"), ("_usd_per_w", "USD/W"), ("_usd", "USD"), ("_kwh", "kWh"), ("_kw", "kW"),
    ("_w", "W"), ("_m2", "m^2"), ("_s", "s"), ("_c", "C"), ("_k", "K"), ("_hour", "h"),
)


def bounded(default: Any, *, ge: float | None = None, gt: float | None = None, le: float | None = None,
            lt: float | None = None, allow_inf: bool = False) -> Any:
    """A dataclass field with ``default`` whose value must lie in the given range."""
    return dataclasses.field(default=default, metadata={_BOUNDS: (ge, gt, le, lt, allow_inf)})


def matching(default: str | None, pattern: str, allowed: str) -> Any:
    """A string field with ``default`` whose value must match ``pattern`` (whole string)."""
    return dataclasses.field(default=default, metadata={_PATTERN: (re.compile(pattern), allowed)})


def _unit(name: str) -> str:
    return next((f" {unit}" for suffix, unit in _UNIT_SUFFIXES if name.endswith(suffix)), "")


def _range_text(bounds: tuple[Any, ...], is_int: bool, unit: str) -> str:
    ge, gt, le, lt, _ = bounds
    kind = "an integer" if is_int else "a number"
    lo = (f"[{ge:g}" if ge is not None else f"({gt:g}" if gt is not None else None)
    hi = (f"{le:g}]" if le is not None else f"{lt:g})" if lt is not None else None)
    if lo and hi:
        return f"{kind} in {lo}, {hi}{unit}"
    if lo:
        return f"{kind} {'>=' if ge is not None else '>'} {lo[1:]}{unit}"
    if hi:
        return f"{kind} {'<=' if le is not None else '<'} {hi[:-1]}{unit}"
    return f"a finite {kind[2:] if is_int else 'number'}{unit}"


def _in_range(v: float, bounds: tuple[Any, ...]) -> bool:
    ge, gt, le, lt, _ = bounds
    return ((ge is None or v >= ge) and (gt is None or v > gt) and (le is None or v <= le)
            and (lt is None or v < lt))


def _check_value(path: str, name: str, value: Any, meta: Any) -> None:
    if isinstance(value, bool) or value is None:
        return
    if isinstance(value, str):
        if _PATTERN in meta:
            regex, allowed = meta[_PATTERN]
            if not regex.fullmatch(value):
                raise ConfigError(path, value, allowed)
        return
    if not isinstance(value, int | float):
        return
    bounds = meta.get(_BOUNDS, (None, None, None, None, False))
    unit = _unit(name)
    if isinstance(value, float) and (math.isnan(value) or (math.isinf(value) and not bounds[4])):
        raise ConfigError(path, value, _range_text(bounds, False, unit))
    if not _in_range(value, bounds):
        raise ConfigError(path, value, _range_text(bounds, isinstance(value, int), unit))


def check_fields(obj: Any, prefix: str = "") -> None:
    """Raise :class:`ConfigError` for the first field of ``obj`` (recursively) outside its
    declared range, or a float that is NaN or (unless allowed) infinite."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        for f in dataclasses.fields(obj):
            path = f"{prefix}.{f.name}" if prefix else f.name
            value = getattr(obj, f.name)
            if dataclasses.is_dataclass(value) or isinstance(value, dict | list):
                check_fields(value, path)
            else:
                _check_value(path, f.name, value, f.metadata)
    elif isinstance(obj, dict):
        for key, value in obj.items():
            check_fields(value, f"{prefix}.{key}")
    elif isinstance(obj, list):
        for i, value in enumerate(obj):
            check_fields(value, f"{prefix}.{i}")


def require_choice(field: str, value: Any, choices: type[StrEnum]) -> None:
    """Raise ConfigError unless ``value`` is one of the enum's values. Hydra checks enum
    fields when composing; this holds for a config built in Python with plain strings."""
    allowed = [m.value for m in choices]
    if value not in allowed:
        raise ConfigError(field, value, f"one of {allowed}")


def positive(field: str, value: Any, what: str = "a number > 0") -> None:
    """Raise ConfigError for ``field`` unless ``value > 0``."""
    if not value > 0:
        raise ConfigError(field, value, what)
