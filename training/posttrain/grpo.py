"""GRPO on the Megatron model: sample a group of completions per prompt from the generator (weights synced from
Megatron every step), score them with a verifiable reward, normalise rewards within each group, and take the
clipped-ratio policy step with a k3 KL penalty to the frozen start model (`training.posttrain.losses`).

A step's metrics: reward, KL, clip fraction, response length, zero-variance groups, reward errors/timeouts,
rollout and training tokens/s, and the share of the step spent generating."""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Literal

import torch
from pydantic import Field

from corpusforge.config import Config
from corpusforge.errors import InputError
from training.model import build_model, device_type, unwrap
from training.posttrain.chat import generation_prompt
from training.posttrain.common import PostTrainRecipe, run_trainer, summary, write_json
from training.posttrain.generate import TransformersBackend
from training.posttrain.losses import group_advantages, grpo_loss
from training.posttrain.models import Policy, sync_weights
from training.trainer import OptimConfig, PretrainModule


class GRPOSettings(Config):
    group_size: int = Field(4, ge=2)
    prompts_per_step: int = Field(4, ge=1)
    max_new_tokens: int = Field(32, ge=1)
    temperature: float = Field(1.0, gt=0)
    clip_eps: float = Field(0.2, gt=0, lt=1)
    beta: float = Field(0.04, ge=0, description="KL coefficient (k3 estimator, to the start model).")
    updates_per_batch: int = Field(1, ge=1, description="Policy steps per rollout batch (ratio != 1 after the first).")
    reward: str = "math"
    reward_timeout_s: float = Field(10.0, gt=0)


