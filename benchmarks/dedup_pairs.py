"""A labelled near-duplicate pair set from real documents, for ``corpusforge eval dedup``.

Documents of at least 30 words come from ``load_real_documents`` (trafilatura's eval pages, AG News, MATH,
GSM8K, tweets, webtext; pre-existing near-duplicates left out), drawn per source with fixed weights so
tweets do not dominate. Half the pairs are duplicates, half are not:

- ``edited``: a document and a near-duplicate of it (`near_duplicate`, strength 0.1, 0.3, 0.6 or 0.9);
- ``both_edited``: two independent near-duplicates of one document (two mirrors of one article);
- ``same_topic``: two different documents of one topic (AG News class, MATH subject, page language, ...);
- ``same_template``: two different documents of one topic under the same site header/footer lines;
- ``other_topic``: two different documents of different topics.

    python benchmarks/dedup_pairs.py --shared ../shared/data --out out/dedup-pairs.jsonl [--n 2000] [--seed 0]
"""

from __future__ import annotations

import sys

# run as a path (python benchmarks/x.py), benchmarks/ leads sys.path and its tokenize.py would shadow the standard
# library's tokenize: put the repository root there instead, before anything imports it
if sys.path[0].endswith("benchmarks"):
    sys.path[0] = sys.path[0][: -len("benchmarks")].rstrip("/") or "/"

import argparse
import json
import random
import time
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

from pipelines.dedup.edits import load_real_documents, near_duplicate, site_template  # noqa: E402

SOURCE_WEIGHTS = {
    "trafilatura_eval": 0.3,
    "ag_news": 0.2,
    "tweeteval": 0.2,
    "math": 0.15,
    "gsm8k": 0.1,
    "webtext": 0.05,
}
STRENGTHS = (0.1, 0.3, 0.6, 0.9)
NEGATIVE_KINDS = (("same_topic", 0.6), ("same_template", 0.2), ("other_topic", 0.2))
MIN_WORDS = 30


def build_pairs(docs: list[dict], n: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    by_source: dict[str, list[dict]] = defaultdict(list)
    by_topic: dict[str, list[dict]] = defaultdict(list)
    for d in docs:
        by_source[d["source"]].append(d)
        by_topic[d["topic"]].append(d)
    sources = [s for s in SOURCE_WEIGHTS if by_source[s]]
    weights = [SOURCE_WEIGHTS[s] for s in sources]

    def draw() -> dict:
        return rng.choice(by_source[rng.choices(sources, weights)[0]])

    def donors(doc: dict) -> list[str]:
        return [d["text"] for d in rng.sample(by_topic[doc["topic"]], min(5, len(by_topic[doc["topic"]])))]

    pairs = []
    for i in range(n // 2):
        doc = draw()
        strength = STRENGTHS[i % len(STRENGTHS)]
        applied: list[str] = []
        if rng.random() < 0.6:
            kind, a = "edited", doc["text"]
        else:
            kind, a = "both_edited", near_duplicate(doc["text"], rng, donors(doc), strength, applied)
        b = near_duplicate(doc["text"], rng, donors(doc), strength, applied)
        pairs.append(_pair(a, b, 1, kind, doc, doc, strength=strength, edits=applied))
    kinds, kind_weights = zip(*NEGATIVE_KINDS, strict=True)
    while len(pairs) < n:
        kind = rng.choices(kinds, kind_weights)[0]
        doc = draw()
        if kind == "other_topic":
            other = draw()
            if other["topic"] == doc["topic"]:
                continue
        else:
            peers = by_topic[doc["topic"]]
            if len(peers) < 2:
                continue
            other = rng.choice(peers)
            if other is doc:
                continue
        a, b = doc["text"], other["text"]
        if kind == "same_template":
            head, foot = site_template(rng, lines=rng.randint(2, 6))
            a, b = ("\n".join([*head, t, *foot]) for t in (a, b))
        pairs.append(_pair(a, b, 0, kind, doc, other))
    rng.shuffle(pairs)
    return pairs


def _pair(a: str, b: str, label: int, kind: str, doc_a: dict, doc_b: dict, **extra) -> dict:
    lang = doc_a.get("lang") if doc_a.get("lang") == doc_b.get("lang") else None
    return {
        "a": a,
        "b": b,
        "label": label,
        "kind": kind,
        "lang": lang,
        "source": doc_a["source"],
        "topic_a": doc_a["topic"],
        "topic_b": doc_b["topic"],
        "ids": [doc_a["id"], doc_b["id"]],
        **extra,
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data", help="The shared data folder.")
    ap.add_argument("--out", type=Path, required=True, help="JSONL file to write (keep it out of the repo).")
    ap.add_argument("--n", type=int, default=2000, help="Pairs in all; half are duplicates.")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    start = time.perf_counter()
    docs = load_real_documents(args.shared, min_words=MIN_WORDS)
    print(f"{len(docs)} real documents of >= {MIN_WORDS} words ({time.perf_counter() - start:.0f} s)", flush=True)
    pairs = build_pairs(docs, args.n, args.seed)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as f:
        for pair in pairs:
            f.write(json.dumps(pair, ensure_ascii=False) + "\n")
    counts = Counter((p["label"], p["kind"]) for p in pairs)
    print(f"wrote {len(pairs)} pairs to {args.out}: " + ", ".join(f"{k} {v}" for (_, k), v in sorted(counts.items())))
    print("by source: " + ", ".join(f"{k} {v}" for k, v in Counter(p["source"] for p in pairs).most_common()))


if __name__ == "__main__":
    main()
