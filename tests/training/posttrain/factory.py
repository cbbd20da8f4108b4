"""What every post-training test recipe shares, so each test file states only what its method adds."""

from __future__ import annotations

from pathlib import Path


def recipe_dict(
    tmp_path: Path, name: str, init, out: str, data: str, seq_length: int, micro_batch_size: int, lr, **train
) -> dict:
    """A recipe reading ``tmp_path/data`` and writing ``tmp_path/out``: sdpa attention, no warm-up, no progress
    bar; ``lr`` is (peak, min); ``train`` adds training settings (steps, save_every, ...)."""
    peak, low = lr
    return {
        "name": name,
        "output": str(tmp_path / out),
        "init": str(init),
        "data": str(tmp_path / data),
        "seq_length": seq_length,
        "train": {
            "micro_batch_size": micro_batch_size,
            "attention": "sdpa",
            "lr": {"peak": peak, "min": low, "warmup_fraction": 0.0},
            "progress": False,
            **train,
        },
    }
