"""Serving at another weight / KV precision: with_precision copies, KV capacity that follows,
and the service fields that refuse a precision the GPU cannot run, in one line."""

from __future__ import annotations

import dataclasses
import importlib
from types import SimpleNamespace

import pytest

from dcsim.api import compose_config
from dcsim.config.build import build
from dcsim.core.errors import ConfigError
from dcsim.hardware.gpus import GPUS
from dcsim.hardware.models import MODELS, LlmSpecError
from dcsim.hardware.performance import max_kv_tokens

facility_build = importlib.import_module("dcsim.facility.build")  # where the GPU is looked up
service_build = importlib.import_module("dcsim.workloads.inference.build")

# What each part runs natively, for the tests that need it before GpuSpec carries it.
NATIVE = {"A100-80GB": ("bf16", "fp16"), "H100-SXM": ("bf16", "fp16", "fp8"), "H200": ("bf16", "fp16", "fp8"),
          "B200": ("bf16", "fp16", "fp8", "fp4"), "GB200": ("bf16", "fp16", "fp8", "fp4")}


class _WithNative:
    """A GpuSpec seen with a native_precisions attribute (until GpuSpec has its own)."""

    def __init__(self, spec, native):
        self._spec, self.native_precisions = spec, native

    def __getattr__(self, name):
        return getattr(self._spec, name)


@pytest.fixture
def native_gpus(monkeypatch):
    """GPUS as the build sees them, each with native_precisions (its own if it has one)."""
    patched = {n: g if hasattr(g, "native_precisions") else _WithNative(g, NATIVE.get(n, ("bf16",)))
               for n, g in GPUS.items()}
    monkeypatch.setattr(facility_build, "GPUS", patched)
    return patched


def _chat(overrides, gpu="H100-SXM"):
    cfg = compose_config([f"facility.node.gpu={gpu}", "workload.services.chat.model=Llama-3.1-70B",
                          "workload.services.chat.tp=4", *overrides])
    return build(cfg).services[0][0]


def test_with_precision_names_each_copy_and_halves_kv_bytes():
    m = MODELS["Llama-3.1-70B"]
    fp8 = m.with_precision(weight="fp8")
    both = m.with_precision(weight="fp8", kv="fp8")
    kv_only = m.with_precision(kv="fp8")
    assert (fp8.name, both.name, kv_only.name) == ("Llama-3.1-70B@fp8", "Llama-3.1-70B@fp8/kv-fp8", "Llama-3.1-70B@kv-fp8")
    assert MODELS["Qwen3-235B-A22B"].with_precision(weight="fp8").name == "Qwen3-235B-A22B@fp8"
    assert fp8.weight_bytes == pytest.approx(m.weight_bytes / 2) and fp8.kv_bytes_per_token == m.kv_bytes_per_token
    assert kv_only.kv_bytes_per_token == m.kv_bytes_per_token / 2 and kv_only.weight_bytes == m.weight_bytes
    assert both.kv_bytes_per_token_on(8) == m.kv_bytes_per_token_on(8) / 2
    assert fp8.compute_precision == "fp8" and m.compute_precision == "bf16"
    assert fp8.with_precision(kv="fp8") == both  # suffixes merge
    assert m.with_precision(weight="bf16", kv="bf16") is m  # nothing changes: the spec itself
    assert len({m.name, fp8.name, both.name, kv_only.name}) == 4  # device caches key on names


def test_with_precision_of_gpt_oss_sets_every_weight():
    """gpt-oss at fp8 has no MXFP4 experts left; at mxfp4 its BF16 attention becomes MXFP4 too."""
    g = MODELS["gpt-oss-120b"]
    f = g.with_precision(weight="fp8")
    assert f.expert_precision is None and f.weight_bytes == pytest.approx(g.params)
    assert g.with_precision(weight="bf16").weight_bytes == pytest.approx(2 * g.params)
    assert g.with_precision(weight="mxfp4").name == "gpt-oss-120b@mxfp4"


def test_compute_precision_on_a_gpu_without_it_is_bf16_weight_only():
    fp8 = MODELS["Llama-3.1-70B"].with_precision(weight="fp8")
    assert fp8.compute_precision_on(NATIVE["H100-SXM"]) == "fp8"
    assert fp8.compute_precision_on(NATIVE["A100-80GB"]) == "bf16"  # W8A16
    fp4 = MODELS["Llama-3.1-70B"].with_precision(weight="fp4")
    assert fp4.compute_precision == "fp4" and fp4.compute_precision_on(NATIVE["B200"]) == "fp4"
    assert MODELS["Llama-3.1-70B"].compute_precision_on(NATIVE["B200"]) == "bf16"


