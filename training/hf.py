"""Hugging Face export and import: Megatron ``GPTModel`` state dicts <-> ``Qwen3ForCausalLM`` /
``Qwen3MoeForCausalLM`` safetensors (the Hub's per-expert layout), and import from Llama-architecture models
(``LlamaForCausalLM``, ``Qwen2ForCausalLM``: no QK-norm, optional QKV bias).

Megatron keeps Q, K and V in one ``linear_qkv`` weight grouped by KV head: for each of the ``g`` query groups,
its ``heads/g`` query heads, then its key head, then its value head; the MLP's ``linear_fc1`` is
``[gate; up]``. Transformer Engine's spec fuses the pre-norms into ``linear_qkv.layer_norm_weight`` and
``linear_fc1.layer_norm_weight``: both names are read.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch

from corpusforge.errors import ConfigError, InputError
from corpusforge.shardfacts import TOKENIZER_FILES
from training.presets import ModelConfig

#: copied next to exported weights: the tokenizer's files and the generation defaults
EXPORT_FILES = (*TOKENIZER_FILES, "generation_config.json")
_TE_NAMES = {
    "self_attention.linear_qkv.layer_norm_weight": "input_layernorm.weight",
    "mlp.linear_fc1.layer_norm_weight": "pre_mlp_layernorm.weight",
}


def _normalise(sd: dict) -> dict[str, torch.Tensor]:
    out = {}
    for key, value in sd.items():
        if key.endswith("_extra_state") or not isinstance(value, torch.Tensor):
            continue
        key = key.removeprefix("module.")
        for te, local in _TE_NAMES.items():
            if key.endswith(te):
                key = key[: -len(te)] + local
        out[key] = value
    return out


def megatron_to_hf(sd: dict, m: ModelConfig) -> dict[str, torch.Tensor]:
    """A Megatron state dict as the Hub's ``Qwen3`` / ``Qwen3Moe`` tensors (fp32 copies, contiguous)."""
    sd = _normalise(sd)
    g, d = m.num_query_groups, m.kv_channels
    r = m.num_attention_heads // g
    out = {"model.embed_tokens.weight": sd["embedding.word_embeddings.weight"]}
    for i in range(m.num_layers):
        mp, hp = f"decoder.layers.{i}.", f"model.layers.{i}."
        qkv = sd[mp + "self_attention.linear_qkv.weight"].reshape(g, r + 2, d, m.hidden_size)
        out[hp + "self_attn.q_proj.weight"] = qkv[:, :r].reshape(-1, m.hidden_size)
        out[hp + "self_attn.k_proj.weight"] = qkv[:, r].reshape(-1, m.hidden_size)
        out[hp + "self_attn.v_proj.weight"] = qkv[:, r + 1].reshape(-1, m.hidden_size)
        if m.qkv_bias:
            bias = sd[mp + "self_attention.linear_qkv.bias"].reshape(g, r + 2, d)
            out[hp + "self_attn.q_proj.bias"] = bias[:, :r].reshape(-1)
            out[hp + "self_attn.k_proj.bias"] = bias[:, r].reshape(-1)
            out[hp + "self_attn.v_proj.bias"] = bias[:, r + 1].reshape(-1)
        out[hp + "self_attn.o_proj.weight"] = sd[mp + "self_attention.linear_proj.weight"]
        if m.qk_norm:
            out[hp + "self_attn.q_norm.weight"] = sd[mp + "self_attention.q_layernorm.weight"]
            out[hp + "self_attn.k_norm.weight"] = sd[mp + "self_attention.k_layernorm.weight"]
        out[hp + "input_layernorm.weight"] = sd[mp + "input_layernorm.weight"]
        out[hp + "post_attention_layernorm.weight"] = sd[mp + "pre_mlp_layernorm.weight"]
        if m.is_moe:
            out[hp + "mlp.gate.weight"] = sd[mp + "mlp.router.weight"]
            for e in range(m.num_experts):
                ep = f"{mp}mlp.experts.local_experts.{e}."
                gate, up = sd[ep + "linear_fc1.weight"].chunk(2, dim=0)
                out[f"{hp}mlp.experts.{e}.gate_proj.weight"] = gate
                out[f"{hp}mlp.experts.{e}.up_proj.weight"] = up
                out[f"{hp}mlp.experts.{e}.down_proj.weight"] = sd[ep + "linear_fc2.weight"]
        else:
            gate, up = sd[mp + "mlp.linear_fc1.weight"].chunk(2, dim=0)
            out[hp + "mlp.gate_proj.weight"] = gate
            out[hp + "mlp.up_proj.weight"] = up
            out[hp + "mlp.down_proj.weight"] = sd[mp + "mlp.linear_fc2.weight"]
    out["model.norm.weight"] = sd["decoder.final_layernorm.weight"]
    if not m.tie_embeddings:
        out["lm_head.weight"] = sd["output_layer.weight"]
    return {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in out.items()}


