"""Shared fixtures: scenarios run once per test session."""

from __future__ import annotations

import pytest

import dcsim


@pytest.fixture(scope="session")
def default_results():
    """The default scenario (inference and training together), shortened to 20 minutes."""
    return dcsim.run(["duration_s=1200"])


def single_replica_overrides(**values) -> list[str]:
    """Overrides for one replica of the chat service on the default facility."""
    base = {
        "workload": "inference_only",
        "workload.services.chat.replicas": 1,
        "workload.services.chat.tp": 8,
    }
    base.update({k.replace("__", "."): v for k, v in values.items()})
    return [f"{k}={v}" for k, v in base.items()]
