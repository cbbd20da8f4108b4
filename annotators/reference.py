"""Reference labels (topic, format, edu 0-5, toxic per page) and their fixed held-out split.

The split is a pure function of each page's id (``xxh3_64(id) % 10_000 < fraction·10_000``), so every
command, on any machine, holds out the same pages, and adding pages never moves an old one across the
split. Nothing trains on the held-out pages: probes, students and thresholds learn from the train side only.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import xxhash

from annotators.convert import read_jsonl
from annotators.taxonomy import FORMATS, TOPICS
from corpusforge.errors import InputError

#: the fraction of pages held out (by id hash); 30% of 400 pages is about 120
HELDOUT_FRACTION = 0.3
#: reference field → the record head that predicts it
REFERENCE_HEADS = {"topic": "domain", "format": "format", "edu": "edu", "toxic": "toxicity", "adult": "adult"}
#: the goal threshold of FineWeb-Edu's binary view of the score (F1 at edu >= 3)
EDU_THRESHOLD = 3


def page_id(row: dict) -> str:
    """A page's stable id: its ``page`` (file name under trafilatura_eval/html) or ``id``."""
    value = row.get("page") or row.get("id")
    if not isinstance(value, str) or not value:
        raise InputError("reference labels", "every row needs a 'page' (or 'id') string")
    return value


def is_heldout(pid: str, fraction: float = HELDOUT_FRACTION) -> bool:
    return xxhash.xxh3_64_intdigest(pid.encode("utf-8")) % 10_000 < int(round(fraction * 10_000))


def load_reference(path: str | Path) -> list[dict]:
    """Rows with ``id``, ``text``, ``lang``, ``topic``, ``format``, ``edu`` (int) and ``toxic`` (bool), checked."""
    rows = []
    for n, row in enumerate(read_jsonl(path), 1):
        where = f"{path}:{n}"
        if not isinstance(row.get("text"), str):
            raise InputError(where, "needs a string 'text'")
        if row.get("topic") not in TOPICS:
            raise InputError(where, f"topic {row.get('topic')!r} is not one of the taxonomy's topics")
        if row.get("format") not in FORMATS:
            raise InputError(where, f"format {row.get('format')!r} is not one of the taxonomy's formats")
        edu = row.get("edu")
        if not isinstance(edu, int) or not 0 <= edu <= 5:
            raise InputError(where, f"edu {edu!r} is not an integer 0-5")
        # adult is derived: a page is adult exactly when its reference topic is the taxonomy's "adult"
        rows.append({**row, "id": page_id(row), "toxic": bool(row.get("toxic")), "adult": row["topic"] == "adult"})
    if not rows:
        raise InputError(str(path), "no reference rows")
    return rows


def split_reference(rows: list[dict], fraction: float = HELDOUT_FRACTION) -> tuple[list[dict], list[dict]]:
    """(train, held-out), by id hash."""
    train = [r for r in rows if not is_heldout(r["id"], fraction)]
    held = [r for r in rows if is_heldout(r["id"], fraction)]
    return train, held


def majority(values: list) -> object:
    """The most frequent value (ties: the smallest, so the baseline is deterministic)."""
    counts = Counter(values)
    top = max(counts.values())
    return min(v for v, n in counts.items() if n == top)
