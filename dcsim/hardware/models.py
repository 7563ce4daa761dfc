"""LLM architectures: what the performance model needs to know about a model.

Numbers are from each model's published config (Hugging Face ``config.json`` of the
model card named in ``source``). KV-cache bytes per token follow from the
architecture: 2 (K and V) x layers x kv_heads x head_dim x bytes per element.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class LlmSpec:
    """One transformer LLM."""

    name: str
    params: float  # total parameters
    active_params: float  # parameters used per token (== params for dense models)
    layers: int
    hidden: int
    heads: int
    kv_heads: int
    head_dim: int
    bytes_per_param: float = 2.0  # BF16 weights
    kv_bytes_per_elem: float = 2.0  # BF16 KV cache
    source: str = ""

    @property
    def weight_bytes(self) -> float:
        """Bytes of all weights."""
        return self.params * self.bytes_per_param

    @property
    def kv_bytes_per_token(self) -> float:
        """KV-cache bytes one token of context occupies, over all layers."""
        return 2.0 * self.layers * self.kv_heads * self.head_dim * self.kv_bytes_per_elem

    @property
    def attn_flops_per_token_per_ctx(self) -> float:
        """FLOPs of attention (QK^T and AV) per new token per context token, all layers."""
        return 4.0 * self.layers * self.heads * self.head_dim


def _dense(name: str, params: float, layers: int, hidden: int, heads: int, kv_heads: int, source: str) -> LlmSpec:
    return LlmSpec(name, params, params, layers, hidden, heads, kv_heads, hidden // heads, source=source)


MODELS: dict[str, LlmSpec] = {
    m.name: m
    for m in (
        _dense("Llama-2-7B", 6.74e9, 32, 4096, 32, 32, "meta-llama/Llama-2-7b-hf config.json"),
        _dense("Llama-2-70B", 68.98e9, 80, 8192, 64, 8, "meta-llama/Llama-2-70b-hf config.json"),
        _dense("Llama-3.1-8B", 8.03e9, 32, 4096, 32, 8, "meta-llama/Llama-3.1-8B config.json"),
        _dense("Llama-3.1-70B", 70.55e9, 80, 8192, 64, 8, "meta-llama/Llama-3.1-70B config.json"),
        _dense("Llama-3.1-405B", 405.85e9, 126, 16384, 128, 8, "meta-llama/Llama-3.1-405B config.json"),
    )
}


def model_names() -> list[str]:
    """Names accepted wherever a model is chosen."""
    return sorted(MODELS)
