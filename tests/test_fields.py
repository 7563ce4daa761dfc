"""Ranges declared on schema fields (dcsim.core.fields): what they allow and how they say it."""

from __future__ import annotations

import dataclasses
import math

import pytest

from dcsim.core.errors import ConfigError
from dcsim.core.fields import Range, check_ranges, field_range, ranged
from dcsim.facility.config import CoolingConfig, StageConfig


@pytest.mark.parametrize("rng,inside,outside,text", [
    (Range(0, 1, low_open=True, what="a fraction"), [1e-9, 0.5, 1], [0, -1, 1.0001], "a fraction in (0, 1]"),
    (Range(0, 0.5, high_open=True, what="a loss fraction"), [0, 0.49], [0.5, -0.1], "a loss fraction in [0, 0.5)"),
    (Range(1, what="an integer"), [1, 10**9], [0, -3], "an integer >= 1"),
    (Range(0, low_open=True, what="seconds", optional=True, note="null: no SLO"), [None, 0.1], [0, -1],
     "seconds > 0, or null (no SLO)"),
    (Range(what="degrees C"), [-40, 0, 1e6], [], "degrees C (finite)"),
])
def test_a_range_allows_its_interval_and_says_so(rng, inside, outside, text):
    """Open and closed ends, one-sided and optional ranges; the allowed text is what an error shows."""
    assert all(rng.allows(v) for v in inside)
    assert not any(rng.allows(v) for v in outside)
    assert rng.allowed() == text


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, True, "1", None])
def test_a_range_refuses_what_is_not_a_finite_number(value):
    """NaN, infinities, booleans, text, and null unless optional, are never in a range."""
    assert not Range(what="a number").allows(value)


def test_check_ranges_names_the_exact_field_and_can_be_limited():
    """check_ranges raises for the first field out of range, as path.field; with names it
    looks only at those fields."""
    @dataclasses.dataclass
    class Demo:
        a: float = ranged(1.0, Range(0, what="seconds"))
        b: int = ranged(2, Range(1, what="an integer"))
        c: str = "free"

    check_ranges(Demo(), "x")
    with pytest.raises(ConfigError) as info:
        check_ranges(Demo(b=0), "x.demo")
    assert (info.value.field, info.value.value, info.value.allowed) == ("x.demo.b", 0, "an integer >= 1")
    check_ranges(Demo(b=0), "x.demo", ("a",))  # b is not looked at


def test_schema_fields_carry_their_ranges_and_defaults_lie_inside():
    """The facility's schema declares ranges beside the defaults (which Hydra still reads as
    plain defaults), and every default is allowed by its own range."""
    assert field_range(CoolingConfig, "carnot_fraction") == Range(0, 1, low_open=True, what="a fraction of the Carnot COP")
    assert CoolingConfig().carnot_fraction == 0.6
    from dcsim.config import schema
    from dcsim.facility import config as fc
    from dcsim.policies import config as pc
    from dcsim.workloads import config as wc

    classes = [c for m in (schema, fc, pc, wc) for c in vars(m).values()
               if isinstance(c, type) and dataclasses.is_dataclass(c)]
    assert StageConfig in classes and len(classes) > 20
    for cls in classes:
        for f in dataclasses.fields(cls):
            rng = field_range(cls, f.name)
            if rng is not None and (cls.__name__, f.name) != ("StorageConfig", "max_power_kw"):  # with storage only
                assert rng.allows(getattr(cls(), f.name)), f"{cls.__name__}.{f.name}"
