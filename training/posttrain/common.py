"""What every post-training recipe shares: the start point, optimizer, checkpoints, logs, and the run wiring
(resume from the run's own latest checkpoint, else start from ``init``), as pretraining does it."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import Field

from corpusforge.config import Config
from corpusforge.errors import ConfigError
from corpusforge.job import DriverJob
from training.pretrain import OptimizerSettings
from training.schedule import ScheduleConfig
from training.trainer import Callback, TensorBoardCallback


class RunSettings(Config):
    steps: int = Field(ge=1, description="Optimizer steps.")
    micro_batch_size: int = Field(4, ge=1)
    grad_accum: int = Field(1, ge=1)
    seed: int = 1234
    attention: str = Field("auto", pattern="^(auto|te|sdpa|local)$")
    lr: ScheduleConfig = Field(default_factory=lambda: ScheduleConfig(peak=1e-5, min=1e-6, warmup_fraction=0.1))
    optimizer: OptimizerSettings = Field(default_factory=lambda: OptimizerSettings(weight_decay=0.0))
    save_every: int = Field(0, ge=0)
    cpu_budget_s: float | None = Field(
        None,
        gt=0,
        description="Stop once the train steps' CPU seconds reach this (the step that crosses it is the last), "
        "even before `steps`: two methods compared at equal compute; resumes count the CPU already spent.",
    )
    keep_checkpoints: int = Field(2, ge=1)
    progress: bool = True
    tensorboard: bool = True


class PostTrainRecipe(DriverJob):
    """The fields every post-training kind shares (sft, grpo, distill); each adds its own settings."""

    name: str
    output: str
    init: str = Field(description="Start point: smollm2, a .gguf, a Hugging Face dir or a training checkpoint.")
    tokenizer: str | None = Field(None, description="Tokenizer dir; null: the start point's.")
    data: str = Field(description="JSON lines of {messages, reference}.")
    seq_length: int = Field(512, ge=8, description="Prompt + completion; longer prompts are counted skips.")
    train: RunSettings

    def input_files(self) -> list[str]:
        """The data file, checked before any work (and before --overwrite clears the output)."""
        if not Path(self.data).is_file():
            raise ConfigError("data", f"no such file: {self.data}")
        return [self.data]


class PostTrainTensorBoard(TensorBoardCallback):
    """Pretraining's scalars plus post-training's: reward, KL, clip fraction, response length, accuracy."""

    KEYS = (
        *TensorBoardCallback.KEYS,
        "reward",
        "kl",
        "clip_frac",
        "response_len",
        "zero_var_groups",
        "reward_errors",
        "gen_share",
        "rollout_tokens_per_s",
        "train_tokens_per_s",
        "distill_kl",
    )


class ConsoleLine(Callback):
    """One plain line per step (metrics named by ``keys``); quiet when ``enabled`` is false."""

    def __init__(self, name: str, keys: tuple[str, ...], enabled: bool = True):
        self.name, self.keys, self.enabled = name, keys, enabled

    def on_step_end(self, trainer, m):
        if self.enabled:
            parts = [f"{k} {m[k]:.4g}" for k in self.keys if isinstance(m.get(k), int | float)]
            print(f"{self.name} step {m['step']}/{trainer.max_steps}: " + " ".join(parts), flush=True)


def run_trainer(module, data, settings: RunSettings, out: Path, config: dict, keys: tuple[str, ...], stop_at=None):
    """The Trainer with checkpoints (resume from ``out/checkpoints`` when present), metrics.jsonl, TensorBoard."""
    from training import trainer as T

    ckpts = out / "checkpoints"
    callbacks = [
        ConsoleLine(config.get("name", "posttrain"), keys, enabled=settings.progress),
        T.JsonlCallback(out / "metrics.jsonl"),
        T.CheckpointCallback(ckpts, every=settings.save_every, keep=settings.keep_checkpoints),
    ]
    if settings.tensorboard:
        callbacks.append(PostTrainTensorBoard(out / "tensorboard"))
    trainer = T.Trainer(
        module=module,
        data=data,
        max_steps=settings.steps,
        seq_length=config.get("seq_length", 0),
        grad_accum=settings.grad_accum,
        callbacks=callbacks,
        config=config,
        stop_at=stop_at,
        cpu_budget_s=settings.cpu_budget_s,
    )
    resume = T.latest_checkpoint(ckpts)
    if resume is not None:
        trainer.load_state_dict(T.load_checkpoint(resume))
    trainer.fit()
    done = trainer.step >= settings.steps or trainer.budget_spent()
    if done:
        (out / "DONE").write_text(str(T.latest_checkpoint(ckpts)))
    return trainer, T.latest_checkpoint(ckpts), done


def summary(trainer, ckpt, keys: tuple[str, ...]) -> dict:
    h = trainer.history
    out = {"steps": trainer.step, "checkpoint": str(ckpt), "train_cpu_s": trainer.cpu_s}
    for k in keys:
        vals = [m[k] for m in h if isinstance(m.get(k), int | float)]
        if vals:
            out[f"first_{k}"], out[f"last_{k}"] = vals[0], vals[-1]
    return out


def write_json(path: Path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    tmp.replace(path)
