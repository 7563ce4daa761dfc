"""Run dcsim from Python: compose the packaged config with overrides, build, run.

    import dcsim
    results = dcsim.run(["workload=inference_only", "duration_s=600"])
    results.summary()["pue"], results.frames()["requests"]
"""

from __future__ import annotations

from dcsim.config.build import build
from dcsim.config.compose import CONFIG_MODULE, CONFIG_NAME, compose_config
from dcsim.metrics.results import Results

__all__ = ["CONFIG_MODULE", "CONFIG_NAME", "compose_config", "run"]


def run(overrides: list[str] | tuple[str, ...] = ()) -> Results:
    """Compose, validate and run one scenario in this process; nothing is written."""
    return build(compose_config(overrides)).run()
