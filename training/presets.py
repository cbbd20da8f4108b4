"""Model presets: the Qwen3 family (dense and MoE) and tiny shapes for tests and proxies.

A preset is a `ModelConfig` (typed, validated, plain data); `ModelConfig.transformer_config()` turns it into
Megatron's ``TransformerConfig`` and `training.specs.layer_spec` gives its layer ``ModuleSpec``. Parameter
counts are computed from the shape (`param_count`), never by instantiating the model, so the 235B preset is
checked on a laptop.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import Field, model_validator

from corpusforge.config import Config
from corpusforge.errors import ConfigError

#: Qwen3's 151,669-token vocabulary padded (to a multiple of 128) as the released checkpoints are
QWEN3_PADDED_VOCAB = 151_936


class ModelConfig(Config):
    """The shape of a decoder-only Qwen3-architecture transformer (Llama when ``qk_norm`` is off)."""

    name: str = "custom"
    num_layers: int = Field(ge=1)
    hidden_size: int = Field(ge=8)
    ffn_hidden_size: int = Field(ge=1, description="Dense SwiGLU width (unused by MoE layers).")
    num_attention_heads: int = Field(ge=1)
    num_query_groups: int = Field(ge=1, description="KV heads (GQA).")
    kv_channels: int = Field(128, ge=1, description="Head dimension.")
    vocab_size: int = Field(QWEN3_PADDED_VOCAB, ge=2, description="Padded vocabulary (embedding rows).")
    max_seq_length: int = Field(32_768, ge=1, description="The longest sequence the model is trained on.")
    rope_base: float = Field(1_000_000.0, gt=0)
    norm_eps: float = Field(1e-6, gt=0)
    qk_norm: bool = True
    qkv_bias: bool = False
    tie_embeddings: bool = False
    # mixture of experts (num_experts = 0: dense)
    num_experts: int = Field(0, ge=0)
    moe_ffn_hidden_size: int = Field(0, ge=0)
    moe_topk: int = Field(0, ge=0)
    moe_aux_loss_coeff: float = Field(1e-3, ge=0)
    moe_load_balancing: Literal["global_aux_loss", "seq_aux_loss", "aux_loss", "none"] = "global_aux_loss"
    init_std: float = Field(0.02, gt=0)

    @model_validator(mode="after")
    def _check(self) -> ModelConfig:
        if self.num_attention_heads % self.num_query_groups:
            raise ConfigError(
                "num_query_groups", f"{self.num_query_groups} does not divide {self.num_attention_heads} heads"
            )
        if self.num_experts:
            if not (1 <= self.moe_topk <= self.num_experts):
                raise ConfigError("moe_topk", f"must be in 1..num_experts ({self.num_experts}), got {self.moe_topk}")
            if not self.moe_ffn_hidden_size:
                raise ConfigError("moe_ffn_hidden_size", "an MoE model needs the experts' FFN width")
        return self

    @property
    def is_moe(self) -> bool:
        return self.num_experts > 0

    def transformer_config(self, device: str = "cpu", dtype: str = "float32", **parallel):
        """Megatron's ``TransformerConfig`` for this shape. ``device="cuda"`` turns Megatron's fused kernels on;
        ``parallel``: the layout's fields (``tensor_model_parallel_size``, ...) passed through."""
        import torch
        import torch.nn.functional as F
        from megatron.core.transformer.transformer_config import TransformerConfig

        gpu = device == "cuda"
        params_dtype = getattr(torch, dtype)
        moe = {}
        if self.is_moe:
            moe = dict(
                num_moe_experts=self.num_experts,
                moe_ffn_hidden_size=self.moe_ffn_hidden_size,
                moe_router_topk=self.moe_topk,
                moe_router_load_balancing_type=self.moe_load_balancing,
                moe_aux_loss_coeff=self.moe_aux_loss_coeff,
                moe_router_score_function="softmax",
                moe_router_pre_softmax=False,  # softmax over the top-k logits = Qwen3's renormalised top-k
                # alltoall overlaps its device-to-host copy on a CUDA stream; allgather is stream-free
                moe_token_dispatcher_type="alltoall" if gpu else "allgather",
                moe_grouped_gemm=False,
                moe_shared_expert_intermediate_size=None,
            )
        return TransformerConfig(
            num_layers=self.num_layers,
            hidden_size=self.hidden_size,
            ffn_hidden_size=self.ffn_hidden_size,
            num_attention_heads=self.num_attention_heads,
            num_query_groups=self.num_query_groups,
            kv_channels=self.kv_channels,
            normalization="RMSNorm",
            layernorm_epsilon=self.norm_eps,
            qk_layernorm=self.qk_norm,
            add_bias_linear=False,
            add_qkv_bias=self.qkv_bias,
            gated_linear_unit=True,
            activation_func=F.silu,
            init_method_std=self.init_std,
            hidden_dropout=0.0,
            attention_dropout=0.0,
            # fused kernels: on with CUDA, off on the CPU (they are Triton/CUDA kernels)
            bias_activation_fusion=gpu,
            masked_softmax_fusion=gpu,
            bias_dropout_fusion=gpu,
            apply_rope_fusion=gpu,
            cross_entropy_loss_fusion=gpu,
            cross_entropy_fusion_impl="native",
            persist_layer_norm=False,
            gradient_accumulation_fusion=False,
            use_cpu_initialization=not gpu,
            params_dtype=params_dtype,
            pipeline_dtype=params_dtype,
            bf16=params_dtype == torch.bfloat16,
            **moe,
            **parallel,
        )


