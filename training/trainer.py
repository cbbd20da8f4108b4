"""The training loop, split as OLMo-core splits it.

- `Trainer`: the loop (steps, evaluation, stopping) and the data position; knows nothing of the model.
- `TrainModule` (`PretrainModule` here): owns the Megatron model (DDP-wrapped), its optimizer
  (``get_megatron_optimizer``) and the LR schedule; one ``train_step(batches)`` and ``eval_loss``.
  SFT, GRPO or distillation are other train modules under the same Trainer.
- `Callback`s: console progress (rich), TensorBoard, checkpointing; each sees the metrics of every step.

Over 400 lines because post-training, the mixture proxies and the benchmarks import the loop, the module and
the callbacks as one namespace (``training.trainer``); the sharded checkpoint format lives apart
(`training.checkpoint`).
"""

from __future__ import annotations

import json
import random
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from training.model import device_type, unwrap
from training.presets import ModelConfig, flops_per_token
from training.schedule import WSDSchedule


@dataclass
class OptimConfig:
    lr: float = 3e-4
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.95
    eps: float = 1e-8
    clip_grad: float = 1.0


class TrainModule:
    """Interface: ``train_step(micro_batches) -> metrics``, ``eval_loss(batches)``, state (de)serialisation."""

    def train_step(self, micro_batches: list[dict], step: int) -> dict: ...

    def eval_loss(self, batches: list[dict]) -> float: ...

    def state_dict(self) -> dict: ...

    def load_state_dict(self, state: dict, optimizer: bool = True) -> None: ...


