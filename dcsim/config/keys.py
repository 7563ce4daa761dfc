"""The keys each schema allows, for strict checks and helpful error messages."""

from __future__ import annotations

import dataclasses
import typing
from typing import Any

from omegaconf import DictConfig, ListConfig

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
        elif typing.get_origin(node) in (dict, list):
            node = typing.get_args(node)[-1]  # a dict's value, a list's item
        else:
            return None
    return node if isinstance(node, type) and dataclasses.is_dataclass(node) else None


def schema_paths(cls: type, node: Any = DcsimConfig, path: str = "") -> list[str]:
    """Where the schema ``cls`` sits in the config, as dotted paths (``<name>`` for a key of
    a dict, ``<i>`` for an item of a list): FaultConfig is at ``facility.faults.<i>``."""
    if node is cls:
        return [path]
    if typing.get_origin(node) in (dict, list):
        inner = typing.get_args(node)[-1]
        return schema_paths(cls, inner, f"{path}.<{'name' if typing.get_origin(node) is dict else 'i'}>")
    if not (isinstance(node, type) and dataclasses.is_dataclass(node)):
        return []
    return [p for name, hint in _hints(node).items()
            for p in schema_paths(cls, hint, f"{path}.{name}" if path else name)]


def unknown_key_hint(key: str, schema: Any = None) -> str | None:
    """What to say after 'Key KEY not in ...': the keys its schema has. ``schema`` is the
    dataclass OmegaConf names as the node's type (its path is then looked up), else the
    schema is found from the dotted ``key``."""
    if isinstance(schema, type) and dataclasses.is_dataclass(schema):
        where = " and ".join(schema_paths(schema)) or schema.__name__
        return f"keys of {where} are {[f.name for f in dataclasses.fields(schema)]}"
    parent = key.rpartition(".")[0]
    allowed = allowed_keys(parent)
    return None if allowed is None else f"keys of {parent or 'the top level'} are {allowed}"


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
        elif typing.get_origin(hint) is list and isinstance(value, ListConfig):
            inner = typing.get_args(hint)[0]
            if isinstance(inner, type) and dataclasses.is_dataclass(inner):
                for i, item in enumerate(value):
                    if isinstance(item, DictConfig):
                        check_no_unknown_keys(item, inner, f"{field}.{i}")
