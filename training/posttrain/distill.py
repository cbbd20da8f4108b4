"""Strong-to-weak distillation; teacher and student must share a tokenizer (a ConfigError otherwise).

- off-policy: the teacher answers the prompts in both modes (``/think`` and ``/no_think``); the student is
  fine-tuned on those answers (`training.posttrain.sft`). Answers that never close ``</think>`` are counted skips.
- on-policy: the student samples (its generator synced from Megatron each step), the teacher scores the same
  tokens, and the student minimises the per-token KL to the teacher's distribution (reverse KL by default) over
  its own completions (`training.posttrain.losses.token_kl`)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Literal

import torch
from pydantic import Field

from corpusforge.config import Config
from corpusforge.errors import ConfigError, InputError
from training.model import device_type
from training.posttrain.chat import answer_prompt
from training.posttrain.common import PostTrainRecipe, run_trainer, summary, write_json
from training.posttrain.generate import TransformersBackend, generate_with_budget
from training.posttrain.grpo import PromptStream, rollout_batch
from training.posttrain.losses import token_kl
from training.posttrain.models import Policy, megatron_logits, same_tokenizer, sync_weights
from training.trainer import OptimConfig, PretrainModule


def check_tokenizers(student_tok, teacher_tok) -> None:
    diff = same_tokenizer(student_tok, teacher_tok)
    if diff:
        raise ConfigError("distill.teacher", f"the teacher's tokenizer differs from the student's: {diff}")


def teacher_sft_records(backend, records: list[dict], max_new_tokens: int, budget: int, seed: int = 0,
                        modes: tuple[str, ...] = ("think", "no_think")) -> tuple[list[dict], dict]:  # fmt: skip
    """Off-policy data: each prompt answered by the teacher in each of ``modes``, as SFT conversations; an answer
    made in one generation phase keeps the teacher's token ids (``token_ids``), which SFT trains on as they are."""
    out, skips = [], {"unclosed_think": 0}
    for think in [m == "think" for m in ("think", "no_think") if m in modes]:
        flag = "/think" if think else "/no_think"
        convs = [
            [*r["messages"][:-1], {**r["messages"][-1], "content": _reflag(r["messages"][-1]["content"], flag)}]
            for r in records
        ]
        for conv, res in zip(convs, generate_with_budget(backend, convs, budget, max_new_tokens, think=think, seed=seed), strict=True):  # fmt: skip
            if not res.closed:
                skips["unclosed_think"] += 1
                continue
            turn = {"role": "assistant", "content": res.text.removesuffix("<|im_end|>")}
            if res.ids is not None:  # the teacher's own tokens: its text could re-tokenize otherwise
                eos = backend.tok.eos_token_id
                turn["token_ids"] = res.ids if res.ids[-1] == eos else [*res.ids, eos]
            out.append({"messages": [*conv, turn]})
    return out, skips


def _reflag(text: str, flag: str) -> str:
    return " ".join(w for w in text.split() if w not in ("/think", "/no_think")) + " " + flag


class OnPolicyDistillModule(PretrainModule):
    """Student = the Megatron model; per step: sample from the synced generator, score with the teacher, take
    one step on the mean per-token KL over the student's completion tokens."""

    def __init__(self, student: Policy, teacher, optim: OptimConfig, schedule, max_new_tokens: int,
                 temperature: float = 1.0, direction: str = "reverse", seed: int = 0, micro_batch_size: int = 8,
                 prefill_no_think: bool = False, prefill_think: bool = False):  # fmt: skip
        super().__init__(student.model_cfg, student.gpt, optim, schedule)
        self.student, self.teacher = student, teacher.eval()
        self.max_new_tokens, self.temperature, self.direction = max_new_tokens, temperature, direction
        self.seed, self.mbs, self.prefill_no_think = seed, micro_batch_size, prefill_no_think
        self.prefill_think = prefill_think
        self.vocab = len(student.tokenizer)
        self.backend = TransformersBackend(student.generator, student.tokenizer, batch_size=64)

    def train_step(self, micro_batches: list[dict], step: int) -> dict:
        tok = self.student.tokenizer
        records = [r for b in micro_batches for r in b["records"]]
        t0 = time.perf_counter()
        sync_weights(self.model, self.model_cfg, self.student.generator)
        prompts = [answer_prompt(r["messages"], self.prefill_no_think, self.prefill_think) for r in records]
        prompt_ids = [tok.encode(p, add_special_tokens=False) for p in prompts]
        completions = self.backend.generate_ids(prompt_ids, self.max_new_tokens, self.temperature, self.seed + 1000 * step)
        gen_time = time.perf_counter() - t0
        tokens, _, mask = rollout_batch(prompt_ids, completions, tok.pad_token_id or 0)
        self._set_lr(self.schedule.lr(step))
        self.model.train()
        self.model.zero_grad_buffer()
        self.optimizer.zero_grad()
        dev, n, total = device_type(), len(tokens), float(mask.sum())
        loss_sum = 0.0
        for i in range(0, n, self.mbs):
            c = slice(i, min(n, i + self.mbs))
            with torch.no_grad():
                t_logits = self.teacher(tokens[c]).logits[..., : self.vocab].float()
            s_logits = megatron_logits(self.model, tokens[c])[..., : self.vocab]
            kl = token_kl(s_logits, t_logits.to(dev), self.direction)
            m = mask[c].to(dev)
            loss = (kl * m).sum() / max(total, 1.0)
            loss.backward()
            loss_sum += float(loss.detach())
        self.model.finish_grad_sync()
        ok, grad_norm, _ = self.optimizer.step()
        dt = time.perf_counter() - t0
        return {
            "loss": loss_sum,
            "distill_kl": loss_sum,
            "lr": self.schedule.lr(step),
            "grad_norm": float(grad_norm or 0.0),
            "skipped": not ok,
            "response_len": sum(len(c) for c in completions) / max(1, len(completions)),
            "gen_share": gen_time / dt,
        }


