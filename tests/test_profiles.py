"""Engine profiles: every shipped file loads, names itself, and a run uses its service's profile."""

from __future__ import annotations

import pytest
import yaml

from dcsim.hardware.device import DeviceModel
from dcsim.hardware.gpus import GPUS
from dcsim.hardware.profiles import (
    DEFAULT_ENGINE,
    ProfileError,
    carried_power,
    dump_profile,
    engines,
    load_profile,
    parse_profile,
    profile_gpus,
)


def test_engines_shipped():
    assert set(engines()) >= {"vllm-0.11", "splitwise-2023"}
    assert DEFAULT_ENGINE == "vllm-0.11"


@pytest.mark.parametrize("engine", ["vllm-0.11", "splitwise-2023"])
def test_every_gpu_has_a_profile_under_every_engine(engine):
    # no silent stand-in: each GPU of the catalogue has its own file, whatever its status
    assert set(profile_gpus(engine)) == set(GPUS)
    for gpu in GPUS:
        prof = load_profile(gpu, engine)
        assert prof.engine == engine and prof.gpu == gpu
        assert prof.status in ("measured", "derived", "uncalibrated")


def test_measured_and_derived_statuses():
    assert load_profile("H100-SXM", "vllm-0.11").status == "measured"
    assert load_profile("B200", "vllm-0.11").status == "measured"
    assert load_profile("H200", "vllm-0.11").status == "derived"
    assert load_profile("MI300X", "vllm-0.11").status == "uncalibrated"
    assert load_profile("A100-80GB", "splitwise-2023").status == "measured"


def test_unknown_engine_and_gpu_are_errors():
    with pytest.raises(ProfileError, match="does not exist"):
        load_profile("H100-SXM", "tgi-1.0")
    with pytest.raises(ProfileError, match="no calibration for GPU 'TPU-v5'"):
        load_profile("TPU-v5", "vllm-0.11")


def test_dump_and_parse_round_trip():
    prof = load_profile("H100-SXM", "vllm-0.11")
    text = dump_profile(prof.engine, prof.gpu, prof.status, prof.basis, "test", prof.perf, prof.power)
    again = parse_profile(yaml.safe_load(text), "round-trip")
    assert again == prof


def test_bad_profile_names_the_field():
    prof = load_profile("H100-SXM", "vllm-0.11")
    data = yaml.safe_load(dump_profile(prof.engine, prof.gpu, prof.status, prof.basis, "t", prof.perf, prof.power))
    data["status"] = "guessed"
    with pytest.raises(ProfileError, match="field 'status' must be one of"):
        parse_profile(data, "x.yaml")
    data["status"] = "measured"
    data["perf"]["memory_efficiency"] = 1.5
    with pytest.raises(ProfileError, match="field 'perf'.*memory_efficiency"):
        parse_profile(data, "x.yaml")


def test_carried_power_keeps_the_share_of_the_range():
    h100, b200 = GPUS["H100-SXM"], GPUS["B200"]
    power = {"static_w": h100.idle_w + 0.25 * (h100.tdp_w - h100.idle_w), "compute_weight": 1.0,
             "memory_weight": 0.5, "overhead_weight": 0.1}
    out = carried_power(power, h100, b200)
    assert out["static_w"] == pytest.approx(b200.idle_w + 0.25 * (b200.tdp_w - b200.idle_w), rel=1e-3)
    assert out["memory_weight"] == 0.5


def test_device_per_engine():
    h100 = GPUS["H100-SXM"]
    new, old = DeviceModel.for_gpu(h100), DeviceModel.for_gpu(h100, engine="splitwise-2023")
    assert new.engine == "vllm-0.11" and old.engine == "splitwise-2023"
    assert new.perf != old.perf
    assert new.with_engine("splitwise-2023").perf == old.perf
    assert new.with_cap(400.0).engine == "vllm-0.11"


def test_unknown_engine_in_a_service_is_a_one_line_config_error():
    from dcsim.api import compose_config
    from dcsim.config.build import build
    from dcsim.core.errors import ConfigError

    allowed = r"one of \['splitwise-2023', 'vllm-0.11'\]"
    with pytest.raises(ConfigError, match=r"workload.services.chat.engine='tgi-2' is not allowed: " + allowed):
        build(compose_config(["workload=inference_only", "workload.services.chat.engine=tgi-2"]))


def test_old_engine_reruns_an_old_study():
    """The same service on splitwise-2023 decodes slower than on vllm-0.11 (its per-sequence
    overhead is 4.7x larger), and the summary names the engine."""
    import dcsim

    base = ["workload=inference_only", "workload.services.chat.replicas=1", "duration_s=300", "output.write=false"]
    new = dcsim.run(base).summary()
    old = dcsim.run(base + ["workload.services.chat.engine=splitwise-2023"]).summary()
    assert old["serving_engine"] == "splitwise-2023" and new["serving_engine"] == "vllm-0.11"
    assert old["tpot_p50_s"] > 1.2 * new["tpot_p50_s"]