@dataclass(frozen=True)
class ParamCount:
    total: int
    embedding: int  # input embedding + output layer (once when tied)
    active: int  # per token: total minus the experts a token does not visit

    @property
    def non_embedding(self) -> int:
        return self.total - self.embedding


def param_count(m: ModelConfig) -> ParamCount:
    """Parameters of the model `training.model.build_model` builds, from its shape alone."""
    h, d = m.hidden_size, m.kv_channels
    q, kv = m.num_attention_heads * d, m.num_query_groups * d
    attn = h * (q + 2 * kv) + q * h + (q + 2 * kv if m.qkv_bias else 0) + (2 * d if m.qk_norm else 0)
    norms = 2 * h
    if m.is_moe:
        expert = 3 * h * m.moe_ffn_hidden_size
        mlp, mlp_active = h * m.num_experts + m.num_experts * expert, h * m.num_experts + m.moe_topk * expert
    else:
        mlp = mlp_active = 3 * h * m.ffn_hidden_size
    embedding = m.vocab_size * h * (1 if m.tie_embeddings else 2)
    total = embedding + m.num_layers * (attn + norms + mlp) + h
    active = embedding + m.num_layers * (attn + norms + mlp_active) + h
    return ParamCount(total=total, embedding=embedding, active=active)


def flops_per_token(m: ModelConfig, seq_length: int) -> float:
    """Training FLOPs per token (forward + backward = 3x forward): 6 x active non-embedding-lookup parameters
    plus attention's 12 x layers x heads x head_dim x seq (causal halves it: 6)."""
    pc = param_count(m)
    matmul_params = pc.active - m.vocab_size * m.hidden_size * (0 if m.tie_embeddings else 1)
    attention = 6 * m.num_layers * m.num_attention_heads * m.kv_channels * seq_length
    return 6.0 * matmul_params + attention


def _dense(name, layers, hidden, ffn, heads, kv, tied, **kw) -> ModelConfig:
    return ModelConfig(
        name=name,
        num_layers=layers,
        hidden_size=hidden,
        ffn_hidden_size=ffn,
        num_attention_heads=heads,
        num_query_groups=kv,
        tie_embeddings=tied,
        **kw,
    )


def _moe(name, layers, hidden, heads, kv, experts, expert_ffn, topk, **kw) -> ModelConfig:
    return ModelConfig(
        name=name,
        num_layers=layers,
        hidden_size=hidden,
        ffn_hidden_size=expert_ffn * topk,
        num_attention_heads=heads,
        num_query_groups=kv,
        num_experts=experts,
        moe_ffn_hidden_size=expert_ffn,
        moe_topk=topk,
        **kw,
    )


#: the Qwen3 report's Table 1 and 2, as the released configs give them
PRESETS: dict[str, ModelConfig] = {
    p.name: p
    for p in (
        _dense("qwen3-0.6b", 28, 1024, 3072, 16, 8, True),
        _dense("qwen3-1.7b", 28, 2048, 6144, 16, 8, True),
        _dense("qwen3-4b", 36, 2560, 9728, 32, 8, True),
        _dense("qwen3-8b", 36, 4096, 12288, 32, 8, False),
        _dense("qwen3-14b", 40, 5120, 17408, 40, 8, False),
        _dense("qwen3-32b", 64, 5120, 25600, 64, 8, False),
        _moe("qwen3-30b-a3b", 48, 2048, 32, 4, 128, 768, 8),
        _moe("qwen3-235b-a22b", 94, 4096, 64, 4, 128, 1536, 8),
        # tiny shapes: unit tests, CPU benchmarks, proxy ablations (vocab padded over Qwen3's 151,669 entries
        # would dominate them; the tiny presets take the vocabulary size from the data)
        _dense("tiny", 2, 64, 192, 4, 2, False, kv_channels=16, vocab_size=512, max_seq_length=512, init_std=0.05),
        _dense("tiny-tied", 2, 64, 192, 4, 2, True, kv_channels=16, vocab_size=512, max_seq_length=512, init_std=0.05),
        _moe("tiny-moe", 2, 64, 4, 2, 8, 32, 2, kv_channels=16, vocab_size=512, max_seq_length=512, init_std=0.05),
        _dense("proxy-60m", 8, 512, 1536, 8, 4, True, kv_channels=64, max_seq_length=4096),
    )
}


def preset(name: str, **overrides) -> ModelConfig:
    """A preset by name, with fields overridden (validated again)."""
    if name not in PRESETS:
        raise ConfigError("model.preset", f"unknown preset {name!r}; known: {', '.join(PRESETS)}")
    return ModelConfig.parse({**PRESETS[name].model_dump(), **overrides})
