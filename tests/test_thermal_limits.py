"""Per-GPU thermal limits and a throttle that holds them.

A technology's GPU-to-inlet resistance is its figure at a 700 W GPU; a GPU of another TDP
gets ``R x 700 W / TDP`` (its cooling is sized for its TDP), so no preset GPU throttles at
its technology's nominal inlet. During a chiller fault the throttle caps each rack for the
inlet at the end of the control interval, so no GPU passes its limit by more than one
control step's rise of the inlet (the brief's bound), and here not at all.
"""

from __future__ import annotations

import numpy as np
import pytest

import dcsim
from dcsim.facility.cooling import TECHNOLOGIES
from dcsim.facility.thermal import TECHNOLOGY_REFERENCE_GPU_W, RackThermal
from dcsim.hardware.gpus import GPUS


@pytest.mark.parametrize("tech", sorted(TECHNOLOGIES))
@pytest.mark.parametrize("gpu", sorted(GPUS.packaged))
def test_no_preset_gpu_throttles_at_its_nominal_inlet(tech, gpu):
    """Every packaged GPU at TDP on every technology's nominal inlet stays under its throttle
    temperature, with the rise at TDP the technology's own (the rise of a 700 W GPU)."""
    t, g = TECHNOLOGIES[tech], GPUS.packaged[gpu]
    rack = RackThermal.for_gpu(t, g)
    rise_k = rack.gpu_temp_c(rack.nominal_inlet_c, g.tdp_w) - rack.nominal_inlet_c
    assert rise_k == pytest.approx(t.gpu_resistance_k_per_w * TECHNOLOGY_REFERENCE_GPU_W, rel=1e-12)
    assert rack.throttle_cap_w(rack.nominal_inlet_c, g.tdp_w) is None
    assert rack.gpu_shutdown_c == g.shutdown_temp_c and rack.gpu_min_cap_w == g.min_power_cap_w


def test_b200_is_not_throttled_on_the_default_facility():
    """hardware=b200 at a normal 24 C inlet: no thermal throttling (main: 16 of 21 GPU-hours
    throttled with the H100's resistance), its GPUs at 73 C at full load, as the H100's."""
    s = dcsim.run(["hardware=b200", "duration_s=1200", "output.write=false"]).summary()
    assert s["thermally_throttled_gpu_hours"] == 0.0
    assert s["max_gpu_temp_c"] <= 73.0 + 1e-9
    assert s["max_inlet_temp_c"] == 24.0


CASES = [(tech, share, dt) for tech in ("air", "direct_liquid", "immersion", "rear_door")
         for share in (0.0, 0.5) for dt in (30.0, 120.0)]


@pytest.mark.parametrize(("tech", "share", "interval_s"), CASES)
def test_throttle_holds_the_limit_during_a_chiller_fault(tech, share, interval_s):
    """Training in July Phoenix; the chiller fails (0 % or 50 % left) from 300 s to 1800 s.
    Whatever the technology and control interval, the hottest GPU of every rack stays within
    its 87 C throttle limit plus the largest rise of the inlet over one control interval
    (in fact at the limit: the cap is set for the inlet at the interval's end), and the
    severe cases do throttle."""
    r = dcsim.run(["workload=training_only", "facility.climate.epw_path=phoenix_az",
                   f"facility.cooling.technology={tech}", f"facility.control_interval_s={interval_s}",
                   "duration_s=2400", "output.write=false",
                   f"+facility.faults=[{{kind:chiller,start_s:300,duration_s:1500,capacity_share:{share}}}]"])
    ts = r.frames()["timeseries"]
    racks = ts[ts["component"].str.startswith("rack/")]
    limit = GPUS.packaged["H100-SXM"].throttle_temp_c
    for name, rows in racks.groupby("component"):
        rows = rows.sort_values("t_s")
        step_rise_k = max(float(np.diff(rows["inlet_temp_c"].to_numpy()).max()), 0.0)
        assert rows["gpu_temp_c"].max() <= limit + step_rise_k, name
        assert rows["gpu_temp_c"].max() <= limit + 1e-9, name
    s = r.summary()
    assert s["gpu_thermal_shutdowns"] == 0
    if share == 0.0:
        assert s["thermally_throttled_gpu_hours"] > 0 and s["max_gpu_temp_c"] == pytest.approx(limit, abs=1e-9)
