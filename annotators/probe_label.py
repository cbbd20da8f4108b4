"""The probe teacher labels a larger sample of real pages for the fastText students (FineWeb-Edu's recipe).

Pages come from HTML directories (`annotators.convert.html_rows`: main text by trafilatura, id = the file name
before its first dot) or from a job's documents (Parquet / JSONL). Held-out reference pages are never labelled
(matched by id and by text), so a student trained on the output can still be scored on the held-out split; with
``reference``, train-split pages carry their reference labels instead of the probe's (``label_source``: reference
or probe).
"""

from __future__ import annotations

import hashlib
import random
import time
from collections import Counter
from pathlib import Path

from annotators.convert import html_rows, iter_documents, write_jsonl

#: reference field of each probe head, for rows that carry reference labels
FIELD_OF = {"domain": "topic", "format": "format", "edu": "edu"}


def _key(text: str) -> str:
    return hashlib.sha1(" ".join(text.split())[:500].encode("utf-8", "replace")).hexdigest()


def gather(data: list[Path], max_chars: int) -> list[dict]:
    docs = []
    for path in data:
        if path.is_dir() and any(p.name.endswith((".html", ".html.gz")) for p in path.iterdir()):
            docs.extend(html_rows(path, max_chars, "probe-label (html)"))
        else:
            docs.extend({"id": d["id"], "text": d["text"][:max_chars]} for d in iter_documents(path))
    return docs


def probe_label(
    probe: Path, data: list[Path], out: Path, reference: Path | None = None, cache: str | None = None,
    sample: int | None = None, seed: int = 0, max_chars: int = 2500, log=print,
) -> dict:
    """Label every gathered page (or a seeded sample of those without reference labels) with the probe
    teacher; write JSONL and return counts."""
    from annotators.probe import ProbeTeacher
    from annotators.reference import load_reference, split_reference

    docs = gather(data, max_chars)
    gold: dict[str, dict] = {}
    excluded: set[str] = set()
    if reference is not None:
        train, held = split_reference(load_reference(reference))
        excluded = {r["id"] for r in held} | {_key(r["text"]) for r in held}
        gold = {r["id"]: r for r in train} | {_key(r["text"]): r for r in train}
    seen, kept = set(), []
    for doc in docs:
        k = _key(doc["text"])
        if doc["id"] in excluded or k in excluded or k in seen:
            continue
        seen.add(k)
        kept.append(doc)
    teacher = ProbeTeacher.load(probe, cache, minimal=True)
    # every reference train page with its reference labels (the model never reads them); gathered copies skipped
    rows: list[dict] = [
        {"id": r["id"], "text": r["text"], **{h: r[f] for h, f in FIELD_OF.items()}, "label_source": "reference"}
        for r in ({id(r): r for r in gold.values()}.values())
    ]
    todo = [d for d in kept if d["id"] not in gold and _key(d["text"]) not in gold]
    if sample is not None:  # a seeded sample of the pages the probe labels (reference train pages all stay)
        rng = random.Random(seed)
        todo = rng.sample(todo, min(sample, len(todo)))
    start, step = time.perf_counter(), 16
    try:
        for i in range(0, len(todo), step):
            chunk = todo[i : i + step]
            labels = teacher.label([d["text"] for d in chunk])
            for j, doc in enumerate(chunk):
                row = {h: values[j] for h, values in labels.items()}
                if isinstance(row.get("edu"), float):
                    row["edu"] = int(round(row["edu"]))
                rows.append({"id": doc["id"], "text": doc["text"], **row, "label_source": "probe"})
            log(f"probe-label: {i + len(chunk)}/{len(todo)} pages ({time.perf_counter() - start:.0f} s)")
            write_jsonl(out, rows)  # progress survives an interrupted run; the cache keeps the features
    finally:
        teacher.features.close()
    write_jsonl(out, rows)
    return {
        "documents": len(rows),
        "gathered": len(docs),
        "label_source": dict(Counter(r["label_source"] for r in rows)),
        **{h: dict(Counter(str(r.get(h)) for r in rows).most_common()) for h in FIELD_OF},
    }
