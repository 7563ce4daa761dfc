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
    assert m.bytes_per_param == 1.0 and m.weight_precision == "fp8"
    assert m.weight_bytes == pytest.approx(671e9)
    as_bf16 = m.with_precision(weight="bf16")
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


# --- ML.ENERGY v3 calibration models -------------------------------------------------

def _dense_params(layers, hidden, heads, kv_heads, head_dim, mlp_mats, inter, vocab, tied):
    """Transformer parameters from config.json shapes: Q/O and K/V projections, an MLP of
    mlp_mats hidden x inter matrices per layer, embedding (and LM head unless tied)."""
    attn = 2 * hidden * heads * head_dim + 2 * hidden * kv_heads * head_dim
    return layers * (attn + mlp_mats * hidden * inter) + vocab * hidden * (1 if tied else 2)


ML_ENERGY_MODELS = ["Qwen3-8B", "Qwen3-14B", "Qwen3-30B-A3B", "Qwen3-235B-A22B", "Qwen3-Coder-480B-A35B",
                    "Gemma-3-12B", "Gemma-3-27B", "gpt-oss-20b", "gpt-oss-120b", "Llama-4-Scout",
                    "Llama-4-Maverick", "Nemotron-Nano-9B-v2", "Nemotron-Nano-12B-v2"]


def test_the_ml_energy_v3_models_are_all_in_the_catalogue():
    """Every model family of the ML.ENERGY v3 calibration set has a catalogue entry."""
    assert set(ML_ENERGY_MODELS) <= set(MODELS)


@pytest.mark.parametrize("name,computed", [
    # Qwen3: SwiGLU (3 matrices), untied embeddings, vocab 151936
    ("Qwen3-8B", _dense_params(36, 4096, 32, 8, 128, 3, 12288, 151936, False)),
    ("Qwen3-14B", _dense_params(40, 5120, 40, 8, 128, 3, 17408, 151936, False)),
    # Gemma 3: gated GELU (3 matrices), tied embeddings, vocab 262208, + 417M vision encoder
    ("Gemma-3-12B", _dense_params(48, 3840, 16, 8, 256, 3, 15360, 262208, True) + 417e6),
    ("Gemma-3-27B", _dense_params(62, 5376, 32, 16, 128, 3, 21504, 262208, True) + 417e6),
])
def test_dense_parameter_counts_follow_from_the_architecture(name, computed):
    """The card's total matches the count from config.json shapes within 3 %."""
    m = MODELS[name]
    assert m.params == pytest.approx(computed, rel=0.03)
    assert m.params == m.active_params and not m.is_moe


@pytest.mark.parametrize("name,layers,hidden,moe_inter", [
    ("Qwen3-30B-A3B", 48, 2048, 768),
    ("Qwen3-235B-A22B", 94, 4096, 1536),
    ("Qwen3-Coder-480B-A35B", 62, 6144, 2560),
    ("Llama-4-Scout", 48, 5120, 8192),
    ("Llama-4-Maverick", 24, 5120, 8192),  # MoE in every second of 48 layers
    ("gpt-oss-120b", 36, 2880, 2880),
    ("gpt-oss-20b", 24, 2880, 2880),
])
def test_moe_expert_size_from_the_cards_matches_the_config(name, layers, hidden, moe_inter):
    """(params - active) / (E - k) equals one expert's 3 x hidden x moe_intermediate x MoE layers."""
    m = MODELS[name]
    assert m.expert_params == pytest.approx(3 * hidden * moe_inter * layers, rel=0.03)


@pytest.mark.parametrize("name,total,active", [
    ("Qwen3-30B-A3B", 30.5, 3.3), ("Qwen3-235B-A22B", 235, 22), ("Qwen3-Coder-480B-A35B", 480, 35),
    ("Llama-4-Scout", 109, 17), ("Llama-4-Maverick", 400, 17),
    ("gpt-oss-120b", 116.83, 5.13 + 0.579), ("gpt-oss-20b", 20.91, 3.61 + 0.579),  # card active + embedding
])
def test_moe_parameter_counts_are_the_model_cards(name, total, active):
    m = MODELS[name]
    assert m.params == pytest.approx(total * 1e9, rel=1e-3)
    assert m.active_params == pytest.approx(active * 1e9, rel=1e-3)


