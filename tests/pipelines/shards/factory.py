"""Small labelled corpora for the shard tests: record Parquet files over several cells, with long documents."""

from __future__ import annotations

import random
from pathlib import Path

import pyarrow.parquet as pq

from corpusforge.record import Record, to_table

WORDS = [
    "the",
    "of",
    "and",
    "to",
    "in",
    "is",
    "that",
    "for",
    "it",
    "as",
    "was",
    "with",
    "be",
    "by",
    "on",
    "not",
    "he",
    "this",
    "are",
    "or",
    "his",
    "from",
    "at",
    "which",
    "but",
    "have",
    "an",
    "they",
    "you",
    "were",
    "her",
    "she",
    "there",
    "been",
    "one",
    "all",
    "we",
    "their",
    "has",
    "would",
    "when",
    "if",
    "so",
    "no",
    "what",
    "up",
    "out",
    "more",
    "can",
    "said",
    "time",
    "only",
    "Daten",
    "und",
    "der",
    "Wissenschaft",
    "数据",
    "科学",
    "研究",
    "données",
    "science",
    "café",
    "naïve",
    "2024",
    "3.14",
    "(x+y)**2",
    "{json:",
    "true}",
]
CELLS = [
    ("en", "science_tech", 3.5, "web"),
    ("en", "news", 1.0, "web"),
    ("de", "science_tech", 2.5, "pdf"),
    ("zh", "news", 4.0, "web"),
    ("fr", "sports", 0.5, "synth"),
]


def text(rng: random.Random, words: int) -> str:
    out = []
    for i in range(words):
        out.append(rng.choice(WORDS))
        if i % 17 == 16:
            out.append(".\n")
    return " ".join(out)


def records(seed: int, n: int, long_every: int = 0, cells=CELLS) -> list[Record]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        lang, domain, edu, source = cells[rng.randrange(len(cells))]
        words = 22_000 if long_every and i % long_every == long_every - 1 else rng.randint(5, 400)
        out.append(
            Record(
                id=f"doc-{seed}-{i}",
                text=text(rng, words),
                source=source,
                url=f"https://example.org/{seed}/{i}",
                lang=lang,
                domain=domain,
                edu_score=edu,
            )
        )
    return out


def write_parts(folder: Path, parts: list[list[Record]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for k, recs in enumerate(parts):
        pq.write_table(to_table(recs), folder / f"part-{k:05d}.parquet")
    return folder
