"""Override strings (``key=value``) read back by Hydra's own grammar, as Hydra applied them."""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from typing import Any


@lru_cache(maxsize=65536)
def parse_override(text: str) -> tuple[tuple[str, Any], ...]:
    """(key, value) pairs of one override string; none for a deletion (``~key``).

    Scalars keep Hydra's type (``32`` int, ``0.5`` float, ``true`` bool, ``null`` None,
    ``air`` str); lists, dicts and sweeps are kept as the text after ``=``, and a dict's
    scalar leaves are also given under their dotted keys, typed (``facility={num_racks:4}``
    gives ``facility`` and ``facility.num_racks``), since a dict override sets exactly those.
    A string Hydra cannot parse raises ``ValueError`` with Hydra's first line.
    """
    from hydra.errors import HydraException

    try:
        (override,) = _parser().parse_overrides([text])
    except HydraException as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ValueError(f"cannot parse override {text!r}: {first}") from None
    if override.is_delete():
        return ()
    key = override.key_or_group + (f"@{override.package}" if override.package else "")
    if override.is_sweep_override():
        return ((key, text.split("=", 1)[1]),)
    value = override.value()
    if isinstance(value, dict):
        return ((key, text.split("=", 1)[1]), *scalar_leaves(value, key + "."))
    if isinstance(value, list):
        value = text.split("=", 1)[1]
    return ((key, value),)


def scalar_leaves(d: dict[str, Any], prefix: str = "") -> Iterable[tuple[str, Any]]:
    """Scalar leaves of a nested dict as (dotted key, value); lists are left out."""
    for key, value in d.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            yield from scalar_leaves(value, name + ".")
        elif not isinstance(value, list):
            yield name, value


@lru_cache(maxsize=1)
def _parser():
    from hydra.core.override_parser.overrides_parser import OverridesParser

    return OverridesParser.create()
