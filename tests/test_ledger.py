"""The energy ledger and level monitors on hand-made timelines."""

from __future__ import annotations

import pytest

from dcsim.metrics.ledger import EnergyLedger
from dcsim.metrics.monitors import LevelMonitor


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_piecewise_constant_power_integrates_exactly():
    """100 W for 2 s then 300 W for 3 s is 1,100 J, on the meter and in its totals."""
    clock = Clock()
    led = EnergyLedger(clock)
    m = led.meter("gpu/0", "gpu", "rack/000")
    m.set_power(100.0)
    clock.t = 2.0
    m.set_power(300.0)
    clock.t = 5.0
    led.flush()
    assert m.energy_j == 1100.0
    assert led.energy_j("gpu") == 1100.0
    assert led.group_totals["rack/000"].energy_j == 1100.0
    assert led.facility.energy_j == 1100.0


def test_it_listener_sees_every_change_of_it_power():
    """Overheads that follow IT power are told the new total at each change, and only of IT kinds."""
    clock = Clock()
    led = EnergyLedger(clock)
    seen: list[float] = []
    led.on_it_power_change(seen.append)
    gpu, host, cool = led.meter("g", "gpu"), led.meter("h", "host"), led.meter("c", "cooling")
    gpu.set_power(500.0)
    host.set_power(1000.0)
    cool.set_power(200.0)
    gpu.set_power(500.0)  # no change, no call
    gpu.set_power(50.0)
    assert seen == [500.0, 1500.0, 1050.0]


def test_negative_power_is_refused():
    """A meter never runs backwards."""
    led = EnergyLedger(Clock())
    with pytest.raises(ValueError, match="power must be >= 0"):
        led.meter("g", "gpu").set_power(-1.0)


def test_level_monitor_is_time_weighted():
    """A level of 100 for 1 s and 0 for 99 s has mean 1, not the sample mean 50."""
    clock = Clock()
    mon = LevelMonitor("busy", clock)
    mon.set(100.0)
    clock.t = 1.0
    mon.set(0.0)
    clock.t = 100.0
    assert mon.mean() == pytest.approx(1.0)
    assert mon.maximum == 100.0
    assert mon.integral() == pytest.approx(100.0)


def test_setting_many_meters_integrates_each_and_notifies_once():
    """A replica's TP GPUs change power together: each meter is exact, listeners hear once."""
    clock = Clock()
    led = EnergyLedger(clock)
    seen: list[float] = []
    led.on_it_power_change(seen.append)
    gpus = [led.meter(f"g{i}", "gpu") for i in range(4)]
    led.set_power_many(gpus, 100.0)
    clock.t = 10.0
    led.set_power_many(gpus, 100.0)  # no change, no call
    led.set_power_many(gpus[:2], 50.0)
    clock.t = 20.0
    led.flush()
    assert seen == [400.0, 300.0]
    assert [m.energy_j for m in gpus] == [1500.0, 1500.0, 2000.0, 2000.0]
    assert led.energy_j("gpu") == 7000.0


def test_spread_meter_shares_its_energy_over_groups_and_retires_into_them():
    """A meter split 1/4 : 3/4 over two racks gives each its share, before and after retiring."""
    clock = Clock()
    led = EnergyLedger(clock)
    local = led.meter("gpus/rack0/free", "gpu", "rack/000")
    local.set_power(100.0)
    spread = led.spread_meter("gpus/job#0", "gpu", (("rack/000", 0.25), ("rack/001", 0.75)))
    spread.set_power(400.0)
    clock.t = 10.0
    assert led.group_power_w("rack/000") == 200.0 and led.group_power_w("rack/001") == 300.0
    assert led.group_energy_now_j("rack/000") == 2000.0 and led.group_energy_now_j("rack/001") == 3000.0
    led.retire(spread)
    clock.t = 20.0
    led.flush()
    assert led.group_energy_now_j("rack/000") == 2000.0 + 1000.0
    assert led.group_energy_now_j("rack/001") == 3000.0
    assert led.energy_j("gpu") == led.facility.energy_j == 6000.0
    with pytest.raises(ValueError, match="sum to 1"):
        led.spread_meter("bad", "gpu", (("rack/000", 0.5),))


def test_the_follower_of_it_power_sets_losses_at_each_it_change():
    """A follower (losses of 10 % of IT power) is applied at every IT power change, in the
    same call: the loss energy and the facility total follow the IT timeline exactly, the
    listeners hear once with the final IT power, and a second follower is refused."""
    clock = Clock()
    led = EnergyLedger(clock)
    gpu = led.meter("gpu/0", "gpu", "rack/000")
    loss = led.meter("loss", "conversion_loss")
    led.follow_it_power(lambda it_w: ((loss, 0.1 * it_w),))
    heard: list[float] = []
    led.on_it_power_change(heard.append)
    gpu.set_power(100.0)
    clock.t = 2.0
    gpu.set_power(300.0)
    clock.t = 3.0
    loss.set_power(50.0)  # a change that is not IT power: the follower is not asked
    clock.t = 5.0
    led.flush()
    assert heard == [100.0, 300.0]
    assert loss.power_w == 50.0
    assert led.energy_j("conversion_loss") == pytest.approx(10.0 * 2 + 30.0 * 1 + 50.0 * 2, rel=1e-15)
    assert led.facility.energy_j == pytest.approx(1100.0 + 150.0, rel=1e-15)
    with pytest.raises(ValueError, match="follower"):
        led.follow_it_power(lambda it_w: ())
