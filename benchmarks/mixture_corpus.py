"""The mixture validation corpus: the shared data's sources as record Parquet (one part per source), which the
project's label job then labels and the shard job shards (recipes/mixture-corpus.yaml runs both).

Sources (``source`` column): ``web`` (the 400 reference pages, extracted by trafilatura from real pages, and the
20 cc_net webtext documents), ``multilingual`` (lingua's sentences, 25 a document, per language), ``math``
(MATH problems with solutions, GSM8K with worked answers), ``code`` (HumanEval in 7 languages with their
reference solutions, and Python standard library modules from this machine's Python).

    .venv/bin/python -m benchmarks.mixture_corpus --data ../shared/data --out out/mixture-corpus/records
"""

from __future__ import annotations

import argparse
import json
import sysconfig
from pathlib import Path

import pyarrow.parquet as pq

from corpusforge.record import Record, record_id, to_table


def _jsonl(path: Path):
    with path.open() as f:
        for line in f:
            if line.strip():
                yield json.loads(line)


def web(data: Path):
    for row in _jsonl(data / "labels" / "reference_pages.jsonl"):
        yield Record(record_id("web", row["page"]), row["text"], "web", url=row["page"], lang=row["lang"])
    for path in sorted((data / "webtext").glob("*.jsonl")):
        for row in _jsonl(path):
            yield Record(record_id("web", row["id"]), row["text"], "web", url=row["id"], lang="en")


def multilingual(data: Path, per_doc: int = 25):
    for path in sorted((data / "langid" / "lingua_sentences").glob("*.txt")):
        lines = [s.strip() for s in path.read_text().splitlines() if s.strip()]
        for i in range(0, len(lines), per_doc):
            loc = f"{path.name}:{i}"
            yield Record(record_id("multilingual", loc), "\n".join(lines[i : i + per_doc]), "multilingual",
                         url=loc, lang=path.stem)  # fmt: skip


def math(data: Path):
    for i, row in enumerate(_jsonl(data / "math_code" / "math" / "math_test.json")):
        text = f"Problem: {row['problem']}\n\nSolution: {row['solution']}"
        yield Record(record_id("math", f"MATH:{i}"), text, "math", url=f"MATH/{row['type']}/{i}", lang="en")
    for i, row in enumerate(_jsonl(data / "math_code" / "gsm8k" / "gsm8k_test.jsonl")):
        text = f"Question: {row['question']}\n\nAnswer: {row['answer']}"
        yield Record(record_id("math", f"GSM8K:{i}"), text, "math", url=f"GSM8K/{i}", lang="en")


def code(data: Path, stdlib_files: int = 400, max_chars: int = 40_000):
    for path in sorted((data / "math_code" / "humaneval").glob("humaneval-*.jsonl")):
        for row in _jsonl(path):
            text = row["prompt"] + row.get("canonical_solution", "")
            yield Record(record_id("code", row["task_id"]), text, "code", url=row["task_id"], lang="code")
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    files = sorted(p for p in stdlib.glob("*.py") if p.stat().st_size > 2000)[:stdlib_files]
    for p in files:
        text = p.read_text(errors="replace")[:max_chars]
        yield Record(record_id("code", f"stdlib:{p.name}"), text, "code", url=f"stdlib/{p.name}", lang="code")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--out", default="out/mixture-corpus/records")
    args = ap.parse_args()
    data, out = Path(args.data), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for i, (name, gen) in enumerate((("web", web), ("multilingual", multilingual), ("math", math), ("code", code))):
        records = list(gen(data))
        pq.write_table(to_table(records), out / f"part-{i:05d}.parquet")
        print(f"{name}: {len(records)} documents, {sum(len(r.text) for r in records):,} characters")


if __name__ == "__main__":
    main()
