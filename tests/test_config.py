"""Composing and building configs in-process: every packaged option, purity, and errors that name the field."""

from __future__ import annotations

import importlib.resources

import pytest

from dcsim.api import compose_config
from dcsim.config.build import build
from dcsim.core.errors import ConfigError
from dcsim.scenario import Scenario

SKIP_DIRS = {"hydra", "__pycache__"}


def _options(folder, prefix: str = "") -> list[tuple[str, str]]:
    """(group, option) for every YAML file in the config groups below ``folder`` (recursively)."""
    found: list[tuple[str, str]] = []
    for entry in folder.iterdir():
        if entry.is_dir() and entry.name not in SKIP_DIRS and not entry.name.startswith("."):
            group = f"{prefix}{entry.name}"
            for sub in entry.iterdir():
                if sub.is_file() and sub.name.endswith((".yaml", ".yml")):
                    found.append((group, sub.name.rsplit(".", 1)[0]))
            found.extend(_options(entry, f"{group}/"))
    return sorted(found)


CONF = importlib.resources.files("dcsim.conf")


def option_override(group: str, option: str) -> str:
    """The override that picks an option; experiments are appended to the defaults list."""
    return f"+{group}={option}" if group == "experiment" else f"{group}={option}"
OPTIONS = _options(CONF)


def test_option_discovery_finds_the_packaged_groups():
    """The packaged conf/ ships its config groups (and this file's discovery of them works)."""
    groups = {g for g, _ in OPTIONS}
    assert {"facility", "workload", "scheduler"} <= groups
    assert ("facility", "small_h100") in OPTIONS
    assert ("workload", "mixed") in OPTIONS
    assert CONF.joinpath("config.yaml").is_file()


@pytest.mark.parametrize("group,option", OPTIONS, ids=[f"{g}={o}" for g, o in OPTIONS])
def test_every_packaged_option_composes_and_builds(group, option):
    """Every option a user can pick with GROUP=OPTION composes and validates into a runnable scenario."""
    cfg = compose_config([option_override(group, option)])
    scenario = build(cfg)
    assert isinstance(scenario, Scenario)
    assert scenario.topology.gpus_total > 0
    assert scenario.duration_s > 0
    assert scenario.services or scenario.jobs, "an option that gives a scenario with no work at all"


def test_default_config_composes_and_builds():
    """The default scenario (no overrides) builds, with the documented 128 GPUs."""
    scenario = build(compose_config())
    assert isinstance(scenario, Scenario)
    assert scenario.topology.gpus_total == 128


def test_compose_and_build_write_nothing(tmp_path, monkeypatch):
    """Composing and building are pure: no output directory or file appears in the working directory."""
    monkeypatch.chdir(tmp_path)
    build(compose_config())
    for group, option in OPTIONS:
        build(compose_config([option_override(group, option)]))
    with pytest.raises(ConfigError):
        build(compose_config(["facility.num_racks=-1"]))
    assert list(tmp_path.iterdir()) == []


