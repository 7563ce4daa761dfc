"""The named experiments (conf/experiment/*.yaml) and their write-ups (experiments/*/README.md).

Every point of every experiment's sweep is composed and built (not run), so a study whose
sweep would stop on a typo, or refuse other points than its README says, fails here in
seconds rather than minutes into the sweep. The sweep of an experiment is what its
documented command runs: the ``hydra.sweeper.params`` of its config, crossed with any
sweep on the README's ``dcsim ... -m`` command line (as Hydra's basic sweeper does).
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from hydra import compose, initialize_config_module
from omegaconf import OmegaConf

from dcsim import cli
from dcsim.api import CONFIG_MODULE, CONFIG_NAME
from dcsim.config.build import build
from dcsim.config.store import register_configs
from dcsim.core.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
CONF_EXPERIMENTS = ROOT / "conf" / "experiment"
EXPERIMENTS_DIR = ROOT / "experiments"
EXPERIMENTS = sorted(p.stem for p in CONF_EXPERIMENTS.glob("*.yaml"))
READMES = sorted(EXPERIMENTS_DIR.glob("*/README.md"))

register_configs()

def readme(name: str) -> str | None:
    path = EXPERIMENTS_DIR / name / "README.md"
    return path.read_text() if path.is_file() else None


def commands(text: str, name: str) -> list[list[str]]:
    """The ``dcsim`` command lines of a README that run experiment ``name`` (arguments after ``dcsim``)."""
    found = []
    for line in text.splitlines():
        line = line.strip().strip("`")
        if line.startswith("dcsim ") and f"+experiment={name}" in line.split():
            found.append(shlex.split(line)[1:])
    return found


def command_line_sweep(text: str | None, name: str) -> list[str]:
    """The overrides a README's sweep command adds to the experiment (Hydra's own ``hydra.*`` left out)."""
    if text is None:
        return []
    for args in commands(text, name):
        if "-m" in args or "--multirun" in args:
            return [a for a in args if a not in ("-m", "--multirun") and not a.startswith(("hydra.", "hydra/"))
                    and a != f"+experiment={name}"]
    return []


def documented_refusals(text: str | None) -> set[str]:
    """The points a README lists under its "Refused points" heading, one backticked override list each."""
    if text is None:
        return set()
    section = re.search(r"^#+ Refused points\s*$(.*?)(?=^#+ |\Z)", text, re.M | re.S)
    if section is None:
        return set()
    return {" ".join(m.split()) for m in re.findall(r"^\s*[-*]\s+`([^`]+)`", section.group(1), re.M)}


def sweep_points(name: str) -> list[list[str]]:
    """Every run of the experiment's documented sweep, as override lists in Hydra's job order
    (the runs the command line checks before it starts), without the ``+experiment``."""
    runs = cli._runs_requested([f"+experiment={name}", "-m", *command_line_sweep(readme(name), name)])
    return [[o for o in run if o != f"+experiment={name}"] for run in runs]


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_every_sweep_point_builds_or_is_a_documented_refusal(name):
    """Each point of the experiment's sweep builds into a runnable scenario, except exactly the
    points its README lists as refused (which must fail validation with a ConfigError). Points
    that differ only in ``seed`` are built once: the seed takes no part in validation. The
    first and last points are also composed by Hydra in full, and must give the same config."""
    refused: set[str] = set()
    built: dict[tuple[str, ...], bool] = {}
    with initialize_config_module(config_module=CONFIG_MODULE, version_base="1.3"):
        points = sweep_points(name)
        runs = [[f"+experiment={name}", *point] for point in points]
        configs = cli.composed_runs(runs)
        for i, (run, cfg) in enumerate(configs):
            if i in (0, len(runs) - 1):  # the shortcut composes as Hydra does
                full = compose(config_name=CONFIG_NAME, overrides=run)
                assert OmegaConf.to_container(cfg) == OmegaConf.to_container(full)
            key = tuple(o for o in run if not o.startswith("seed="))
            if key not in built:
                try:
                    build(cfg)
                    built[key] = True
                except ConfigError:
                    built[key] = False
            if not built[key]:
                refused.add(" ".join(run[1:]))
    assert refused == documented_refusals(readme(name)), f"{name}: refused points differ from its README"
    assert len(refused) < len(points), f"{name}: every point of the sweep is refused"


def test_experiment_discovery():
    """The studies of the analyst's workflow are all here, each with its write-up."""
    studies = {"rack_density", "climate", "gpu_generation", "oversubscription", "checkpoint_interval"}
    assert studies <= set(EXPERIMENTS)
    assert studies <= {p.parent.name for p in READMES}


@pytest.mark.parametrize("path", READMES, ids=[p.parent.name for p in READMES])
def test_readme_names_its_command_and_an_existing_figure(path):
    """A study's README gives the command that runs its experiment's sweep, the plot script it
    names exists, and the figure it shows is committed beside it."""
    name, text = path.parent.name, path.read_text()
    assert (CONF_EXPERIMENTS / f"{name}.yaml").is_file(), f"no conf/experiment/{name}.yaml"
    sweeps = [args for args in commands(text, name) if "-m" in args or "--multirun" in args]
    assert sweeps, f"{path}: no `dcsim ... +experiment={name} -m` command"
    for script in re.findall(r"python (experiments/\S+\.py)", text):
        assert (ROOT / script).is_file(), f"{path}: {script} does not exist"
    figures = re.findall(r"!\[[^\]]*\]\(([^)\s]+\.png)\)", text)
    assert figures, f"{path}: no figure"
    for figure in figures:
        assert (path.parent / figure).is_file(), f"{path}: {figure} does not exist"


def test_index_lists_every_experiment():
    """experiments/README.md has a row for every conf/experiment option, linking its config."""
    index = (EXPERIMENTS_DIR / "README.md").read_text()
    for name in EXPERIMENTS:
        assert f"conf/experiment/{name}.yaml" in index, f"experiments/README.md has no row for {name}"
    for link in re.findall(r"\]\(([^)#\s]+)\)", index):
        if not link.startswith(("http://", "https://")):
            assert (EXPERIMENTS_DIR / link).resolve().exists(), f"experiments/README.md links to missing {link}"