@pytest.mark.parametrize("weight,kv", [("int4", None), (None, "mxfp4"), (None, "fp4")])
def test_with_precision_refuses_unknown_names(weight, kv):
    with pytest.raises(LlmSpecError):
        MODELS["Llama-3.1-8B"].with_precision(weight=weight, kv=kv)


def test_fp8_kv_roughly_doubles_kv_capacity_through_the_config(native_gpus):
    """kv_precision: fp8 on H100 halves the bytes per token, so the KV-token capacity ~doubles;
    fp8 weights free half the weight memory besides."""
    base = _chat([])
    kv8 = _chat(["workload.services.chat.kv_precision=fp8"])
    w8 = _chat(["workload.services.chat.weight_precision=fp8", "workload.services.chat.kv_precision=fp8"])
    assert base.model.name == "Llama-3.1-70B" and kv8.model.name == "Llama-3.1-70B@kv-fp8"
    assert w8.model.name == "Llama-3.1-70B@fp8/kv-fp8"
    assert kv8.kv_capacity_tokens == pytest.approx(2 * base.kv_capacity_tokens, rel=0.01)
    assert w8.kv_capacity_tokens > 2.5 * base.kv_capacity_tokens
    assert kv8.kv_capacity_tokens == max_kv_tokens(kv8.model, GPUS["H100-SXM"], 4, 0.9)


def test_mxfp4_runs_weight_only_on_h100_and_natively_on_b200(native_gpus):
    for gpu in ("H100-SXM", "B200"):
        s = _chat(["workload.services.chat.weight_precision=mxfp4"], gpu=gpu)
        assert s.model.weight_precision == "mxfp4"
    assert s.model.compute_precision_on(native_gpus["H100-SXM"].native_precisions) == "bf16"
    assert s.model.compute_precision_on(native_gpus["B200"].native_precisions) == "fp4"
    assert _chat(["workload.services.chat.weight_precision=fp4"], gpu="B200").model.name == "Llama-3.1-70B@fp4"


@pytest.mark.parametrize("gpu,key,value", [
    ("A100-80GB", "weight_precision", "fp8"),  # A100 has no FP8
    ("A100-80GB", "kv_precision", "fp8"),
    ("A100-80GB", "weight_precision", "mxfp4"),  # no FP8 for W4A16 kernels either
    ("A100-80GB", "weight_precision", "fp4"),
    ("H100-SXM", "weight_precision", "fp4"),  # FP4 is Blackwell's
    ("H100-SXM", "weight_precision", "int4"),  # unknown names
    ("H100-SXM", "kv_precision", "mxfp4"),
    ("B200", "kv_precision", "fp4"),
])
def test_a_precision_the_gpu_cannot_run_is_a_one_line_config_error(native_gpus, gpu, key, value):
    field = f"workload.services.chat.{key}"
    with pytest.raises(ConfigError) as info:
        _chat([f"{field}={value}"], gpu=gpu)
    err = info.value
    assert (err.field, err.value) == (field, value)
    assert str(err).startswith(f"{field}={value!r}") and "\n" not in str(err)
    assert "bf16" in err.allowed  # names what is allowed


def test_refusals_hold_without_native_precisions_on_the_gpu():
    """Until GpuSpec carries native_precisions a GPU counts as bf16-only: A100 refuses fp8."""
    with pytest.raises(ConfigError, match="kv_precision"):
        _chat(["workload.services.chat.kv_precision=fp8"], gpu="A100-80GB")
    gpu = SimpleNamespace(name="X", native_precisions=("bf16", "fp8"))
    s = SimpleNamespace(weight_precision="fp8", kv_precision=None)
    m = service_build._served_precision("f", MODELS["Llama-3.1-8B"], s, gpu)
    assert m.name == "Llama-3.1-8B@fp8"


def test_null_keeps_the_models_own_precision(native_gpus):
    """Unset fields serve the catalogue model unchanged (DeepSeek-V3 keeps its FP8 weights)."""
    s = _chat([])
    assert s.model is MODELS["Llama-3.1-70B"]
    ds = dataclasses.replace(MODELS["DeepSeek-V3"])
    assert ds.with_precision() is ds


def test_the_cli_reports_an_unrunnable_precision_in_one_line():
    """Through the CLI's up-front validation: one line naming the field and the value."""
    from dcsim.cli import validate

    err, refused, _, _ = validate(["facility.node.gpu=A100-80GB", "workload.services.chat.weight_precision=fp8"])
    assert err is not None and "\n" not in str(err)
    assert "workload.services.chat.weight_precision='fp8'" in str(err)
