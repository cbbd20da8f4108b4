"""Tiny real fastText heads trained on the fly, for tests that need models before the shipped ones exist.

Each class gets its own keywords (for taxonomy heads, the words of the class's description); a training line
is a few keywords of its class among filler words, normalised exactly as the heads normalise at labelling.
"""

from __future__ import annotations

import random
import re
from pathlib import Path

from annotators.fasttext_head import HEADS, normalize
from annotators.student import fasttext_guard

FILLER = [f"filler{i}" for i in range(3000)]


def class_words(head: str) -> dict[str, list[str]]:
    """Keywords per class: taxonomy descriptions, or made-up words for classes without one."""
    from annotators.taxonomy import FIELDS, FORMATS, TOPICS

    described = {"domain": TOPICS, "format": FORMATS, "field": FIELDS}.get(head)
    out = {}
    for label in HEADS[head].classes:
        if described:
            words = re.findall(r"[a-z]{4,}", described[label].lower())
            out[label] = [f"{w}{label.replace('_', '')}" for w in words[:3]] + words[:6]
        else:
            out[label] = [f"{head}{label}word{j}" for j in range(6)]
    return out


def train_head(head: str, path: Path, lines: int = 2400, quantize: bool = False, seed: int = 0) -> Path:
    """Train a head on keyword lines and save it to ``path``."""
    rng = random.Random(seed)
    data = path.with_suffix(".train.txt")
    with data.open("w") as f:
        for label, words in class_words(head).items():
            for _ in range(lines // len(HEADS[head].classes)):
                text = " ".join(rng.sample(words, 4) + rng.sample(FILLER, 8))
                f.write(f"__label__{label} {normalize(text)}\n")
    import fasttext

    # fasttext_guard: this fastText build reads uninitialised heap memory, so without it a second training run
    # in one process diverges or learns nothing; with it every run is bit-identical to a fresh process's
    with fasttext_guard():
        model = fasttext.train_supervised(
            str(data), dim=16, epoch=30, lr=0.1, minCount=1, bucket=1000, thread=1, seed=seed, verbose=0
        )
        if quantize:
            model.quantize(input=str(data), retrain=False, cutoff=0, qnorm=False)
    fit = model.test(str(data))[1]
    assert fit >= 0.95, f"tiny {head} head fits only {fit:.2f} of its training lines"
    model.save_model(str(path))
    return path


def train_all(folder: Path, heads=("domain", "format", "field", "edu", "toxicity", "adult", "hate", "offensive")) -> dict[str, str]:
    folder.mkdir(parents=True, exist_ok=True)
    return {h: str(train_head(h, folder / f"{h}.bin")) for h in heads}