# (id, overrides, field the ConfigError names, its value)
CONFIG_ERRORS = [
    ("gpus_per_rack_not_multiple", ["facility.rack.gpus_per_rack=12"], "facility.rack.gpus_per_rack", 12),
    ("job_larger_than_facility", ["workload.training.pretrain_8b.gpus=256"], "workload.training.pretrain_8b.gpus",
     256),
    ("negative_racks", ["facility.num_racks=-2"], "facility.num_racks", -2),
    ("tp_not_divisor", ["workload.services.chat.tp=3"], "workload.services.chat.tp", 3),
    ("model_does_not_fit", ["workload.services.chat.model=Llama-3.1-405B", "workload.services.chat.tp=1"],
     "workload.services.chat.tp", 1),
    ("unknown_gpu", ["facility.node.gpu=H999"], "facility.node.gpu", "H999"),
    ("unknown_model", ["workload.services.chat.model=GPT-9"], "workload.services.chat.model", "GPT-9"),
    ("negative_seed", ["seed=-1"], "seed", -1),
    ("zero_duration", ["duration_s=0"], "duration_s", 0),
    ("hour_out_of_range", ["facility.climate.start_hour=24"], "facility.climate.start_hour", 24),
    ("added_unknown_key", ["+foo=1"], "foo", 1),
    ("added_unknown_service_key", ["+workload.services.chat.speed=3"], "workload.services.chat.speed", 3),
    ("missing_epw", ["facility.climate.epw_path=/nonexistent/weather.epw"], "facility.climate.epw_path",
     "/nonexistent/weather.epw"),
    # plausibility bounds, before anything is allocated
    ("racks_beyond_bound", ["facility.num_racks=100000000"], "facility.num_racks", 100000000),
    ("gpus_beyond_bound", ["facility.num_racks=40000"], "facility.num_racks", 40000),  # 1.28 M GPUs
    ("duration_beyond_bound", ["duration_s=1e12"], "duration_s", 1e12),
    ("duration_infinite", ["duration_s=inf"], "duration_s", float("inf")),
    ("control_steps_beyond_bound", ["facility.control_interval_s=1e-6"], "facility.control_interval_s", 1e-6),
    ("rate_beyond_bound", ["workload.services.chat.arrival_rate_per_s=1e7"], "workload.services.chat.arrival_rate_per_s",
     1e7),
    ("requests_beyond_bound", ["duration_s=1e8"], "workload.services.chat.arrival_rate_per_s", 5.5),
    # power budgets that would be ignored or cannot be held
    ("budget_without_policy", ["facility.power.budget_kw=120"], "facility.power.budget_kw", 120),
    ("budget_below_idle", ["facility.power.budget_kw=1", "facility.power.policy=priority"], "facility.power.budget_kw",
     1),
    # the exact leaf, not its parent
    ("bad_redundancy", ["facility.power.stages.ups.redundancy=N+x"], "facility.power.stages.ups.redundancy", "N+x"),
    ("units_for_redundancy", ["facility.power.stages.ups.units=1"], "facility.power.stages.ups.units", 1),
    ("zero_carnot_fraction", ["facility.cooling.carnot_fraction=0"], "facility.cooling.carnot_fraction", 0),
    ("replicas_beyond_gpus", ["workload.services.chat.replicas=1000"], "workload.services.chat.replicas", 1000),
]


@pytest.mark.parametrize("overrides,field,value", [c[1:] for c in CONFIG_ERRORS], ids=[c[0] for c in CONFIG_ERRORS])
def test_config_error_names_field_and_value(overrides, field, value):
    """An impossible value raises ConfigError carrying the field, the value and a message naming both."""
    cfg = compose_config(overrides)  # composes: only build() knows the value is impossible
    with pytest.raises(ConfigError) as info:
        build(cfg)
    err = info.value
    assert err.field == field
    assert err.value == value
    assert str(err).startswith(f"{field}=")
    assert err.allowed and err.allowed in str(err)
    assert "\n" not in str(err)


def test_replicas_needing_more_gpus_than_the_facility_name_the_field():
    """Replicas that need more GPUs than the facility has raise ConfigError naming the
    service's replicas, the replicas that would fit and the facility's GPUs."""
    cfg = compose_config(["workload=inference_only", "workload.services.chat.replicas=40"])  # 40 x TP4 > 128
    with pytest.raises(ConfigError) as info:
        build(cfg)
    err = info.value
    assert err.field == "workload.services.chat.replicas"
    assert err.value == 40
    assert "at most 32 replicas of tp=4" in err.allowed and "128 GPUs" in err.allowed


def test_a_trace_request_too_long_for_the_gpus_is_blamed_on_its_row(tmp_path):
    """A trace row whose prompt cannot fit in the replicas' memory names the trace file and
    the row, not the TP degree."""
    trace = tmp_path / "t.csv"
    trace.write_text("t_arrival_s,prompt_tokens,output_tokens\n0.0,100,50\n\n1.5,100000000,20\n2.0,300,40\n")
    cfg = compose_config(["workload=azure_conv", f"workload.services.chat.arrivals.trace_path={trace}",
                          "workload.services.chat.arrivals.trace_format=generic"])
    with pytest.raises(ConfigError) as info:
        build(cfg)
    assert info.value.field == "workload.services.chat.arrivals.trace_path"
    assert "row 4 (t.csv:4) asks 100000000 prompt + 20 output tokens" in info.value.allowed  # line 3 is blank


