"""The dependency rules of docs/architecture.md, checked on the source of every module.

Layer order: core < hardware < facility = policies < workloads < metrics < config < io <
analysis < cli. A module imports only its own layer and layers before it; Hydra and
OmegaConf live in config/ and cli.py, pandas in metrics/frames.py, io/ and analysis/,
matplotlib in analysis/.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "dcsim"

# The layers in order (equal ranks may import each other). ``scenario`` wires the
# simulation layers and the recorder together and ``config`` builds it; ``api`` composes,
# builds and runs in-process (it needs config, and nothing of io); ``data`` holds files.
ORDER = (("core",), ("hardware",), ("facility", "policies"), ("workloads",), ("metrics",), ("config",),
         ("io",), ("analysis",), ("cli",))
RANK = {layer: 2 * i for i, group in enumerate(ORDER) for layer in group}
RANK.update(data=0, scenario=RANK["metrics"] + 1, api=RANK["io"], __main__=RANK["cli"])

# Where each of these libraries may be imported: a layer directory ("io/") or one module.
LIBRARY_HOMES = {
    "hydra": ("config/", "cli.py"),
    "omegaconf": ("config/", "cli.py"),
    "pandas": ("metrics/frames.py", "io/", "analysis/"),
    "matplotlib": ("analysis/",),
}
# Imports that break a rule today, each with the change that removes it. A listed
# import that is gone fails test_known_exceptions_are_still_needed: delete its line.
KNOWN_EXCEPTIONS: dict[tuple[str, str], str] = {}  # (module, library): why, while it is being moved


def _modules() -> list[tuple[str, str]]:
    """(path relative to dcsim/, layer) of every module but the package's own __init__."""
    out = []
    for path in sorted(PKG.rglob("*.py")):
        rel = path.relative_to(PKG)
        if rel.as_posix() == "__init__.py":  # dcsim.run: a lazy shortcut to api, above every layer
            continue
        layer = rel.parts[0] if len(rel.parts) > 1 else rel.stem
        out.append((rel.as_posix(), layer))
    return out


def _type_checking_only(tree: ast.AST) -> set[int]:
    """ids of the import nodes inside ``if TYPE_CHECKING:`` blocks (never executed)."""
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            ids |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    return ids


def _imports(rel: str) -> list[tuple[str, bool]]:
    """(imported module, at run time?) of every absolute import in a module, nested ones too;
    ``from dcsim import X`` counts as importing ``dcsim.X``."""
    tree = ast.parse((PKG / rel).read_text())
    typing_only = _type_checking_only(tree)
    out = []
    for node in ast.walk(tree):
        runtime = id(node) not in typing_only
        if isinstance(node, ast.Import):
            out += [(a.name, runtime) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{rel} uses a relative import; dcsim imports absolutely"
            assert node.module is not None
            if node.module == "dcsim":
                out += [(f"dcsim.{a.name}", runtime) for a in node.names]
            else:
                out.append((node.module, runtime))
    return out


def _home(rel: str, library: str) -> bool:
    return any(rel.startswith(h) if h.endswith("/") else rel == h for h in LIBRARY_HOMES[library])


MODULES = _modules()


def test_every_layer_has_a_rank():
    """A new top-level package or module gets its place in the order before it lands."""
    unranked = sorted({layer for _, layer in MODULES} - set(RANK))
    assert not unranked, f"layers without a rank in ORDER: {unranked}"


@pytest.mark.parametrize("rel,layer", MODULES, ids=[rel for rel, _ in MODULES])
def test_layers_import_only_upstream(rel, layer):
    """No module imports a layer after its own (type-only imports included)."""
    for mod, _ in _imports(rel):
        parts = mod.split(".")
        if parts[0] == "dcsim" and len(parts) > 1 and parts[1] in RANK:
            assert RANK[parts[1]] <= RANK[layer], f"{rel} ({layer}) imports {mod}, a later layer"


@pytest.mark.parametrize("rel,layer", MODULES, ids=[rel for rel, _ in MODULES])
def test_libraries_only_in_their_layers(rel, layer):
    """Hydra/OmegaConf only in config/ and cli.py, pandas only in metrics/frames.py, io/ and
    analysis/, matplotlib only in analysis/ (a type-only import under TYPE_CHECKING loads nothing)."""
    for mod, runtime in _imports(rel):
        lib = mod.split(".")[0]
        if lib in LIBRARY_HOMES and runtime and not _home(rel, lib) and (rel, lib) not in KNOWN_EXCEPTIONS:
            pytest.fail(f"{rel} imports {mod}: {lib} belongs in {', '.join(LIBRARY_HOMES[lib])} only")


def test_known_exceptions_are_still_needed():
    """Every listed exception is still a real import, so the list shrinks as the code is fixed."""
    stale = [(rel, lib) for rel, lib in KNOWN_EXCEPTIONS
             if not any(m.split(".")[0] == lib and rt for m, rt in _imports(rel))]
    assert not stale, f"no longer imported, remove from KNOWN_EXCEPTIONS: {stale}"


def test_the_checker_sees_a_violation(tmp_path, monkeypatch):
    """The checks fail on a module that breaks them (a checker that finds nothing proves nothing)."""
    bad = tmp_path / "dcsim"
    (bad / "hardware").mkdir(parents=True)
    (bad / "hardware" / "bad.py").write_text(
        "from typing import TYPE_CHECKING\nimport pandas\nfrom dcsim import metrics\n"
        "if TYPE_CHECKING:\n    import matplotlib\n")
    monkeypatch.setattr(sys.modules[__name__], "PKG", bad)
    assert _imports("hardware/bad.py") == [("typing", True), ("pandas", True), ("dcsim.metrics", True),
                                           ("matplotlib", False)]
    with pytest.raises(AssertionError, match="a later layer"):
        test_layers_import_only_upstream("hardware/bad.py", "hardware")
    with pytest.raises(pytest.fail.Exception, match="pandas belongs in"):
        test_libraries_only_in_their_layers("hardware/bad.py", "hardware")


def test_docs_state_the_order_the_test_holds():
    """docs/architecture.md writes the layer order this test enforces."""
    order = " < ".join(" = ".join(group) for group in ORDER)
    assert order in (ROOT / "docs" / "architecture.md").read_text()
