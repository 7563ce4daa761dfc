"""Meta's Llama 3 405B layouts as experiments: they build (fit 80 GB), and layouts that do not fit
are refused with one error naming the field to change (conf/experiment/llama3_405b*.yaml)."""

from __future__ import annotations

import pytest
from hydra import compose, initialize_config_module

from dcsim.api import CONFIG_MODULE, CONFIG_NAME
from dcsim.config.build import build
from dcsim.config.store import register_configs
from dcsim.core.errors import ConfigError

register_configs()

META_MFU = {"llama3_405b": 0.41, "llama3_405b_8k_gpus": 0.43, "llama3_405b_128k": 0.38}


def scenario(name: str, *overrides: str):
    with initialize_config_module(config_module=CONFIG_MODULE, version_base=None):
        return build(compose(CONFIG_NAME, overrides=[f"+experiment={name}", *overrides]))


@pytest.mark.parametrize("name", sorted(META_MFU))
def test_meta_layout_builds_with_selective_recomputation_and_meta_mfu(name):
    """Each layout builds with selective recomputation; its job's MFU is within 10 % of Meta's."""
    (job,) = scenario(name).jobs
    assert job.step.mfu == pytest.approx(META_MFU[name], rel=0.10)


@pytest.mark.parametrize("override,field", [
    ("recompute=none", "recompute"),
    ("zero_stage=0", "zero_stage"),
])
def test_layout_that_does_not_fit_is_refused_naming_the_field(override, field):
    """No recomputation at 8K (fits with selective) or no ZeRO sharding (fits with more): one error
    line naming the field to change (a layout neither fixes names parallelism: tests/test_cli.py)."""
    extra = []
    with pytest.raises(ConfigError) as e:
        scenario("llama3_405b", f"workload.training.llama3_405b.{override}", *extra)
    msg = str(e.value)
    assert f"workload.training.llama3_405b.{field}" in msg and "\n" not in msg and "GB per GPU needed" in msg
