"""Page-level decisions for a tweet-trained safety head, compared on the reference pages' train split.

A head trained on tweets reads a page through the label stage's reading (a prefix), or it could score tweet-sized
windows and keep their maximum or mean. Per decision: the score of each toxic train page, how many clean train
pages score at least as high, the 99th percentile of clean train pages (the page threshold the cards use) and how
many held-out clean pages reach it. The shared pages hold one toxic page, so this is anecdote, not a recall.

    python -m benchmarks.safety_pages [--heads hate,offensive,toxicity] [--reference PATH]
"""

from __future__ import annotations

import sys

if sys.path[0].endswith("benchmarks"):  # see benchmarks/label.py: benchmarks/tokenize.py shadows the stdlib's
    sys.path[0] = sys.path[0][: -len("benchmarks")].rstrip("/") or "/"

import argparse  # noqa: E402
from pathlib import Path  # noqa: E402

from annotators.fasttext_head import (  # noqa: E402
    DEFAULT_READ_CHARS,
    DEFAULT_READ_WINDOWS,
    FastTextHead,
    normalize,
    read_windows,
)
from annotators.reference import load_reference, split_reference  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def windows(text: str, width: int, count: int) -> list[str]:
    text = " ".join(text.split())
    if len(text) <= width or count <= 1:
        return [text[:width]]
    step = (len(text) - width) / (count - 1)
    return [text[int(i * step) : int(i * step) + width] for i in range(count)]


def decisions(head: FastTextHead) -> dict:
    def one(text: str, chars: int) -> float:
        return head.values(normalize(text, chars))[0] or 0.0

    reading = f"label stage reading ({DEFAULT_READ_CHARS} chars, {DEFAULT_READ_WINDOWS} windows)"
    return {
        reading: lambda t: head.values(read_windows(t, DEFAULT_READ_CHARS, DEFAULT_READ_WINDOWS))[0] or 0.0,
        "prefix 800": lambda t: one(t, 800),
        "prefix 2400": lambda t: one(t, 2400),
        "max of 8 × 300-char windows": lambda t: max(one(w, 300) for w in windows(t, 300, 8)),
        "max of every 300-char window": lambda t: max(one(w, 300) for w in windows(t, 300, max(1, len(t) // 300))),
        "mean of 8 × 300-char windows": lambda t: sum(one(w, 300) for w in windows(t, 300, 8)) / len(windows(t, 300, 8)),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--heads", default="hate,offensive,toxicity")
    parser.add_argument("--reference", type=Path, default=ROOT.parent / "shared/data/labels/reference_pages.jsonl")
    args = parser.parse_args(argv)
    train, held = split_reference(load_reference(args.reference))
    print("| head | decision | toxic train page(s): score | clean train pages at or above | clean q99 | "
          "held-out clean pages >= q99 |")  # fmt: skip
    print("|---|---|---|---|---|---|")
    for name in args.heads.split(","):
        head = FastTextHead(name)
        for label, fn in decisions(head).items():
            scores = [fn(r["text"]) for r in train]
            toxic = [s for s, r in zip(scores, train, strict=True) if r["toxic"]]
            clean = sorted(s for s, r in zip(scores, train, strict=True) if not r["toxic"])
            q99 = clean[min(len(clean) - 1, int(0.99 * len(clean)))]
            above = [sum(c >= t for c in clean) for t in toxic]
            held_flagged = sum(fn(r["text"]) >= q99 for r in held if not r["toxic"])
            print(f"| {name} | {label} | {', '.join(f'{t:.3f}' for t in toxic)} | "
                  f"{', '.join(f'{a} of {len(clean)}' for a in above)} | {q99:.4f} | {held_flagged} of "
                  f"{sum(not r['toxic'] for r in held)} |", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
