"""Reading a catalogue of YAML files (GPUs, models): one spec per file, keyed by its name.

The catalogues share their file handling; each passes its own parser and its own error
class (constructed as ``error(file, field, problem)``, so every message names the file).
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, TypeVar

import yaml

T = TypeVar("T")


class SpecError(ValueError):
    """A catalogue spec's value that is wrong, naming the field it is in."""

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        self.problem = problem
        super().__init__(f"field '{field}': {problem}")


class CatalogueFileError(ValueError):
    """A catalogue file that cannot be loaded; the message names the kind, file and field."""

    kind = "catalogue"

    def __init__(self, file: str, field: str | None, problem: str) -> None:
        self.file = file
        self.field = field
        where = f"field '{field}': " if field else ""
        super().__init__(f"{self.kind} file {file}: {where}{problem}")


def read_file(path: Traversable | Path | str, parse: Callable[[Any, str], T], error: Callable[..., Exception]) -> T:
    """Parse one YAML file with ``parse(data, file)``; invalid YAML is ``error(file, None, ...)``."""
    path = Path(path) if isinstance(path, str) else path
    file = str(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise error(file, None, f"is not valid YAML: {' '.join(str(exc).split())}") from None
    return parse(data, file)


def read_directory(directory: Traversable | Path | str | None, packaged: str, parse: Callable[[Any, str], T],
                   error: Callable[..., Exception], kind: str) -> dict[str, T]:
    """Every ``*.yaml`` of ``directory`` (default: ``dcsim/data/<packaged>``) by the ``name`` of its spec."""
    if directory is None:
        directory = resources.files("dcsim.data").joinpath(packaged)
    elif isinstance(directory, str):
        directory = Path(directory)
    files = sorted((p for p in directory.iterdir() if p.name.endswith(".yaml")), key=lambda p: p.name)
    if not files:
        raise error(str(directory), None, f"no *.yaml {kind} files found")
    specs: dict[str, T] = {}
    origin: dict[str, str] = {}
    for path in files:
        spec = read_file(path, parse, error)
        name = spec.name  # type: ignore[attr-defined]
        if name in specs:
            raise error(str(path), "name", f"{name!r} is already defined in {origin[name]}")
        specs[name] = spec
        origin[name] = str(path)
    return specs
