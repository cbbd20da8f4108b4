"""A tiny offensive cascade trained for tests: a fastText stage 1 and a probe over the real SmolLM2-135M."""

from __future__ import annotations

from pathlib import Path

from annotators.cascade import CascadeConfig, train_cascade
from annotators.contextual_head import StatesConfig
from annotators.safety_heads import GridPoint, SafetyTrainConfig, train_safety_head
from tests.annotators.tweets import write_tweets

HOSTILE = ["idiot", "scum", "moron", "pathetic", "disgusting", "loser"]
FRIENDLY = ["lovely", "match", "weekend", "coffee", "concert", "garden"]
FILLER = ["the", "today", "really", "my", "this", "we", "after", "you", "new", "at", "was", "so"]
STATES = StatesConfig(model="smollm2-135m", layers=[2, 4], max_tokens=16, batch_size=8)


def _tweets(folder, split: str, n: int, seed: int) -> None:
    write_tweets(folder, split, n, seed, HOSTILE, FRIENDLY, FILLER, 4)


def build_cascade(root: Path, cascade: CascadeConfig | None = None) -> tuple[Path, dict]:
    """Train both stages under ``root`` (models/offensive.ftz, models/offensive.ctx.npz); (root, card). The
    default decider is a probe over SmolLM2's states; ``cascade`` may ask for another."""
    (root / "tweeteval" / "offensive").mkdir(parents=True)
    _tweets(root / "tweeteval" / "offensive", "train", 150, 0)
    _tweets(root / "tweeteval" / "offensive", "val", 45, 1)
    config = SafetyTrainConfig(grid=[GridPoint(word_ngrams=1, epoch=15, lr=0.3)], dim=8, bucket=1000, quantize=False)
    train_safety_head("offensive", root / "tweeteval", root / "models", config=config)
    states = STATES.model_copy(update={"cache": str(root / "states.sqlite")})
    cascade = cascade or CascadeConfig(states=states, sample=90, folds=2, c_grid=[0.1, 1.0])
    card = train_cascade("offensive", root / "tweeteval", root / "models" / "offensive.ftz", root / "models", cascade,
                         command="test")  # fmt: skip
    return root, card
