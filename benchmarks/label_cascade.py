"""The label stage with and without the offensive cascade: share of real pages screened in, and docs per CPU second.

Pages: the reference pages (``--split train|heldout|all``) and/or a JSONL of real pages (``--pages``, e.g. the
label benchmark's ``corpus.jsonl``). Both sides run the same heads as `python -m benchmarks.label` (language ID
apart: domain, edu, toxicity, adult, hate, offensive, fused; quality and PII off) in this process on one thread;
models load and one warm-up pass run before the clock. CPU seconds are ``time.process_time``.

    python -m benchmarks.label_cascade [--split train] [--pages corpus.jsonl] [--runs 3] [--model X.ctx.npz]
"""

from __future__ import annotations

import sys

if sys.path[0].endswith("benchmarks"):  # see benchmarks/label.py: benchmarks/tokenize.py shadows the stdlib's
    sys.path[0] = sys.path[0][: -len("benchmarks")].rstrip("/") or "/"

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

HEADS = ["domain", "edu", "toxicity", "adult", "hate", "offensive"]


def measure(texts: list[str], cascade: bool, runs: int, model: str = "default") -> dict:
    import torch

    from corpusforge.record import Record
    from pipelines.label import LabelConfig, LabelStage

    torch.set_num_threads(1)
    config = LabelConfig(heads=HEADS, quality=False, pii={"enabled": False},
                         cascade={"offensive": model} if cascade else {})  # fmt: skip
    stage = LabelStage(config)
    stage.setup()
    screened = 0
    if cascade:
        _, screen = stage.cascades["offensive"]
        plain = LabelStage(config.model_copy(update={"cascade": {}}))
        screened = sum(plain.apply(Record(id="w", text=t, source="bench")).offensive >= screen for t in texts)
        stage.apply(Record(id="w", text=next(t for t in texts if t.strip()), source="bench"))  # loads the LM
    times = []
    for _ in range(runs):
        t0 = time.process_time()
        for i, text in enumerate(texts):
            stage.apply(Record(id=f"d{i}", text=text, source="bench"))
        times.append(time.process_time() - t0)
    cpu = statistics.median(times)
    return {"cascade": cascade, "docs": len(texts), "screened": screened, "screened_share": screened / len(texts),
            "cpu_s": cpu, "cpu_s_runs": times, "docs_per_cpu_s": len(texts) / cpu}  # fmt: skip


def main() -> None:
    from annotators.reference import load_reference, split_reference

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", default=str(Path("../shared/data/labels/reference_pages.jsonl")))
    parser.add_argument("--split", choices=("train", "heldout", "all", "none"), default="train")
    parser.add_argument("--pages", help="JSONL of real pages with 'text' (instead of / besides the reference)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--model", default="default", help="the cascade's .ctx.npz (default: the shipped probe)")
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args()
    texts: list[str] = []
    if args.split != "none":
        rows = load_reference(args.reference)
        train, held = split_reference(rows)
        texts += [r["text"] for r in {"train": train, "heldout": held, "all": rows}[args.split]]
    if args.pages:
        with open(args.pages, encoding="utf-8") as f:
            texts += [json.loads(line)["text"] for line in f if line.strip()]
    texts = [t for t in texts if t.strip()]
    results = [measure(texts, False, args.runs), measure(texts, True, args.runs, args.model)]
    for r in results:
        print(f"cascade={r['cascade']!s:5} docs={r['docs']} screened={r['screened']} ({r['screened_share']:.1%}) "
              f"cpu={r['cpu_s']:.2f}s docs/cpu-s={r['docs_per_cpu_s']:.0f}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
