"""Every notebook in notebooks/ runs top to bottom, at its small size.

Each notebook is executed in a fresh Jupyter kernel of this interpreter, with
DCSIM_NOTEBOOK_SMALL=1 (short runs, few points), in a temporary working directory with
TMPDIR there too, so nothing is left in the checkout. Any cell that raises fails the test
with the cell's error. The notebooks in the repository carry no outputs; executing them here
writes none back. notebooks/README.md says how to run them at full size.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

NOTEBOOKS_DIR = Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob("*.ipynb"))
KERNEL_NAME = "dcsim-notebook-test"


def test_there_are_notebooks():
    """The glob below found the notebooks (a moved folder would otherwise test nothing)."""
    assert len(NOTEBOOKS) >= 6, NOTEBOOKS


def test_notebooks_are_stored_without_outputs():
    """Notebooks are committed cleared (notebooks/README.md): no outputs, no execution counts."""
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert not cell.outputs and cell.execution_count is None, f"{path.name} has outputs: clear them"


@pytest.fixture
def kernel_of_this_interpreter(tmp_path, monkeypatch):
    """A kernelspec that starts ipykernel with ``sys.executable``, first on JUPYTER_PATH, so
    the notebooks run against the dcsim installed here whatever other kernels the user has."""
    spec_dir = tmp_path / "jupyter" / "kernels" / KERNEL_NAME
    spec_dir.mkdir(parents=True)
    spec = {"argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "dcsim tests", "language": "python"}
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    return KERNEL_NAME


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path, tmp_path, monkeypatch, kernel_of_this_interpreter):
    """The notebook executes without an error in any cell, at its small size."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.setenv("DCSIM_NOTEBOOK_SMALL", "1")
    monkeypatch.setenv("TMPDIR", str(work))  # the notebooks' temporary run and sweep directories
    monkeypatch.delenv("MPLBACKEND", raising=False)  # the kernel's inline backend
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, kernel_name=kernel_of_this_interpreter, timeout=600, startup_timeout=120,
                            resources={"metadata": {"path": str(work)}})
    error = None
    try:
        client.execute()
    except CellExecutionError as e:
        error = re.sub(r"\x1b\[[0-9;]*m", "", str(e))  # the kernel's traceback without its colours
    if error is not None:
        pytest.fail(f"{path.name}: a cell failed:\n{error}", pytrace=False)
