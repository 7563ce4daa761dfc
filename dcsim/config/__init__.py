"""Typed configuration: schemas registered with Hydra, and ``build(cfg) -> Scenario``."""

from dcsim.config.build import build, to_config
from dcsim.config.schema import DcsimConfig

__all__ = ["DcsimConfig", "build", "to_config"]