class DistillSettings(Config):
    mode: Literal["on_policy", "off_policy"] = "on_policy"
    teacher: str = Field(description="smollm2, a .gguf, a Hugging Face dir or a training checkpoint.")
    student_layers: int | None = Field(None, ge=1, description="Keep the student's first N layers (a smaller student).")
    max_new_tokens: int = Field(32, ge=1)
    thinking_budget: int = Field(64, ge=1, description="Off-policy: the teacher's thinking budget in /think mode.")
    temperature: float = Field(1.0, gt=0)
    direction: Literal["reverse", "forward"] = "reverse"
    prompts_per_step: int = Field(4, ge=1)
    prefill_no_think: bool = Field(
        False,
        description="On-policy: /no_think prompts open with the template's empty think block, the format of the "
        "off-policy targets (the teacher answers after that block) and of `train eval --prefill-no-think`.",
    )
    prefill_think: bool = Field(
        False,
        description="On-policy: /think prompts open with <think> and a newline, as `train eval --budget` and the "
        "off-policy teacher prompt them; the student samples the thought and the answer (max_new_tokens covers both).",
    )
    modes: list[Literal["think", "no_think"]] = Field(
        ["think", "no_think"], min_length=1, description="Off-policy: the modes the teacher answers each prompt in."
    )


class DistillRecipe(PostTrainRecipe):
    kind: Literal["distill"] = "distill"
    data: str = Field(description="Prompts: JSON lines of {messages, reference}.")
    distill: DistillSettings

    def run_step(self, progress: bool = True, overwrite: bool = False) -> dict:
        return distill(self)


KEYS = ("loss", "response_len", "gen_share")


def load_teacher(source: str):
    """(model, tokenizer) of a teacher: a checkpoint folder of ours, else a transformers model or .gguf file."""
    from training.checkpoint import find
    from training.posttrain.models import load_policy, load_transformers

    path = Path(source)
    if path.is_dir() and find(path) is not None:
        p = load_policy(source)
        return p.generator, p.tokenizer
    return load_transformers(source)


def distill(recipe: DistillRecipe, stop_at: int | None = None) -> dict:
    from training.posttrain.models import load_policy, run_config
    from training.posttrain.sft import SFTRecipe, sft
    from training.posttrain.tasks import read_prompts, write_jsonl

    records, bad = read_prompts(recipe.data)
    if not records:
        raise InputError(recipe.data, "no usable prompt")
    out = Path(recipe.output)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.yaml").write_text(recipe.to_yaml())
    d, ts = recipe.distill, recipe.train
    teacher, teacher_tok = load_teacher(d.teacher)
    student = load_policy(recipe.init, recipe.tokenizer, backend=ts.attention, layers=d.student_layers)
    check_tokenizers(student.tokenizer, teacher_tok)  # before any generation or training
    if d.mode == "off_policy":
        data = out / "teacher_sft.jsonl"
        if not data.is_file():
            rows, skips = teacher_sft_records(TransformersBackend(teacher, teacher_tok), records, d.max_new_tokens, d.thinking_budget, ts.seed, tuple(d.modes))  # fmt: skip
            write_json(out / "teacher_skips.json", skips)
            write_jsonl(rows, data)
        student_dir = out / "student_init"
        if not (student_dir / "checkpoints" / "latest").is_file() and d.student_layers:
            _save_student(student, student_dir, recipe)
        sft_recipe = SFTRecipe.parse(
            {
                "name": recipe.name,
                "output": str(out / "sft"),
                "init": str(student_dir / "checkpoints") if d.student_layers else recipe.init,
                "tokenizer": recipe.tokenizer,
                "data": str(data),
                "seq_length": recipe.seq_length,
                "train": ts.model_dump(),
            }
        )
        return sft(sft_recipe, stop_at) | {"mode": "off_policy", "bad_prompts": bad}
    module = OnPolicyDistillModule(
        student, teacher, OptimConfig(lr=ts.lr.peak, **ts.optimizer.model_dump()), ts.lr.build(ts.steps),
        d.max_new_tokens, d.temperature, d.direction, ts.seed, ts.micro_batch_size, d.prefill_no_think,
        d.prefill_think,
    )  # fmt: skip
    config = run_config(recipe, student, out)
    trainer, ckpt, done = run_trainer(module, PromptStream(records, d.prompts_per_step, ts.seed), ts, out, config, KEYS, stop_at)  # fmt: skip
    return summary(trainer, ckpt, KEYS) | {"done": done, "mode": "on_policy", "bad_prompts": bad}


def _save_student(student: Policy, folder: Path, recipe: DistillRecipe) -> None:
    """The truncated student as a step-0 checkpoint (a start point SFT loads, with its tokenizer)."""
    from training.model import unwrap
    from training.posttrain.models import save_tokenizer

    ckpts = folder / "checkpoints" / "step_0"
    ckpts.mkdir(parents=True, exist_ok=True)
    tok = save_tokenizer(student.tokenizer, folder / "tokenizer")
    state = {"module": {"model": unwrap(student.gpt).state_dict()}, "config": {"model": student.model_cfg.model_dump(mode="json"), "tokenizer": tok}}  # fmt: skip
    torch.save(state, ckpts / "checkpoint.pt")
    (folder / "checkpoints" / "latest").write_text("step_0")
