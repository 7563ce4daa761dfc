"""Multimodal serving: vision tokens in the prompt, the vision encoder in the first prefill
iteration, and the calibration's multimodal rows."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from conftest import SHARED_DATA, needs_shared
from test_engine import NoArrivals, feed_and_run, no_lengths

import dcsim
from dcsim.core.errors import ConfigError
from dcsim.core.simulation import Simulation
from dcsim.facility.topology import Topology
from dcsim.hardware import calibrate_vllm as cv
from dcsim.hardware.device import DeviceModel
from dcsim.hardware.gpus import GPUS
from dcsim.hardware.models import MODELS, LlmSpecError
from dcsim.hardware.node import NodeSpec
from dcsim.hardware.performance import InferencePerfParams, max_kv_tokens, peak_flops_for, prefill_attn_pairs
from dcsim.hardware.power import GpuPowerModel
from dcsim.metrics.recorder import Recorder
from dcsim.policies.routing import RoundRobinRouter
from dcsim.policies.scheduling import FifoScheduler
from dcsim.workloads.cluster import Cluster
from dcsim.workloads.config import ServiceConfig
from dcsim.workloads.inference.requests import Request
from dcsim.workloads.inference.service import InferenceService, ServiceSpec

MODEL, GPU, TP = MODELS["Qwen3-VL-8B"], GPUS["H100-SXM"], 1
# no fixed overheads: the encoder's time is its roofline alone
BARE = InferencePerfParams(layer_overhead_s=0.0, per_seq_overhead_s=0.0, prefill_overhead_s=0.0)
DEVICE = DeviceModel(GPU, BARE, GpuPowerModel(GPU))
VISION = MODEL.vision.work(MODEL.name, 1, (1024, 768))  # type: ignore[union-attr]
DATA = SHARED_DATA / "calibration" / "mlenergy-v3"


def serve(arrivals: list[tuple], until_s: float = 300.0, vision=VISION, replicas: int = 1, **spec_fields):
    """Replicas of one GPU each; ``arrivals`` are (time, prompt with its vision tokens, output)."""
    sim = Simulation(0, Recorder)
    cluster = Cluster(sim, Topology(1, 1, NodeSpec(GPU)), FifoScheduler())
    config = ServiceConfig(model=MODEL.name, replicas=replicas, tp=TP, max_num_seqs=64, max_batch_tokens=8192,
                           **spec_fields)
    spec = ServiceSpec("svc", MODEL, config, NoArrivals(), no_lengths, 1000.0, 100.0, 1000.0,
                       max_kv_tokens(MODEL, GPU, TP, 0.9), vision=vision)
    return feed_and_run(sim, InferenceService(sim, spec, DEVICE, RoundRobinRouter(), cluster, 0, until_s),
                        arrivals, until_s)


def test_vision_tokens_of_an_image_follow_the_processor_resize():
    """Qwen3-VL: 16-px patches, 2 x 2 merged per token, sides rounded to 32 px; a video folds
    2 frames per patch; Gemma 3 resizes every image to 896 px: 256 tokens of 4096 patches."""
    v = MODEL.vision
    assert v is not None
    assert (VISION.tokens, VISION.patches) == (32 * 24, 64 * 48)
    assert VISION.attn_pairs == (64 * 48) ** 2  # bidirectional, within the image
    video = v.work(MODEL.name, video_frames=32, video_px=(640, 360))  # 360 -> 352 px: 22 x 40 patches
    assert (video.tokens, video.patches, video.attn_pairs) == (16 * 11 * 20, 16 * 880, 16 * 880 ** 2)
    big = v.work(MODEL.name, 1, (8000, 6000))  # 48 MP: scaled down under max_pixels
    assert big.patches * 16 * 16 <= v.max_pixels
    g = MODELS["Gemma-3-27B"].vision.work("Gemma-3-27B", 2, (3000, 100))  # type: ignore[union-attr]
    assert (g.tokens, g.patches) == (2 * 256, 2 * 4096)
    llama = MODELS["Llama-4-Scout"].vision
    assert llama is not None
    # 4:3 at 1024 x 768: the smallest upscale is 1.3125 (4 x 3 tiles of 336 px), plus a thumbnail
    assert llama.work("Llama-4-Scout", 1, (1024, 768)).tokens == 13 * 144
    assert llama.work("Llama-4-Scout", 1, (300, 200)).tokens == 144  # fits one tile: no thumbnail


def test_qwen3_vl_keeps_two_frames_per_second_of_clip_within_its_pixel_budget():
    """Qwen3-VL's video processor (its video_preprocessor_config.json: fps 2, min_frames 4,
    max_frames 768, 4,096-25,165,824 pixels over the kept frames). The ML.ENERGY benchmark's
    clip, 32 frames written at 30 fps (1.07 s): int(2.13) = 2 frames, raised to 4, two temporal
    patches of 11 x 20 tokens. A minute at 30 fps: 120 frames, whose 120 x 352 x 640 pixels
    exceed the budget, so each frame is scaled by sqrt(120 x 360 x 640 / 25,165,824) = 1.048
    to 320 x 608 px (10 x 19 tokens) in 60 temporal patches. Without a clip rate every frame
    given is encoded, as before."""
    v = MODEL.vision
    assert v is not None
    assert v.frames_kept(32, 30.0) == 4
    assert v.work(MODEL.name, video_frames=32, video_px=(640, 360), video_fps=30.0).tokens == 2 * 11 * 20
    assert v.frames_kept(1800, 30.0) == 120
    assert v.video_grid(120, 640, 360) == (20, 38)
    minute = v.work(MODEL.name, video_frames=1800, video_px=(640, 360), video_fps=30.0)
    assert (minute.tokens, minute.patches) == (60 * 10 * 19, 60 * 20 * 38)
    assert v.frames_kept(5000, 1.0) == 768 and v.frames_kept(3, 1.0) == 3  # at most 768, never more than given
    assert v.work(MODEL.name, video_frames=32, video_px=(640, 360)).tokens == 16 * 11 * 20
    omni = MODELS["Qwen3-Omni-30B-A3B"].vision
    assert omni is not None
    with pytest.raises(LlmSpecError, match="video_sample_fps"):
        omni.work("Qwen3-Omni-30B-A3B", video_frames=32, video_px=(640, 360), video_fps=30.0)


def test_a_service_with_a_clip_rate_prompts_with_the_frames_kept():
    """Through the config: 32 frames of a 30-fps clip add the 440 tokens of the 4 frames
    Qwen3-VL keeps; a clip rate without a video, or for a model whose processor the
    catalogue does not describe, is refused naming the field."""
    o = ["workload=inference_only", "workload.services.chat.replicas=1", "workload.services.chat.tp=1",
         "workload.services.chat.model=Qwen3-VL-8B", "workload.services.chat.video_frames=32",
         "workload.services.chat.video_fps=30", "workload.services.chat.prompt_tokens.distribution=constant",
         "workload.services.chat.prompt_tokens.mean=50", "workload.services.chat.output_tokens.distribution=constant",
         "workload.services.chat.output_tokens.mean=30", "workload.services.chat.arrival_rate_per_s=1",
         "duration_s=20", "output.write=false", "facility.num_racks=1"]
    req = dcsim.run(o).frames()["requests"]
    assert len(req) > 5 and (req["prompt_tokens"] == 50 + 440).all()
    for bad, words in ((["workload.services.chat.video_frames=0"], "without a video"),
                       (["workload.services.chat.model=Qwen3-Omni-30B-A3B"], "does not describe")):
        with pytest.raises(ConfigError, match=words) as e:
            dcsim.run(o + bad)
        assert "chat.video_fps" in str(e.value)


def test_encoder_time_is_in_the_ttft_and_equals_its_flops_over_the_roofline():
    """On an idle replica a request with an image waits for the encoder, then for its prefill:
    TTFT = encoder FLOPs / (peak x compute efficiency) + the prefill of text + vision tokens."""
    text, o = 100, 20
    p = text + VISION.tokens
    _, req, _ = serve([(1.0, p, o)])
    prefill = float(DEVICE.iteration(MODEL, TP, p, prefill_attn_pairs(p), p, 0)[0])
    enc = VISION.encoder
    flops = 2 * enc.params * VISION.patches + enc.attn_flops_per_token_per_ctx * VISION.attn_pairs
    encoder_s = flops / (peak_flops_for(enc, GPU) * BARE.compute_efficiency)
    assert req.loc[0, "ttft_s"] == pytest.approx(prefill + encoder_s, rel=1e-9)
    assert encoder_s > 0.2 * prefill  # not a rounding error: the encoder is a real part of TTFT
    # the same request without images: only its prefill
    _, plain, _ = serve([(1.0, p, o)], vision=None)
    assert plain.loc[0, "ttft_s"] == pytest.approx(prefill, rel=1e-12)


def encoder_s() -> float:
    return float(DEVICE.iteration(VISION.encoder, TP, VISION.patches, VISION.attn_pairs, VISION.patches, 0)[0])


def test_disaggregated_request_encodes_once_on_the_prefill_replica():
    """Prefill and decode pools: the encoder runs with the prefill, not again when the decode
    replica recomputes the last prompt token: TTFT = encoder + prefill + KV transfer + that
    one-token iteration."""
    p, o = 100 + VISION.tokens, 20
    _, req, _ = serve([(0.0, p, o)], replicas=2, prefill_replicas=1, kv_transfer_gbit_per_s=400.0)
    r = req.iloc[0]
    assert r["status"] == "completed" and r["replica"] == 1
    prefill = float(DEVICE.iteration(MODEL, TP, p, prefill_attn_pairs(p), p, 0)[0])
    transfer = (p - 1) * MODEL.kv_bytes_per_token / (TP * 50e9)
    first = float(DEVICE.iteration(MODEL, TP, 1, prefill_attn_pairs(1, p - 1), p, 0)[0])
    assert r["ttft_s"] == pytest.approx(encoder_s() + prefill + transfer + first, rel=1e-9)


def test_context_holds_the_vision_tokens():
    """The KV cache of a request with an image holds its vision tokens: a cache of text +
    vision + output tokens serves it, one token fewer drops it."""
    text, o = 100, 20
    need = text + VISION.tokens + o
    for kv, status in ((need, "completed"), (need - 1, "dropped")):
        sim = Simulation(0, Recorder)
        cluster = Cluster(sim, Topology(1, 1, NodeSpec(GPU)), FifoScheduler())
        spec = ServiceSpec("svc", MODEL, ServiceConfig(model=MODEL.name, tp=TP), NoArrivals(), no_lengths,
                           1000.0, 100.0, 1000.0, kv, vision=VISION)
        svc = InferenceService(sim, spec, DEVICE, RoundRobinRouter(), cluster, 0, 100.0)
        svc.arrive(Request(0, "svc", 0.0, text + VISION.tokens, o))
        assert sim.run(100.0).frames()["requests"]["status"].tolist() == [status]


def test_run_with_images_grows_the_prompt_and_conserves_energy():
    """Through the config: every prompt holds its text and vision tokens; request energy
    plus idle energy is the replica's GPU energy (the encoder's share included)."""
    o = ["workload=inference_only", "workload.services.chat.replicas=1", "workload.services.chat.tp=1",
         "workload.services.chat.model=Qwen3-VL-8B", "workload.services.chat.images_per_request=2",
         "workload.services.chat.prompt_tokens.distribution=constant", "workload.services.chat.prompt_tokens.mean=50",
         "workload.services.chat.output_tokens.distribution=constant", "workload.services.chat.output_tokens.mean=30",
         "workload.services.chat.arrival_rate_per_s=2", "duration_s=60", "output.write=false", "facility.num_racks=1"]
    res = dcsim.run(o)
    req = res.frames()["requests"]
    assert (req["prompt_tokens"] == 50 + 2 * VISION.tokens).all()
    done = req[req["status"] == "completed"]
    assert len(done) > 50
    text_only = dcsim.run([x for x in o if "images_per_request" not in x]).frames()["requests"]
    assert done["ttft_s"].median() > text_only["ttft_s"].median()


def test_energy_ledger_is_exact_with_the_encoder():
    arrivals = [(0.3 * i, 60 + 10 * i + VISION.tokens, 30 + 5 * i) for i in range(10)]
    results, req, svc = serve(arrivals, until_s=100.0)
    assert (req["status"] == "completed").all()
    busy_s = results.monitor_means["gpus_busy"] * 100.0 / TP
    idle_j = GPU.idle_w * TP * (100.0 - busy_s)
    assert req["energy_j"].sum() + idle_j == pytest.approx(svc.allocations[0].energy_now_j(), rel=1e-9)


@pytest.mark.parametrize("field,value,model,words", [
    ("images_per_request", 1, "Qwen3-8B", "has no vision encoder"),
    ("video_frames", 8, "Gemma-3-12B", "takes images only"),
    ("images_per_request", -1, "Qwen3-VL-8B", ">= 0"),
])
def test_bad_multimodal_inputs_are_refused_naming_the_field(field, value, model, words):
    with pytest.raises(ConfigError, match=words) as e:
        dcsim.run(["workload=inference_only", "workload.services.chat.tp=1", f"workload.services.chat.model={model}",
                   f"workload.services.chat.{field}={value}", "duration_s=10", "output.write=false"])
    assert f"chat.{field}" in str(e.value)


def test_images_with_sessions_are_refused():
    """Sessions' calls carry no images in this model: refused, naming the field."""
    with pytest.raises(ConfigError, match="sessions"):
        dcsim.run(["workload=inference_only", "workload.services.chat.tp=1", "workload.services.chat.model=Qwen3-VL-8B",
                   "workload.services.chat.images_per_request=1", "workload.services.chat.arrivals.process=sessions",
                   "duration_s=10", "output.write=false"])


