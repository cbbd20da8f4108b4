"""Layer ``ModuleSpec`` builders: Transformer Engine where importable, else Megatron's local spec with its core
attention swapped for PyTorch's fused scaled-dot-product attention (flash / memory-efficient kernels on GPU,
the fused CPU kernel here). Swapping one submodule is what ``ModuleSpec`` is for: everything else in the layer
(QKV projection, QK-norm, RoPE, output projection, MLP or MoE) is Megatron's.
"""

from __future__ import annotations

import functools
import math
from typing import Literal

import torch
import torch.nn.functional as F

from training.presets import ModelConfig

Backend = Literal["auto", "te", "sdpa", "local"]


def _sdpa_class():
    from megatron.core.transformer.dot_product_attention import DotProductAttention
    from megatron.core.transformer.enums import AttnMaskType

    class SDPAttention(DotProductAttention):
        """``DotProductAttention`` computed by ``torch.nn.functional.scaled_dot_product_attention`` (GQA native).

        Takes and returns Megatron's layout: query ``[sq, b, heads, d]``, key/value ``[sk, b, groups, d]``,
        output ``[sq, b, heads * d]``; Megatron's boolean mask marks positions to *hide*.
        """

        def forward(
            self,
            query,
            key,
            value,
            attention_mask,
            attn_mask_type=None,
            attention_bias=None,
            packed_seq_params=None,
        ):
            if packed_seq_params is not None or attention_bias is not None:
                raise NotImplementedError("SDPAttention: packed sequences and attention bias are not supported")
            sq, b, heads, d = query.shape
            q, k, v = (t.permute(1, 2, 0, 3) for t in (query, key, value))
            mask_type = attn_mask_type if attn_mask_type is not None else self.attn_mask_type
            causal = attention_mask is None and mask_type == AttnMaskType.causal
            mask = None if attention_mask is None else ~attention_mask
            scale = self.config.softmax_scale or 1.0 / math.sqrt(d)
            out = F.scaled_dot_product_attention(
                q,
                k,
                v,
                attn_mask=mask,
                dropout_p=self.config.attention_dropout if self.training else 0.0,
                is_causal=causal,
                scale=scale,
                enable_gqa=k.shape[1] != heads,
            )
            return out.permute(2, 0, 1, 3).reshape(sq, b, heads * d)

    return SDPAttention


@functools.cache
def sdpa_attention_class():
    """One class per process, so specs built at different times compare equal."""
    return _sdpa_class()


def te_available() -> bool:
    try:
        import transformer_engine  # noqa: F401
    except Exception:
        return False
    return torch.cuda.is_available()


def resolve_backend(backend: Backend) -> str:
    if backend == "auto":
        return "te" if te_available() else "sdpa"
    if backend == "te" and not te_available():
        from corpusforge.errors import ConfigError

        raise ConfigError("train.attention", "the Transformer Engine spec needs transformer_engine and a CUDA device")
    return backend


def layer_spec(model: ModelConfig, backend: Backend = "auto"):
    """The transformer-layer ``ModuleSpec`` for ``model`` on ``backend`` (``auto``: te, else sdpa)."""
    from megatron.core.models.gpt.gpt_layer_specs import (
        get_gpt_layer_local_spec,
        get_gpt_layer_with_transformer_engine_spec,
    )

    backend = resolve_backend(backend)
    experts = model.num_experts or None
    if backend == "te":
        return get_gpt_layer_with_transformer_engine_spec(
            num_experts=experts, moe_grouped_gemm=False, qk_layernorm=model.qk_norm
        )
    spec = get_gpt_layer_local_spec(
        num_experts=experts, moe_grouped_gemm=False, qk_layernorm=model.qk_norm, normalization="RMSNorm"
    )
    if backend == "sdpa":
        spec.submodules.self_attention.submodules.core_attention = sdpa_attention_class()
    return spec
