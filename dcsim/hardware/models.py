"""LLM architectures: what the performance model needs to know about a model.

The catalogue is data: one YAML file per model in ``dcsim/data/models/``, read into
``MODELS`` (with the ``models/`` files of the ``DCSIM_CATALOGUE_PATH`` directories, see
``dcsim.hardware.catalogue``). Adding a model is adding a file; no code changes
(docs/extending.md). Each file cites the Hugging Face ``config.json`` its architecture
numbers come from and the model card or paper its parameter counts come from.

KV-cache bytes per token follow from the attention kind:

- ``mha`` / ``gqa``: 2 (K and V) x KV layers x kv_heads x head_dim x bytes per element;
- ``mla`` (multi-head latent attention, DeepSeek-V2/V3): one compressed latent of
  ``kv_lora_rank`` plus one decoupled RoPE key of ``qk_rope_head_dim`` per layer, i.e.
  (kv_lora_rank + qk_rope_head_dim) x KV layers x bytes per element, shared by all heads.

KV layers are the layers that hold a KV cache: all ``layers``, or ``attention_layers`` of
them in a hybrid Mamba-Transformer (Nemotron-H / Nemotron Nano v2, whose
``hybrid_override_pattern`` marks attention layers ``*``, Mamba-2 layers ``M`` and MLP
layers ``-``). The Mamba layers keep a recurrent state of constant size per sequence
instead (``ssm_state_bytes_per_seq``). Of the KV layers, ``sliding_window_layers`` attend
only over the last ``sliding_window`` tokens (Gemma 3: 5 local layers of 1024 per global
one; gpt-oss: banded windows of 128 alternating with full attention; Llama 4: chunked
attention of 8192 in 3 of every 4 layers, bounded by the same figure). Their KV cache
stops growing at the window: ``full_kv_bytes_per_token`` is the per-token figure of the
layers over the whole context, ``window_kv_bytes_per_token`` that of the windowed ones,
and ``kv_bytes_per_token`` their sum, the whole-context figure capacity planning uses
(conservative: vLLM allocates per layer type); ``kv_bytes_for_context`` caps the
windowed part.

Precisions (``PRECISION_BYTES``): ``fp32`` 4 B, ``bf16`` / ``fp16`` 2 B, ``fp8`` 1 B,
``fp4`` 0.5 B, ``mxfp4`` 0.53125 B (OCP Microscaling Formats spec v1.0: blocks of 32 FP4
E2M1 elements share one 8-bit E8M0 scale, 4 + 8/32 = 4.25 bits). ``weight_precision``
names the weights' format (its bytes are ``bytes_per_param``), ``kv_precision`` the KV
cache's (``kv_bytes_per_elem``; fp32/bf16/fp16/fp8 only), ``expert_precision`` that of
the routed experts of a MoE model when it differs (gpt-oss: MXFP4 experts, BF16
attention, router and embeddings). ``compute_precision`` is the precision the matrix
multiplies run in (fp8 for fp8 weights, fp4 for fp4/MXFP4 weights, else bf16; the
routed experts' precision when given, as they hold most weights and FLOPs), and
``compute_precision_on(gpu_native)`` what a GPU that lacks it runs instead: weight-only
kernels that dequantise to bf16 (vLLM runs gpt-oss's MXFP4 on H100 as W4A16).
``with_precision(weight=..., kv=...)`` is a copy at another precision under its own
name ("Qwen3-235B-A22B@fp8", "Llama-3.1-70B@fp8/kv-fp8"), as device caches key on names.

The file format (every key is a field of ``LlmSpec`` except where noted)::

    name: Llama-3.1-70B
    source:                       # not a field: becomes LlmSpec.source / params_source
      config: <config.json the architecture numbers come from>
      params: <model card or paper the parameter counts come from>
    params: 70.55e9               # total parameters
    active_params: 70.55e9        # used per token; == params unless MoE
    layers: 80
    hidden: 8192
    heads: 64
    kv_heads: 8
    head_dim: 128
    attention: gqa                # mha | gqa | mla
    weight_precision: bf16        # also gives bytes_per_param
    kv_precision: bf16            # also gives kv_bytes_per_elem
    # MoE only:    num_experts, experts_per_token, shared_experts; expert_precision
    # MLA only:    kv_lora_rank, qk_rope_head_dim; v_head_dim if it differs from head_dim
    # windowed:    sliding_window (tokens), sliding_window_layers
    # hybrid SSM:  attention_layers, ssm_state_bytes_per_seq
    # multimodal:  vision: {layers, hidden, intermediate, heads, patch_px, merge, merger_params,
    #              image_px [+ max_tiles] | min_pixels + max_pixels, temporal_patch, source} (a VisionSpec)

**Vision encoders** (``VisionSpec``, the ``vision:`` block of a multimodal model's file): a
ViT cuts an image into ``patch_px`` squares, runs ``layers`` bidirectional transformer
layers over them (attention within one image, or one temporal slice of a video), and a
merger/projector turns each ``merge x merge`` block of patches into one LLM token. Gemma 3
(SigLIP) resizes every image to ``image_px`` square; Qwen3-VL keeps the native resolution,
rounded to multiples of ``patch_px x merge`` and scaled into [min_pixels, max_pixels]
(Qwen2-VL's ``smart_resize``), and folds ``temporal_patch`` video frames into one patch;
Llama 4 cuts an image into up to ``max_tiles`` tiles of ``image_px`` (plus a thumbnail).
``VisionSpec.work`` gives a request's vision tokens (added to its prompt) and the encoder's
work: ``patches`` new tokens and ``attn_pairs`` attention pairs (n^2 per image of n
patches: bidirectional) of ``encoder``, an ``LlmSpec`` whose parameters are the ViT layers'
``layers x (4 hidden^2 + 2 hidden x intermediate)`` plus the merger's per patch (it runs once
per ``merge^2`` patches), so the device's roofline costs the encoder like any prefill.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import numpy as np

from dcsim.hardware.catalogue import Catalogue, CatalogueFileError, SpecError, number, read_directory, read_file

# Bytes one element takes in each precision a catalogue file may name. MXFP4: 4-bit
# E2M1 elements plus one 8-bit E8M0 scale per block of 32 (OCP Microscaling Formats
# (MX) Specification v1.0, 2023): 4.25 bits.
PRECISION_BYTES: dict[str, float] = {
    "fp32": 4.0, "bf16": 2.0, "fp16": 2.0, "fp8": 1.0, "fp4": 0.5, "mxfp4": 4.25 / 8,
}
WEIGHT_PRECISIONS = tuple(PRECISION_BYTES)
KV_PRECISIONS = ("fp32", "bf16", "fp16", "fp8")
# The name a bare byte count stands for when a spec is built without precision names.
_DEFAULT_NAME_OF_BYTES = {4.0: "fp32", 2.0: "bf16", 1.0: "fp8", 0.5: "fp4", 4.25 / 8: "mxfp4"}
# Precision the matrix multiplies run in, per weight precision.
_COMPUTE_OF_WEIGHT = {"fp8": "fp8", "fp4": "fp4", "mxfp4": "fp4"}
# Element width in bits, to rank compute precisions.
_BITS = {"fp32": 32, "bf16": 16, "fp16": 16, "fp8": 8, "fp4": 4}
ATTENTION_KINDS = ("mha", "gqa", "mla")


class LlmSpecError(SpecError):
    """An ``LlmSpec`` value that is wrong, naming the field it is in."""


class ModelFileError(CatalogueFileError):
    """A model catalogue file that cannot be loaded; the message names file and field."""

    kind = "model"


@dataclass(frozen=True, slots=True)
class VisionWork:
    """The vision input of one request, as the engine costs it: ``tokens`` LLM tokens added
    to the prompt; the encoder pass over ``patches`` patches with ``attn_pairs`` attention
    pairs, run on ``encoder`` (``DeviceModel.iteration`` prices it)."""

    encoder: LlmSpec
    tokens: int
    patches: int
    attn_pairs: float


@dataclass(frozen=True, slots=True)
class VisionSpec:
    """A vision encoder (ViT) and the merger that projects its patches to LLM tokens."""

    layers: int
    hidden: int
    intermediate: int  # MLP width
    heads: int
    patch_px: int  # side of one patch in pixels
    merge: int  # patches per LLM token along each side (spatial merge or pooling)
    merger_params: float  # projector/merger parameters (deep-stack mergers included), run per LLM token
    image_px: int = 0  # every image resized to this square side; 0 = native resolution
    min_pixels: int = 0  # native resolution: images scaled up to at least this many pixels
    max_pixels: int = 0  # ... and down to at most this many
    temporal_patch: int = 0  # video frames folded into one patch; 0 = the model takes no video
    max_tiles: int = 0  # tiled (Llama 4): an image is cut into at most this many image_px tiles; 0 = one image
    source: str = ""  # the config(s) the numbers come from
    # The video processor (a video_preprocessor_config.json), when it differs from the image one:
    # a pixel budget over all the frames it keeps (0 = each frame resized as an image is), and
    # frame sampling: it keeps video_sample_fps frames per second of the clip, within
    # [video_min_frames, video_max_frames] and never more than it is given (0 = every frame given).
    video_min_pixels: int = 0
    video_max_pixels: int = 0
    video_sample_fps: float = 0.0
    video_min_frames: int = 0
    video_max_frames: int = 0

    def __post_init__(self) -> None:
        for f in ("layers", "hidden", "intermediate", "heads", "patch_px", "merge"):
            v = getattr(self, f)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise LlmSpecError(f"vision.{f}", f"must be an integer >= 1, got {v!r}")
        for f in ("image_px", "min_pixels", "max_pixels", "temporal_patch", "max_tiles", "video_min_pixels",
                  "video_max_pixels", "video_min_frames", "video_max_frames"):
            v = getattr(self, f)
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise LlmSpecError(f"vision.{f}", f"must be an integer >= 0, got {v!r}")
        if not (math.isfinite(self.video_sample_fps) and self.video_sample_fps >= 0):
            raise LlmSpecError("vision.video_sample_fps", f"must be a finite number >= 0, got {self.video_sample_fps!r}")
        video = (self.video_min_pixels, self.video_max_pixels, self.video_sample_fps, self.video_min_frames,
                 self.video_max_frames)
        if any(video) and not self.temporal_patch:
            raise LlmSpecError("vision.temporal_patch", "must be >= 1 when the video processor is described "
                               "(video_* fields): a model that takes no video has none")
        if (self.video_min_pixels or self.video_max_pixels) and not 0 < self.video_min_pixels <= self.video_max_pixels:
            raise LlmSpecError("vision.video_max_pixels", "a video pixel budget needs 0 < video_min_pixels <= "
                               f"video_max_pixels, got {self.video_min_pixels} and {self.video_max_pixels}")
        if self.video_sample_fps and not 1 <= self.video_min_frames <= self.video_max_frames:
            raise LlmSpecError("vision.video_max_frames", "frame sampling (video_sample_fps > 0) needs 1 <= "
                               f"video_min_frames <= video_max_frames, got {self.video_min_frames} and "
                               f"{self.video_max_frames}")
        if not self.video_sample_fps and (self.video_min_frames or self.video_max_frames):
            raise LlmSpecError("vision.video_sample_fps", "must be > 0 when video_min_frames or video_max_frames "
                               "is given (they bound the sampled frames)")
        if not (math.isfinite(self.merger_params) and self.merger_params >= 0):
            raise LlmSpecError("vision.merger_params", f"must be a finite number >= 0, got {self.merger_params!r}")
        if self.hidden % self.heads:
            raise LlmSpecError("vision.heads", f"must divide hidden ({self.hidden}), got {self.heads}")
        if self.image_px:
            if self.image_px % (self.patch_px * self.merge):
                raise LlmSpecError("vision.image_px", f"must be a multiple of patch_px x merge "
                                   f"({self.patch_px * self.merge}), got {self.image_px}")
            if self.min_pixels or self.max_pixels:
                raise LlmSpecError("vision.max_pixels", "a fixed image_px takes no min_pixels/max_pixels")
        elif self.max_tiles:
            raise LlmSpecError("vision.max_tiles", "tiles need a tile side image_px >= 1")
        elif not 0 < self.min_pixels <= self.max_pixels:
            raise LlmSpecError("vision.max_pixels", "native resolution (image_px 0) needs 0 < min_pixels <= max_pixels, "
                               f"got {self.min_pixels} and {self.max_pixels}")

    @property
    def params_per_patch(self) -> float:
        """Parameters each patch passes through: the ViT layers, and the merger's share
        (it runs once per merge^2 patches)."""
        h = self.hidden
        return self.layers * (4.0 * h * h + 2.0 * h * self.intermediate) + self.merger_params / self.merge ** 2

    def encoder(self, name: str) -> LlmSpec:
        """The encoder as the roofline sees it: a dense bidirectional transformer in BF16."""
        return LlmSpec(name=f"{name}/vision", params=self.params_per_patch, active_params=self.params_per_patch,
                       layers=self.layers, hidden=self.hidden, heads=self.heads, kv_heads=self.heads,
                       head_dim=self.hidden // self.heads, attention="mha", source=self.source,
                       params_source=self.source)

    def grid(self, width_px: int, height_px: int) -> tuple[int, int]:
        """Patches along (height, width) of one image or video frame after the processor's resize."""
        if self.image_px:
            side = self.image_px // self.patch_px
            return side, side
        return self._fit(width_px, height_px, self.min_pixels, self.max_pixels)

    def _fit(self, width_px: int, height_px: int, min_pixels: int, max_pixels: int, frames: int = 1,
             frames_rounded: int = 1) -> tuple[int, int]:
        """Patches along (height, width) of each of ``frames`` images (one image, or a video's
        kept frames, counted as ``frames_rounded`` whole temporal patches' worth) after the
        processor's smart resize: sides rounded to whole merged patches, then scaled so that
        ``frames_rounded`` such frames hold ``min_pixels``-``max_pixels`` pixels."""
        f = self.patch_px * self.merge
        h = max(f, round(height_px / f) * f)
        w = max(f, round(width_px / f) * f)
        if frames_rounded * h * w > max_pixels:
            beta = math.sqrt(frames * height_px * width_px / max_pixels)
            h = max(f, math.floor(height_px / beta / f) * f)
            w = max(f, math.floor(width_px / beta / f) * f)
        elif frames_rounded * h * w < min_pixels:
            beta = math.sqrt(min_pixels / (frames * height_px * width_px))
            h = math.ceil(height_px * beta / f) * f
            w = math.ceil(width_px * beta / f) * f
        return h // self.patch_px, w // self.patch_px

    def tiles(self, width_px: int, height_px: int) -> int:
        """Tiles of one image: the canvas of at most max_tiles image_px tiles that scales the
        image least (the smallest upscale, else the mildest downscale; the smallest canvas on
        ties), plus one global thumbnail tile when there are several (transformers
        Llama4ImageProcessor, get_best_fit with resize_to_max_canvas False). 1 when untiled."""
        if not self.max_tiles:
            return 1
        canvases = [(w, h) for w in range(1, self.max_tiles + 1) for h in range(1, self.max_tiles // w + 1)]
        scales = [min(w * self.image_px / width_px, h * self.image_px / height_px) for w, h in canvases]
        up = [s for s in scales if s >= 1]
        pick = min(up) if up else max(scales)
        w, h = min((c for c, s in zip(canvases, scales) if s == pick), key=lambda c: c[0] * c[1])
        return w * h + (1 if w * h > 1 else 0)

    def frames_kept(self, frames: int, clip_fps: float = 0.0) -> int:
        """Frames the video processor keeps of ``frames`` frames of a clip at ``clip_fps``
        frames per second: ``video_sample_fps`` per second of the clip (rounded down), at least
        ``video_min_frames``, at most ``video_max_frames`` and the frames given (transformers
        ``Qwen3VLVideoProcessor.sample_frames``). Every frame without a clip rate or sampling."""
        if clip_fps <= 0 or not self.video_sample_fps:
            return frames
        n = int(frames / clip_fps * self.video_sample_fps)
        return min(max(n, self.video_min_frames), self.video_max_frames, frames)

    def video_grid(self, frames: int, width_px: int, height_px: int) -> tuple[int, int]:
        """Patches along (height, width) of each frame of a video of ``frames`` kept frames:
        with a video pixel budget, the frames' sides are rounded to whole merged patches and
        scaled so that all the frames together (their count rounded to whole temporal patches)
        stay within [video_min_pixels, video_max_pixels] (the smart resize of transformers'
        Qwen3-VL video processor); without one, each frame as an image."""
        if not self.video_max_pixels:
            return self.grid(width_px, height_px)
        t = max(self.temporal_patch, round(frames / self.temporal_patch) * self.temporal_patch)
        return self._fit(width_px, height_px, self.video_min_pixels, self.video_max_pixels, frames, t)

    def work(self, name: str, images: int = 0, image_px: tuple[int, int] = (0, 0), video_frames: int = 0,
             video_px: tuple[int, int] = (0, 0), video_fps: float = 0.0) -> VisionWork:
        """Tokens and encoder work of a request with ``images`` images of ``image_px``
        (width, height) and one video of ``video_frames`` frames of ``video_px``: every frame,
        or, with the clip's frame rate ``video_fps``, the frames the processor keeps
        (:meth:`frames_kept`; a processor the catalogue does not describe refuses it)."""
        if video_frames and not self.temporal_patch:
            raise LlmSpecError("vision.temporal_patch", f"{name} takes no video input")
        if video_fps and not self.video_sample_fps:
            raise LlmSpecError("vision.video_sample_fps", f"{name}: its catalogue file does not describe how its "
                               "video processor samples frames; give the frames it encodes, without a clip rate")
        slices = []  # (count, patches) of each attention group: an image or a video's temporal slice
        if images:
            gh, gw = self.grid(*image_px)
            slices.append((images * self.tiles(*image_px), gh * gw))
        if video_frames:
            video_frames = self.frames_kept(video_frames, video_fps)
            gh, gw = self.video_grid(video_frames, *video_px)
            slices.append((-(-video_frames // self.temporal_patch), gh * gw))
        patches = sum(n * p for n, p in slices)
        return VisionWork(self.encoder(name), patches // self.merge ** 2, patches,
                          float(sum(n * p * p for n, p in slices)))


@dataclass(frozen=True, slots=True)
class LlmSpec:
    """One transformer LLM, dense or mixture-of-experts."""

    name: str
    params: float  # total parameters
    active_params: float  # parameters used per token (== params for dense models)
    layers: int
    hidden: int
    heads: int  # query heads
    kv_heads: int  # key/value heads (config value; not used by the MLA cache formula)
    head_dim: int  # query/key width per head (MLA: qk_nope_head_dim + qk_rope_head_dim)
    bytes_per_param: float = 2.0  # BF16 weights
    kv_bytes_per_elem: float = 2.0  # BF16 KV cache
    source: str = ""  # the config.json the architecture comes from
    params_source: str = ""  # the model card or paper the parameter counts come from
    attention: str = "gqa"  # one of ATTENTION_KINDS; gqa with kv_heads == heads is MHA
    num_experts: int = 0  # routed experts per MoE layer; 0 = dense
    experts_per_token: int = 0  # routed experts each token uses
    shared_experts: int = 0  # experts every token uses besides the routed ones
    kv_lora_rank: int = 0  # MLA: width of the compressed KV latent
    qk_rope_head_dim: int = 0  # MLA: width of the decoupled RoPE key, shared by all heads
    v_head_dim: int = 0  # value width per head when it differs from head_dim; 0 = head_dim
    weight_precision: str = ""  # one of WEIGHT_PRECISIONS; "" = named from bytes_per_param
    kv_precision: str = ""  # one of KV_PRECISIONS; "" = named from kv_bytes_per_elem
    expert_precision: str | None = None  # MoE routed experts' precision if not weight_precision
    sliding_window: int = 0  # tokens the windowed layers attend over; 0 = none
    sliding_window_layers: int = 0  # KV layers that attend only over the last sliding_window tokens
    attention_layers: int = 0  # layers holding a KV cache (hybrid SSM models); 0 = all layers
    ssm_state_bytes_per_seq: float = 0.0  # recurrent (Mamba) state per sequence, all its layers
    # a learned per-head sink in the softmax denominator (gpt-oss); the engine then runs the
    # attention kernels that support sinks (performance.InferencePerfParams.context_overhead_s)
    attention_sinks: bool = False
    vision: VisionSpec | None = None  # the vision encoder of a multimodal model

    def __post_init__(self) -> None:
        if not self.name:
            raise LlmSpecError("name", "must be a non-empty string")
        self._name_precisions()
        for f in ("params", "active_params", "bytes_per_param", "kv_bytes_per_elem"):
            v = getattr(self, f)
            if not (math.isfinite(v) and v > 0):
                raise LlmSpecError(f, f"must be a finite number > 0, got {v!r}")
        for f in ("layers", "hidden", "heads", "kv_heads", "head_dim"):
            if getattr(self, f) < 1:
                raise LlmSpecError(f, f"must be an integer >= 1, got {getattr(self, f)!r}")
        for f in ("num_experts", "experts_per_token", "shared_experts", "kv_lora_rank", "qk_rope_head_dim", "v_head_dim"):
            if getattr(self, f) < 0:
                raise LlmSpecError(f, f"must be an integer >= 0, got {getattr(self, f)!r}")
        if self.active_params > self.params:
            raise LlmSpecError("active_params", f"{self.active_params:g} exceeds params {self.params:g}")
        self._check_attention()
        self._check_experts()
        self._check_layers()

    def _name_precisions(self) -> None:
        for name_field, bytes_field, allowed in (("weight_precision", "bytes_per_param", WEIGHT_PRECISIONS),
                                                 ("kv_precision", "kv_bytes_per_elem", KV_PRECISIONS)):
            name, nbytes = getattr(self, name_field), getattr(self, bytes_field)
            if name == "":
                if nbytes not in _DEFAULT_NAME_OF_BYTES or _DEFAULT_NAME_OF_BYTES[nbytes] not in allowed:
                    raise LlmSpecError(name_field, f"not given, and {bytes_field}={nbytes!r} names none of {list(allowed)}")
                object.__setattr__(self, name_field, _DEFAULT_NAME_OF_BYTES[nbytes])
            elif name not in allowed:
                raise LlmSpecError(name_field, f"must be one of {list(allowed)}, got {name!r}")
            elif nbytes != PRECISION_BYTES[name]:
                raise LlmSpecError(bytes_field, f"{nbytes!r} disagrees with {name_field}={name!r} "
                                   f"({PRECISION_BYTES[name]:g} B); use with_precision() to change precision")
        if self.expert_precision is not None and self.expert_precision not in WEIGHT_PRECISIONS:
            raise LlmSpecError("expert_precision", f"must be one of {list(WEIGHT_PRECISIONS)} or null, "
                               f"got {self.expert_precision!r}")

    def _check_layers(self) -> None:
        for f in ("sliding_window", "sliding_window_layers", "attention_layers"):
            v = getattr(self, f)
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise LlmSpecError(f, f"must be an integer >= 0, got {v!r}")
        if self.attention_layers > self.layers:
            raise LlmSpecError("attention_layers", f"{self.attention_layers} exceeds layers ({self.layers})")
        if self.sliding_window_layers > self.kv_layers:
            raise LlmSpecError("sliding_window_layers",
                               f"{self.sliding_window_layers} exceeds the {self.kv_layers} layers that hold a KV cache")
        if self.sliding_window_layers and not self.sliding_window:
            raise LlmSpecError("sliding_window", "windowed layers (sliding_window_layers >= 1) need sliding_window >= 1")
        if self.sliding_window and not self.sliding_window_layers:
            raise LlmSpecError("sliding_window_layers", "a sliding_window needs sliding_window_layers >= 1")
        if not isinstance(self.attention_sinks, bool):
            raise LlmSpecError("attention_sinks", f"must be true or false, got {self.attention_sinks!r}")
        v = self.ssm_state_bytes_per_seq
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not (math.isfinite(v) and v >= 0):
            raise LlmSpecError("ssm_state_bytes_per_seq", f"must be a finite number >= 0, got {v!r}")
        if v and self.kv_layers == self.layers:
            raise LlmSpecError("ssm_state_bytes_per_seq",
                               "only a hybrid model (attention_layers < layers) has recurrent-layer state")

    def _check_attention(self) -> None:
        if self.attention not in ATTENTION_KINDS:
            raise LlmSpecError("attention", f"must be one of {list(ATTENTION_KINDS)}, got {self.attention!r}")
        if self.attention == "mha" and self.kv_heads != self.heads:
            raise LlmSpecError("kv_heads", f"multi-head attention has kv_heads == heads ({self.heads}), got {self.kv_heads}")
        if self.attention == "gqa" and self.heads % self.kv_heads:
            raise LlmSpecError("kv_heads", f"grouped-query attention needs kv_heads to divide heads ({self.heads}), "
                                           f"got {self.kv_heads}")
        if self.attention == "mla":
            if self.kv_lora_rank < 1:
                raise LlmSpecError("kv_lora_rank", "latent attention (mla) needs kv_lora_rank >= 1")
            if not 1 <= self.qk_rope_head_dim < self.head_dim:
                raise LlmSpecError(
                    "qk_rope_head_dim", f"latent attention (mla) needs 1 <= qk_rope_head_dim < head_dim ({self.head_dim})")
        else:
            for f in ("kv_lora_rank", "qk_rope_head_dim"):
                if getattr(self, f):
                    raise LlmSpecError(f, f"only latent attention (mla) uses it, but attention is {self.attention!r}")

    def _check_experts(self) -> None:
        if self.num_experts == 0:
            for f in ("experts_per_token", "shared_experts"):
                if getattr(self, f):
                    raise LlmSpecError(f, "only a mixture-of-experts model (num_experts >= 1) uses it")
            if self.active_params != self.params:
                raise LlmSpecError("active_params", "a dense model (no num_experts) uses all its params per token")
            if self.expert_precision is not None:
                raise LlmSpecError("expert_precision", "only a mixture-of-experts model (num_experts >= 1) uses it")
        else:
            if not 1 <= self.experts_per_token <= self.num_experts:
                raise LlmSpecError(
                    "experts_per_token", f"must be in [1, num_experts={self.num_experts}], got {self.experts_per_token}")
            if self.active_params >= self.params:
                raise LlmSpecError("active_params", "a mixture-of-experts model uses fewer params per token than it has")

    @property
    def is_moe(self) -> bool:
        """Whether only some experts' weights are used for each token."""
        return self.num_experts > 0

    @property
    def kv_layers(self) -> int:
        """Layers that hold a KV cache: attention_layers of a hybrid model, else all layers."""
        return self.attention_layers or self.layers

    @property
    def expert_bytes_per_param(self) -> float:
        """Bytes per parameter of the routed experts (bytes_per_param unless expert_precision)."""
        return PRECISION_BYTES[self.expert_precision] if self.expert_precision else self.bytes_per_param

    @property
    def expert_params(self) -> float:
        """Parameters of one routed expert over all MoE layers (0 for a dense model): with
        params = dense + E x e and active = dense + k x e, e = (params - active) / (E - k)."""
        if not self.is_moe:
            return 0.0
        return (self.params - self.active_params) / (self.num_experts - self.experts_per_token)

    @property
    def weight_bytes(self) -> float:
        """Bytes of all weights: the routed experts at expert precision, the rest at weight precision."""
        routed = self.num_experts * self.expert_params
        return (self.params - routed) * self.bytes_per_param + routed * self.expert_bytes_per_param

    @property
    def compute_precision(self) -> str:
        """Precision the matrix multiplies run in: fp8 for fp8 weights, fp4 for fp4 and MXFP4
        weights, else bf16. A MoE model with expert_precision is taken at its experts' (they
        hold most of its weights and per-token FLOPs: gpt-oss's MXFP4 experts)."""
        return _COMPUTE_OF_WEIGHT.get(self.expert_precision or self.weight_precision, "bf16")

    def compute_precision_on(self, native_precisions: tuple[str, ...]) -> str:
        """The precision the matmuls run in on a GPU with these native tensor-core precisions:
        compute_precision where the GPU has it, else bf16: a GPU without native support
        runs weight-only kernels that dequantise to bf16 (W8A16 FP8 on A100, W4A16 MXFP4 on
        H100 as vLLM runs gpt-oss), never a lower precision than the weights'."""
        want = self.compute_precision
        return want if want in native_precisions else "bf16"

    def with_precision(self, weight: str | None = None, kv: str | None = None) -> LlmSpec:
        """A copy with all weights at ``weight`` and/or the KV cache at ``kv`` (None: keep),
        named after what changed: "Qwen3-235B-A22B@fp8", "Llama-3.1-70B@fp8/kv-fp8",
        "Llama-3.1-8B@kv-fp8". Device caches key on the name, so each precision gets its own.
        Unchanged precisions return this spec itself."""
        if weight is not None and weight not in WEIGHT_PRECISIONS:
            raise LlmSpecError("weight_precision", f"must be one of {list(WEIGHT_PRECISIONS)}, got {weight!r}")
        if kv is not None and kv not in KV_PRECISIONS:
            raise LlmSpecError("kv_precision", f"must be one of {list(KV_PRECISIONS)}, got {kv!r}")
        change_w = weight is not None and (weight != self.weight_precision or self.expert_precision not in (None, weight))
        change_kv = kv is not None and kv != self.kv_precision
        if not (change_w or change_kv):
            return self
        base, _, suffix = self.name.partition("@")
        parts = [p for p in suffix.split("/") if p]
        w_part = next((p for p in parts if not p.startswith("kv-")), None)
        kv_part = next((p for p in parts if p.startswith("kv-")), None)
        if change_w:
            w_part = weight
        if change_kv:
            kv_part = f"kv-{kv}"
        name = base + "@" + "/".join(p for p in (w_part, kv_part) if p)
        updates: dict[str, Any] = {"name": name}
        if change_w:
            assert weight is not None
            updates.update(weight_precision=weight, bytes_per_param=PRECISION_BYTES[weight], expert_precision=None)
        if change_kv:
            assert kv is not None
            updates.update(kv_precision=kv, kv_bytes_per_elem=PRECISION_BYTES[kv])
        return replace(self, **updates)

    def kv_bytes_per_token_on(self, tp: int) -> float:
        """KV-cache bytes one token of context takes over the ``tp`` GPUs of a tensor-parallel
        group, copies included. TP splits the KV heads over the GPUs; with fewer KV heads
        than GPUs each head is held by tp / kv_heads of them. Latent attention (MLA) has one
        latent per layer that every GPU needs, so each of the tp GPUs holds all of it."""
        if self.attention == "mla":
            return self.kv_bytes_per_token * tp
        return self.kv_bytes_per_token * max(1.0, tp / self.kv_heads)

    @property
    def expert_bytes(self) -> float:
        """Bytes of one routed expert over all MoE layers (0 for a dense model), at expert precision."""
        return self.expert_params * self.expert_bytes_per_param

    @property
    def dense_weight_bytes(self) -> float:
        """Bytes of the weights every token uses: attention, dense layers, shared experts."""
        return (self.active_params - self.experts_per_token * self.expert_params) * self.bytes_per_param

    def weight_bytes_read(self, new_tokens):
        """Weight bytes an iteration of ``new_tokens`` tokens reads from memory (arrays welcome).

        A dense model reads all its weights. A mixture-of-experts layer reads only the
        experts its tokens are routed to: with E experts, k per token and routing taken as
        uniform and independent, T tokens touch E x (1 - (1 - k/E)^T) distinct experts on
        average (one token: exactly k, so the active parameters; many: all of them).
        Skewed routing touches fewer, so this is the upper end.
        """
        if not self.is_moe:
            return self.weight_bytes  # broadcasts against any array of token counts
        return self.dense_weight_bytes + self.expert_bytes * self.experts_touched(new_tokens)

    def experts_touched(self, new_tokens):
        """Distinct routed experts ``new_tokens`` tokens touch per MoE layer, on average: E x (1 -
        (1 - k/E)^T) under uniform, independent routing (:meth:`weight_bytes_read`; arrays welcome)."""
        e, k = self.num_experts, self.experts_per_token
        return e * (1.0 - (1.0 - k / e) ** np.asarray(new_tokens, dtype=float))

    @property
    def _kv_bytes_per_token_per_layer(self) -> float:
        if self.attention == "mla":
            return float((self.kv_lora_rank + self.qk_rope_head_dim) * self.kv_bytes_per_elem)
        return 2.0 * self.kv_heads * self.head_dim * self.kv_bytes_per_elem

    @property
    def full_kv_bytes_per_token(self) -> float:
        """KV-cache bytes per token of context of the layers that attend over the whole context."""
        return (self.kv_layers - self.sliding_window_layers) * self._kv_bytes_per_token_per_layer

    @property
    def window_kv_bytes_per_token(self) -> float:
        """KV-cache bytes per token of the windowed layers (held for the last sliding_window tokens only)."""
        return self.sliding_window_layers * self._kv_bytes_per_token_per_layer

    @property
    def kv_bytes_per_token(self) -> float:
        """KV-cache bytes one token of context occupies over all KV layers, windowed ones
        included (the whole-context, conservative figure capacity planning uses)."""
        return self.full_kv_bytes_per_token + self.window_kv_bytes_per_token

    def kv_bytes_for_context(self, context_tokens):
        """KV-cache bytes one sequence of ``context_tokens`` holds (arrays welcome): the
        windowed layers keep at most sliding_window tokens. Recurrent state not included
        (ssm_state_bytes_per_seq)."""
        ctx = np.asarray(context_tokens, dtype=float)
        windowed = np.minimum(ctx, self.sliding_window) if self.sliding_window else ctx
        return self.full_kv_bytes_per_token * ctx + self.window_kv_bytes_per_token * windowed

    @property
    def attn_flops_per_token_per_ctx(self) -> float:
        """FLOPs of attention (QK^T and AV) per new token per context token, all layers.

        2 FLOPs per multiply-add over the query/key width (QK^T) and the value width (AV)
        of every query head: 4 x layers x heads x head_dim when the two widths agree. MLA
        is counted in its unabsorbed form (head_dim 192 for QK^T, v_head_dim 128 for AV),
        as prefill runs it; decode kernels that absorb the up-projections attend over the
        576-wide latent instead and do more FLOPs, but decode is memory-bound. Only the KV
        layers attend (attention_layers of a hybrid model); windowed layers are counted over
        the whole context here, an upper bound (attn_flops_per_token_at caps them).
        """
        v_dim = self.v_head_dim or self.head_dim
        return 2.0 * self.kv_layers * self.heads * (self.head_dim + v_dim)

    def attn_flops_per_token_at(self, context_tokens):
        """Attention FLOPs of one new token at ``context_tokens`` of context (arrays welcome),
        the windowed layers attending over at most sliding_window tokens."""
        ctx = np.asarray(context_tokens, dtype=float)
        per_layer = self.attn_flops_per_token_per_ctx / self.kv_layers
        windowed = np.minimum(ctx, self.sliding_window) if self.sliding_window else ctx
        return per_layer * ((self.kv_layers - self.sliding_window_layers) * ctx + self.sliding_window_layers * windowed)


# Keys a catalogue file may hold: LlmSpec fields set directly, and source, translated to
# source/params_source (the precision names also give bytes_per_param/kv_bytes_per_elem).
_TRANSLATED = ("source",)
_DERIVED_FIELDS = ("source", "params_source", "bytes_per_param", "kv_bytes_per_elem", "vision")
_DIRECT = tuple(f.name for f in fields(LlmSpec) if f.name not in _DERIVED_FIELDS)
_REQUIRED = ("name", "source", "params", "active_params", "layers", "hidden", "heads", "kv_heads", "head_dim",
             "attention", "weight_precision", "kv_precision")
_FLOAT_FIELDS = ("params", "active_params", "ssm_state_bytes_per_seq")
_STR_FIELDS = ("name", "attention")
_BOOL_FIELDS = ("attention_sinks",)
_PRECISION_FIELDS = {"weight_precision": WEIGHT_PRECISIONS, "kv_precision": KV_PRECISIONS,
                     "expert_precision": WEIGHT_PRECISIONS}


def _integer(file: str, key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ModelFileError(file, key, f"must be an integer, got {value!r}")
    return value


def _text(file: str, key: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ModelFileError(file, key, f"must be a non-empty string, got {value!r}")
    return value.strip()


def _precision(file: str, key: str, value: Any) -> str:
    allowed = _PRECISION_FIELDS[key]
    if not isinstance(value, str) or value not in allowed:
        raise ModelFileError(file, key, f"must be one of {list(allowed)}, got {value!r}")
    return value


_VISION_INT = ("layers", "hidden", "intermediate", "heads", "patch_px", "merge", "image_px", "min_pixels",
               "max_pixels", "temporal_patch", "max_tiles", "video_min_pixels", "video_max_pixels", "video_min_frames",
               "video_max_frames")


def _vision(file: str, data: Any) -> VisionSpec:
    """The ``vision:`` block of a model file."""
    if not isinstance(data, dict):
        raise ModelFileError(file, "vision", f"must hold a mapping of fields, got {type(data).__name__}")
    allowed = set(_VISION_INT) | {"merger_params", "source", "video_sample_fps"}
    for key in data:
        if key not in allowed:
            raise ModelFileError(file, f"vision.{key}", f"is not a vision field; allowed: {sorted(allowed)}")
    for key in ("layers", "hidden", "intermediate", "heads", "patch_px", "merge", "merger_params", "source"):
        if key not in data:
            raise ModelFileError(file, f"vision.{key}", "is missing")
    kw: dict[str, Any] = {k: _integer(file, f"vision.{k}", data[k]) for k in _VISION_INT if k in data}
    kw["merger_params"] = number(file, "vision.merger_params", data["merger_params"], ModelFileError)
    if "video_sample_fps" in data:
        kw["video_sample_fps"] = number(file, "vision.video_sample_fps", data["video_sample_fps"], ModelFileError)
    kw["source"] = _text(file, "vision.source", data["source"])
    return VisionSpec(**kw)


def spec_from_mapping(data: Any, file: str = "<mapping>") -> LlmSpec:
    """Build an ``LlmSpec`` from one parsed catalogue file; errors name file and field."""
    if not isinstance(data, dict):
        raise ModelFileError(file, None, f"must hold a mapping of fields, got {type(data).__name__}")
    allowed = set(_DIRECT) | set(_TRANSLATED) | {"vision"}
    for key in data:
        if key not in allowed:
            raise ModelFileError(file, str(key), f"is not a model field; allowed: {sorted(allowed)}")
    for key in _REQUIRED:
        if key not in data:
            raise ModelFileError(file, key, "is missing")

    source = data["source"]
    if not isinstance(source, dict) or set(source) != {"config", "params"}:
        raise ModelFileError(file, "source", f"must be a mapping with keys 'config' and 'params', got {source!r}")
    kwargs: dict[str, Any] = {
        "source": _text(file, "source.config", source["config"]),
        "params_source": _text(file, "source.params", source["params"]),
        "bytes_per_param": PRECISION_BYTES[_precision(file, "weight_precision", data["weight_precision"])],
        "kv_bytes_per_elem": PRECISION_BYTES[_precision(file, "kv_precision", data["kv_precision"])],
    }
    for key in _DIRECT:
        if key not in data:
            continue
        if key in _PRECISION_FIELDS:
            kwargs[key] = None if key == "expert_precision" and data[key] is None else _precision(file, key, data[key])
        elif key in _FLOAT_FIELDS:
            kwargs[key] = number(file, key, data[key], ModelFileError)
        elif key in _STR_FIELDS:
            kwargs[key] = _text(file, key, data[key])
        elif key in _BOOL_FIELDS:
            kwargs[key] = data[key]  # LlmSpec checks it is a bool
        else:
            kwargs[key] = _integer(file, key, data[key])
    try:
        if "vision" in data:
            kwargs["vision"] = _vision(file, data["vision"])
        return LlmSpec(**kwargs)
    except LlmSpecError as exc:
        raise ModelFileError(file, exc.field, exc.problem) from None


def load_model_file(path: Traversable | Path | str) -> LlmSpec:
    """Read one model YAML file into an ``LlmSpec``."""
    return read_file(path, spec_from_mapping, ModelFileError)


def load_models(directory: Traversable | Path | str | None = None) -> dict[str, LlmSpec]:
    """Read every ``*.yaml`` in ``directory`` (default: the packaged ``dcsim/data/models``)."""
    return read_directory(directory, "models", spec_from_mapping, ModelFileError, "model")


# The registry: the packaged files plus the user's (DCSIM_CATALOGUE_PATH, docs/extending.md).
MODELS: Catalogue[LlmSpec] = Catalogue("models", spec_from_mapping, ModelFileError, "model")


def model_names() -> list[str]:
    """Names accepted wherever a model is chosen."""
    return sorted(MODELS)
