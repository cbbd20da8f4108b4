"""Proxy models for ablations: the project's trainer (Megatron-Core ``GPTModel``, `training.trainer`) on a
stage blend, with a reduced vocabulary, then the loss on each target's held-out documents.

Why a proxy vocabulary: with Qwen3's 151,936 rows the output layer is most of a tiny model's compute (the
tiny preset trains at under 1,000 tokens/s here). The proxy keeps the ``size`` most frequent token ids of the
manifest's training documents (the end-of-document id always) and maps every other id to one of ``buckets``
shared ids by ``id % buckets``; the map is applied to each batch as it is loaded, so shards stay as written.
Losses over the proxy vocabulary are not Qwen3 losses, but mixtures are compared with each other, and
`benchmarks/mixture_proxy.py` measures that the ranking agrees with full-vocabulary proxies.
"""

from __future__ import annotations

import math
import os
import resource
import time
import warnings
from pathlib import Path

import numpy as np
from pydantic import Field

from corpusforge.config import Config
from mixtures.space import Space
from training.schedule import ScheduleConfig

FULL_VOCAB = 151_936


class ProxyConfig(Config):
    preset: str = "tiny"
    overrides: dict = Field(default_factory=dict, description="ModelConfig fields replacing the preset's.")
    vocab: int = Field(4096, ge=0, description="Kept token ids (0: the full Qwen3 vocabulary, no remapping).")
    buckets: int = Field(16, ge=1, description="Shared ids for every other token.")
    tokens: int = Field(200_000, ge=1, description="Training tokens per ablation.")
    seq_length: int = Field(256, ge=16)
    micro_batch_size: int = Field(8, ge=1)
    lr: ScheduleConfig = Field(
        default_factory=lambda: ScheduleConfig(peak=3e-3, min=3e-4, warmup_fraction=0.05, decay_fraction=0.3)
    )
    eval_tokens: int = Field(16_384, ge=256, description="Held-out tokens read per target.")
    threads: int = Field(1, ge=1, description="Torch threads per ablation worker.")
    curve_points: int = Field(0, ge=0, description="Mean target loss measured this many times during training.")
    curve_tokens: int = Field(4096, ge=256, description="Held-out tokens per target for each curve point.")

    @property
    def steps(self) -> int:
        return max(1, math.ceil(self.tokens / (self.micro_batch_size * self.seq_length)))

    def model(self, vocab_rows: int):
        from training.presets import preset

        over = {"vocab_size": vocab_rows, "max_seq_length": max(self.seq_length, 512), **self.overrides}
        return preset(self.preset, **over)

    def scaled(self, factor_tokens: float, **overrides) -> ProxyConfig:
        """The larger proxy of a validation run: ``factor_tokens`` x the tokens, the shape overridden."""
        return self.model_copy(update={"tokens": int(self.tokens * factor_tokens), "overrides": overrides})


def _idx_dataset(prefix: str):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from megatron.core.datasets.indexed_dataset import IndexedDataset

        return IndexedDataset(prefix)


def build_vocab(space: Space, size: int, buckets: int) -> np.ndarray:
    """The proxy map: Qwen3 id -> proxy id (int32 lookup table of the manifest's vocabulary)."""
    n = max(space.manifest.vocab_size, space.manifest.eod_id + 1)
    counts = np.zeros(n, dtype=np.int64)
    for s in space.manifest.shards:
        if s.kind == "cell" and s.tokens:
            dtype = _idx_dataset(s.prefix).index.dtype
            counts += np.bincount(np.memmap(s.prefix + ".bin", dtype=dtype, mode="r"), minlength=n)[:n]
    eod = space.manifest.eod_id
    counts[eod] = counts.max() + 1
    top = np.argsort(-counts, kind="stable")[: min(size, int((counts > 0).sum()))]
    lut = (size + np.arange(n) % buckets).astype(np.int32)
    lut[top] = np.arange(len(top), dtype=np.int32)
    return lut


