"""A sweep's command-line overrides expanded into the override list of every run.

Hydra's basic sweeper (the one every dcsim sweep uses, whichever launcher runs the
jobs) crosses the values of each swept key, in the order the keys first appear, and a
key given again replaces its earlier values in that first position. This module does
the same with Hydra's public override parser, so the CLI (to validate every point
before the launcher starts) and the sweep table (to name every run it expected) agree
with the launcher on which runs there are and on their job numbers.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser

from dcsim.core.errors import ConfigError


def expand_sweep(overrides: Sequence[str]) -> list[list[str]]:
    """The override list of every run of a sweep, in Hydra's job order (job num = index).

    ``glob(...)`` over a config group's options needs Hydra initialised (inside a Hydra
    run or an ``initialize_config_module`` block); every other sweep syntax works anywhere.
    A range or interval sweep, which the basic sweeper cannot run, is a ConfigError.
    """
    gh = GlobalHydra.instance()
    parser = OverridesParser.create(config_loader=gh.config_loader() if gh.is_initialized() else None)
    choices: dict[str, list[str]] = {}  # key -> "key=value" of each of its values; first-seen order
    for override in parser.parse_overrides(list(overrides)):
        key = override.get_key_element()
        if not override.is_sweep_override():
            choices[key] = [f"{key}={override.get_value_element_as_str()}"]
        elif override.is_discrete_sweep():
            choices[key] = [f"{key}={value}" for value in override.sweep_string_iterator()]
        else:
            value = str(override.input_line).split("=", 1)[-1]
            raise ConfigError(key, value, "a list of values to sweep (a,b,c or choice(...) or range(...)); "
                                          "sampling an interval(...) needs a sweeper plugin such as Optuna")
    return [list(run) for run in itertools.product(*choices.values())]

