"""Errors a user can act on.

A :class:`ConfigError` names the config field, the offending value and what is
allowed; the CLI prints it as one line and exits non-zero, never as a traceback.
"""

from __future__ import annotations

from typing import Any


class ConfigError(ValueError):
    """An impossible or inconsistent configuration value."""

    def __init__(self, field: str, value: Any, allowed: str) -> None:
        self.field = field
        self.value = value
        self.allowed = allowed
        super().__init__(f"{field}={value!r} is not allowed: {allowed}")


def require(ok: bool, field: str, value: Any, allowed: str) -> None:
    """Raise :class:`ConfigError` for ``field`` unless ``ok``."""
    if not ok:
        raise ConfigError(field, value, allowed)