def test_fluid_costs_the_encoder_once_per_request():
    """At fluid fidelity a mixed iteration carries one prompt's encoder pass over its chunks:
    a replica model with the vision work has its mixed iteration longer by exactly the
    encoder's time / chunks, and a lower capacity; decode iterations are unchanged."""
    from dcsim.api import compose_config
    from dcsim.config.build import build
    from dcsim.workloads.inference.fluid import ReplicaModel

    sc = build(compose_config(["workload=multimodal_chat", "facility.num_racks=1"]))
    s = sc.services[0][0]
    assert s.vision is not None
    with_enc = ReplicaModel.of_service(sc.device, s)
    without = ReplicaModel.of_service(sc.device, replace(s, vision=None))
    t_enc = sc.device.iteration_scalar(s.vision.encoder, s.config.tp, s.vision.patches, s.vision.attn_pairs,
                                       s.vision.patches, 0.0)[0]
    assert t_enc > 0
    assert with_enc.mixed(8.0)[0] - without.mixed(8.0)[0] == pytest.approx(t_enc / with_enc.chunks, rel=1e-9)
    assert with_enc.decode(8.0) == without.decode(8.0)
    assert with_enc.capacity_per_s < without.capacity_per_s


def test_bad_vision_block_names_its_field():
    v = MODEL.vision
    assert v is not None
    with pytest.raises(LlmSpecError, match="vision.max_pixels"):
        replace(v, min_pixels=0)
    with pytest.raises(LlmSpecError, match="vision.image_px"):
        replace(v, image_px=900, min_pixels=0, max_pixels=0)
    with pytest.raises(LlmSpecError, match="vision.video_max_pixels"):
        replace(v, video_min_pixels=10**8)
    with pytest.raises(LlmSpecError, match="vision.video_max_frames"):
        replace(v, video_min_frames=0)
    with pytest.raises(LlmSpecError, match="vision.video_sample_fps"):
        replace(v, video_sample_fps=0.0)  # min/max frames left without the rate they bound
    with pytest.raises(LlmSpecError, match="vision.temporal_patch"):
        replace(MODELS["Gemma-3-27B"].vision,  # type: ignore[arg-type]
                video_sample_fps=2.0, video_min_frames=4, video_max_frames=8)


