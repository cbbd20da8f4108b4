"""The label stage's parts on the label benchmark's real pages: how long a prefix language ID needs, and the
fused heads against each head's own ``predict`` (same probabilities? how much faster?).

In one process on the 1,010 pages of `benchmarks.label` (its cached ``corpus.jsonl``):

- LID prefix: for each length, the share of pages whose lid.176 label equals the label of the whole page, the
  pages under the 0.65 threshold, and µs per page (best of ``--repeat`` passes);
- heads: the largest difference between a fused probability and the model's own, and µs per page for each
  head through ``predict`` and for all of them fused (best of ``--repeat`` passes).

    python -m benchmarks.label_parts [--heads domain,edu,toxicity,adult] [--lengths 150,200,300,500,1000]
"""

from __future__ import annotations

import sys

if sys.path[0].endswith("benchmarks"):  # see benchmarks/label.py: benchmarks/tokenize.py shadows the stdlib's
    sys.path[0] = sys.path[0][: -len("benchmarks")].rstrip("/") or "/"

import argparse
import time

from benchmarks.label import DEFAULT_SHARED, DEFAULT_WORKDIR, build_corpus, load_corpus


def best_us(fn, items, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for item in items:
            fn(item)
        best = min(best, time.perf_counter() - t0)
    return best / len(items) * 1e6


def lid_prefixes(texts: list[str], lengths: list[int], repeat: int) -> None:
    from annotators.langid import FastTextLanguageID

    whole = FastTextLanguageID(max_chars=max(map(len, texts)))
    reference = [whole.label(t)[0] for t in texts]
    print("| LID prefix chars | same label as the whole page | under 0.65 | µs/page |\n|---|---|---|---|")
    for n in lengths:
        lid = FastTextLanguageID(max_chars=n)
        labels = [lid.label(t) for t in texts]
        same = sum(lab == ref for (lab, _), ref in zip(labels, reference, strict=True)) / len(texts)
        low = sum(score < 0.65 for _, score in labels)
        print(f"| {n:,} | {same:.1%} | {low} | {best_us(lid.label, texts, repeat):.0f} |")


def heads(texts: list[str], names: list[str], repeat: int) -> None:
    from annotators.fasttext_head import FastTextHead, normalize
    from annotators.fused_heads import FusedHeads, read_fasttext

    own = [FastTextHead(h) for h in names]
    for head in own:
        head.setup()
    fused = FusedHeads([read_fasttext(h.model_path) for h in own])
    cleaned = [normalize(t) for t in texts]
    worst = 0.0
    for text in cleaned:
        for head, labels, probs in zip(own, fused.labels, fused.scores(text), strict=True):
            pairs = head.model.f.predict(text + "\n", -1, 0.0, "replace")
            expected = {label.removeprefix("__label__"): p for p, label in pairs}
            worst = max([worst, *(abs(expected[lab] - p) for lab, p in zip(labels, probs, strict=True))])
    print(f"\nlargest |fused - predict| probability difference over {len(cleaned):,} pages: {worst:.1e}\n")
    print("| scorer | µs/page |\n|---|---|")
    for head in own:
        print(f"| {head.name} (its own predict) | {best_us(head.values, cleaned, repeat):.0f} |")
    print(f"| {', '.join(names)} fused | {best_us(fused.scores, cleaned, repeat):.0f} |")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shared", default=DEFAULT_SHARED)
    ap.add_argument("--workdir", default=DEFAULT_WORKDIR)
    ap.add_argument("--heads", default="domain,edu,toxicity,adult")
    ap.add_argument("--lengths", default="150,200,300,500,1000")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    from pathlib import Path

    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    texts = [d["text"] for d in load_corpus(build_corpus(Path(args.shared), workdir))]
    lid_prefixes(texts, [int(n) for n in args.lengths.split(",")], args.repeat)
    heads(texts, args.heads.split(","), args.repeat)


if __name__ == "__main__":
    main()