@pytest.mark.parametrize("name,nbytes", [("fp32", 4.0), ("bf16", 2.0), ("fp16", 2.0), ("fp8", 1.0),
                                         ("fp4", 0.5), ("mxfp4", 0.53125)])
def test_bytes_per_parameter_of_each_precision(name, nbytes):
    """MXFP4 is 4-bit elements plus one 8-bit scale per 32: 4.25 bits (OCP MX spec v1.0)."""
    m = MODELS["Llama-3.1-8B"].with_precision(weight=name)
    assert m.bytes_per_param == nbytes and m.weight_precision == name
    assert m.weight_bytes == pytest.approx(8.03e9 * nbytes)


@pytest.mark.parametrize("name,total_gib", [("gpt-oss-120b", 60.8), ("gpt-oss-20b", 12.8)])
def test_gpt_oss_mxfp4_experts_give_the_published_checkpoint_size(name, total_gib):
    """MXFP4 experts plus BF16 attention/embeddings come to the card's checkpoint size."""
    m = MODELS[name]
    assert m.weight_precision == "bf16" and m.expert_precision == "mxfp4"
    assert m.expert_bytes == pytest.approx(m.expert_params * 0.53125)
    assert m.weight_bytes / 2**30 == pytest.approx(total_gib, rel=0.01)
    assert 61e9 <= MODELS["gpt-oss-120b"].weight_bytes <= 66e9
    # one token reads the dense part (BF16) and k experts (MXFP4)
    assert float(m.weight_bytes_read(1)) == pytest.approx(m.dense_weight_bytes + 4 * m.expert_bytes)
    assert float(m.weight_bytes_read(100_000)) == pytest.approx(m.weight_bytes, rel=1e-9)
    assert m.compute_precision == "fp4"
    assert m.compute_precision_on(("bf16", "fp8")) == "bf16"  # H100: W4A16 weight-only kernels
    assert m.compute_precision_on(("bf16", "fp8", "fp4")) == "fp4"  # Blackwell


