"""The GPU catalogue as data: every file loads with its provenance, a bad file fails in one
line naming file and field, and a run uses its GPU's own thermal limits, min cap and price."""

from __future__ import annotations

import dataclasses
from importlib import resources

import pytest
import yaml

import dcsim
from dcsim.api import compose_config
from dcsim.config.build import build
from dcsim.core.errors import ConfigError
from dcsim.hardware.gpus import CALIBRATION_STATUSES, GPU_PRECISIONS, GPUS, GpuFileError, load_gpu_file, load_gpus

DATA = resources.files("dcsim.data")
GPU_FILES = sorted(p.name for p in DATA.joinpath("gpus").iterdir() if p.name.endswith(".yaml"))
REQUIRED = ("A100-80GB", "H100-SXM", "H200", "B200", "GB200", "GB300", "MI300X")
FIGURES = ("memory_gb", "hbm_tb_s", "nvlink_gb_s", "tdp_w", "idle_w", "throttle_temp_c", "shutdown_temp_c",
           "min_power_cap_w", "price_usd")


def test_catalogue_holds_the_required_gpus_one_file_each():
    assert set(REQUIRED) <= set(GPUS)
    assert len(GPU_FILES) == len(GPUS)
    assert load_gpus() == GPUS


@pytest.mark.parametrize("filename", GPU_FILES)
def test_every_gpu_file_loads_with_figures_in_range_and_a_source_for_each(filename):
    """Each figure is in a physical range, and each carries its provenance."""
    g = load_gpu_file(DATA.joinpath("gpus", filename))
    assert GPUS[g.name] == g
    assert 16e9 <= g.hbm_bytes <= 512e9
    assert 1e12 <= g.hbm_bw_bytes_per_s <= 20e12
    assert 100e9 <= g.nvlink_bw_bytes_per_s <= 3.6e12
    assert 250 <= g.tdp_w <= 2000
    assert 0.05 * g.tdp_w <= g.idle_w <= 0.3 * g.tdp_w
    assert g.idle_w < g.min_power_cap_w <= 0.5 * g.tdp_w
    assert 60 <= g.throttle_temp_c < g.shutdown_temp_c <= 120
    assert 1_000 <= g.price_usd <= 100_000 and g.price_source
    assert g.native_precisions[0] == "bf16" and set(g.native_precisions) <= set(GPU_PRECISIONS)
    assert 100e12 <= g.peak_bf16_flops <= 5e15
    for p in g.native_precisions:
        assert g.peak_flops(p) == g.peak_flops_per_s[p]
        assert g.provenance[f"peak_dense_tflops.{p}"]
    for key in FIGURES:
        assert len(g.provenance[key]) > 10, key
    for key in g.assumptions:  # an assumed figure says why
        assert key in g.provenance
    assert g.calibration and set(g.calibration.values()) <= set(CALIBRATION_STATUSES)


@pytest.mark.parametrize("name,natives", [("A100-80GB", ("bf16",)), ("H100-SXM", ("bf16", "fp8")),
                                          ("H200", ("bf16", "fp8")), ("B200", ("bf16", "fp8", "fp4")),
                                          ("GB200", ("bf16", "fp8", "fp4")), ("GB300", ("bf16", "fp8", "fp4")),
                                          ("MI300X", ("bf16", "fp8"))])
def test_each_gpu_runs_the_precisions_of_its_generation(name, natives):
    """Ampere bf16 only; Hopper and CDNA 3 add fp8; Blackwell adds fp4, at twice fp8, and Blackwell
    Ultra's NVFP4 tensor cores at three times (NVIDIA: 15 PFLOPS dense NVFP4). Dense figures."""
    g = GPUS[name]
    assert g.native_precisions == natives
    if "fp8" in natives:
        assert g.peak_flops("fp8") == pytest.approx(2 * g.peak_flops("bf16"), rel=0.01)
    if "fp4" in natives:
        assert g.peak_flops("fp4") == pytest.approx((3 if name == "GB300" else 2) * g.peak_flops("fp8"))


def test_a_precision_the_gpu_lacks_is_refused_naming_gpu_precision_and_what_it_runs():
    with pytest.raises(ValueError) as err:
        GPUS["A100-80GB"].peak_flops("fp8")
    assert "A100-80GB" in str(err.value) and "fp8" in str(err.value) and "bf16" in str(err.value)
    with pytest.raises(ValueError, match="fp4"):
        GPUS["H100-SXM"].peak_flops("fp4")
    assert GPUS["B200"].peak_flops("fp4") == pytest.approx(9e15)  # HGX B200: 18 PFLOPS sparse


