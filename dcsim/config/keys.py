"""The keys each schema allows, for strict checks and helpful error messages."""

from __future__ import annotations

import dataclasses
import typing
from typing import Any

from omegaconf import DictConfig

from dcsim.config.schema import DcsimConfig
from dcsim.core.errors import ConfigError


def _hints(cls: Any) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def schema_at(path: str) -> type | None:
    """The schema dataclass of the config node at dotted ``path`` ('' is the root), if any."""
    node: Any = DcsimConfig
    for part in [p for p in path.split(".") if p]:
        if dataclasses.is_dataclass(node):
            hint = _hints(node).get(part)
            if hint is None:
                return None
            node = hint
        elif typing.get_origin(node) is dict:
            node = typing.get_args(node)[1]
        else:
            return None
    return node if isinstance(node, type) and dataclasses.is_dataclass(node) else None


def allowed_keys(path: str) -> list[str] | None:
    """Field names of the schema at ``path``, or None when it is not a schema."""
    cls = schema_at(path)
    return [f.name for f in dataclasses.fields(cls)] if cls is not None else None


def check_no_unknown_keys(cfg: DictConfig, cls: type = DcsimConfig, path: str = "") -> None:
    """Raise ConfigError for any key the schema does not define (e.g. added with '+key=')."""
    hints = _hints(cls)
    for key in cfg.keys():
        field = f"{path}.{key!s}" if path else str(key)
        if key not in hints:
            raise ConfigError(field, cfg[key], f"no such key; {path or 'the top level'} has {sorted(hints)}")
        hint = hints[key]
        value = cfg[key]
        if isinstance(hint, type) and dataclasses.is_dataclass(hint) and isinstance(value, DictConfig):
            check_no_unknown_keys(value, hint, field)
        elif typing.get_origin(hint) is dict and isinstance(value, DictConfig):
            inner = typing.get_args(hint)[1]
            if isinstance(inner, type) and dataclasses.is_dataclass(inner):
                for name in value.keys():
                    check_no_unknown_keys(value[name], inner, f"{field}.{name!s}")
