"""Ranges declared on schema fields, checked where the field is declared.

A schema dataclass declares a numeric field's allowed range with its default::

    carnot_fraction: float = ranged(0.6, Range(0, 1, low_open=True, what="a fraction"))

and a builder checks every declared range of an object at once with
:func:`check_ranges`, so an error names the exact field (``facility.cooling.
carnot_fraction``), the value and what is allowed, and the allowed text is written once,
beside the field. The metadata is invisible to Hydra and OmegaConf, which read only the
default.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from dcsim.core.errors import require

RANGE_KEY = "dcsim_range"


@dataclass(frozen=True)
class Range:
    """A closed or open interval of finite numbers; ``None`` on a side: unbounded there.

    ``what`` says what the number is ("a fraction", "seconds", "kW"); ``note`` adds a
    sentence after the interval (what a special value means). ``optional``: null is
    allowed too (and means what ``note`` says).
    """

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    what: str = "a number"
    note: str = ""
    optional: bool = False

    def allows(self, value: Any) -> bool:
        if value is None:
            return self.optional
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            return False
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        return not (self.high is not None and (value >= self.high if self.high_open else value > self.high))

    def allowed(self) -> str:
        """The allowed text: 'a fraction in (0, 1]', 'seconds >= 0', '... or null'."""
        if self.low is not None and self.high is not None:
            text = (f"{self.what} in {'(' if self.low_open else '['}{self.low:g}, "
                    f"{self.high:g}{')' if self.high_open else ']'}")
        elif self.low is not None:
            text = f"{self.what} {'>' if self.low_open else '>='} {self.low:g}"
        elif self.high is not None:
            text = f"{self.what} {'<' if self.high_open else '<='} {self.high:g}"
        else:
            text = f"{self.what} (finite)"
        note = self.note
        if self.optional:
            text += ", or null"
            note = note.removeprefix("null: ")  # "seconds > 0, or null (no SLO)"
        return f"{text} ({note})" if note else text


def ranged(default: Any, allowed: Range) -> Any:
    """A dataclass field with ``default`` whose values must lie in ``allowed``."""
    return dataclasses.field(default=default, metadata={RANGE_KEY: allowed})


def field_range(cls: Any, name: str) -> Range | None:
    """The declared range of field ``name`` of the dataclass ``cls``, if any."""
    for f in dataclasses.fields(cls):
        if f.name == name:
            found = f.metadata.get(RANGE_KEY)
            return found if isinstance(found, Range) else None
    raise KeyError(name)


def check_ranges(obj: Any, path: str, names: tuple[str, ...] | None = None) -> None:
    """Raise ConfigError for the first field of the dataclass ``obj`` outside its declared
    range, naming it ``path.field``. Fields without a range are not looked at; with
    ``names``, only those fields are (the ones that matter in the object's mode)."""
    for f in dataclasses.fields(obj):
        allowed = f.metadata.get(RANGE_KEY)
        if isinstance(allowed, Range) and (names is None or f.name in names):
            value = getattr(obj, f.name)
            require(allowed.allows(value), f"{path}.{f.name}", value, allowed.allowed())


def require_choice(field: str, value: Any, choices: type[StrEnum]) -> None:
    """Raise ConfigError unless ``value`` is one of the enum's values. Hydra checks enum
    fields when composing; this holds for a config built in Python with plain strings."""
    allowed = [m.value for m in choices]
    require(value in allowed, field, value, f"one of {allowed}")


def positive(field: str, value: Any, what: str = "a number > 0") -> None:
    """Raise ConfigError for ``field`` unless ``value > 0``."""
    require(value > 0, field, value, what)
