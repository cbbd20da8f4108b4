"""TweetEval-format files for the safety-head tests: a third of the tweets carry two words of one class."""

from __future__ import annotations

import random
from pathlib import Path


def write_tweets(folder: Path, split: str, n: int, seed: int, positive: list[str], negative: list[str],
                 filler: list[str], n_filler: int) -> None:  # fmt: skip
    rng = random.Random(seed)
    texts, labels = [], []
    for i in range(n):
        flagged = i % 3 == 0
        words = rng.sample(positive if flagged else negative, 2) + rng.sample(filler, n_filler)
        rng.shuffle(words)
        texts.append("@user " + " ".join(words))
        labels.append("1" if flagged else "0")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{split}_text.txt").write_text("\n".join(texts) + "\n")
    (folder / f"{split}_labels.txt").write_text("\n".join(labels) + "\n")