def hf_to_megatron(hf: dict[str, torch.Tensor], m: ModelConfig) -> dict[str, torch.Tensor]:
    """The Hub's tensors (Qwen3, Qwen3-MoE, Llama, Qwen2) as a Megatron local-spec state dict."""
    g, d = m.num_query_groups, m.kv_channels
    r = m.num_attention_heads // g

    def get(key):
        if key not in hf:
            raise InputError(key, "missing from the Hugging Face checkpoint")
        return hf[key]

    sd = {"embedding.word_embeddings.weight": get("model.embed_tokens.weight")}
    for i in range(m.num_layers):
        mp, hp = f"decoder.layers.{i}.", f"model.layers.{i}."
        q = get(hp + "self_attn.q_proj.weight").reshape(g, r, d, m.hidden_size)
        k = get(hp + "self_attn.k_proj.weight").reshape(g, 1, d, m.hidden_size)
        v = get(hp + "self_attn.v_proj.weight").reshape(g, 1, d, m.hidden_size)
        sd[mp + "self_attention.linear_qkv.weight"] = torch.cat([q, k, v], dim=1).reshape(-1, m.hidden_size)
        if m.qkv_bias:
            qb = get(hp + "self_attn.q_proj.bias").reshape(g, r, d)
            kb = get(hp + "self_attn.k_proj.bias").reshape(g, 1, d)
            vb = get(hp + "self_attn.v_proj.bias").reshape(g, 1, d)
            sd[mp + "self_attention.linear_qkv.bias"] = torch.cat([qb, kb, vb], dim=1).reshape(-1)
        sd[mp + "self_attention.linear_proj.weight"] = get(hp + "self_attn.o_proj.weight")
        if m.qk_norm:
            sd[mp + "self_attention.q_layernorm.weight"] = get(hp + "self_attn.q_norm.weight")
            sd[mp + "self_attention.k_layernorm.weight"] = get(hp + "self_attn.k_norm.weight")
        sd[mp + "input_layernorm.weight"] = get(hp + "input_layernorm.weight")
        sd[mp + "pre_mlp_layernorm.weight"] = get(hp + "post_attention_layernorm.weight")
        if m.is_moe:
            sd[mp + "mlp.router.weight"] = get(hp + "mlp.gate.weight")
            for e in range(m.num_experts):
                ep, he = f"{mp}mlp.experts.local_experts.{e}.", f"{hp}mlp.experts.{e}."
                sd[ep + "linear_fc1.weight"] = torch.cat([get(he + "gate_proj.weight"), get(he + "up_proj.weight")])
                sd[ep + "linear_fc2.weight"] = get(he + "down_proj.weight")
        else:
            sd[mp + "mlp.linear_fc1.weight"] = torch.cat(
                [get(hp + "mlp.gate_proj.weight"), get(hp + "mlp.up_proj.weight")]
            )
            sd[mp + "mlp.linear_fc2.weight"] = get(hp + "mlp.down_proj.weight")
    sd["decoder.final_layernorm.weight"] = get("model.norm.weight")
    if not m.tie_embeddings:
        sd["output_layer.weight"] = get("lm_head.weight")
    return sd


