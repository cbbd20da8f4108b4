"""Training data: the shard manifest and a stage's blend file -> Megatron ``GPTDataset``s through
``BlendedMegatronDatasetBuilder``, with a held-out validation split and a resumable sample position.

The manifest (``corpusforge.shards/1``, written by ``pipelines/shards``) is read here through its documented
JSON form and ``corpusforge.shardfacts``, not by importing ``pipelines`` (``training`` imports only
``corpusforge``). Fields used::

    tokenizer {hash, vocab_size, eod_id}, shards [{path, kind (cell | long), cell, documents, tokens,
    tokenizer_hash}]   (paths relative to the manifest's folder; ``path`` is a Megatron prefix: .bin/.idx)

Shards may sit in object storage (``s3://bucket/shards``): the manifest, blend checks and rate files go
through ``corpusforge.fs``, and Megatron reads the shards with its own S3 support (index files cached
locally, ``.bin`` read in ranges), so training streams them without a copy step.

The blend file (``corpusforge.blend/1``, YAML or JSON, written per stage by the mixture optimizer)::

    format: corpusforge.blend/1
    kind: cell            # which shards of the manifest: cell (the main corpus) or long (16K-32K documents)
    weights:              # by cell name or by shard path; a cell's weight is spread over its shards by tokens
      en-science_tech-...: 0.4
      ...
    document_rates:       # optional: shard path -> .npy of float rates, one per document (0 drops, 2 doubles)
      cells/en-.../00000: rates/en-....npy

Every check runs before any model is built (`BlendSpec.resolve`), and each failure names its culprit.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from corpusforge.errors import ConfigError, InputError
from corpusforge.fs import exists, join, open_input, read_text
from corpusforge.shardfacts import manifest_path, read_manifest

BLEND_FORMAT = "corpusforge.blend/1"


class DataError(InputError):
    """Shards or blend unusable for training; raised before training starts."""


@dataclass(frozen=True)
class Shard:
    prefix: str  # absolute Megatron prefix (no .bin/.idx)
    path: str  # as the manifest names it
    cell: str
    kind: str
    documents: int
    tokens: int
    tokenizer_hash: str


def _remote(path: str | Path) -> bool:
    return "://" in str(path)


def _is_file(path: str) -> bool:
    return exists(path) if _remote(path) else Path(path).is_file()


def _load_rates(path: str) -> np.ndarray:
    if not _remote(path):
        return np.load(path)
    with open_input(path) as f:
        return np.load(f)


@dataclass(frozen=True)
class Manifest:
    root: Path | str  # a folder, or an object store URL
    tokenizer_hash: str
    vocab_size: int
    eod_id: int
    shards: tuple[Shard, ...]

    @classmethod
    def load(cls, path: str | Path) -> Manifest:
        try:
            data = read_manifest(str(path), "no shard manifest here (run the shard stage first)")
        except InputError as exc:
            raise DataError(exc.culprit, exc.problem) from None
        where = manifest_path(str(path))
        root: Path | str = data["root"] if _remote(data["root"]) else Path(data["root"]).resolve()
        tok = data.get("tokenizer") or {}
        for key in ("hash", "vocab_size", "eod_id"):
            if key not in tok:
                raise DataError(str(where), f"tokenizer.{key} missing")
        shards = tuple(
            Shard(
                prefix=join(root, s["path"]) if _remote(root) else str(root / s["path"]),
                path=s["path"],
                cell=s.get("cell", s["path"]),
                kind=s.get("kind", "cell"),
                documents=int(s.get("documents", 0)),
                tokens=int(s.get("tokens", 0)),
                tokenizer_hash=s.get("tokenizer_hash", tok["hash"]),
            )
            for s in data.get("shards", [])
        )
        return cls(root, tok["hash"], int(tok["vocab_size"]), int(tok["eod_id"]), shards)


@dataclass(frozen=True)
class Blend:
    """What the trainer feeds Megatron: prefixes, weights, per-document rate files, the tokenizer facts."""

    prefixes: list[str]
    weights: list[float]
    rates: dict[str, str] = field(default_factory=dict)  # prefix -> .npy
    documents: tuple[int, ...] = ()  # per prefix
    tokens: int = 0
    vocab_size: int = 0
    eod_id: int = 0
    tokenizer_hash: str = ""


def read_blend_file(path: str | Path) -> dict:
    if not _is_file(str(path)):
        raise DataError(str(path), "blend file not found")
    data = yaml.safe_load(read_text(str(path)) if _remote(path) else Path(path).read_text()) or {}
    if not isinstance(data, dict):
        raise DataError(str(path), "a blend file holds a mapping")
    if data.get("format", BLEND_FORMAT) != BLEND_FORMAT:
        raise DataError(str(path), f"format {data.get('format')!r}, expected {BLEND_FORMAT}")
    return data


def resolve_blend(manifest: Manifest, blend: dict, *, where: str = "blend", model_vocab: int | None = None) -> Blend:
    """Check shards, tokenizer and weights; the Megatron blend. ``blend`` is a parsed blend file (or {}:
    every shard of ``kind`` weighted by its tokens)."""
    kind = blend.get("kind", "cell")
    weights = blend.get("weights")
    shards = [s for s in manifest.shards if s.kind == kind and s.tokens > 0]
    if not shards:
        raise DataError(where, f"the manifest at {manifest.root} has no {kind!r} shards with tokens")
    hashes = {s.tokenizer_hash for s in manifest.shards}
    if len(hashes) > 1 or manifest.tokenizer_hash not in hashes:
        names = sorted(
            f"{s.path} ({s.tokenizer_hash[:12]})"
            for s in manifest.shards
            if s.tokenizer_hash != manifest.tokenizer_hash
        )
        raise DataError(
            where,
            f"tokenizer hash mismatch between shards: manifest {manifest.tokenizer_hash[:12]}, {', '.join(names[:5])}",
        )
    if model_vocab is not None and manifest.vocab_size > model_vocab:
        raise DataError(
            where,
            f"the shards' tokenizer has {manifest.vocab_size} tokens, more than the model's vocabulary of {model_vocab}",
        )
    if weights is not None:
        if not isinstance(weights, dict) or not weights:
            raise DataError(where, "the blend is empty: 'weights' names no cell or shard")
        known = {s.cell for s in shards} | {s.path for s in shards}
        unknown = sorted(set(weights) - known)
        if unknown:
            raise DataError(where, f"weights name cells/shards not in the manifest ({kind}): {', '.join(unknown[:5])}")
        bad = {k: v for k, v in weights.items() if not isinstance(v, int | float) or v < 0}
        if bad:
            raise DataError(where, f"weights must be non-negative numbers: {bad}")
        if sum(weights.values()) <= 0:
            raise DataError(where, f"the weights sum to {sum(weights.values())}; they must sum to a positive number")
    cell_tokens: dict[str, int] = {}
    for s in shards:
        cell_tokens[s.cell] = cell_tokens.get(s.cell, 0) + s.tokens
    prefixes, out, total, docs = [], [], 0, []
    for s in shards:
        if weights is None:
            w = float(s.tokens)
        elif s.path in weights:
            w = float(weights[s.path])
        else:
            w = float(weights.get(s.cell, 0.0)) * s.tokens / cell_tokens[s.cell]
        if w <= 0:
            continue
        for ext in (".bin", ".idx"):
            if not _is_file(s.prefix + ext):
                raise DataError(s.prefix + ext, "shard file missing (listed in the manifest)")
        prefixes.append(s.prefix)
        docs.append(s.documents)
        out.append(w)
        total += s.tokens
    if not prefixes:
        raise DataError(where, "the blend selects no shard: every weight is zero")
    norm = sum(out)
    rates = {}
    for name, rate_file in (blend.get("document_rates") or {}).items():
        match = [s for s in shards if s.path == name]
        if not match:
            raise DataError(where, f"document_rates names shard {name!r}, not in the manifest")
        base = blend.get("_dir", ".")
        if _remote(rate_file) or Path(rate_file).is_absolute():
            rpath = rate_file
        else:
            rpath = join(base, rate_file) if _remote(base) else str(Path(base) / rate_file)
        if not _is_file(rpath):
            raise DataError(str(rpath), "document rate file missing")
        arr = _load_rates(rpath)
        if arr.shape != (match[0].documents,) or (arr < 0).any():
            raise DataError(
                str(rpath), f"needs {match[0].documents} non-negative rates, one per document, got shape {arr.shape}"
            )
        rates[match[0].prefix] = str(rpath)
    return Blend(
        prefixes,
        [w / norm for w in out],
        rates,
        tuple(docs),
        total,
        manifest.vocab_size,
        manifest.eod_id,
        manifest.tokenizer_hash,
    )


def load_blend(manifest_path: str | Path, blend_path: str | Path | None, model_vocab: int | None = None) -> Blend:
    manifest = Manifest.load(manifest_path)
    data = {}
    if blend_path is not None:
        data = read_blend_file(blend_path)
        data["_dir"] = str(blend_path).rsplit("/", 1)[0] if _remote(blend_path) else str(Path(blend_path).parent)
    return resolve_blend(manifest, data, where=str(blend_path or manifest_path), model_vocab=model_vocab)


def expand_by_rates(indices: np.ndarray, rates: np.ndarray, seed: int) -> np.ndarray:
    """Documents repeated by their rate: ``floor(r)`` copies plus one more with probability ``r - floor(r)``."""
    r = rates[indices]
    whole = np.floor(r).astype(np.int64)
    extra = np.random.default_rng(seed).random(len(indices)) < (r - whole)
    return np.repeat(indices, whole + extra).astype(indices.dtype)


def _megatron_classes():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from megatron.core.datasets.gpt_dataset import GPTDataset, GPTDatasetConfig

        from corpusforge.megatron_tokenizer import TokenizerFacts

    @dataclass
    class RatedGPTDatasetConfig(GPTDatasetConfig):
        document_rates: dict = field(default_factory=dict)

    class RatedGPTDataset(GPTDataset):
        """``GPTDataset`` whose documents are repeated or dropped by per-document sampling rates."""

        def __init__(self, indexed_dataset, dataset_path, indexed_indices, num_samples, index_split, config):
            rate_file = config.document_rates.get(dataset_path)
            if rate_file:
                indexed_indices = expand_by_rates(indexed_indices, _load_rates(rate_file), config.random_seed)
            super().__init__(indexed_dataset, dataset_path, indexed_indices, num_samples, index_split, config)

    return TokenizerFacts, RatedGPTDatasetConfig, RatedGPTDataset


def build_datasets(
    blend: Blend,
    *,
    seq_length: int,
    train_samples: int,
    valid_samples: int,
    split: str = "98,2,0",
    seed: int = 1234,
    index_cache: str | None = None,
):
    """(train, valid) Megatron datasets: ``BlendedDataset``s over the shards' train / validation documents.
    Shards in object storage are read by Megatron in ranges; their index files and Megatron's sample indices
    are cached in ``index_cache`` (default: a folder in the system's temporary directory)."""
    from megatron.core.datasets.blended_megatron_dataset_builder import BlendedMegatronDatasetBuilder

    tokenizer_cls, config_cls, dataset_cls = _megatron_classes()
    remote = any(_remote(p) for p in blend.prefixes)
    cache = index_cache or os.path.join(tempfile.gettempdir(), "corpusforge-index-cache")
    config = config_cls(
        random_seed=seed,
        sequence_length=seq_length,
        blend=(list(blend.prefixes), list(blend.weights)),
        split=split,
        path_to_cache=cache if remote else None,  # Megatron's sample indices: beside local shards, else here
        tokenizer=tokenizer_cls(blend.vocab_size, blend.eod_id, blend.tokenizer_hash),
        reset_position_ids=False,
        reset_attention_mask=False,
        eod_mask_loss=False,
        create_attention_mask=False,
        mmap_bin_files=not remote,  # Megatron streams object-store shards; it cannot map them
        object_storage_cache_path=cache if remote else None,
        document_rates=dict(blend.rates),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        train, valid, _ = BlendedMegatronDatasetBuilder(
            dataset_cls, [train_samples, valid_samples, 0], lambda: True, config
        ).build()
    return train, valid


class SampleStream:
    """Batches of consecutive samples from a Megatron dataset, starting at ``position`` (samples consumed);
    the position is saved in checkpoints so a resumed run continues where the last one stopped."""

    def __init__(self, dataset, batch_size: int, position: int = 0):
        self.dataset, self.batch_size, self.position = dataset, batch_size, position

    def next_batch(self) -> dict:
        n = len(self.dataset)
        items = [self.dataset[(self.position + i) % n] for i in range(self.batch_size)]
        self.position += self.batch_size
        return _collate(items)

    def state_dict(self) -> dict:
        return {"position": self.position}

    def load_state_dict(self, state: dict) -> None:
        self.position = int(state["position"])


def check_seq_length(seq_length: int, model_max: int, field_name: str = "seq_length") -> None:
    if seq_length > model_max:
        raise ConfigError(field_name, f"{seq_length} exceeds the model's maximum sequence length {model_max}")


def _collate(items: list[dict]) -> dict:
    import torch

    return {
        "tokens": torch.stack([torch.as_tensor(it["tokens"]) for it in items]).long(),
        "labels": torch.stack([torch.as_tensor(it["labels"]) for it in items]).long(),
        "loss_mask": torch.stack([torch.as_tensor(it["loss_mask"]) for it in items]).float(),
        "position_ids": torch.stack([torch.as_tensor(it["position_ids"]) for it in items]).long(),
    }


class GlobalBatchStream:
    """One data-parallel rank's share of every global batch, read straight from the dataset.

    A step consumes ``global_batch_size`` consecutive samples from ``position`` (the global count of samples
    consumed), the same at every data-parallel size. Micro-batch ``m`` of a step covers the
    ``micro_batch_size x dp_size`` samples after the first ``m`` such groups; rank ``r`` reads its
    ``micro_batch_size`` of them (Megatron's pretraining sampler's order). Which rank reads a sample changes
    with the layout; which samples make a step, and their order, do not; so a run saved at one data-parallel
    size resumes exactly at another."""

    def __init__(self, dataset, micro_batch_size: int, global_batch_size: int, dp_rank: int = 0, dp_size: int = 1,
                 position: int = 0):  # fmt: skip
        if global_batch_size % (micro_batch_size * dp_size):
            raise ConfigError(
                "train.global_batch_size",
                f"{global_batch_size} is not a multiple of micro_batch_size x data-parallel size = "
                f"{micro_batch_size} x {dp_size}",
            )
        self.dataset, self.mbs, self.gbs = dataset, micro_batch_size, global_batch_size
        self.dp_rank, self.dp_size, self.position = dp_rank, dp_size, position

    @property
    def micro_batches(self) -> int:
        """Micro-batches per step on each rank (gradient accumulation)."""
        return self.gbs // (self.mbs * self.dp_size)

    def _micro(self, start: int) -> dict:
        n = len(self.dataset)
        first = start + self.dp_rank * self.mbs
        return _collate([self.dataset[(first + i) % n] for i in range(self.mbs)])

    def next_step(self) -> list[dict]:
        group = self.mbs * self.dp_size
        out = [self._micro(self.position + m * group) for m in range(self.micro_batches)]
        self.position += self.gbs
        return out

    def next_batch(self) -> dict:
        """One micro-batch per rank (validation): ``micro_batch_size x dp_size`` samples consumed."""
        out = self._micro(self.position)
        self.position += self.mbs * self.dp_size
        return out

    def state_dict(self) -> dict:
        return {"position": self.position, "global_batch_size": self.gbs}

    def load_state_dict(self, state: dict) -> None:
        self.position = int(state["position"])