@needs_shared(DATA)
def test_multimodal_rows_with_the_shipped_profiles_match_the_recorded_errors():
    """The multimodal rows, predicted by the shipped (text-fitted) profiles at the engine's
    batch: median absolute errors per GPU and task as docs/calibration.md reports them
    in-sample (the leave-family-out table there is the slow version of this)."""
    from dcsim.hardware.profiles import load_profile

    rows = cv.load_rows(DATA, tasks=cv.MM_TASKS)
    assert len(rows) == 246  # 249 less Nemotron Nano VL (3): no vision block
    assert len(cv.load_rows(DATA)) == 424  # the text rows are what they were
    got = {}
    for gpu in ("H100-SXM", "B200"):
        prof = load_profile(gpu, "vllm-0.11")
        sub = [r for r in rows if r.gpu.name == gpu]
        preds = cv.predict(sub, prof.perf, prof.power)
        for task in cv.MM_TASKS:
            idx = [i for i, r in enumerate(sub) if r.task == task]
            got[(gpu, task)] = [round(float(np.median([abs(preds[i][m] / sub[i].measured[m] - 1) * 100 for i in idx])))
                                for m in cv.METRICS]
    assert got == PINNED


# (GPU, task) -> median absolute % error of energy/token, median ITL, tokens/s, power
PINNED = {("H100-SXM", "image-chat"): [7, 6, 7, 5], ("H100-SXM", "video-chat"): [37, 16, 16, 28],
          ("B200", "image-chat"): [19, 25, 28, 15], ("B200", "video-chat"): [25, 39, 26, 30]}


