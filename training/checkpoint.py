"""Sharded checkpoints through Megatron-Core's ``dist_checkpointing``: every rank writes its own part, and any
other layout reads it back (the tensors are stored by their place in the global tensor; the optimizer in
Megatron's fully reshardable form), so a run saved at DP=2 resumes at DP=1, one saved at TP=1 at TP=2.

A checkpoint folder ``step_N/`` holds Megatron's files (``*.distcp``, ``.metadata``, ``common.pt`` with the
trainer state: step, data position, resolved config), ``config.yaml``, and ``COMPLETE``: written by rank 0
after every rank finished, listing every file, its size and its CRC-32 (each rank checksums the files it
wrote; loading ranks verify a share each). It is written as ``.tmp-step_N`` and renamed, and
``latest`` (a one-line pointer) is then replaced atomically; so a killed save leaves the previous checkpoint
the latest, and a folder without ``COMPLETE``, or with a file missing, of another size or with another CRC-32, is refused by
name.

Loading is strict: a weight the model has and the checkpoint lacks, or the reverse, is an error
(``StrictHandling.RAISE_ALL``), as is a checkpoint of another model shape or another tokenizer (checked
against the saved config before any tensor is read). The trainer's single-file checkpoints from before
(``checkpoint.pt``) are still read for their weights (export, post-training's start); resuming a run from one
is refused with a message naming the format.

The optimizer state is saved in Megatron's ``fully_reshardable`` form (one tensor per parameter, readable
under any TP/PP/EP/DP): to build it, each data-parallel group gathers its distributed optimizer's shards onto
its DP rank 0 over gloo (``distrib_optim_fully_reshardable_mem_efficient``), which holds, for the save, the
unsharded optimizer state of its model-parallel part in host memory (12 bytes per local parameter: 8B at TP=2,
about 46 GiB). Megatron's ``dp_reshardable`` form avoids the gather but reshards only across DP; it is not used
here because resuming at another TP/PP/EP size is part of the contract.

Saving is synchronous by default; ``train.async_save`` uses Megatron's asynchronous save (``async_sharded_save``
with an ``AsyncCallsQueue``): each rank forks a writer (on the CPU the fork's copy-on-write memory is the
snapshot; on GPU Megatron first copies the tensors to host memory) and training goes on; ``COMPLETE`` and
``latest`` are written in the finalisation, after every rank's writer is done, checked at each step's end.
"""

from __future__ import annotations

import json
import shutil
import warnings
from functools import partial
from pathlib import Path

import torch

from corpusforge.errors import InputError
from training.parallel import barrier, is_logging_rank, rank

FORMAT = "corpusforge.dist-checkpoint/1"
COMPLETE = "COMPLETE"
LEGACY = "checkpoint.pt"
#: the ModelConfig fields that fix tensor shapes: a checkpoint with others is of another model
SHAPE_FIELDS = (
    "num_layers",
    "hidden_size",
    "ffn_hidden_size",
    "num_attention_heads",
    "num_query_groups",
    "kv_channels",
    "vocab_size",
    "qk_norm",
    "qkv_bias",
    "tie_embeddings",
    "num_experts",
    "moe_ffn_hidden_size",
)


def _dist():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from megatron.core import dist_checkpointing
        from megatron.core.dist_checkpointing.validation import StrictHandling
    return dist_checkpointing, StrictHandling


def _strategy():
    """Megatron's torch_dist writer, one writer process per rank, wrapped so that tensors replicated over the
    data-parallel ranks are written once, their saving spread over those ranks (``FullyParallelSave...``)."""
    from megatron.core import parallel_state as ps
    from megatron.core.dist_checkpointing.strategies.fully_parallel import FullyParallelSaveStrategyWrapper
    from megatron.core.dist_checkpointing.strategies.torch import TorchDistSaveShardedStrategy

    base = TorchDistSaveShardedStrategy("torch_dist", 1, thread_count=1)
    if ps.get_data_parallel_world_size(with_context_parallel=True) == 1:
        return base
    return FullyParallelSaveStrategyWrapper(base, ps.get_data_parallel_group(with_context_parallel=True))


def save(trainer, folder: str | Path, keep: int = 2, queue=None) -> Path:
    """``folder/step_N``: every rank's part, then (rank 0, after all finished) ``COMPLETE`` and ``latest``.

    With ``queue`` (Megatron's ``AsyncCallsQueue``) the parts are written by a forked writer process per rank
    while training goes on; ``COMPLETE``, the rename and ``latest`` happen in the finalisation, which Megatron
    runs on every rank once all writers are done (``queue.maybe_finalize_async_calls``)."""
    dist_checkpointing, _ = _dist()
    folder = Path(folder)
    final = folder / f"step_{trainer.step}"
    tmp = folder / f".tmp-step_{trainer.step}"
    if is_logging_rank():
        folder.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
    barrier()
    state = trainer.module.sharded_state_dict()
    state["trainer"] = {
        "format": FORMAT,
        "step": trainer.step,
        "data": trainer.data.state_dict(),
        "config": trainer.config,
        "layout": getattr(trainer.module, "layout", None).__dict__ if hasattr(trainer.module, "layout") else {},
    }
    finish = partial(_finish, tmp, final, keep, dict(trainer.config), trainer.step)
    if queue is None:
        dist_checkpointing.save(state, str(tmp), sharded_strategy=_strategy(), validate_access_integrity=True)
        barrier()
        finish()
        return final
    request = dist_checkpointing.save(
        state, str(tmp), sharded_strategy=_strategy(), validate_access_integrity=True, async_sharded_save=True
    )
    request.add_finalize_fn(finish)
    queue.schedule_async_request(request)
    return final


