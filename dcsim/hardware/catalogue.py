"""Reading a catalogue of YAML files (GPUs, models, cooling technologies, rack presets): one spec per file, keyed by its name.

The catalogues share their file handling; each passes its own parser and its own error
class (constructed as ``error(file, field, problem)``, so every message names the file).

Each catalogue is the packaged directory ``dcsim/data/<kind>/`` plus, for every directory
named in the environment variable ``DCSIM_CATALOGUE_PATH`` (``os.pathsep``-separated, as
``PATH``), its ``<kind>/`` subdirectory when it has one: a user adds a GPU, a model or a
cooling technology by writing one file there, without editing the package
(docs/extending.md). A user entry may not reuse a shipped name (the error names both
files). :class:`Catalogue` is the mapping the rest of dcsim reads; it loads on first use
and loads again when ``DCSIM_CATALOGUE_PATH`` has changed.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, MutableMapping
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, TypeVar

import yaml

T = TypeVar("T")

CATALOGUE_PATH_ENV = "DCSIM_CATALOGUE_PATH"


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


# libyaml's parser when PyYAML was built with it (the wheels are): the same documents, ~10x
# faster than the pure-Python one, which was a tenth of the import of dcsim.api
_SAFE_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yaml(text: str) -> Any:
    """``yaml.safe_load`` with libyaml's parser where available."""
    return yaml.load(text, Loader=_SAFE_LOADER)


def read_file(path: Traversable | Path | str, parse: Callable[[Any, str], T], error: Callable[..., Exception]) -> T:
    """Parse one YAML file with ``parse(data, file)``; invalid YAML is ``error(file, None, ...)``."""
    path = Path(path) if isinstance(path, str) else path
    file = str(path)
    try:
        data = load_yaml(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise error(file, None, f"is not valid YAML: {' '.join(str(exc).split())}") from None
    return parse(data, file)


class CataloguePathError(ValueError):
    """An entry of ``DCSIM_CATALOGUE_PATH`` that is not a directory."""

    def __init__(self, entry: str) -> None:
        self.entry = entry
        super().__init__(f"{CATALOGUE_PATH_ENV}={os.environ.get(CATALOGUE_PATH_ENV, '')!r}: {entry!r} is not a "
                         f"directory; allowed: directories (separated by {os.pathsep!r}) holding gpus/, models/, "
                         f"cooling/ or racks/ subdirectories of *.yaml files")


def catalogue_path() -> tuple[str, ...]:
    """The directories named in ``DCSIM_CATALOGUE_PATH``, in order (empty entries skipped)."""
    return tuple(e for e in os.environ.get(CATALOGUE_PATH_ENV, "").split(os.pathsep) if e.strip())


def user_directories(packaged: str) -> list[Path]:
    """The ``<packaged>/`` subdirectories of the ``DCSIM_CATALOGUE_PATH`` directories that have one."""
    out = []
    for entry in catalogue_path():
        root = Path(entry).expanduser()
        if not root.is_dir():
            raise CataloguePathError(entry)
        if (root / packaged).is_dir():
            out.append(root / packaged)
    return out


def _yaml_files(directory: Traversable | Path) -> list[Traversable | Path]:
    return sorted((p for p in directory.iterdir() if p.name.endswith(".yaml")), key=lambda p: p.name)


def read_directory(directory: Traversable | Path | str | None, packaged: str, parse: Callable[[Any, str], T],
                   error: Callable[..., Exception], kind: str, extra: list[Path] | None = None) -> dict[str, T]:
    """Every ``*.yaml`` of ``directory`` (default: ``dcsim/data/<packaged>``), then of each ``extra``
    directory, by the ``name`` of its spec; a name defined twice is an error naming both files."""
    if directory is None:
        directory = resources.files("dcsim.data").joinpath(packaged)
    elif isinstance(directory, str):
        directory = Path(directory)
    files = _yaml_files(directory)
    if not files:
        raise error(str(directory), None, f"no *.yaml {kind} files found")
    for more in extra or ():
        files += _yaml_files(more)
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


class Catalogue(MutableMapping[str, T]):
    """Specs by name: the packaged ``dcsim/data/<packaged>/`` files plus the user's (``DCSIM_CATALOGUE_PATH``).

    Loaded on first use and again whenever ``DCSIM_CATALOGUE_PATH`` changes, so importing
    dcsim reads no user file and a process may point the variable elsewhere between runs.
    ``packaged`` holds the shipped entries alone (read at construction: they are part of
    the package). Item assignment patches the loaded catalogue in place (tests use it).
    """

    def __init__(self, packaged: str, parse: Callable[[Any, str], T], error: Callable[..., Exception],
                 kind: str) -> None:
        self._dir, self._parse, self._error, self.kind = packaged, parse, error, kind
        self.packaged: dict[str, T] = read_directory(None, packaged, parse, error, kind)
        self._specs: dict[str, T] | None = None
        self._path: tuple[str, ...] | None = None

    def _current(self) -> dict[str, T]:
        path = catalogue_path()
        if self._specs is None or path != self._path:
            extra = user_directories(self._dir)
            self._specs = (read_directory(None, self._dir, self._parse, self._error, self.kind, extra) if extra
                           else dict(self.packaged))
            self._path = path
        return self._specs

    def __getitem__(self, name: str) -> T:
        return self._current()[name]

    def __setitem__(self, name: str, spec: T) -> None:
        self._current()[name] = spec

    def __delitem__(self, name: str) -> None:
        del self._current()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._current())

    def __len__(self) -> int:
        return len(self._current())

    def __contains__(self, name: object) -> bool:
        return name in self._current()

    def __repr__(self) -> str:
        return f"Catalogue({self._dir!r}, {sorted(self._current())})"


def number(file: str, key: str, value: Any, error: Callable[..., Exception]) -> float:
    """A number of a catalogue file; numeric strings count (PyYAML reads ``2.5e3`` without a dot as text)."""
    if isinstance(value, bool):
        raise error(file, key, f"must be a number, got {value!r}")
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.replace("_", ""))
        except ValueError:
            pass
    raise error(file, key, f"must be a number, got {value!r}")


def text(file: str, key: str, value: Any, error: Callable[..., Exception]) -> str:
    """A non-empty string of a catalogue file, its whitespace collapsed."""
    if not isinstance(value, str) or not value.strip():
        raise error(file, key, f"must be a non-empty string, got {value!r}")
    return " ".join(value.split())


def figure(file: str, key: str, data: Any, error: Callable[..., Exception],
           value_keys: tuple[str, ...] = ("value",)) -> tuple[str, float, str, bool]:
    """One figure of a catalogue file, a mapping with one of ``value_keys``, ``source`` and
    optionally ``assumption``: (which value key, value, source, assumption)."""
    allowed = (*value_keys, "source", "assumption")
    if not isinstance(data, dict):
        raise error(file, key, f"must be a mapping with {' or '.join(value_keys)}, source and optionally "
                               f"assumption, got {data!r}")
    for k in data:
        if k not in allowed:
            raise error(file, f"{key}.{k}", f"is not a figure key; allowed: {list(allowed)}")
    given = [k for k in value_keys if k in data]
    if len(given) != 1:
        raise error(file, key, f"needs exactly one of {list(value_keys)}")
    if "source" not in data:
        raise error(file, f"{key}.source", "is missing: every figure names its provenance")
    assumption = data.get("assumption", False)
    if not isinstance(assumption, bool):
        raise error(file, f"{key}.assumption", f"must be true or false, got {assumption!r}")
    return (given[0], number(file, f"{key}.{given[0]}", data[given[0]], error),
            text(file, f"{key}.source", data["source"], error), assumption)