def test_h100_figures_are_the_ones_dcsim_always_had():
    """The default scenario's numbers rest on these: datasheet, 87/92 C, 200 W, $27,500."""
    g = GPUS["H100-SXM"]
    assert (g.peak_bf16_flops, g.hbm_bytes, g.hbm_bw_bytes_per_s, g.tdp_w) == (989.4e12, 80e9, 3.35e12, 700.0)
    assert g.idle_w == pytest.approx(62 / 400 * 700)
    assert (g.throttle_temp_c, g.shutdown_temp_c, g.min_power_cap_w, g.price_usd) == (87.0, 92.0, 200.0, 27_500.0)
    assert GPUS["A100-80GB"].min_power_cap_w == 100.0 and GPUS["A100-80GB"].idle_w == 62.0


@pytest.mark.parametrize("name", REQUIRED)
def test_calibration_status_agrees_with_the_engine_profile_files(name):
    """The catalogue's status per engine is the one the fitted profile file records."""
    g = GPUS[name]
    engines = sorted(p.name for p in DATA.joinpath("calibration").iterdir() if p.is_dir() and not p.name.startswith("_"))
    assert set(g.calibration) == set(engines)
    for engine in engines:
        profile = DATA.joinpath("calibration", engine, f"{name}.yaml")
        assert yaml.safe_load(profile.read_text(encoding="utf-8"))["status"] == g.calibration[engine], engine


def test_calibration_is_the_one_the_brief_describes():
    assert GPUS["H100-SXM"].calibration == {"vllm-0.11": "measured", "splitwise-2023": "measured"}
    assert GPUS["B200"].calibration["vllm-0.11"] == "measured"
    assert GPUS["H200"].calibration["vllm-0.11"] == "derived"
    assert GPUS["A100-80GB"].calibration == {"vllm-0.11": "uncalibrated", "splitwise-2023": "measured"}
    for name in ("GB200", "GB300", "MI300X"):
        assert set(GPUS[name].calibration.values()) == {"uncalibrated"}


GOOD = (DATA / "gpus" / "h100-sxm.yaml").read_text(encoding="utf-8")


@pytest.mark.parametrize("old,new,field,says", [
    ("tdp_w: {value: 700,", "tdp_w: {value: seven hundred,", "tdp_w.value", "must be a number"),
    ("throttle_temp_c:\n  value: 87", "throttle_temp_c:\n  value: 95", "throttle_temp_c", "shutdown_temp_c"),
    ("  fp8: {value: 1979,", "  fp6: {value: 1979,", "peak_dense_tflops.fp6", "is not a precision"),
    ("vllm-0.11: measured", "vllm-0.11: fitted", "calibration.vllm-0.11", "measured"),
    ("min_power_cap_w:\n  value: 200", "min_power_cap_w:\n  value: 50", "min_power_cap_w", "above idle_w"),
    ("price_usd:\n  value: 27500\n  source: >-", "price_usd:\n  value: 27500\n  sauce: >-", "price_usd.sauce",
     "not a figure key"),
    ("memory_gb: {value: 80, source:", "memory_gb: {value: 80, src:", "memory_gb.src", "not a figure key"),
    ("name: H100-SXM\n", "name: H100-SXM\ncolour: green\n", "colour", "not a GPU field"),
])
def test_a_bad_gpu_file_fails_in_one_line_naming_file_field_value_and_what_is_allowed(tmp_path, old, new, field, says):
    assert old in GOOD, old
    bad = tmp_path / "bad-gpu.yaml"
    bad.write_text(GOOD.replace(old, new), encoding="utf-8")
    with pytest.raises(GpuFileError) as err:
        load_gpu_file(bad)
    msg = str(err.value)
    assert "\n" not in msg
    assert str(bad) in msg and f"field '{field}'" in msg and says in msg
    assert err.value.field == field


