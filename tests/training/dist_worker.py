"""Run under ``torchrun`` by tests/training/test_parallel.py: a list of jobs from a JSON file, every rank.

Jobs: ``pretrain`` (a recipe, optionally started from another run's checkpoint copied in as if this run had
written it: the resume path, across layouts) writes its per-step losses; ``logits`` builds the model in a
layout from a seed and writes the full-vocabulary logits of a fixed batch (gathered over tensor ranks).
Everything is written by global rank 0.
"""

from __future__ import annotations

import json
import shutil
import sys
import warnings
from pathlib import Path


def _copy_checkpoint(src: str, stage_dir: Path) -> None:
    src = Path(src)
    ckpts = stage_dir / "checkpoints"
    ckpts.mkdir(parents=True, exist_ok=True)
    shutil.copytree(src, ckpts / src.name)
    (ckpts / "latest").write_text(src.name)


def _logits(job: dict) -> None:
    import numpy as np
    import torch
    from megatron.core.tensor_parallel import gather_from_tensor_model_parallel_region

    from training.model import build_model
    from training.parallel import ParallelSettings, is_logging_rank, resolve_layout
    from training.presets import preset

    m = preset(job["preset"])
    layout = resolve_layout(ParallelSettings.parse(job.get("parallel", {})), m)
    gpt = build_model(m, backend="sdpa", seed=job.get("seed", 1234), layout=layout).eval()
    tokens = torch.arange(2 * 16).reshape(2, 16) % (m.vocab_size - 2) + 2
    positions = torch.arange(16).expand(2, 16)
    with torch.no_grad():
        logits = gather_from_tensor_model_parallel_region(gpt(tokens, positions, None))
    if is_logging_rank():
        np.save(job["out"], logits.float().numpy())


def _pretrain(job: dict) -> None:
    from training.parallel import barrier, init_parallel, is_logging_rank
    from training.pretrain import PretrainRecipe, pretrain

    recipe = PretrainRecipe.parse(job["recipe"])
    init_parallel(recipe.layout(), recipe.train.seed)
    if job.get("resume_from") and is_logging_rank():
        _copy_checkpoint(job["resume_from"], Path(recipe.output) / recipe.stages[0].name)
    barrier()
    result = pretrain(recipe)
    if is_logging_rank():
        Path(job["out"]).write_text(json.dumps(result))


def main(spec: str) -> None:
    warnings.filterwarnings("ignore")
    import torch

    torch.set_num_threads(1)
    for job in json.loads(Path(spec).read_text()):
        {"pretrain": _pretrain, "logits": _logits}[job["kind"]](job)
    torch.distributed.barrier()
    torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1])
