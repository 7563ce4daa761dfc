"""The dependency rule of ARCHITECTURE.md, checked on the source."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "dcsim"

# Lower ranks never import higher ones (data flows upwards through the ranks).
RANK = {
    "core": 0, "hardware": 1, "facility": 2, "policies": 2, "workloads": 3, "metrics": 4,
    "scenario": 5, "config": 6, "api": 7, "io": 7, "analysis": 8, "cli": 9, "__main__": 9, "conf": 0, "data": 0,
}
# The simulation layers stay free of the configuration and analysis stack.
PURE = {"core", "hardware", "facility", "workloads", "policies"}
FORBIDDEN_IN_PURE = {"hydra", "omegaconf", "pandas", "matplotlib"}


def _modules():
    for path in sorted(PKG.rglob("*.py")):
        rel = path.relative_to(PKG)
        layer = rel.parts[0].removesuffix(".py") if len(rel.parts) > 1 else rel.stem
        if layer == "__init__":
            continue
        yield path, layer


def _imports(path: Path) -> list[str]:
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append(node.module)
    return out


@pytest.mark.parametrize("path,layer", list(_modules()), ids=lambda v: str(v.relative_to(PKG)) if isinstance(v, Path) else v)
def test_layers_import_only_upstream(path, layer):
    """No module imports a layer downstream of its own, and the simulation layers never
    import Hydra, OmegaConf, pandas or matplotlib."""
    for mod in _imports(path):
        top = mod.split(".")[0]
        if layer in PURE:
            assert top not in FORBIDDEN_IN_PURE, f"{path.name} imports {mod}"
        if top == "dcsim" and "." in mod:
            target = mod.split(".")[1]
            assert RANK[target] <= RANK[layer], f"{layer} imports downstream {mod}"
