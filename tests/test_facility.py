"""The building: power path losses, cooling plant and climate."""

from __future__ import annotations

import pytest

from dcsim.facility.climate import Climate
from dcsim.facility.cooling import TECHNOLOGIES, CoolingPlant
from dcsim.facility.power_path import DEFAULT_STAGES, PowerPath


def default_path(it_w: float = 1e6) -> PowerPath:
    return PowerPath.build(it_w, [st for st in DEFAULT_STAGES if st.name != "psu"])


def test_power_path_chains_losses_from_racks_to_utility():
    """Each stage carries the load below it plus that load's losses."""
    path = default_path()
    out = 600e3
    p = out
    for stage in reversed(path.stages):
        p += stage.loss_w(p)
    assert path.input_w(out) == pytest.approx(p)
    assert path.loss_w(out) == pytest.approx(p - out)
    assert 0.9 < out / path.input_w(out) < 0.99
    assert path.overloaded(out) == [] and path.overloaded(1.2e6) != []


def test_liquid_cooling_needs_less_power_than_air_in_the_same_weather():
    """Per watt of heat, direct-to-chip liquid cooling draws less than air cooling on a warm day."""
    air = CoolingPlant(TECHNOLOGIES["air"]).coefficients(30.0, 22.0).total
    liquid = CoolingPlant(TECHNOLOGIES["direct_liquid"]).coefficients(30.0, 22.0).total
    assert 0 < liquid < air


def test_embedded_climate_reads_the_epw_file():
    """The default climate is Leesburg VA's typical year: 1 Jan hour 1 is 1.1 C, and values
    between hours are interpolated."""
    c = Climate.from_epw(None, 1, 1.0)
    assert len(c.dry_bulb_c) == 8760
    assert c.outdoor_temp_c(0.0) == pytest.approx(1.10)
    mid = c.outdoor_temp_c(1800.0)
    assert mid == pytest.approx((c.dry_bulb_c[0] + c.dry_bulb_c[1]) / 2)
    july = Climate.from_epw(None, 196, 15.0)
    assert july.outdoor_temp_c(0.0) > 20.0