def test_a_figure_without_a_source_and_a_missing_field_are_refused(tmp_path):
    bad = tmp_path / "nosource.yaml"
    bad.write_text(GOOD.replace("hbm_tb_s: {value: 3.35, source: ", "hbm_tb_s: {value: 3.35, note: "), encoding="utf-8")
    with pytest.raises(GpuFileError, match="hbm_tb_s"):
        load_gpu_file(bad)
    lines = [ln for ln in GOOD.splitlines() if not ln.startswith("nvlink_gb_s")]
    bad.write_text("\n".join(lines), encoding="utf-8")
    with pytest.raises(GpuFileError, match="field 'nvlink_gb_s': is missing"):
        load_gpu_file(bad)


def test_two_files_with_one_name_are_refused(tmp_path):
    (tmp_path / "a.yaml").write_text(GOOD, encoding="utf-8")
    (tmp_path / "b.yaml").write_text(GOOD, encoding="utf-8")
    with pytest.raises(GpuFileError, match="already defined"):
        load_gpus(tmp_path)


# A tiny scenario any GPU can run: one 8-GPU rack, two TP-4 replicas of an 8B model,
# liquid cooled so the 1.2 kW GB200 fits, one simulated minute.
def _tiny(gpu: str, *extra: str) -> list[str]:
    return ["workload=inference_only", "duration_s=60", "facility.num_racks=1", "facility.rack.gpus_per_rack=8",
            "facility.cooling.technology=direct_liquid", f"facility.node.gpu={gpu}",
            "workload.services.chat.model=Llama-3.1-8B", "workload.services.chat.replicas=2",
            "workload.services.chat.arrival_rate_per_s=2.0", *extra]


@pytest.mark.parametrize("name", sorted(GPUS))
def test_every_gpu_entry_builds_and_runs_with_its_own_limits_and_price(name):
    g = GPUS[name]
    scenario = build(compose_config(_tiny(name)))
    assert scenario.facility.thermal.gpu_limit_c == g.throttle_temp_c
    assert scenario.facility.thermal.gpu_shutdown_c == g.shutdown_temp_c
    assert scenario.gpu_min_cap_w == g.min_power_cap_w
    assert scenario.facility.cost.gpu_usd == g.price_usd
    s = scenario.run().summary()
    assert s["requests_completed"] > 0 and s["output_tokens"] > 0
    assert s["capex_gpu_usd"] > 0
    assert s["calibration_status"] == g.calibration["vllm-0.11"]


def test_a_b200_run_reports_the_b200_price_based_gpu_cost():
    """Same GPUs, same minute: the amortised GPU capital scales with the catalogue prices."""
    h100 = dcsim.run(_tiny("H100-SXM")).summary()["capex_gpu_usd"]
    b200 = dcsim.run(_tiny("B200")).summary()["capex_gpu_usd"]
    assert b200 / h100 == pytest.approx(GPUS["B200"].price_usd / GPUS["H100-SXM"].price_usd, rel=1e-9)
    assert b200 / h100 == pytest.approx(35_000 / 27_500, rel=1e-9)


def test_the_run_reads_the_chosen_gpus_own_entry_not_an_h100_constant(monkeypatch):
    """Change the MI300X entry's throttle temperature, min cap and price: the build follows."""
    mi = GPUS["MI300X"]
    monkeypatch.setitem(GPUS, "MI300X", dataclasses.replace(mi, throttle_temp_c=80.0, shutdown_temp_c=95.0,
                                                            min_power_cap_w=250.0, price_usd=12_345.0))
    s = build(compose_config(_tiny("MI300X")))
    assert s.facility.thermal.gpu_limit_c == 80.0 and s.facility.thermal.gpu_shutdown_c == 95.0
    assert s.gpu_min_cap_w == 250.0
    assert s.facility.cost.gpu_usd == 12_345.0


def test_explicit_overrides_still_win_and_a_limit_above_shutdown_is_refused():
    s = build(compose_config(_tiny("B200", "facility.cooling.gpu_limit_c=80", "facility.power.gpu_min_cap_w=400",
                                   "facility.cost.gpu_usd=40000")))
    assert s.facility.thermal.gpu_limit_c == 80.0
    assert s.gpu_min_cap_w == 400.0
    assert s.facility.cost.gpu_usd == 40_000.0
    with pytest.raises(ConfigError) as err:
        build(compose_config(_tiny("H100-SXM", "facility.cooling.gpu_limit_c=95")))
    assert "facility.cooling.gpu_limit_c" in str(err.value) and "92" in str(err.value)
