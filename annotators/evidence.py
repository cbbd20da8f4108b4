"""Lexical evidence gates for teacher labels: keep an LLM's ``adult`` only where the text backs it up.

The default 135M teacher called 70 of 72 web pages adult, so a head trained on its answers alone scored a
maths text ~0.999 adult. The gate: a row stays ``adult`` only when the teacher said adult AND either at least
``min_terms`` distinct terms of datatrove's ``banned_words.txt`` occur as words in its text, or its ``url``
domain (or a parent domain) is on datatrove's UT1-derived URL blocklist (``url_filterblacklistsv0_3_0.tar.gz``,
read from the installed package at run time, never copied). Every other row becomes ``ok``.
"""

from __future__ import annotations

import re
import tarfile
from collections import Counter
from functools import cache
from importlib import resources
from pathlib import Path
from urllib.parse import urlsplit

from corpusforge.errors import DependencyError

_WORD = re.compile(r"[a-z0-9]+")


def _assets():
    try:
        return resources.files("datatrove") / "assets"
    except ModuleNotFoundError as exc:
        raise DependencyError("adult evidence gate", "datatrove", "datatrove") from exc


@cache
def banned_words() -> frozenset[str]:
    """datatrove's banned words (lower case; ``#``-commented entries skipped, as datatrove does)."""
    text = (_assets() / "banned_words.txt").read_text(encoding="utf-8")
    return frozenset(w.strip().lower() for w in text.splitlines() if w.strip() and not w.startswith("#"))


@cache
def blocked_domains() -> frozenset[str]:
    """The ``domains`` list of datatrove's URL blocklist tarball (read only when a row has a URL)."""
    with resources.as_file(_assets() / "url_filterblacklistsv0_3_0.tar.gz") as path, tarfile.open(path) as tar:
        member = tar.extractfile("domains")
        assert member is not None
        return frozenset(line.strip().decode("utf-8", "replace") for line in member if line.strip())


def banned_terms(text: str) -> set[str]:
    """Distinct banned words (single words) and phrases (multi-word entries) found in ``text``."""
    lowered = text.lower()
    tokens = set(_WORD.findall(lowered))
    spaced = " " + " ".join(_WORD.findall(lowered)) + " "
    found = set()
    for term in banned_words():
        parts = _WORD.findall(term)
        if not parts:
            continue
        if len(parts) == 1 and parts[0] in tokens or len(parts) > 1 and f" {' '.join(parts)} " in spaced:
            found.add(term)
    return found


def blocked_url(url: str | None) -> bool:
    if not url:
        return False
    host = (urlsplit(url if "//" in url else f"//{url}").hostname or "").lower().removeprefix("www.")
    labels = host.split(".")
    domains = blocked_domains()
    return any(".".join(labels[i:]) in domains for i in range(len(labels) - 1))


def gate_rows(
    rows: list[dict], label: str = "adult", positive: str = "adult", negative: str = "ok", min_terms: int = 2
) -> tuple[list[dict], dict]:
    """Rows with ``label`` gated by lexical evidence; plus counts of what the gate did."""
    stats: Counter = Counter()
    out = []
    for row in rows:
        row = dict(row)
        value = row.get(label)
        if value == positive:
            terms = banned_terms(str(row.get("text", "")))
            if len(terms) >= min_terms:
                stats["kept_terms"] += 1
            elif blocked_url(row.get("url")):
                stats["kept_url"] += 1
            else:
                row[label] = negative
                stats["demoted"] += 1
        if row.get(label) is not None:
            stats[f"final_{row[label]}"] += 1
        out.append(row)
    return out, dict(stats)


def gate_file(data: Path, out: Path, **kwargs) -> dict:
    from annotators.convert import read_jsonl, write_jsonl

    rows, stats = gate_rows(list(read_jsonl(data)), **kwargs)
    stats["rows"] = write_jsonl(out, rows)
    return stats


def evidence_positives(path: Path, min_terms: int = 2, label: str = "adult", positive: str = "adult") -> list[dict]:
    """Rows of a human-labelled file (label ``toxic``) with >= ``min_terms`` banned terms, as ``adult`` rows.

    Used when the gated teacher labels keep no positive at all (a head needs two classes): a human judgement
    plus the same lexical evidence stands in for "teacher says adult plus evidence".
    """
    from annotators.convert import read_jsonl

    out = []
    for row in read_jsonl(path):
        if (row.get("label") or row.get("toxicity")) == "toxic" and len(banned_terms(row["text"])) >= min_terms:
            out.append({"text": row["text"], label: positive})
    return out