@pytest.mark.parametrize("name,window,windowed,full", [
    ("Gemma-3-12B", 1024, 40, 8), ("Gemma-3-27B", 1024, 52, 10),
    ("gpt-oss-120b", 128, 18, 18), ("gpt-oss-20b", 128, 12, 12),
    ("Llama-4-Scout", 8192, 36, 12), ("Llama-4-Maverick", 8192, 36, 12),
])
def test_windowed_layers_split_the_kv_cache(name, window, windowed, full):
    """KV bytes per token = full-context layers' + windowed layers'; a long sequence holds
    only the last window tokens of the windowed layers."""
    m = MODELS[name]
    per_layer = 2 * m.kv_heads * m.head_dim * m.kv_bytes_per_elem
    assert (m.sliding_window, m.sliding_window_layers) == (window, windowed)
    assert m.full_kv_bytes_per_token == full * per_layer
    assert m.window_kv_bytes_per_token == windowed * per_layer
    assert m.kv_bytes_per_token == m.full_kv_bytes_per_token + m.window_kv_bytes_per_token
    ctx = 100_000
    assert float(m.kv_bytes_for_context(ctx)) == full * per_layer * ctx + windowed * per_layer * window
    assert float(m.kv_bytes_for_context(window // 2)) == m.kv_bytes_per_token * (window // 2)
    per_ctx = m.attn_flops_per_token_per_ctx / m.layers
    assert float(m.attn_flops_per_token_at(ctx)) == pytest.approx(per_ctx * (full * ctx + windowed * window))


def test_gemma_3_12b_kv_cache_per_token():
    """2 x 48 layers x 8 KV heads x 256 x 2 B = 393,216 B, of which the 8 global layers' 65,536."""
    m = MODELS["Gemma-3-12B"]
    assert m.kv_bytes_per_token == 393_216
    assert m.full_kv_bytes_per_token == 65_536


@pytest.mark.parametrize("name,attn_layers,mamba_layers", [("Nemotron-Nano-9B-v2", 4, 27), ("Nemotron-Nano-12B-v2", 6, 28)])
def test_hybrid_mamba_models_cache_kv_in_their_attention_layers_only(name, attn_layers, mamba_layers):
    """KV and attention FLOPs count only the '*' layers; the Mamba-2 state per sequence is
    heads 128 x head dim 80 x state 128 x 4 B (FP32) plus the BF16 conv state, per Mamba layer."""
    m = MODELS[name]
    assert m.attention_layers == attn_layers and m.kv_layers == attn_layers < m.layers
    assert m.kv_bytes_per_token == 2 * attn_layers * 8 * 128 * 2
    assert m.attn_flops_per_token_per_ctx == 4 * attn_layers * 40 * 128
    assert m.ssm_state_bytes_per_seq == mamba_layers * (128 * 80 * 128 * 4 + 3 * (128 * 80 + 2 * 8 * 128) * 2)


@pytest.mark.parametrize("edit,field", [
    (lambda t: t + "sliding_window: 512\nsliding_window_layers: 17\n", "sliding_window_layers"),  # > 16 layers
    (lambda t: t + "sliding_window: 512\n", "sliding_window_layers"),  # window without layers
    (lambda t: t + "sliding_window_layers: 4\n", "sliding_window"),  # layers without window
    (lambda t: t + "sliding_window: -1\nsliding_window_layers: 4\n", "sliding_window"),
    (lambda t: t + "attention_layers: 17\n", "attention_layers"),  # > 16 layers
    (lambda t: t + "attention_layers: 2\nsliding_window: 64\nsliding_window_layers: 3\n", "sliding_window_layers"),
    (lambda t: t + "ssm_state_bytes_per_seq: 1000\n", "ssm_state_bytes_per_seq"),  # not hybrid
    (lambda t: t + "attention_layers: 4\nssm_state_bytes_per_seq: -1\n", "ssm_state_bytes_per_seq"),
    (lambda t: t + "expert_precision: mxfp4\n", "expert_precision"),  # dense model
    (lambda t: t.replace("kv_precision: bf16", "kv_precision: mxfp4"), "kv_precision"),
    (lambda t: t.replace("weight_precision: bf16", "weight_precision: int4"), "weight_precision"),
    (lambda t: t + "attention_sinks: yes please\n", "attention_sinks"),
    (lambda t: t + "attention_sinks: 1\n", "attention_sinks"),
])
def test_window_hybrid_and_precision_fields_are_validated(tmp_path, edit, field):
    path = tmp_path / "tiny.yaml"
    path.write_text(edit(GOOD_FILE))
    with pytest.raises(ModelFileError, match=f"tiny.yaml: field '{field}'"):
        load_model_file(path)


def test_new_optional_fields_load_and_default():
    """A file without the new keys loads with no window, all layers attending, no SSM state."""
    m = MODELS["Llama-3.1-8B"]
    assert (m.sliding_window, m.sliding_window_layers, m.attention_layers, m.ssm_state_bytes_per_seq) == (0, 0, 0, 0)
    assert m.kv_layers == m.layers and m.expert_precision is None
    assert m.full_kv_bytes_per_token == m.kv_bytes_per_token
    assert not m.attention_sinks and MODELS["gpt-oss-20b"].attention_sinks and MODELS["gpt-oss-120b"].attention_sinks


def test_a_bare_spec_names_its_precision_from_its_bytes():
    """Built without precision names (as older code does), a spec names them from its bytes;
    bytes that disagree with a given name are refused."""
    from dcsim.hardware.models import LlmSpec, LlmSpecError

    tiny = LlmSpec("tiny", 1e8, 1e8, layers=8, hidden=1024, heads=8, kv_heads=8, head_dim=128, bytes_per_param=1.0)
    assert (tiny.weight_precision, tiny.kv_precision) == ("fp8", "bf16")
    with pytest.raises(LlmSpecError, match="bytes_per_param"):
        dataclasses.replace(MODELS["DeepSeek-V3"], bytes_per_param=2.0)
