"""From the scheduler schema and the facility's power settings to the policies.

Builders take the typed schema objects (never a DictConfig) and raise
:class:`~dcsim.core.errors.ConfigError` naming the exact field, the value and what is
allowed; ``dcsim.config.build`` composes them.
"""

from __future__ import annotations

from dcsim.core.errors import require
from dcsim.facility.config import PowerConfig
from dcsim.hardware.gpus import GpuSpec
from dcsim.policies.config import SchedulerConfig
from dcsim.policies.power import PowerPolicy
from dcsim.policies.registry import PLACEMENTS, POWER_POLICIES, SCHEDULERS


def check_scheduler(s: SchedulerConfig) -> None:
    """The scheduler and placement policy are registered ones."""
    require(s.name in SCHEDULERS, "scheduler.name", s.name, f"one of {sorted(SCHEDULERS)}")
    require(s.placement in PLACEMENTS, "scheduler.placement", s.placement, f"one of {sorted(PLACEMENTS)}")


def power_policy_from_config(p: PowerConfig, gpu: GpuSpec) -> PowerPolicy:
    """The power-capping policy of facility.power.policy (dcsim.policies.POWER_POLICIES)."""
    require(p.policy in POWER_POLICIES, "facility.power.policy", p.policy, f"one of {sorted(POWER_POLICIES)}")
    if p.policy == "static":
        require(p.static_cap_w is not None and gpu.idle_w < p.static_cap_w <= gpu.tdp_w,
                "facility.power.static_cap_w", p.static_cap_w,
                f"watts between {gpu.name}'s idle {gpu.idle_w:g} W and TDP {gpu.tdp_w:g} W for the static policy")
        return POWER_POLICIES["static"](p.static_cap_w)
    return POWER_POLICIES[p.policy]()


def gpu_min_cap_w(p: PowerConfig, gpu: GpuSpec) -> float:
    """The lowest per-GPU cap a policy may set: facility.power.gpu_min_cap_w, or null for the
    GPU's catalogue min_power_cap_w (nvidia-smi "Min Power Limit" where measured; each
    dcsim/data/gpus file gives its source or marks its assumption)."""
    cap = p.gpu_min_cap_w if p.gpu_min_cap_w is not None else gpu.min_power_cap_w
    require(gpu.idle_w < cap <= gpu.tdp_w, "facility.power.gpu_min_cap_w", cap,
            f"watts between {gpu.name}'s idle {gpu.idle_w:g} W and TDP {gpu.tdp_w:g} W")
    return cap


def check_budget_held(p: PowerConfig, s: SchedulerConfig) -> None:
    """A facility budget is held by a power policy or by power admission, never ignored."""
    require(p.budget_kw is None or p.policy != "none" or s.power_admission, "facility.power.budget_kw", p.budget_kw,
            "null with facility.power.policy=none, which would ignore it: choose a policy that holds the budget "
            "(power_policy=static, proportional or priority) or set scheduler.power_admission=true")