def vocab_rows(lut: np.ndarray | None) -> int:
    """Embedding rows for a proxy map (padded to 64), or the full padded Qwen3 vocabulary."""
    if lut is None:
        return FULL_VOCAB
    return int(-(-(int(lut.max()) + 1) // 64) * 64)


class RemapStream:
    """A `training.data.SampleStream` whose token ids go through the proxy map as each batch loads."""

    def __init__(self, stream, lut: np.ndarray | None):
        import torch

        self.stream = stream
        self.lut = torch.as_tensor(lut, dtype=torch.long) if lut is not None else None

    def next_batch(self) -> dict:
        b = self.stream.next_batch()
        if self.lut is not None:
            b["tokens"], b["labels"] = self.lut[b["tokens"]], self.lut[b["labels"]]
        return b

    def state_dict(self) -> dict:
        return self.stream.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.stream.load_state_dict(state)


def spread_cap(lengths: list[int], budget: int) -> int:
    """The per-document cap that spends ``budget`` tokens over every document (water-filling): short
    documents are read whole, long ones cut at the cap, so no single document dominates a target."""
    ls = sorted(lengths)
    left, n = budget, len(ls)
    for i, x in enumerate(ls):
        if x * (n - i) >= left:
            return max(1, -(-left // (n - i)))
        left -= x
    return ls[-1] if ls else 1


def target_batches(space: Space, rows: np.ndarray, cfg: ProxyConfig, lut: np.ndarray | None) -> list[dict]:
    """A target's held-out documents, each read up to a common cap so that ``eval_tokens`` cover all of them
    (`spread_cap`; a target read from its first documents only ranks mixtures by a handful of documents),
    concatenated and cut into sequences. The prediction across a cut (a truncated document's last token to
    the next document) is masked out."""
    import torch

    shard_col = space.docs.column("shard").to_pylist()
    idx_col = space.docs.column("doc_index").to_pylist()
    prefix = {s.path: s.prefix for s in space.manifest.shards}
    datasets: dict[str, object] = {}
    docs = []
    for r in rows:
        sp = shard_col[int(r)]
        if sp not in datasets:
            datasets[sp] = _idx_dataset(prefix[sp])
        docs.append(np.asarray(datasets[sp][int(idx_col[int(r)])], dtype=np.int64))
    cap = spread_cap([len(d) for d in docs], cfg.eval_tokens + 1)
    parts, valid = [], []
    for d in docs:
        piece = d[:cap]
        ok = np.ones(len(piece), dtype=np.float32)
        if valid and len(parts[-1]) < len(docs[len(parts) - 1]):  # the previous document was cut
            ok[0] = 0.0
        parts.append(piece)
        valid.append(ok)
    ids, ok = np.concatenate(parts), np.concatenate(valid)
    if lut is not None:
        ids = lut[ids].astype(np.int64)
    L = cfg.seq_length
    n = max(1, (len(ids) - 1) // L)
    seqs = []
    for i in range(n):
        chunk = ids[i * L : i * L + L + 1]
        if len(chunk) < 2:
            break
        seqs.append((chunk, ok[i * L + 1 : i * L + L + 1]))
    batches = []
    for i in range(0, len(seqs), cfg.micro_batch_size):
        group = seqs[i : i + cfg.micro_batch_size]
        width = min(len(c) for c, _ in group) - 1
        toks = torch.as_tensor(np.stack([c[:width] for c, _ in group]))
        labs = torch.as_tensor(np.stack([c[1 : width + 1] for c, _ in group]))
        mask = torch.as_tensor(np.stack([m[:width] for _, m in group]))
        batches.append({
            "tokens": toks, "labels": labs, "loss_mask": mask,
            "position_ids": torch.arange(width).unsqueeze(0).expand_as(toks).contiguous(),
        })  # fmt: skip
    return batches


class CurveCallback:
    """The mean target loss (on ``curve_tokens`` per target) at ``curve_points`` evenly spaced steps."""

    def __init__(self, space: Space, cfg: ProxyConfig, lut, module, targets: list[str] | None):
        small = cfg.model_copy(update={"eval_tokens": cfg.curve_tokens})
        names = targets or list(space.targets)
        self.batches = {t: target_batches(space, space.targets[t], small, lut) for t in names}
        self.module, self.points = module, []
        self.at = {max(1, round(cfg.steps * (k + 1) / cfg.curve_points)) for k in range(cfg.curve_points)}

    def on_train_start(self, trainer) -> None: ...

    def on_train_end(self, trainer) -> None: ...

    def on_step_end(self, trainer, metrics) -> None:
        if trainer.step in self.at:
            losses = [self.module.eval_loss(b) for b in self.batches.values()]
            self.points.append([trainer.step, float(np.mean(losses))])


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def train_proxy(space: Space, blend_path: Path, cfg: ProxyConfig, lut: np.ndarray | None, seed: int,
                out: Path, targets: list[str] | None = None) -> dict:  # fmt: skip
    """Train one proxy on a blend; the loss on every target (``None``: all). ``status`` failed on NaN/inf."""
    import torch

    torch.set_num_threads(cfg.threads)
    os.environ.setdefault("OMP_NUM_THREADS", str(cfg.threads))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from training import trainer as T
        from training.data import SampleStream, build_datasets, load_blend
        from training.model import build_model

        m = cfg.model(vocab_rows(lut))
        blend = load_blend(space.manifest.root, blend_path, model_vocab=None)
        gbs = cfg.micro_batch_size
        train_ds, _ = build_datasets(
            blend, seq_length=cfg.seq_length, train_samples=cfg.steps * gbs, valid_samples=0, split="100,0,0",
            seed=seed,
        )  # fmt: skip
        gpt = build_model(m, backend="local", dtype="float32", seed=seed)
        module = T.PretrainModule(m, gpt, T.OptimConfig(lr=cfg.lr.peak), cfg.lr.build(cfg.steps))
        callbacks = [T.JsonlCallback(out / "metrics.jsonl")]
        curve = CurveCallback(space, cfg, lut, module, targets) if cfg.curve_points else None
        if curve is not None:
            callbacks.append(curve)
        trainer = T.Trainer(
            module=module, data=RemapStream(SampleStream(train_ds, gbs), lut), max_steps=cfg.steps,
            seq_length=cfg.seq_length, callbacks=callbacks,
        )  # fmt: skip
        t0 = time.perf_counter()
        history = trainer.fit()
        train_s = time.perf_counter() - t0
        losses = [h["loss"] for h in history]
        result = {
            "steps": len(history),
            "train_tokens": int(sum(h["tokens"] for h in history)),
            "train_s": round(train_s, 3),
            "tokens_per_s": round(sum(h["tokens"] for h in history[1:]) / max(1e-9, sum(h["step_time"] for h in history[1:])), 1),
            "final_train_loss": losses[-1],
            "params": sum(p.numel() for p in gpt.parameters()),
        }  # fmt: skip
        if curve is not None:
            result["curve"] = curve.points
        if not all(math.isfinite(x) for x in losses):
            bad = next(i for i, x in enumerate(losses) if not math.isfinite(x))
            return {**result, "status": "failed", "reason": f"non-finite training loss at step {bad + 1}"}
        names = targets or list(space.targets)
        loss = {}
        for name in names:
            loss[name] = module.eval_loss(target_batches(space, space.targets[name], cfg, lut))
        bad = [k for k, v in loss.items() if not math.isfinite(v)]
        if bad:
            return {**result, "status": "failed", "reason": f"non-finite target loss on {', '.join(bad)}"}
        return {**result, "status": "ok", "targets": loss, "peak_rss_mib": round(peak_rss_mib(), 1)}