@pytest.mark.parametrize("media,key", [({"images": 1, "image_px": (1024, 768)}, "images_per_request=1"),
                                       ({"video_frames": 32, "video_px": (640, 360)}, "video_frames=32")])
def test_engine_in_closed_loop_matches_the_multimodal_steady_state(media, key):
    """Saturated by a closed-loop client, the request-level engine with images (or a video)
    gives the median ITL, throughput and energy per token of the calibration's steady-state
    model for the same requests: what the multimodal rows validate is what runs."""
    batch = 32
    o = ["workload=inference_only", "workload.services.chat.replicas=1", "workload.services.chat.tp=1",
         "workload.services.chat.model=Qwen3-VL-8B", "workload.services.chat.arrivals.process=closed",
         f"workload.services.chat.arrivals.concurrency={2 * batch}", f"workload.services.chat.max_num_seqs={batch}",
         f"workload.services.chat.{key}", "workload.services.chat.prompt_tokens.distribution=constant",
         "workload.services.chat.prompt_tokens.mean=100", "workload.services.chat.output_tokens.distribution=exponential",
         "workload.services.chat.output_tokens.mean=650", "workload.services.chat.output_tokens.max_tokens=8192",
         "duration_s=600", "output.write=false", "facility.num_racks=1"]
    s = dcsim.run(o).summary()
    v = MODEL.vision.work(MODEL.name, **media)  # type: ignore[union-attr]
    p = 100.0 + v.tokens
    # exponential outputs: E[L^2] / (2 E[L]) = E[L]
    row = cv.Row("x", "image-chat", GPU, MODEL, "f", "dense", "bf16", 1, batch, batch, p, 650.0, p + 650.0, {}, v)
    ss = cv.steady_state(row, DeviceModel.for_gpu(GPU), batch)
    assert s["itl_p50_s"] == pytest.approx(ss["median_itl_s"], rel=0.02)
    assert s["output_tokens_per_s"] == pytest.approx(ss["output_tokens_per_s"], rel=0.02)
    assert s["energy_per_output_token_gpu_j"] == pytest.approx(ss["energy_per_token_j"], rel=0.02)
