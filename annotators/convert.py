"""Readers and converters: corpora for the teacher, labelled data sets into the JSONL the students and the eval take.

The eval and the trainer read one format, JSONL ``{"text": ..., "label": ...}``; the converters here turn the
public data sets we evaluate on (TweetEval's text/label line files, AG News CSV) and raw HTML pages into it,
so every figure in BENCHMARKS.md can be regenerated from the shared data with ``corpusforge annotate convert``.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import heapq
import json
import random
from collections.abc import Iterable, Iterator
from pathlib import Path

from corpusforge.errors import InputError

#: AG News class indices → the names in its classes.txt (the topic_agnews head's labels)
AG_NEWS_CLASSES = {"1": "World", "2": "Sports", "3": "Business", "4": "Sci/Tech"}


def _open_text(path: Path):
    return gzip.open(path, "rt", encoding="utf-8") if path.suffix == ".gz" else path.open(encoding="utf-8")


def read_jsonl(path: str | Path) -> Iterator[dict]:
    path = Path(path)
    with _open_text(path) as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                yield json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(f"{path}:{n}", f"not a JSON line: {exc}") from None


def write_jsonl(path: str | Path, rows: Iterable[dict]) -> int:
    """Write atomically (temporary name, then rename); returns the row count."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    n = 0
    with tmp.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
            n += 1
    tmp.replace(path)
    return n


def _doc_id(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8", "replace")).hexdigest()[:16]


def iter_documents(path: str | Path) -> Iterator[dict]:
    """``{"id", "text"}`` from a job's documents Parquet (file or directory) or JSONL files with ``text``."""
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.suffix == ".parquet" or p.name.endswith((".jsonl", ".jsonl.gz")))
        if not files:
            raise InputError(str(path), "no .parquet or .jsonl files inside")
    elif path.exists():
        files = [path]
    else:
        raise InputError(str(path), "no such file or directory")
    for file in files:
        if file.suffix == ".parquet":
            import pyarrow.parquet as pq

            pf = pq.ParquetFile(file)
            for batch in pf.iter_batches(columns=[c for c in ("id", "text") if c in pf.schema_arrow.names]):
                for row in batch.to_pylist():
                    if row.get("text"):
                        yield {"id": str(row.get("id") or _doc_id(row["text"])), "text": row["text"]}
        else:
            for row in read_jsonl(file):
                if not isinstance(row.get("text"), str):
                    raise InputError(str(file), "a JSONL corpus needs a string 'text' in every line")
                if row["text"]:
                    yield {"id": str(row.get("id") or _doc_id(row["text"])), "text": row["text"]}


def sample_documents(paths: list[str | Path], n: int | None, seed: int = 0) -> list[dict]:
    """A seeded uniform sample of ``n`` documents, smallest-key first (bottom-k: memory holds ``n``).

    Each document's key is a seeded hash of its id, so a smaller sample is a prefix of a larger one: a run
    cut short, or rerun with a smaller ``n``, still finds its answers in the teacher's cache.
    """
    heap: list[tuple[int, int, dict]] = []
    for order, doc in enumerate(d for path in paths for d in iter_documents(path)):
        key = int.from_bytes(hashlib.blake2b(f"{seed}:{doc['id']}".encode(), digest_size=8).digest(), "big")
        item = (-key, order, doc)
        if n is None or len(heap) < n:
            heapq.heappush(heap, item)
        elif -key > heap[0][0]:
            heapq.heapreplace(heap, item)
    return [doc for _neg, _order, doc in sorted(heap, key=lambda it: (-it[0], it[1]))]


def split_holdout(rows: list[dict], fraction: float, seed: int = 0) -> tuple[list[dict], list[dict]]:
    """(train, held out): a seeded shuffle, the last ``fraction`` held out."""
    rows = list(rows)
    random.Random(seed).shuffle(rows)
    k = int(round(len(rows) * fraction))
    return rows[: len(rows) - k], rows[len(rows) - k :]


# -- data set converters --------------------------------------------------------------------------------


def tweeteval_rows(task_dir: Path, split: str, positive: str) -> Iterator[dict]:
    """TweetEval ``{split}_text.txt`` + ``{split}_labels.txt`` (0/1) → ``{"text", "label": positive|"ok"}``."""
    texts, labels = task_dir / f"{split}_text.txt", task_dir / f"{split}_labels.txt"
    for p in (texts, labels):
        if not p.is_file():
            raise InputError(str(p), "missing TweetEval file (expected {split}_text.txt and {split}_labels.txt)")
    t_lines = texts.read_text(encoding="utf-8").splitlines()
    l_lines = labels.read_text(encoding="utf-8").splitlines()
    if len(t_lines) != len(l_lines):
        raise InputError(str(task_dir), f"{len(t_lines)} texts but {len(l_lines)} labels in split {split}")
    for text, label in zip(t_lines, l_lines, strict=True):
        if label.strip() not in ("0", "1"):
            raise InputError(str(labels), f"label {label!r} is not 0 or 1")
        yield {"text": text, "label": positive if label.strip() == "1" else "ok"}


def ag_news_rows(csv_path: Path) -> Iterator[dict]:
    """AG News CSV (class 1-4, title, description) → ``{"text": "title. description", "label": name}``."""
    with csv_path.open(encoding="utf-8", newline="") as f:
        for n, row in enumerate(csv.reader(f), 1):
            if len(row) != 3 or row[0] not in AG_NEWS_CLASSES:
                raise InputError(f"{csv_path}:{n}", "expected: class 1-4, title, description")
            text = f"{row[1]}. {row[2]}".replace("\\n", " ").replace("\\", " ")
            yield {"text": text, "label": AG_NEWS_CLASSES[row[0]]}


def html_rows(html_dir: Path, max_chars: int | None = None, component: str = "annotate convert html") -> Iterator[dict]:
    """Main text of each ``*.html[.gz]`` page (trafilatura), one row per page with text; ``id`` = the file name
    before its first dot (so the probe's labelled pages and the held-out split name a page alike)."""
    try:
        import trafilatura
    except ImportError as exc:
        from corpusforge.errors import DependencyError

        raise DependencyError(component, "trafilatura", "web") from exc
    files = sorted(p for p in html_dir.iterdir() if p.name.endswith((".html", ".html.gz", ".htm")))
    if not files:
        raise InputError(str(html_dir), "no .html or .html.gz files")
    for path in files:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
        text = trafilatura.extract(raw.decode("utf-8", "replace"), include_comments=False) or ""
        text = text.strip()
        if text:
            yield {"id": path.name.split(".")[0], "text": text[:max_chars] if max_chars else text}