# (override, the values OmegaConf's error must list): choices are enums checked when composing
ENUM_CHOICES = [
    ("workload.services.chat.router=random_walk", "round_robin, least_outstanding, power_aware, prefix_affinity"),
    ("scheduler.name=nope", "fifo, easy_backfill, priority, inference_first"),
    ("scheduler.placement=random", "pack, spread, power_aware, thermal_aware"),
    ("facility.power.policy=max", "none, static, proportional, priority"),
    ("facility.cooling.condenser=wet", "dry, tower"),
    ("facility.cooling.over_density=ignore", "error, throttle"),
    ("workload.services.chat.fidelity=exact", "request, fluid"),
    ("workload.services.chat.arrivals.process=hawkes", "poisson, gamma, diurnal, trace, servegen, closed, sessions"),
    ("workload.services.chat.arrivals.trace_format=xml", "auto, azure, mooncake, generic"),
    ("workload.services.chat.prompt_tokens.distribution=zipf", "constant, exponential, lognormal, uniform, histogram"),
    ("workload.services.chat.autoscale.metric=cpu", "queue, utilisation, slo"),
    ("workload.training.pretrain_8b.recompute=half", "none, selective, full"),
    ("workload.training.pretrain_8b.checkpoint=hourly", "none, fixed, young_daly"),
    ("workload.job_traces.philly.source=alibaba", "philly, synthetic"),
    ("+facility.faults=[{kind:meteor}]", "chiller, utility, power_unit, cdu"),
]


@pytest.mark.parametrize("override,values", ENUM_CHOICES, ids=[o.partition("=")[0] for o, _ in ENUM_CHOICES])
def test_a_bad_choice_fails_when_composing_and_lists_the_choices(override, values):
    """A string choice is an enum in its schema: OmegaConf refuses a value outside it while
    composing (before any build) and its message lists the allowed values."""
    with pytest.raises(Exception) as info:
        compose_config(["workload=philly", override] if "job_traces" in override else [override])
    assert f"expected one of [{values}]" in str(info.value.__cause__ or info.value)


def test_schema_enums_match_their_components():
    """Each enum of a schema holds exactly the choices its component accepts, so neither can
    drift: the registries, the trace formats, the length distributions, recomputation and
    the condensers."""
    from dcsim.facility import config as fc
    from dcsim.facility.cooling import CONDENSERS
    from dcsim.hardware.training import RECOMPUTE_CHOICES
    from dcsim.policies import config as pc
    from dcsim.policies.registry import PLACEMENTS, POWER_POLICIES, ROUTERS, SCHEDULERS
    from dcsim.workloads import config as wc
    from dcsim.workloads.inference.requests import LENGTH_DISTRIBUTIONS
    from dcsim.workloads.inference.traces import TRACE_FORMATS

    pairs = [(pc.SchedulerName, SCHEDULERS), (pc.PlacementName, PLACEMENTS), (pc.RouterName, ROUTERS),
             (pc.PowerPolicyName, POWER_POLICIES), (wc.TraceFormat, TRACE_FORMATS),
             (wc.LengthDistributionKind, LENGTH_DISTRIBUTIONS), (wc.Recompute, RECOMPUTE_CHOICES),
             (fc.Condenser, CONDENSERS)]
    for enum, allowed in pairs:
        assert {m.value for m in enum} == set(allowed), enum.__name__
        assert all(m.name == m.value for m in enum), enum.__name__  # OmegaConf matches a YAML string by name


def test_config_error_is_a_value_error():
    """Callers catching ValueError (as the CLI and library users do) also catch ConfigError."""
    assert issubclass(ConfigError, ValueError)
    with pytest.raises(ValueError):
        build(compose_config(["facility.rack.gpus_per_rack=12"]))


def test_a_config_built_in_python_with_a_bad_string_choice_is_refused_by_build():
    """Enum fields are checked by Hydra when composing; a DcsimConfig made or changed in
    Python can hold any string, and build() still refuses it, naming the field."""
    from dcsim.config.build import to_config

    c = to_config(compose_config([]))
    c.workload.services["chat"].fidelity = "exact"  # type: ignore[assignment]
    with pytest.raises(ConfigError) as info:
        build(c)
    assert info.value.field == "workload.services.chat.fidelity"
    assert "['request', 'fluid']" in info.value.allowed