def _finish(tmp: Path, final: Path, keep: int, config: dict, step: int) -> None:
    """After every rank's part is written: ``COMPLETE`` (files and sizes), the rename, then ``latest``."""
    import yaml

    # every rank checksums the data files it wrote (``__<rank>_<n>.distcp``), rank 0 the shared ones
    mine = {p.name: _crc32(p) for p in sorted(tmp.glob(f"__{rank()}_*.distcp"))}
    crcs = _gather(mine)
    if is_logging_rank():
        (tmp / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
        files = {p.name: p.stat().st_size for p in sorted(tmp.iterdir()) if p.is_file()}
        for name in files:
            if name not in crcs:
                crcs[name] = _crc32(tmp / name)
        record = {"format": FORMAT, "step": step, "files": files, "crc32": dict(sorted(crcs.items()))}
        (tmp / COMPLETE).write_text(json.dumps(record, indent=1))
        publish(tmp, final, keep)
    barrier()


def publish(tmp: Path, final: Path, keep: int) -> None:
    """A written checkpoint made the one ``latest`` names: the rename, then ``latest`` replaced (never half
    written), then all but the newest ``keep`` steps removed (``keep`` 0 keeps all)."""
    folder = final.parent
    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)
    (folder / "latest.tmp").write_text(final.name)
    (folder / "latest.tmp").replace(folder / "latest")
    steps = sorted((p for p in folder.glob("step_*") if p.is_dir()), key=lambda p: int(p.name.split("_")[1]))
    for old in steps[:-keep] if keep else []:
        shutil.rmtree(old, ignore_errors=True)


def _crc32(path: Path) -> str:
    import zlib

    crc = 0
    with open(path, "rb") as f:
        while chunk := f.read(1 << 24):
            crc = zlib.crc32(chunk, crc)
    return f"{crc:08x}"


def _gather(part: dict) -> dict:
    """Every rank's ``part`` merged (on every rank)."""
    import torch.distributed as dist

    if not dist.is_initialized() or dist.get_world_size() == 1:
        return dict(part)
    parts: list = [None] * dist.get_world_size()
    dist.all_gather_object(parts, part)
    return {k: v for p in parts for k, v in p.items()}


def async_queue():
    """Megatron's queue of asynchronous saves (one forked writer per rank and save)."""
    from megatron.core.dist_checkpointing.strategies.async_utils import AsyncCallsQueue

    return AsyncCallsQueue()


def is_sharded(path: str | Path) -> bool:
    return (Path(path) / COMPLETE).is_file() or (Path(path) / "metadata.json").is_file()


def check(path: str | Path, contents: bool = True) -> dict:
    """The checkpoint's ``COMPLETE`` record, after checking every listed file is there at its size and, with
    ``contents``, its CRC-32 (the files split over the ranks that call this together; every rank then raises
    the same error)."""
    path = Path(path)
    if (path / LEGACY).is_file():
        raise InputError(
            str(path),
            f"a single-file checkpoint ({LEGACY}, the trainer's format before sharded checkpoints): its weights "
            "can be exported or used to start post-training, but a run cannot resume from it",
        )
    if not path.is_dir():
        raise InputError(str(path), "no checkpoint folder here")
    marker = path / COMPLETE
    if not marker.is_file():
        raise InputError(str(path), f"partial checkpoint: no {COMPLETE} marker (the save did not finish)")
    try:
        record = json.loads(marker.read_text())
    except json.JSONDecodeError:
        raise InputError(str(marker), "corrupted checkpoint marker (not JSON)") from None
    if record.get("format") != FORMAT:
        raise InputError(str(marker), f"format {record.get('format')!r}, expected {FORMAT}")
    for name, size in record.get("files", {}).items():
        f = path / name
        if not f.is_file():
            raise InputError(str(f), "partial checkpoint: file missing")
        if f.stat().st_size != size:
            raise InputError(str(f), f"corrupted checkpoint: {f.stat().st_size} bytes, {size} when saved")
    if contents and record.get("crc32"):
        import torch.distributed as dist

        world = dist.get_world_size() if dist.is_initialized() else 1
        names = sorted(record["crc32"])
        bad = {n: _crc32(path / n) for n in names[rank() % world :: world]}
        bad = {n: crc for n, crc in bad.items() if crc != record["crc32"][n]}
        bad = _gather(bad) if world > 1 else bad
        if bad:
            name = sorted(bad)[0]
            raise InputError(
                str(path / name), f"corrupted checkpoint: CRC-32 {bad[name]}, {record['crc32'][name]} when saved"
            )
    return record