class PromptStream:
    """Prompt records in a seeded order, ``batch_size`` per step; the position is saved in checkpoints."""

    def __init__(self, records: list[dict], batch_size: int, seed: int = 0, position: int = 0):
        self.records, self.batch_size, self.seed, self.position = records, batch_size, seed, position

    def next_batch(self) -> dict:
        n, out = len(self.records), []
        for k in range(self.position, self.position + self.batch_size):
            order = list(range(n))
            random.Random(self.seed + k // n).shuffle(order)
            out.append(self.records[order[k % n]])
        self.position += self.batch_size
        return {"records": out, "tokens": torch.zeros(len(out), dtype=torch.long)}

    def state_dict(self) -> dict:
        return {"position": self.position}

    def load_state_dict(self, state: dict) -> None:
        self.position = int(state["position"])


def sequence_logp(model, tokens: torch.Tensor, labels: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """Log-probability of each next token ``[b, s]`` under the distribution the rollouts were sampled from
    (logits / temperature); at temperature 1, Megatron's fused cross-entropy, negated."""
    dev = device_type()
    pos = torch.arange(tokens.shape[1], device=dev).expand(tokens.shape[0], -1)
    if temperature == 1.0:
        return -model(tokens.to(dev), pos, None, labels=labels.to(dev)).float()
    logits = model(tokens.to(dev), pos, None).float() / temperature
    return torch.log_softmax(logits, dim=-1).gather(-1, labels.to(dev)[..., None]).squeeze(-1)


def rollout_batch(prompt_ids: list[list[int]], completions: list[list[int]], pad: int):
    """Right-padded ``tokens``, ``labels`` (next token) and the mask of completion positions."""
    width = max(len(p) + len(c) for p, c in zip(prompt_ids, completions, strict=True))
    n = len(prompt_ids)
    tokens = torch.full((n, width), pad, dtype=torch.long)
    labels = torch.full((n, width), pad, dtype=torch.long)
    mask = torch.zeros(n, width)
    for i, (p, c) in enumerate(zip(prompt_ids, completions, strict=True)):
        seq = p + c
        tokens[i, : len(seq)] = torch.tensor(seq)
        labels[i, : len(seq) - 1] = torch.tensor(seq[1:])
        mask[i, len(p) - 1 : len(seq) - 1] = 1.0  # positions whose next token is a completion token
    return tokens, labels, mask


class GRPOModule(PretrainModule):
    """Policy = the Megatron model (DDP, Megatron optimizer); reference = a frozen copy of its start weights."""

    def __init__(self, policy: Policy, optim: OptimConfig, schedule, settings: GRPOSettings, reward, seed: int = 0,
                 micro_batch_size: int = 8, attention: str = "auto"):  # fmt: skip
        super().__init__(policy.model_cfg, policy.gpt, optim, schedule)
        self.policy, self.settings, self.reward, self.seed, self.mbs = policy, settings, reward, seed, micro_batch_size
        self.ref = build_model(policy.model_cfg, backend=attention, seed=seed)
        self.ref.load_state_dict(unwrap(self.model).state_dict(), strict=False)
        self.ref.eval().requires_grad_(False)
        self.backend = TransformersBackend(policy.generator, policy.tokenizer, batch_size=64)

    def load_state_dict(self, state: dict, optimizer: bool = True) -> None:
        super().load_state_dict(state, optimizer)  # the reference keeps the start weights it was built with

    def _chunks(self, n: int):
        return [slice(i, min(n, i + self.mbs)) for i in range(0, n, self.mbs)]

    def train_step(self, micro_batches: list[dict], step: int) -> dict:
        s, tok = self.settings, self.policy.tokenizer
        records = [r for b in micro_batches for r in b["records"]]
        t0 = time.perf_counter()
        sync_weights(self.model, self.model_cfg, self.policy.generator)
        prompts = [generation_prompt(r["messages"]) for r in records for _ in range(s.group_size)]
        prompt_ids = [tok.encode(p, add_special_tokens=False) for p in prompts]
        completions = self.backend.generate_ids(prompt_ids, s.max_new_tokens, s.temperature, self.seed + 1000 * step)
        gen_time = time.perf_counter() - t0
        texts = [tok.decode(c, skip_special_tokens=True) for c in completions]
        refs = [r["reference"] for r in records for _ in range(s.group_size)]
        before = dict(self.reward.counts)
        rewards = torch.tensor(self.reward.score(prompts, texts, refs))
        adv, zero = group_advantages(rewards, s.group_size)
        tokens, labels, mask = rollout_batch(prompt_ids, completions, tok.pad_token_id or 0)
        t1, T = time.perf_counter(), s.temperature
        dev, n = device_type(), len(tokens)
        chunks = self._chunks(n)
        with torch.no_grad():
            ref = torch.cat([sequence_logp(self.ref, tokens[c], labels[c], T) for c in chunks])
        self._set_lr(self.schedule.lr(step))
        self.model.train()
        # the rollout policy's log-probs are the first update's own forward (no dropout in any preset, and no
        # step has been taken yet), so they are kept from it rather than computed in a pass of their own
        old: list[torch.Tensor | None] = [None] * len(chunks)
        first_kl, clip_frac = 0.0, 0.0  # KL of the rollout policy (first update); clipping over all updates
        for update in range(s.updates_per_batch):
            self.model.zero_grad_buffer()
            self.optimizer.zero_grad()
            stats, loss_sum = {"kl": 0.0, "clip_frac": 0.0}, 0.0
            for j, c in enumerate(chunks):
                logp = sequence_logp(self.model, tokens[c], labels[c], T)
                if old[j] is None:
                    old[j] = logp.detach()
                loss, st = grpo_loss(logp, old[j], ref[c].to(dev), adv[c].to(dev), mask[c].to(dev), s.clip_eps, s.beta)
                share = (c.stop - c.start) / n
                (loss * share).backward()
                loss_sum += float(loss.detach()) * share
                for k in stats:
                    stats[k] += st[k] * share
            self.model.finish_grad_sync()
            ok, grad_norm, _ = self.optimizer.step()
            first_kl = stats["kl"] if update == 0 else first_kl
            clip_frac += stats["clip_frac"] / s.updates_per_batch
        train_time = time.perf_counter() - t1
        total = gen_time + train_time
        resp = [len(c) for c in completions]
        train_tokens = int(tokens.numel()) * (1 + s.updates_per_batch)  # the ref forward, then the updates
        errors = sum(self.reward.counts.get(k, 0) - before.get(k, 0) for k in ("errors", "timeouts"))
        return {
            "loss": loss_sum,
            "lr": self.schedule.lr(step),
            "grad_norm": float(grad_norm or 0.0),
            "skipped": not ok,
            "reward": float(rewards.mean()),
            "kl": first_kl,
            "clip_frac": clip_frac,
            "response_len": sum(resp) / len(resp),
            "zero_var_groups": zero,
            "reward_errors": errors,
            "gen_time": gen_time,
            "train_time": train_time,
            "gen_share": gen_time / total,
            "rollout_tokens_per_s": sum(resp) / gen_time,
            "train_tokens_per_s": train_tokens / train_time,
        }


class GRPORecipe(PostTrainRecipe):
    kind: Literal["grpo"] = "grpo"
    grpo: GRPOSettings = Field(default_factory=GRPOSettings)

    def run_step(self, progress: bool = True, overwrite: bool = False) -> dict:
        return grpo(self)


KEYS = ("loss", "reward", "kl", "clip_frac", "response_len", "zero_var_groups", "gen_share", "rollout_tokens_per_s")


def grpo(recipe: GRPORecipe, stop_at: int | None = None) -> dict:
    from training.posttrain.models import load_policy, run_config
    from training.posttrain.rewards import RewardRunner, load_reward
    from training.posttrain.tasks import read_prompts

    records, bad = read_prompts(recipe.data)
    reward_fn = load_reward(recipe.grpo.reward)  # both fail before any model is built
    out = Path(recipe.output)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.yaml").write_text(recipe.to_yaml())
    ts = recipe.train
    policy = load_policy(recipe.init, recipe.tokenizer, backend=ts.attention)
    room = recipe.seq_length - recipe.grpo.max_new_tokens
    fit = [r for r in records if len(policy.tokenizer.encode(generation_prompt(r["messages"]))) <= room]
    skips = {"bad_record": bad, "too_long": len(records) - len(fit)}
    write_json(out / "skips.json", {"records": len(records) + bad, "used": len(fit), "skipped": skips})
    if not fit:
        raise InputError(recipe.data, f"no usable prompt ({skips})")
    runner = RewardRunner(reward_fn, recipe.grpo.reward_timeout_s)
    module = GRPOModule(
        policy,
        OptimConfig(lr=ts.lr.peak, **ts.optimizer.model_dump()),
        ts.lr.build(ts.steps),
        recipe.grpo,
        runner,
        seed=ts.seed,
        micro_batch_size=ts.micro_batch_size,
        attention=ts.attention,
    )
    config = run_config(recipe, policy, out)
    data = PromptStream(fit, recipe.grpo.prompts_per_step, seed=ts.seed)
    try:
        trainer, ckpt, done = run_trainer(module, data, ts, out, config, KEYS, stop_at)
    finally:
        runner.close()
    return summary(trainer, ckpt, KEYS) | {"done": done, "skips": skips, "reward_counts": dict(runner.counts)}
