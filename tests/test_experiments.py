"""The named experiments (conf/experiment/*.yaml) and their write-ups (experiments/*/README.md).

Every point of every experiment's sweep is composed and built (not run), so a study whose
sweep would stop on a typo, or refuse other points than its README says, fails here in
seconds rather than minutes into the sweep. The sweep of an experiment is what its
documented command runs: the ``hydra.sweeper.params`` of its config, crossed with any
sweep on the README's ``dcsim ... -m`` command line (as Hydra's basic sweeper does).
"""

from __future__ import annotations

import copy
import functools
import re
import shlex
from pathlib import Path

import pytest
from hydra import compose, initialize_config_module
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import OmegaConf

from dcsim.api import CONFIG_MODULE, CONFIG_NAME
from dcsim.config.build import build
from dcsim.config.store import register_configs
from dcsim.core.errors import ConfigError
from dcsim.io import multirun

ROOT = Path(__file__).resolve().parents[1]
CONF_EXPERIMENTS = ROOT / "conf" / "experiment"
EXPERIMENTS_DIR = ROOT / "experiments"
EXPERIMENTS = sorted(p.stem for p in CONF_EXPERIMENTS.glob("*.yaml"))
READMES = sorted(EXPERIMENTS_DIR.glob("*/README.md"))
GROUPS = {p.name for p in (ROOT / "conf").iterdir() if p.is_dir() and not p.name.startswith(("_", "."))}
PARSER = OverridesParser.create()

register_configs()

# Parsers of the shipped data files that every build runs again (weather, grid carbon): a
# cache of their results, by file text, halves the time to build a point here. Only the
# parsing is cached, never a built object; a parser that moved or was renamed is simply
# not cached (the test is then slower, not wrong).
PARSERS = [("dcsim.facility.climate", "read_epw_fields"), ("dcsim.facility.grid", "read_eia_hourly")]


@pytest.fixture(scope="module", autouse=True)
def cached_data_parsers():
    import importlib

    with pytest.MonkeyPatch.context() as mp:
        for module_name, name in PARSERS:
            module = importlib.import_module(module_name)
            parse = getattr(module, name, None)
            if parse is not None:
                mp.setattr(module, name, functools.lru_cache(maxsize=None)(parse))
        yield


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
    """Every run of the experiment's documented sweep, as override lists in Hydra's job order."""
    cfg = compose(config_name=CONFIG_NAME, overrides=[f"+experiment={name}"], return_hydra_config=True)
    params = OmegaConf.select(cfg, "hydra.sweeper.params") or {}
    swept = [f"{k}={v}" for k, v in params.items()] + command_line_sweep(readme(name), name)
    return multirun.expand_sweep(swept) if swept else [[]]


def point_config(name: str, base, point: list[str]):
    """The composed config of one sweep point. Hydra applies a point's config overrides
    (``key=value``, a dict value merged) to the composed experiment after its defaults, so
    they are applied here to the experiment composed once, the way Hydra does
    (``OmegaConf.update`` with merging): ~100 times faster than composing every point. A
    point that picks a config group option (``scheduler=fifo``) is composed in full."""
    parsed = PARSER.parse_overrides(point)
    if any(o.key_or_group in GROUPS and isinstance(o.value(), str) for o in parsed):
        return compose(config_name=CONFIG_NAME, overrides=[f"+experiment={name}", *point])
    cfg = copy.deepcopy(base)
    for o in parsed:
        OmegaConf.update(cfg, o.key_or_group, o.value(), merge=True)
    return cfg


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
        base = compose(config_name=CONFIG_NAME, overrides=[f"+experiment={name}"])
        for point in {tuple(points[0]), tuple(points[-1])}:
            full = compose(config_name=CONFIG_NAME, overrides=[f"+experiment={name}", *point])
            assert OmegaConf.to_container(point_config(name, base, list(point))) == OmegaConf.to_container(full)
        for point in points:
            key = tuple(o for o in point if not o.startswith("seed="))
            if key not in built:
                try:
                    build(point_config(name, base, list(key)))
                    built[key] = True
                except ConfigError:
                    built[key] = False
            if not built[key]:
                refused.add(" ".join(point))
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
