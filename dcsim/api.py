"""Run dcsim from Python: compose the packaged config with overrides, build, run.

    import dcsim
    results = dcsim.run(["workload=inference_only", "duration_s=600"])
    results.summary()["pue"], results.frames()["requests"]
"""

from __future__ import annotations

from hydra import compose, initialize_config_module
from omegaconf import DictConfig

from dcsim.config.build import build
from dcsim.config.store import register_configs
from dcsim.metrics.results import Results

CONFIG_MODULE = "dcsim.conf"
CONFIG_NAME = "config"


def compose_config(overrides: list[str] | tuple[str, ...] = ()) -> DictConfig:
    """The composed config of the packaged ``conf/`` with ``overrides`` (Hydra syntax)."""
    register_configs()
    with initialize_config_module(config_module=CONFIG_MODULE, version_base="1.3"):
        return compose(config_name=CONFIG_NAME, overrides=list(overrides))


def run(overrides: list[str] | tuple[str, ...] = ()) -> Results:
    """Compose, validate and run one scenario in this process; nothing is written."""
    return build(compose_config(overrides)).run()