class PretrainModule(TrainModule):
    """Next-token prediction over a Megatron ``GPTModel`` in any layout: micro-batches run through Megatron's
    pipeline schedule (``get_forward_backward_func``: no pipelining at PP=1, 1F1B otherwise); gradients are
    reduced by Megatron's DDP in buckets and normalised by the global batch's token count
    (``calculate_per_token_loss``), so a step's update does not depend on how the batch is split over ranks;
    Megatron's optimizer (the ``DistributedOptimizer`` when the layout says; fp32 torch AdamW on the CPU,
    mixed precision / TE / Apex Adam on GPU) with gradient clipping by Megatron."""

    def __init__(self, model_cfg: ModelConfig, gpt, optim: OptimConfig, schedule: WSDSchedule, layout=None):
        from megatron.core.distributed import finalize_model_grads
        from megatron.core.optimizer import OptimizerConfig, get_megatron_optimizer

        from training.model import wrap_ddp
        from training.parallel import Layout

        self.model_cfg, self.schedule = model_cfg, schedule
        self.layout = layout or Layout(distributed_optimizer=False)
        self.model = wrap_ddp(gpt, self.layout)
        bf16 = gpt.config.params_dtype == torch.bfloat16
        self.optimizer = get_megatron_optimizer(
            OptimizerConfig(
                optimizer="adam",
                lr=optim.lr,
                min_lr=0.0,
                weight_decay=optim.weight_decay,
                adam_beta1=optim.beta1,
                adam_beta2=optim.beta2,
                adam_eps=optim.eps,
                clip_grad=optim.clip_grad,
                bf16=bf16,
                params_dtype=gpt.config.params_dtype,
                use_distributed_optimizer=self.layout.distributed_optimizer,
            ),
            [self.model],
        )
        cfg = gpt.config
        cfg.finalize_model_grads_func = finalize_model_grads
        cfg.no_sync_func = self.model.no_sync
        cfg.grad_sync_func = self.model.start_grad_sync if self.layout.overlap_grad_reduce else None
        self._routers = []
        if model_cfg.is_moe:
            for name, mod in unwrap(self.model).named_modules():
                if name.endswith("mlp.router"):
                    mod.register_forward_hook(self._record_routing)
        self._loads: list[torch.Tensor] = []

    def _record_routing(self, module, inputs, output):
        routing_map = output[1]
        self._loads.append(routing_map.detach().sum(dim=0).float())

    def _set_lr(self, lr: float) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    def _loss(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        """(sum of token losses, token count) of one batch, on one process (no pipeline): post-training's hook."""
        dev = device_type()
        losses = self.model(
            batch["tokens"].to(dev), batch["position_ids"].to(dev), None, labels=batch["labels"].to(dev)
        )
        mask = batch["loss_mask"].to(dev)
        return (losses.float() * mask).sum(), mask.sum()

    def _forward_step(self, data_iterator, model):
        """Megatron's ``forward_step_func``: the model's output and the loss function for one micro-batch."""
        from functools import partial

        dev = device_type()
        batch = next(data_iterator)
        out = model(batch["tokens"].to(dev), batch["position_ids"].to(dev), None, labels=batch["labels"].to(dev))
        return out, partial(_token_loss, batch["loss_mask"].to(dev))

    def _run(self, micro_batches: list[dict], forward_only: bool) -> tuple[float, float]:
        """Micro-batches through Megatron's schedule; (global loss sum, global token count) on every rank."""
        from megatron.core import parallel_state as ps
        from megatron.core.pipeline_parallel import get_forward_backward_func

        b, s = micro_batches[0]["tokens"].shape
        reduced = get_forward_backward_func()(
            forward_step_func=self._forward_step,
            data_iterator=iter(micro_batches),
            model=self.model,
            num_microbatches=len(micro_batches),
            seq_length=s,
            micro_batch_size=b,
            forward_only=forward_only,
        )
        totals = torch.zeros(2, dtype=torch.float64)
        for r in reduced or []:
            totals += torch.stack([r["loss_sum"].double().cpu(), r["tokens"].double().cpu()])
        if torch.distributed.get_world_size() > 1:
            dev = device_type()
            totals = totals.to(dev)
            torch.distributed.all_reduce(totals, group=ps.get_pipeline_model_parallel_group())
            torch.distributed.all_reduce(totals, group=ps.get_data_parallel_group())
        return float(totals[0]), float(totals[1])

    def train_step(self, micro_batches: list[dict], step: int) -> dict:
        lr = self.schedule.lr(step)
        self._set_lr(lr)
        self.model.train()
        self.model.zero_grad_buffer()
        self.optimizer.zero_grad()
        self._loads.clear()
        loss_sum, tokens = self._run(micro_batches, forward_only=False)
        ok, grad_norm, _ = self.optimizer.step()
        metrics = {"loss": loss_sum / max(tokens, 1.0), "lr": lr, "grad_norm": float(grad_norm or 0.0), "skipped": not ok}
        if self._loads:
            loads = torch.stack(self._loads)  # [layers x micro-batches, experts]
            metrics["moe_load_imbalance"] = float((loads.max(dim=1).values / loads.mean(dim=1).clamp(min=1e-9)).mean())
        return metrics

    @torch.no_grad()
    def eval_loss(self, batches: list[dict]) -> float:
        self.model.eval()
        s, n = self._run(batches, forward_only=True)
        self._loads.clear()
        return s / max(n, 1.0)

    def state_dict(self) -> dict:
        return {"model": unwrap(self.model).state_dict(), "optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: dict, optimizer: bool = True) -> None:
        unwrap(self.model).load_state_dict(state["model"], strict=True)
        if optimizer and state.get("optimizer") is not None:
            self.optimizer.load_state_dict(state["optimizer"])

    def sharded_state_dict(self, is_loading: bool = False, optimizer: bool = True) -> dict:
        """Megatron's sharded state (this rank's part of every tensor, with its place in the global tensor), in
        a form any other layout can load: the optimizer's in Megatron's ``fully_reshardable`` canonical form (one
        state tensor per parameter, gathered over data-parallel ranks through the gloo groups)."""
        model = unwrap(self.model).sharded_state_dict()
        out = {"model": model}
        if optimizer and is_loading:
            self._init_optimizer_state()
        if optimizer:
            out["optimizer"] = self.optimizer.sharded_state_dict(
                model,
                is_loading=is_loading,
                metadata={
                    "distrib_optim_sharding_type": "fully_reshardable",
                    "distrib_optim_fully_reshardable_mem_efficient": True,  # gloo gather to DP rank 0
                    "chained_optim_avoid_prefix": True,  # the same keys whether experts have their own optimizer
                },
            )
        return out

    def _fit_optimizer_state(self, loaded: dict) -> dict:
        """The loaded optimizer state in this optimizer's structure. Megatron gives experts their own optimizer
        when their data-parallel group differs from the dense one (EP > 1), so a checkpoint saved at another
        expert size has its step and sharding type in the other structure; the tensors themselves (one per
        parameter, by the parameter's name) were already placed where this optimizer asked for them."""
        subs = getattr(self.optimizer, "chained_optimizers", [self.optimizer])
        parts = [k for k in loaded if isinstance(k, int)]
        if (len(subs) == 1 and not parts) or (len(subs) > 1 and set(loaded) == set(range(len(subs)))):
            return loaded  # saved in this structure
        saved = next(p for p in [loaded, *(loaded[k] for k in parts)] if "optimizer" in p)
        step = next((g["step"] for g in saved["optimizer"]["param_groups"] if "step" in g), None)
        requested = [loaded[i] for i in range(len(subs))] if len(subs) > 1 else [loaded]
        out = []
        for sub, part in zip(subs, requested, strict=True):
            own = sub.state_dict()["optimizer"]
            for group in own["param_groups"]:
                if "step" in group:
                    group["step"] = step
            fitted = {
                "optimizer": own,
                "param_state_sharding_type": saved["param_state_sharding_type"],
                "param_state": part["param_state"],
            }
            if "grad_scaler" in saved:
                fitted["grad_scaler"] = saved["grad_scaler"]
            out.append(fitted)
        return out[0] if len(subs) == 1 else dict(enumerate(out))

    def _init_optimizer_state(self) -> None:
        """Adam's state before its first step (moments and the step count), so that a loading state dict has every
        entry to fill: Megatron's own initialiser leaves out torch Adam's ``step``."""
        for opt in getattr(self.optimizer, "chained_optimizers", [self.optimizer]):
            inner = opt.optimizer
            for group in inner.param_groups:
                for p in group["params"]:
                    state = inner.state[p]
                    if not state:
                        state["exp_avg"] = torch.zeros_like(p.data)
                        state["exp_avg_sq"] = torch.zeros_like(p.data)
                    state.setdefault("step", torch.tensor(0.0))

    def load_sharded(self, loaded: dict, optimizer: bool = True) -> None:
        unwrap(self.model).load_state_dict(loaded["model"], strict=True)
        if optimizer:
            self.optimizer.load_state_dict(self._fit_optimizer_state(loaded["optimizer"]))
            # Megatron restores torch Adam's ``step`` as ONE tensor shared by every parameter; Adam increments
            # each parameter's step in place, so they must be apart again or the shared one counts N per step
            for opt in getattr(self.optimizer, "chained_optimizers", [self.optimizer]):
                for state in opt.optimizer.state.values():
                    if isinstance(state.get("step"), torch.Tensor):
                        state["step"] = state["step"].clone()


def _token_loss(mask: torch.Tensor, losses: torch.Tensor):
    """Megatron's loss-function contract with a token count: (loss sum, tokens, what to report)."""
    total = (losses.float() * mask).sum()
    tokens = mask.sum().to(torch.int)
    return total, tokens, {"loss_sum": total.detach(), "tokens": tokens.detach()}


def rng_state() -> dict:
    from megatron.core.tensor_parallel import get_cuda_rng_tracker

    state = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
        "tracker": {k: v.clone() for k, v in get_cuda_rng_tracker().get_states().items()},
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state()
    return state


def set_rng_state(state: dict) -> None:
    from megatron.core.tensor_parallel import get_cuda_rng_tracker

    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    get_cuda_rng_tracker().set_states(dict(state["tracker"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda"])


@dataclass
class Trainer:
    """Runs ``max_steps`` optimizer steps of ``grad_accum`` micro-batches each from ``data``."""

    module: TrainModule
    data: object  # training.data.SampleStream
    max_steps: int
    seq_length: int
    grad_accum: int = 1
    valid: object | None = None
    eval_every: int = 0
    eval_batches: int = 2
    callbacks: list = field(default_factory=list)
    config: dict = field(default_factory=dict)  # the resolved config, saved with every checkpoint
    step: int = 0
    stop_at: int | None = None  # stop early (tests: interrupt a run); checkpoints still make it resumable
    cpu_budget_s: float | None = None  # stop after the step that brings the train steps' CPU to this (equal compute)
    cpu_s: float = 0.0  # this process's CPU seconds in train steps so far (kept in single-process checkpoints)
    peak_flops: float = 0.0
    history: list = field(default_factory=list)

    def fit(self) -> list[dict]:
        for cb in self.callbacks:
            cb.on_train_start(self)
        model_cfg = getattr(self.module, "model_cfg", None)
        fpt = flops_per_token(model_cfg, self.seq_length) if model_cfg is not None else 0.0
        end = self.max_steps if self.stop_at is None else min(self.max_steps, self.stop_at)
        while self.step < end and not self.budget_spent():
            t0, c0 = time.perf_counter(), time.process_time()
            if hasattr(self.data, "next_step"):  # this data-parallel rank's share of the global batch
                batches = self.data.next_step()
            else:
                batches = [self.data.next_batch() for _ in range(self.grad_accum)]
            metrics = self.module.train_step(batches, self.step)
            dt = time.perf_counter() - t0
            tokens = sum(int(b["tokens"].numel()) for b in batches) * getattr(self.data, "dp_size", 1)
            cpu = time.process_time() - c0  # this process's CPU seconds: steadier than wall time on a busy machine
            self.cpu_s += cpu
            metrics |= {"step": self.step + 1, "tokens": tokens, "tokens_per_s": tokens / dt, "step_time": dt,
                        "step_cpu_s": cpu, "cpu_total_s": self.cpu_s}  # fmt: skip
            if self.peak_flops:
                metrics["mfu"] = fpt * tokens / dt / self.peak_flops
            self.step += 1
            if (
                self.valid is not None
                and self.eval_every
                and (self.step % self.eval_every == 0 or self.step == self.max_steps)
            ):
                metrics["valid_loss"] = self.module.eval_loss(
                    [self.valid.next_batch() for _ in range(self.eval_batches)]
                )
                self.valid.position = 0
            self.history.append(metrics)
            for cb in self.callbacks:
                cb.on_step_end(self, metrics)
        for cb in self.callbacks:
            cb.on_train_end(self)
        return self.history

    def budget_spent(self) -> bool:
        return self.cpu_budget_s is not None and self.cpu_s >= self.cpu_budget_s

    def state_dict(self) -> dict:
        return {
            "step": self.step,
            "cpu_s": self.cpu_s,
            "data": self.data.state_dict(),
            "rng": rng_state(),
            "module": self.module.state_dict(),
            "config": self.config,
        }

    def load_state_dict(self, state: dict) -> None:
        self.step = int(state["step"])
        self.cpu_s = float(state.get("cpu_s", 0.0))
        self.data.load_state_dict(state["data"])
        self.module.load_state_dict(state["module"])
        set_rng_state(state["rng"])


class Callback:
    def on_train_start(self, trainer: Trainer) -> None: ...

    def on_step_end(self, trainer: Trainer, metrics: dict) -> None: ...

    def on_train_end(self, trainer: Trainer) -> None: ...


class ConsoleCallback(Callback):
    """A rich progress bar with loss, learning rate, tokens/s and MFU."""

    def __init__(self, description: str = "train", every: int = 1, enabled: bool = True):
        self.description, self.every, self.enabled = description, every, enabled
        self.progress = self.task = None

    def on_train_start(self, trainer):
        if not self.enabled:
            return
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.fields[info]}"),
            transient=False,
        )
        self.progress.start()
        self.task = self.progress.add_task(self.description, total=trainer.max_steps, completed=trainer.step, info="")

    def on_step_end(self, trainer, m):
        if self.progress is None:
            return
        info = f"loss {m['loss']:.4f} lr {m['lr']:.2e} {m['tokens_per_s']:.0f} tok/s"
        if "mfu" in m:
            info += f" mfu {100 * m['mfu']:.1f}%"
        if "moe_load_imbalance" in m:
            info += f" moe max/mean {m['moe_load_imbalance']:.2f}"
        if "valid_loss" in m:
            info += f" valid {m['valid_loss']:.4f}"
        self.progress.update(self.task, completed=trainer.step, info=info)

    def on_train_end(self, trainer):
        if self.progress is not None:
            self.progress.stop()


class TensorBoardCallback(Callback):
    """Scalars per step: loss, lr, grad norm, tokens/s, MFU, MoE load imbalance, validation loss."""

    KEYS = ("loss", "lr", "grad_norm", "tokens_per_s", "mfu", "moe_load_imbalance", "valid_loss")

    def __init__(self, log_dir: str | Path, global_step_offset: int = 0):
        self.log_dir, self.offset, self.writer = Path(log_dir), global_step_offset, None

    def on_train_start(self, trainer):
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(str(self.log_dir))

    def on_step_end(self, trainer, m):
        for key in self.KEYS:
            if key in m:
                self.writer.add_scalar(f"train/{key}", m[key], self.offset + m["step"])

    def on_train_end(self, trainer):
        if self.writer is not None:
            self.writer.close()


class JsonlCallback(Callback):
    """Every step's metrics appended to ``metrics.jsonl`` (golden loss curves, plots)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def on_step_end(self, trainer, m):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a") as f:
            f.write(json.dumps(m) + "\n")


class CheckpointCallback(Callback):
    """Saves ``step_{n}/`` (model, optimizer, RNG, data position, resolved config) every ``every`` steps and at
    the end; written to a temporary folder then renamed; ``latest`` names the newest; keeps the last ``keep``.
    ``sharded``: Megatron's ``dist_checkpointing`` (`training.checkpoint`, every rank its part, any layout reads
    it); else one ``checkpoint.pt`` (post-training's single-process runs)."""

    def __init__(self, folder: str | Path, every: int = 0, keep: int = 2, sharded: bool = False,
                 async_save: bool = False):  # fmt: skip
        self.folder, self.every, self.keep, self.sharded = Path(folder), every, keep, sharded
        self.queue = None
        if async_save and sharded:
            from training.checkpoint import async_queue

            self.queue = async_queue()
        self.saved_step = -1

    def _save(self, trainer):
        self.saved_step = trainer.step
        if self.sharded:
            from training import checkpoint

            return checkpoint.save(trainer, self.folder, self.keep, queue=self.queue)
        return save_checkpoint(trainer, self.folder, self.keep)

    def on_step_end(self, trainer, m):
        if self.queue is not None:
            self.queue.maybe_finalize_async_calls(blocking=False)  # every rank: finished saves become 'latest'
        if self.every and trainer.step % self.every == 0:
            self._save(trainer)

    def on_train_end(self, trainer):
        if self.saved_step != trainer.step and not (self.folder / f"step_{trainer.step}").exists():
            self._save(trainer)
        if self.queue is not None:
            self.queue.maybe_finalize_async_calls(blocking=True)


def save_checkpoint(trainer: Trainer, folder: Path, keep: int = 2) -> Path:
    import yaml

    from training.checkpoint import publish

    folder.mkdir(parents=True, exist_ok=True)
    final = folder / f"step_{trainer.step}"
    tmp = folder / f".tmp-step_{trainer.step}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    state = trainer.state_dict()
    torch.save(state, tmp / "checkpoint.pt")
    (tmp / "config.yaml").write_text(yaml.safe_dump(trainer.config, sort_keys=False))
    publish(tmp, final, keep)
    return final


def latest_checkpoint(folder: str | Path) -> Path | None:
    from training.checkpoint import latest

    path = latest(folder)
    return path if path is not None and ((path / "checkpoint.pt").is_file() or (path / "COMPLETE").is_file()) else None


def load_checkpoint(path: str | Path) -> dict:
    return torch.load(Path(path) / "checkpoint.pt", map_location="cpu", weights_only=False)


def peak_flops_estimate() -> float:
    """Peak FLOP/s for MFU: the GPU's dense bf16 figure where known, else a measured fp32 GEMM rate (CPU)."""
    if torch.cuda.is_available():
        name = torch.cuda.get_device_name()
        for key, tflops in (("H200", 989e12), ("H100", 989e12), ("A100", 312e12), ("L40", 181e12)):
            if key in name:
                return tflops
        return 100e12
    a = torch.randn(1024, 1024)
    torch.mm(a, a)
    t0 = time.perf_counter()
    for _ in range(8):
        torch.mm(a, a)
    return 8 * 2 * 1024**3 / (time.perf_counter() - t0)