def hf_config(
    m: ModelConfig,
    *,
    yarn_factor: float | None = None,
    trained_length: int | None = None,
    bos_token_id: int | None = None,
    eos_token_id: int | None = None,
) -> dict:
    """``config.json`` for ``Qwen3ForCausalLM`` / ``Qwen3MoeForCausalLM``. With ``yarn_factor``, YaRN rope scaling
    over the trained length (written both as transformers 5's ``rope_parameters`` and 4.x's ``rope_scaling``)."""
    rope = {"rope_type": "default", "rope_theta": m.rope_base}
    max_pos = m.max_seq_length
    if yarn_factor:
        trained = trained_length or m.max_seq_length
        rope = {
            "rope_type": "yarn",
            "rope_theta": m.rope_base,
            "factor": float(yarn_factor),
            "original_max_position_embeddings": int(trained),
        }
        max_pos = int(trained * yarn_factor)
    cfg = {
        "architectures": ["Qwen3MoeForCausalLM" if m.is_moe else "Qwen3ForCausalLM"],
        "model_type": "qwen3_moe" if m.is_moe else "qwen3",
        "vocab_size": m.vocab_size,
        "hidden_size": m.hidden_size,
        "intermediate_size": m.ffn_hidden_size,
        "num_hidden_layers": m.num_layers,
        "num_attention_heads": m.num_attention_heads,
        "num_key_value_heads": m.num_query_groups,
        "head_dim": m.kv_channels,
        "hidden_act": "silu",
        "max_position_embeddings": max_pos,
        "rms_norm_eps": m.norm_eps,
        "rope_theta": m.rope_base,
        "rope_parameters": rope,
        "rope_scaling": None if not yarn_factor else {k: v for k, v in rope.items() if k != "rope_theta"},
        "tie_word_embeddings": m.tie_embeddings,
        "attention_bias": m.qkv_bias,
        "attention_dropout": 0.0,
        "initializer_range": m.init_std,
        "use_cache": True,
        "use_sliding_window": False,
        "torch_dtype": "float32",
    }
    if m.is_moe:
        cfg |= {
            "num_experts": m.num_experts,
            "num_experts_per_tok": m.moe_topk,
            "moe_intermediate_size": m.moe_ffn_hidden_size,
            "norm_topk_prob": True,
            "decoder_sparse_step": 1,
            "mlp_only_layers": [],
            "router_aux_loss_coef": m.moe_aux_loss_coeff,
            "output_router_logits": False,
        }
    if bos_token_id is not None:
        cfg["bos_token_id"] = bos_token_id
    if eos_token_id is not None:
        cfg["eos_token_id"] = eos_token_id
    return cfg


def model_config_from_hf(cfg: dict, name: str = "imported") -> ModelConfig:
    """Our `ModelConfig` from a Hugging Face ``config.json`` (qwen3, qwen3_moe, llama, qwen2, mistral)."""
    kind = cfg.get("model_type")
    if kind not in ("qwen3", "qwen3_moe", "llama", "qwen2", "mistral"):
        raise InputError("config.json", f"model_type {kind!r} is not a Qwen3 or Llama-architecture model")
    if cfg.get("hidden_act", "silu") != "silu":
        raise InputError("config.json", f"hidden_act {cfg.get('hidden_act')!r}: only SwiGLU (silu) models import")
    rope = cfg.get("rope_parameters") or {}
    theta = rope.get("rope_theta", cfg.get("rope_theta", 10_000.0))
    scaling = cfg.get("rope_scaling") or rope
    max_len = cfg.get("max_position_embeddings", 32_768)
    if scaling.get("rope_type", scaling.get("type", "default")) not in ("default", None):
        max_len = scaling.get("original_max_position_embeddings", max_len)
    heads = cfg["num_attention_heads"]
    moe = kind == "qwen3_moe"
    if moe and not cfg.get("norm_topk_prob", False):
        raise InputError("config.json", "norm_topk_prob false: Megatron's router renormalises the top-k weights")
    if moe and (cfg.get("mlp_only_layers") or cfg.get("decoder_sparse_step", 1) != 1):
        raise InputError("config.json", "dense layers inside an MoE model (mlp_only_layers) are not supported")
    return ModelConfig(
        name=name,
        num_layers=cfg["num_hidden_layers"],
        hidden_size=cfg["hidden_size"],
        ffn_hidden_size=cfg["intermediate_size"],
        num_attention_heads=heads,
        num_query_groups=cfg.get("num_key_value_heads") or heads,
        kv_channels=cfg.get("head_dim") or cfg["hidden_size"] // heads,
        vocab_size=cfg["vocab_size"],
        max_seq_length=max_len,
        rope_base=theta,
        norm_eps=cfg.get("rms_norm_eps", 1e-6),
        qk_norm=kind in ("qwen3", "qwen3_moe"),
        qkv_bias=bool(cfg.get("attention_bias", kind == "qwen2")),
        tie_embeddings=bool(cfg.get("tie_word_embeddings", False)),
        num_experts=(cfg.get("num_experts") or cfg.get("num_local_experts") or 0) if moe else 0,
        moe_ffn_hidden_size=cfg.get("moe_intermediate_size", 0) if moe else 0,
        moe_topk=cfg.get("num_experts_per_tok", 0) if moe else 0,
        moe_aux_loss_coeff=cfg.get("router_aux_loss_coef", 1e-3) if moe else 1e-3,
        init_std=cfg.get("initializer_range", 0.02),
    )


