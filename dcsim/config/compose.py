"""The packaged config (``dcsim/conf``), composed with overrides by Hydra."""

from __future__ import annotations

from hydra import compose, initialize_config_module
from omegaconf import DictConfig

from dcsim.config.store import register_configs

CONFIG_MODULE = "dcsim.conf"
CONFIG_NAME = "config"


def compose_config(overrides: list[str] | tuple[str, ...] = ()) -> DictConfig:
    """The composed config of the packaged ``conf/`` with ``overrides`` (Hydra syntax)."""
    register_configs()
    with initialize_config_module(config_module=CONFIG_MODULE, version_base="1.3"):
        return compose(config_name=CONFIG_NAME, overrides=list(overrides))