def saved_config(path: str | Path) -> dict:
    import yaml

    return yaml.safe_load((Path(path) / "config.yaml").read_text()) or {}


def check_model(path: str | Path, model: dict, tokenizer_hash: str | None = None) -> None:
    """The checkpoint is of this model shape (and tokenizer, when both are known), else an error naming the field."""
    cfg = saved_config(path)
    saved = cfg.get("model") or {}
    for key in SHAPE_FIELDS:
        if key in saved and saved[key] != model.get(key):
            raise InputError(
                str(path), f"a checkpoint of another model: {key} is {saved[key]} there, {model.get(key)} here"
            )
    theirs = cfg.get("tokenizer_hash")
    if tokenizer_hash and theirs and theirs != tokenizer_hash:
        raise InputError(
            str(path), f"a checkpoint trained with another tokenizer ({theirs[:12]}; the shards use {tokenizer_hash[:12]})"
        )


def _load(state: dict, path: Path, weights_only: bool = False) -> dict:
    """Megatron's load, strict: every key asked for must be in the checkpoint and every key there asked for;
    a weights-only load leaves out the checkpoint's optimizer entries, and nothing else."""
    dist_checkpointing, strict = _dist()
    try:
        if not weights_only:
            return dist_checkpointing.load(state, str(path), strict=strict.RAISE_ALL)
        loaded, missing, unexpected = dist_checkpointing.load(state, str(path), strict=strict.RETURN_ALL)
    except InputError:
        raise
    except Exception as exc:  # Megatron's and PyTorch DCP's errors: mismatched keys, unreadable files
        msg = " ".join(str(exc).split())[:600]
        problem = f"checkpoint does not load into this model/layout: {type(exc).__name__}: {msg}"
        raise InputError(str(path), problem) from None
    missing = sorted(k for k in missing if not k.startswith("optimizer."))
    if missing or unexpected:
        raise InputError(
            str(path),
            "checkpoint does not load into this model/layout: weights there and not in the model: "
            f"{missing[:5]}; in the model and not there: {sorted(unexpected)[:5]}",
        )
    return loaded


def load_into(module, path: str | Path, optimizer: bool = True) -> dict:
    """Load model (and optimizer) state into ``module`` (a `PretrainModule` in any layout), strictly; the trainer
    state saved with it (step, data position, config) is returned."""
    path = Path(path)
    check(path)
    state = module.sharded_state_dict(is_loading=True, optimizer=optimizer)
    loaded = _load(state, path, weights_only=not optimizer)
    module.load_sharded(loaded, optimizer=optimizer)
    return loaded.get("trainer", {})


def resume(trainer, path: str | Path) -> None:
    """A trainer continues from ``path``: weights, optimizer, step, data position. No RNG state is kept: the
    common state must be the same on every rank, and nothing random runs in a step (no dropout; the sample
    order is Megatron's index files, fixed by the seed), so the resumed steps are the same without it."""
    saved = load_into(trainer.module, path, optimizer=True)
    trainer.step = int(saved["step"])
    trainer.data.load_state_dict(saved["data"])


def latest(folder: str | Path) -> Path | None:
    """The checkpoint ``latest`` names, or None when there is none yet."""
    folder = Path(folder)
    marker = folder / "latest"
    if not marker.is_file():
        return None
    path = folder / marker.read_text().strip()
    return path if path.is_dir() else None


def find(path: str | Path) -> Path | None:
    """``path`` itself when it is a checkpoint (either format), else the one its ``latest`` names, else None."""
    path = Path(path)
    if (path / LEGACY).is_file() or (path / COMPLETE).is_file():
        return path
    found = latest(path)
    return found if found is not None and ((found / LEGACY).is_file() or (found / COMPLETE).is_file()) else None


def read_weights(path: str | Path) -> tuple[dict, dict]:
    """(the saved config, the model's full state dict) of a checkpoint of either format, for export and for
    starting post-training. A sharded checkpoint is loaded into a one-piece model (TP=PP=EP=1) on this process's
    world (every rank reads the whole model; the ranks' data-parallel groups are rebuilt for it)."""
    path = Path(path)
    if (path / LEGACY).is_file():
        state = torch.load(path / LEGACY, map_location="cpu", weights_only=False)
        return state["config"], state["module"]["model"]
    check(path)
    cfg = saved_config(path)
    from training.model import build_model
    from training.presets import ModelConfig

    gpt = build_model(ModelConfig.parse(cfg["model"]), backend="local", seed=0)
    loaded = _load({"model": gpt.sharded_state_dict()}, path, weights_only=True)
    gpt.load_state_dict(loaded["model"], strict=True)
    return cfg, {k: v for k, v in gpt.state_dict().items()}
