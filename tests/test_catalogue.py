"""The hardware catalogues: every model file loads, and their numbers follow the architecture."""

from __future__ import annotations

import dataclasses
from importlib import resources

import numpy as np
import pytest

from dcsim.hardware.gpus import GPUS
from dcsim.hardware.models import MODELS, ModelFileError, load_model_file, load_models

MODEL_FILES = sorted(p.name for p in resources.files("dcsim.data").joinpath("models").iterdir() if p.name.endswith(".yaml"))

GOOD_FILE = """\
name: Tiny-1B
source:
  config: https://example.org/config.json
  params: https://example.org/card
params: 1.0e9
active_params: 1.0e9
layers: 16
hidden: 2048
heads: 16
kv_heads: 4
head_dim: 128
attention: gqa
weight_precision: bf16
kv_precision: bf16
"""


@pytest.mark.parametrize("filename", MODEL_FILES)
def test_every_packaged_model_file_loads_with_its_sources(filename):
    """Each YAML in dcsim/data/models loads into a spec that cites config and parameter sources."""
    spec = load_model_file(resources.files("dcsim.data").joinpath("models", filename))
    assert MODELS[spec.name] == spec
    assert spec.source.startswith("https://huggingface.co/") and spec.source.endswith("config.json")
    assert spec.params_source


def test_catalogue_keeps_the_names_the_rest_of_dcsim_uses():
    """The required models are present under the exact names configs and tests refer to."""
    required = {"Llama-2-7B", "Llama-2-70B", "Llama-3.1-8B", "Llama-3.1-70B", "Llama-3.1-405B",
                "Qwen3-32B", "BLOOM-176B", "Mixtral-8x7B", "DeepSeek-V3"}
    assert required <= set(MODELS)


@pytest.mark.parametrize("name,kv_bytes", [
    ("Llama-2-70B", 327_680),  # 2 x 80 layers x 8 KV heads x 128 x 2 B
    ("Llama-3.1-8B", 131_072),  # 2 x 32 x 8 x 128 x 2 B
    ("Llama-2-7B", 524_288),  # 2 x 32 x 32 x 128 x 2 B (MHA)
    ("Qwen3-32B", 262_144),  # 2 x 64 x 8 x 128 x 2 B: head_dim 128 from config, not 5120/64
    ("BLOOM-176B", 4_014_080),  # 2 x 70 x 112 x 128 x 2 B (MHA)
])
def test_kv_cache_bytes_per_token_of_grouped_and_multi_head_attention(name, kv_bytes):
    """GQA/MHA KV cache per token is 2 x layers x kv_heads x head_dim x bytes."""
    assert MODELS[name].kv_bytes_per_token == kv_bytes


def test_deepseek_v3_kv_cache_is_the_mla_latent_not_the_gqa_formula():
    """DeepSeek-V3 caches (kv_lora_rank 512 + rope 64) x 61 layers x KV bytes, far below 2 x 128 heads."""
    m = MODELS["DeepSeek-V3"]
    assert m.attention == "mla"
    assert m.kv_bytes_per_token == (512 + 64) * 61 * m.kv_bytes_per_elem
    assert m.kv_bytes_per_token == 70_272  # BF16 latent cache
    assert m.kv_bytes_per_token < 2 * m.layers * m.kv_heads * m.head_dim * m.kv_bytes_per_elem / 50


@pytest.mark.parametrize("name,active_b,total_b", [("Mixtral-8x7B", 12.9, 46.7), ("DeepSeek-V3", 37.0, 671.0)])
def test_moe_models_use_fewer_params_per_token_than_they_hold(name, active_b, total_b):
    """MoE active params (compute) are the published share of total params (memory)."""
    m = MODELS[name]
    assert m.is_moe and m.active_params < m.params
    assert m.active_params == pytest.approx(active_b * 1e9)
    assert m.params == pytest.approx(total_b * 1e9)


