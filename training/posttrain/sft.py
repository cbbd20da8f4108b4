"""Supervised fine-tuning (long-CoT cold start, thinking-mode fusion, off-policy distillation) as a TrainModule
beside pretraining: packed conversations, loss on assistant turns only, attention kept inside each one.

Data: JSON lines of ``{"messages": [...]}`` (see `training.posttrain.chat`). Bad records are counted skips with a
named reason (``no_assistant``, ``unclosed_think``, ``stray_think_close``, ``unknown_role``, ``bad_token_ids``,
``too_long``, ``bad_record``), written to ``skips.json``."""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path
from typing import Literal

import torch
from pydantic import Field

from corpusforge.errors import ConfigError, InputError
from training.posttrain.chat import Packed, encode, pack
from training.posttrain.common import PostTrainRecipe, run_trainer, summary, write_json
from training.trainer import PretrainModule


class SFTModule(PretrainModule):
    """Pretraining's module with the packed rows' block-diagonal attention mask passed to Megatron."""

    def _loss(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        from training.model import device_type

        dev = device_type()
        mask = batch.get("attention_mask")
        losses = self.model(
            batch["tokens"].to(dev),
            batch["position_ids"].to(dev),
            None if mask is None else mask.to(dev),
            labels=batch["labels"].to(dev),
        )
        lm = batch["loss_mask"].to(dev)
        return (losses.float() * lm).sum(), lm.sum()


def read_conversations(path: str | Path) -> list[dict]:
    path = Path(path)
    if not path.is_file():
        raise ConfigError("data", f"no such file: {path}")
    out = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if line.strip():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                out.append({"_bad": f"line {n}: not JSON"})
    return out


def encode_all(records: list[dict], tokenizer, seq_length: int) -> tuple[list[tuple[list[int], list[int]]], Counter]:
    """(ids, mask) per usable conversation and the skip counts by reason."""
    examples, skips = [], Counter()
    for rec in records:
        messages = rec.get("messages") if isinstance(rec, dict) else None
        if not isinstance(messages, list):
            skips["bad_record"] += 1
            continue
        try:
            ids, mask = encode(messages, tokenizer)
        except InputError as exc:
            skips[exc.reason or "bad_record"] += 1
            continue
        if len(ids) > seq_length:
            skips["too_long"] += 1
            continue
        examples.append((ids, mask))
    return examples, skips


class PackedStream:
    """Micro-batches of packed rows, reshuffled per epoch (seeded); the position survives checkpoints."""

    def __init__(self, packed: Packed, batch_size: int, seed: int = 0, position: int = 0):
        self.packed, self.batch_size, self.seed, self.position = packed, batch_size, seed, position
        self.n = packed.tokens.shape[0]

    def _order(self, epoch: int) -> list[int]:
        order = list(range(self.n))
        random.Random(self.seed + epoch).shuffle(order)
        return order

    def next_batch(self) -> dict:
        idx = []
        for k in range(self.position, self.position + self.batch_size):
            idx.append(self._order(k // self.n)[k % self.n])
        self.position += self.batch_size
        p = self.packed
        sub = Packed(p.tokens[idx], p.labels[idx], p.loss_mask[idx], p.position_ids[idx], p.doc[idx])
        return sub.batch()

    def state_dict(self) -> dict:
        return {"position": self.position}

    def load_state_dict(self, state: dict) -> None:
        self.position = int(state["position"])


class SFTRecipe(PostTrainRecipe):
    kind: Literal["sft"] = "sft"
    data: str = Field(description="JSON lines of {messages: [...]}.")

    def run_step(self, progress: bool = True, overwrite: bool = False) -> dict:
        return sft(self)


KEYS = ("loss", "lr", "grad_norm", "tokens_per_s")


def sft(recipe: SFTRecipe, stop_at: int | None = None) -> dict:
    """Pack the data, build the model from ``init`` (or resume), train, and return the run's summary."""
    from training.posttrain.models import load_policy, run_config
    from training.trainer import OptimConfig

    out = Path(recipe.output)
    records = read_conversations(recipe.data)  # before any model is built: a missing file fails first
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.yaml").write_text(recipe.to_yaml())
    ts = recipe.train
    policy = load_policy(recipe.init, recipe.tokenizer, backend=ts.attention)
    if recipe.seq_length > policy.model_cfg.max_seq_length:
        raise ConfigError("seq_length", f"{recipe.seq_length} exceeds the model's {policy.model_cfg.max_seq_length}")
    examples, skips = encode_all(records, policy.tokenizer, recipe.seq_length)
    write_json(out / "skips.json", {"records": len(records), "used": len(examples), "skipped": dict(skips)})
    if not examples:
        raise InputError(recipe.data, f"no usable conversation ({dict(skips)})")
    packed, _ = pack(examples, recipe.seq_length, policy.tokenizer.pad_token_id or 0)
    module = SFTModule(
        policy.model_cfg,
        policy.gpt,
        OptimConfig(lr=ts.lr.peak, **ts.optimizer.model_dump()),
        ts.lr.build(ts.steps),
    )
    config = run_config(recipe, policy, out)
    data = PackedStream(packed, ts.micro_batch_size, seed=ts.seed)
    trainer, ckpt, done = run_trainer(module, data, ts, out, config, KEYS, stop_at)
    result = summary(trainer, ckpt, KEYS) | {"done": done, "rows": packed.tokens.shape[0], "skips": dict(skips)}
    result["examples"] = len(examples)
    return result
