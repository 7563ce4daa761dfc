"""LLM architectures: what the performance model needs to know about a model.

The catalogue is data: one YAML file per model in ``dcsim/data/models/``, read once at
import into ``MODELS``. Adding a model is adding a file; no code changes. Each file
cites the Hugging Face ``config.json`` its architecture numbers come from and the model
card or paper its parameter counts come from.

KV-cache bytes per token follow from the attention kind:

- ``mha`` / ``gqa``: 2 (K and V) x layers x kv_heads x head_dim x bytes per element;
- ``mla`` (multi-head latent attention, DeepSeek-V2/V3): one compressed latent of
  ``kv_lora_rank`` plus one decoupled RoPE key of ``qk_rope_head_dim`` per layer, i.e.
  (kv_lora_rank + qk_rope_head_dim) x layers x bytes per element, shared by all heads.

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
    weight_precision: bf16        # not a field: gives bytes_per_param
    kv_precision: bf16            # not a field: gives kv_bytes_per_elem
    # MoE only:    num_experts, experts_per_token, shared_experts
    # MLA only:    kv_lora_rank, qk_rope_head_dim; v_head_dim if it differs from head_dim
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import numpy as np
import yaml

# Bytes one element takes in each precision a catalogue file may name.
PRECISION_BYTES: dict[str, float] = {"fp32": 4.0, "bf16": 2.0, "fp16": 2.0, "fp8": 1.0}
ATTENTION_KINDS = ("mha", "gqa", "mla")


class LlmSpecError(ValueError):
    """An ``LlmSpec`` value that is wrong, naming the field it is in."""

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        self.problem = problem
        super().__init__(f"field '{field}': {problem}")


class ModelFileError(ValueError):
    """A model catalogue file that cannot be loaded; the message names file and field."""

    def __init__(self, file: str, field: str | None, problem: str) -> None:
        self.file = file
        self.field = field
        where = f"field '{field}': " if field else ""
        super().__init__(f"model file {file}: {where}{problem}")


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

    def __post_init__(self) -> None:
        if not self.name:
            raise LlmSpecError("name", "must be a non-empty string")
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

    def _check_attention(self) -> None:
        if self.attention not in ATTENTION_KINDS:
            raise LlmSpecError("attention", f"must be one of {list(ATTENTION_KINDS)}, got {self.attention!r}")
        if self.attention == "mha" and self.kv_heads != self.heads:
            raise LlmSpecError("kv_heads", f"multi-head attention has kv_heads == heads ({self.heads}), got {self.kv_heads}")
        if self.attention == "gqa" and self.heads % self.kv_heads:
            raise LlmSpecError("kv_heads", f"grouped-query attention needs kv_heads to divide heads ({self.heads}), got {self.kv_heads}")
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
    def weight_bytes(self) -> float:
        """Bytes of all weights."""
        return self.params * self.bytes_per_param

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
        """Bytes of one routed expert over all MoE layers (0 for a dense model): with
        params = dense + E x e and active = dense + k x e, e = (params - active) / (E - k)."""
        if not self.is_moe:
            return 0.0
        return (self.params - self.active_params) / (self.num_experts - self.experts_per_token) * self.bytes_per_param

    @property
    def dense_weight_bytes(self) -> float:
        """Bytes of the weights every token uses: attention, dense layers, shared experts."""
        return self.active_params * self.bytes_per_param - self.experts_per_token * self.expert_bytes

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
        e, k = self.num_experts, self.experts_per_token
        touched = e * (1.0 - (1.0 - k / e) ** np.asarray(new_tokens, dtype=float))
        return self.dense_weight_bytes + self.expert_bytes * touched

    @property
    def kv_bytes_per_token(self) -> float:
        """KV-cache bytes one token of context occupies, over all layers."""
        if self.attention == "mla":
            return float((self.kv_lora_rank + self.qk_rope_head_dim) * self.layers * self.kv_bytes_per_elem)
        return 2.0 * self.layers * self.kv_heads * self.head_dim * self.kv_bytes_per_elem

    @property
    def attn_flops_per_token_per_ctx(self) -> float:
        """FLOPs of attention (QK^T and AV) per new token per context token, all layers.

        2 FLOPs per multiply-add over the query/key width (QK^T) and the value width (AV)
        of every query head: 4 x layers x heads x head_dim when the two widths agree. MLA
        is counted in its unabsorbed form (head_dim 192 for QK^T, v_head_dim 128 for AV),
        as prefill runs it; decode kernels that absorb the up-projections attend over the
        576-wide latent instead and do more FLOPs, but decode is memory-bound.
        """
        v_dim = self.v_head_dim or self.head_dim
        return 2.0 * self.layers * self.heads * (self.head_dim + v_dim)


# Keys a catalogue file may hold: LlmSpec fields set directly, and the three that are
# translated (source -> source/params_source, precisions -> bytes).
_TRANSLATED = ("source", "weight_precision", "kv_precision")
_DERIVED_FIELDS = ("source", "params_source", "bytes_per_param", "kv_bytes_per_elem")
_DIRECT = tuple(f.name for f in fields(LlmSpec) if f.name not in _DERIVED_FIELDS)
_REQUIRED = ("name", "source", "params", "active_params", "layers", "hidden", "heads", "kv_heads", "head_dim",
             "attention", "weight_precision", "kv_precision")
_FLOAT_FIELDS = ("params", "active_params")
_STR_FIELDS = ("name", "attention")


def _number(file: str, key: str, value: Any) -> float:
    # YAML 1.1 (PyYAML) reads "70.55e9" as a string: accept numeric strings too.
    if isinstance(value, bool):
        raise ModelFileError(file, key, f"must be a number, got {value!r}")
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.replace("_", ""))
        except ValueError:
            pass
    raise ModelFileError(file, key, f"must be a number, got {value!r}")


def _integer(file: str, key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ModelFileError(file, key, f"must be an integer, got {value!r}")
    return value


def _text(file: str, key: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ModelFileError(file, key, f"must be a non-empty string, got {value!r}")
    return value.strip()


def _precision(file: str, key: str, value: Any) -> float:
    if value not in PRECISION_BYTES:
        raise ModelFileError(file, key, f"must be one of {sorted(PRECISION_BYTES)}, got {value!r}")
    return PRECISION_BYTES[value]


def spec_from_mapping(data: Any, file: str = "<mapping>") -> LlmSpec:
    """Build an ``LlmSpec`` from one parsed catalogue file; errors name file and field."""
    if not isinstance(data, dict):
        raise ModelFileError(file, None, f"must hold a mapping of fields, got {type(data).__name__}")
    allowed = set(_DIRECT) | set(_TRANSLATED)
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
        "bytes_per_param": _precision(file, "weight_precision", data["weight_precision"]),
        "kv_bytes_per_elem": _precision(file, "kv_precision", data["kv_precision"]),
    }
    for key in _DIRECT:
        if key not in data:
            continue
        if key in _FLOAT_FIELDS:
            kwargs[key] = _number(file, key, data[key])
        elif key in _STR_FIELDS:
            kwargs[key] = _text(file, key, data[key])
        else:
            kwargs[key] = _integer(file, key, data[key])
    try:
        return LlmSpec(**kwargs)
    except LlmSpecError as exc:
        raise ModelFileError(file, exc.field, exc.problem) from None


def load_model_file(path: Traversable | Path | str) -> LlmSpec:
    """Read one model YAML file into an ``LlmSpec``."""
    path = Path(path) if isinstance(path, str) else path
    file = str(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ModelFileError(file, None, f"is not valid YAML: {exc}") from None
    return spec_from_mapping(data, file)


def load_models(directory: Traversable | Path | str | None = None) -> dict[str, LlmSpec]:
    """Read every ``*.yaml`` in ``directory`` (default: the packaged ``dcsim/data/models``)."""
    if directory is None:
        directory = resources.files("dcsim.data").joinpath("models")
    elif isinstance(directory, str):
        directory = Path(directory)
    files = sorted((p for p in directory.iterdir() if p.name.endswith(".yaml")), key=lambda p: p.name)
    if not files:
        raise ModelFileError(str(directory), None, "no *.yaml model files found")
    models: dict[str, LlmSpec] = {}
    origin: dict[str, str] = {}
    for path in files:
        spec = load_model_file(path)
        if spec.name in models:
            raise ModelFileError(str(path), "name", f"{spec.name!r} is already defined in {origin[spec.name]}")
        models[spec.name] = spec
        origin[spec.name] = str(path)
    return models


MODELS: dict[str, LlmSpec] = load_models()


def model_names() -> list[str]:
    """Names accepted wherever a model is chosen."""
    return sorted(MODELS)