def test_kv_cache_copies_under_tensor_parallelism():
    """TP splits KV heads over GPUs; a head shared by several GPUs (fewer KV heads than GPUs)
    and an MLA latent (needed whole by every GPU) are held once per GPU that needs them, so
    a TP group's KV capacity and the bytes it reads count those copies."""
    from dcsim.hardware.performance import max_kv_tokens

    llama, ds = MODELS["Llama-3.1-70B"], MODELS["DeepSeek-V3"]  # 8 KV heads; MLA
    assert llama.kv_bytes_per_token_on(8) == llama.kv_bytes_per_token  # one head per GPU
    two_heads = dataclasses.replace(llama, kv_heads=2)
    assert two_heads.kv_bytes_per_token_on(8) == 4 * two_heads.kv_bytes_per_token
    assert two_heads.kv_bytes_per_token_on(2) == two_heads.kv_bytes_per_token
    assert ds.kv_bytes_per_token_on(8) == 8 * 70_272
    h200 = GPUS["H200"]
    free_b = 8 * h200.hbm_bytes * 0.9 - ds.weight_bytes
    assert max_kv_tokens(ds, h200, 8, 0.9) == int(free_b // (8 * 70_272))


def test_moe_decode_reads_the_experts_its_tokens_are_routed_to():
    """One token reads exactly the active parameters; T tokens read the dense part plus the
    expected distinct experts E(1 - (1 - k/E)^T) under uniform routing; many read them all.
    DeepSeek-V3's expert (3 x 7168 x 2048 over 58 MoE layers) and Mixtral's (3 x 4096 x
    14336 over 32 layers) come out of the published totals."""
    ds, mx = MODELS["DeepSeek-V3"], MODELS["Mixtral-8x7B"]
    assert ds.expert_bytes / ds.bytes_per_param == pytest.approx(3 * 7168 * 2048 * 58, rel=0.01)
    assert mx.expert_bytes / mx.bytes_per_param == pytest.approx(3 * 4096 * 14336 * 32, rel=0.01)
    for m in (ds, mx):
        assert float(m.weight_bytes_read(1)) == pytest.approx(m.active_params * m.bytes_per_param, rel=1e-12)
        assert float(m.weight_bytes_read(10_000)) == pytest.approx(m.weight_bytes, rel=1e-9)
        reads = m.weight_bytes_read(np.array([1, 2, 8, 32, 128]))
        assert np.all(np.diff(reads) > 0)
    assert float(ds.weight_bytes_read(32)) == pytest.approx(
        ds.dense_weight_bytes + ds.expert_bytes * 256 * (1 - (1 - 8 / 256) ** 32), rel=1e-12)
    assert float(ds.weight_bytes_read(32)) / ds.weight_bytes == pytest.approx(0.647, abs=0.001)
    dense = MODELS["Llama-3.1-70B"]
    assert float(dense.weight_bytes_read(1)) == dense.weight_bytes == float(dense.weight_bytes_read(512))


def test_fp8_weights_take_half_the_bytes_of_bf16():
    """DeepSeek-V3 ships FP8 weights (1 B/param); the same model in BF16 would take twice the memory."""
    m = MODELS["DeepSeek-V3"]
    assert m.bytes_per_param == 1.0
    assert m.weight_bytes == pytest.approx(671e9)
    as_bf16 = dataclasses.replace(m, bytes_per_param=2.0)
    assert m.weight_bytes == pytest.approx(as_bf16.weight_bytes / 2)


def test_attention_flops_reduce_to_four_layers_heads_head_dim_for_standard_attention():
    """QK^T + AV per context token is 4 x layers x heads x head_dim when K and V widths agree."""
    m = MODELS["Llama-3.1-70B"]
    assert m.attn_flops_per_token_per_ctx == 4 * 80 * 64 * 128
    ds = MODELS["DeepSeek-V3"]
    assert ds.attn_flops_per_token_per_ctx == 2 * 61 * 128 * (192 + 128)


@pytest.mark.parametrize("name", ["A100-80GB", "H100-SXM", "H200", "B200", "GB200", "MI300X"])
def test_gpu_catalogue_has_each_part_with_a_source_and_idle_below_tdp(name):
    """Each required GPU has a datasheet source and an idle power in (0, TDP)."""
    g = GPUS[name]
    assert g.source
    assert 0 < g.idle_w < g.tdp_w


def test_new_gpus_carry_their_datasheet_numbers():
    """GB200 per GPU and MI300X match the vendor figures they cite."""
    gb, mi = GPUS["GB200"], GPUS["MI300X"]
    assert gb.peak_bf16_flops == pytest.approx(360e15 / 72 / 2)  # NVL72: 360 PFLOPS sparse
    assert gb.hbm_bw_bytes_per_s == pytest.approx(576e12 / 72)
    assert gb.nvlink_bw_bytes_per_s == pytest.approx(130e12 / 72, rel=0.01)
    assert mi.peak_bf16_flops == pytest.approx(1307.4e12)
    assert mi.hbm_bytes == pytest.approx(192e9)
    assert mi.hbm_bw_bytes_per_s == pytest.approx(5.3e12)
    assert mi.tdp_w == 750.0
    assert mi.nvlink_bw_bytes_per_s == pytest.approx(7 * 128e9)


def test_a_malformed_model_file_names_the_file_and_the_field(tmp_path):
    """A wrong value fails at load with an error that says which file and which field."""
    bad = tmp_path / "bad-model.yaml"
    bad.write_text(GOOD_FILE.replace("layers: 16", "layers: sixteen"))
    with pytest.raises(ModelFileError) as err:
        load_model_file(bad)
    assert "bad-model.yaml" in str(err.value) and "'layers'" in str(err.value)
    assert err.value.field == "layers"


@pytest.mark.parametrize("edit,field", [
    (lambda t: t.replace("layers: 16\n", ""), "layers"),  # missing
    (lambda t: t + "layer: 16\n", "layer"),  # typo: unknown key
    (lambda t: t.replace("weight_precision: bf16", "weight_precision: int3"), "weight_precision"),
    (lambda t: t.replace("kv_heads: 4", "kv_heads: 3"), "kv_heads"),  # 3 does not divide 16 heads
    (lambda t: t.replace("active_params: 1.0e9", "active_params: 0.5e9"), "active_params"),  # dense
    (lambda t: t.replace("attention: gqa", "attention: mla"), "kv_lora_rank"),  # MLA without its latent
])
def test_model_file_errors_name_the_offending_field(tmp_path, edit, field):
    """Missing, unknown and inconsistent fields are each reported by name."""
    path = tmp_path / "tiny.yaml"
    path.write_text(edit(GOOD_FILE))
    with pytest.raises(ModelFileError, match=f"tiny.yaml: field '{field}'"):
        load_model_file(path)


def test_a_file_that_is_not_yaml_is_reported_with_its_name(tmp_path):
    """Broken YAML syntax is reported as such, with the file name."""
    path = tmp_path / "broken.yaml"
    path.write_text("name: [unclosed\n")
    with pytest.raises(ModelFileError, match="broken.yaml: is not valid YAML"):
        load_model_file(path)


def test_loading_a_folder_reads_every_file_and_rejects_duplicate_names(tmp_path):
    """A catalogue folder loads each *.yaml once; two files claiming one name is an error."""
    (tmp_path / "a.yaml").write_text(GOOD_FILE)
    (tmp_path / "notes.txt").write_text("not a model")
    assert list(load_models(tmp_path)) == ["Tiny-1B"]
    (tmp_path / "b.yaml").write_text(GOOD_FILE)
    with pytest.raises(ModelFileError, match="b.yaml: field 'name'.*already defined in .*a.yaml"):
        load_models(tmp_path)
