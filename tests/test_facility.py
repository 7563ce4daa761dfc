"""The building: power path losses, cooling plant and climate."""

from __future__ import annotations

import pytest

from dcsim.facility.climate import Climate
from dcsim.facility.cooling import CoolingPlant
from dcsim.facility.power_path import ConversionStage, PowerPath
import dataclasses

from dcsim.facility.config import CoolingConfig, PowerConfig


def default_path(rated_w: float = 1e6) -> PowerPath:
    cfg = PowerConfig()
    return PowerPath(tuple(ConversionStage(n, rated_w, s.no_load, s.proportional, s.square)
                           for n, s in (("transformer", cfg.transformer), ("ups", cfg.ups), ("pdu", cfg.pdu))))


def test_default_stage_efficiencies_are_in_the_documented_ranges():
    """Transformer ~99 %, double-conversion UPS 94-96 % and PDU ~99 % from 30 % to 100 % load."""
    path = default_path()
    eff = {s.name: [s.efficiency(x * 1e6) for x in (0.3, 0.5, 1.0)] for s in path.stages}
    assert all(0.985 <= e <= 0.995 for e in eff["transformer"])
    assert all(0.935 <= e <= 0.965 for e in eff["ups"])
    assert all(0.985 <= e <= 0.995 for e in eff["pdu"])


def test_power_path_chains_losses_from_racks_to_utility():
    """Each stage carries the load below it plus that load's losses."""
    path = default_path()
    out = 600e3
    pdu_in = out + path.stages[2].loss_w(out)
    ups_in = pdu_in + path.stages[1].loss_w(pdu_in)
    utility = ups_in + path.stages[0].loss_w(ups_in)
    assert path.input_w(out) == pytest.approx(utility)
    assert path.loss_w(out) == pytest.approx(utility - out)
    assert path.overloaded(out) == [] and path.overloaded(1.2e6) == ["pdu", "ups", "transformer"]


def test_cooling_uses_the_economiser_when_cold_and_the_chiller_when_hot():
    """Below the economiser limit only fans and pumps run; above, the chiller's COP falls as it warms."""
    plant = CoolingPlant(**dataclasses.asdict(CoolingConfig()))
    heat = 1e6
    assert plant.power_w(heat, 0.0) == pytest.approx(heat * plant.fan_pump_fraction)
    assert plant.chiller_cop(35.0) < plant.chiller_cop(25.0)
    assert plant.power_w(heat, 35.0) > plant.power_w(heat, 25.0) > plant.power_w(heat, 0.0)


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