def save_hf(gpt, m: ModelConfig, out: str | Path, **kwargs) -> Path:
    """A live Megatron model as a transformers directory (`write_hf`'s keyword arguments)."""
    from training.model import unwrap

    return write_hf(unwrap(gpt).state_dict(), m, out, **kwargs)


def write_hf(
    state: dict[str, torch.Tensor],
    m: ModelConfig,
    out: str | Path,
    *,
    tokenizer_dir: str | Path | None = None,
    yarn_factor: float | None = None,
    trained_length: int | None = None,
    eos_token_id: int | None = None,
) -> Path:
    """Write ``model.safetensors`` + ``config.json`` (+ the tokenizer's files) for transformers, from a Megatron
    state dict (a live model's or a checkpoint's)."""
    from safetensors.torch import save_file

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tensors = megatron_to_hf(state, m)
    tmp = out / "model.safetensors.tmp"
    save_file(tensors, str(tmp), metadata={"format": "pt"})
    tmp.replace(out / "model.safetensors")
    cfg = hf_config(m, yarn_factor=yarn_factor, trained_length=trained_length, eos_token_id=eos_token_id)
    if tokenizer_dir is not None:
        src = Path(tokenizer_dir)
        copied = [name for name in EXPORT_FILES if (src / name).is_file()]
        if not copied:
            raise InputError(str(src), "holds no tokenizer file to copy (tokenizer.json, vocab.json, ...)")
        for name in copied:
            shutil.copyfile(src / name, out / name)
    (out / "config.json").write_text(json.dumps(cfg, indent=2) + "\n")
    return out


def read_hf(path: str | Path) -> tuple[ModelConfig, dict[str, torch.Tensor]]:
    """A Hugging Face model directory's config and tensors (every ``*.safetensors`` file in it)."""
    from safetensors.torch import load_file

    path = Path(path)
    if not (path / "config.json").is_file():
        raise InputError(str(path), "no config.json: not a Hugging Face model directory")
    files = sorted(path.glob("*.safetensors"))
    if not files:
        raise InputError(str(path), "no *.safetensors weights")
    cfg = json.loads((path / "config.json").read_text())
    m = model_config_from_hf(cfg, name=path.name)
    tensors: dict[str, torch.Tensor] = {}
    for f in files:
        tensors.update(load_file(str(f)))
    if not m.tie_embeddings and "lm_head.weight" not in tensors:
        raise InputError(str(path), "lm_head.weight missing and tie_word_embeddings is false")
    return m, tensors


def load_hf(path: str | Path, backend: str = "auto", dtype: str = "float32", **model_overrides):
    """Build a Megatron ``GPTModel`` from a Hugging Face directory; returns (ModelConfig, model)."""
    from training.model import build_model

    m, tensors = read_hf(path)
    if model_overrides:
        m = ModelConfig.parse({**m.model_dump(), **model_overrides})
    gpt = build_model(m, backend=backend, dtype=dtype)
    sd = hf_to_megatron(tensors, m)
    own = gpt.state_dict()
    for key in list(own):  # Transformer Engine's spec keeps the pre-norms inside the fused linears
        for te, local in _TE_NAMES.items():
            if key.endswith(te) and key[: -len(te)] + local in sd:
                sd[key] = sd.pop(key[: -len(te)] + local)
    missing, unexpected = gpt.load_state_dict(sd, strict=False)
    missing = [k for k in missing if not k.endswith("_extra_state")]
    if missing or unexpected:
        raise ConfigError(
            "model", f"checkpoint does not fit the model: missing {missing[:5]}, unexpected {unexpected[:5]}"
        )
    return m, gpt
