"""Register the schemas with Hydra's ConfigStore, in one place.

Each YAML option of a group names its schema in its defaults list
(``- base_facility``), so an unknown key or a wrong type fails when composing.
"""

from __future__ import annotations

from hydra.core.config_store import ConfigStore

from dcsim.config.schema import DcsimConfig
from dcsim.facility.config import FacilityConfig
from dcsim.policies.config import SchedulerConfig
from dcsim.workloads.config import WorkloadConfig

SCHEMAS = {
    "base_config": (None, DcsimConfig),
    "base_facility": ("facility", FacilityConfig),
    "base_workload": ("workload", WorkloadConfig),
    "base_scheduler": ("scheduler", SchedulerConfig),
}


def register_configs() -> None:
    """Store every schema (idempotent)."""
    cs = ConfigStore.instance()
    for name, (group, node) in SCHEMAS.items():
        cs.store(name=name, group=group, node=node)
