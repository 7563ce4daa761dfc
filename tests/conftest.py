"""Shared fixtures: scenarios run once per test session."""

from __future__ import annotations

from pathlib import Path

import pytest

import dcsim

# Public data dcsim does not ship, beside the checkout (../shared/data). A test that needs
# it is marked needs_shared(path); everything dcsim ships (climates, grid, Azure and Philly
# traces, calibration profiles) is read from the package instead, so a clone without
# ../shared skips only these.
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def needs_shared(*paths: Path) -> pytest.MarkDecorator:
    """Skip unless every path exists; the reason names the first missing file."""
    missing = [p for p in paths if not p.exists()]
    reason = f"{missing[0]} is missing (not shipped with dcsim: it comes with ../shared/data)" if missing else ""
    return pytest.mark.skipif(bool(missing), reason=reason)


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


def same_summary(a: dict, b: dict, ignore: tuple[str, ...] = ()) -> bool:
    """Two run summaries equal key for key, bit for bit, NaN equal to NaN (a KPI with nothing
    to measure, such as energy per session without sessions, is NaN in both); ``ignore``: keys
    left out (e.g. ``events_processed``)."""
    keys = a.keys() - set(ignore)
    if keys != b.keys() - set(ignore):
        return False
    return all(a[k] == b[k] or (a[k] != a[k] and b[k] != b[k]) for k in keys)
