"""Teach: an LLM labels a seeded sample of a corpus (the students' training data), with counts of what failed."""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

import typer

from corpusforge.errors import ConfigError


def teach_corpus(
    data: list[Path],
    labels: list[str],
    out: Path,
    sample: int | None = None,
    llm_config: Path | None = None,
    cache: Path | None = None,
    seed: int = 0,
    overrides: dict | None = None,
    progress: bool = True,
) -> dict:
    """Label a seeded sample; write ``out`` (JSONL) and ``out.stats.json`` (counts, failures by reason)."""
    from annotators.convert import sample_documents, write_jsonl
    from annotators.teacher import Teacher, TeacherConfig

    raw: dict = dict(overrides or {})
    if llm_config is not None:
        import yaml

        loaded = yaml.safe_load(llm_config.read_text()) or {}
        if not isinstance(loaded, dict):
            raise ConfigError("<root>", "the LLM config file must hold a mapping", str(llm_config))
        # a file may be a bare LLMConfig or a TeacherConfig with an `llm:` section
        raw.update(loaded if "llm" in loaded or "mode" in loaded else {"llm": loaded})
    if cache is not None:
        raw["cache"] = str(cache)
    raw.setdefault("cache", str(out.with_name(out.name + ".cache.sqlite")))
    config = TeacherConfig.parse(raw, source=str(llm_config) if llm_config else None)
    teacher = Teacher(config, labels)  # validates the label names before any reading
    docs = sample_documents(list(data), sample, seed)
    start = time.perf_counter()
    rows, done = [], 0
    step = 8
    try:
        for i in range(0, len(docs), step):
            chunk = docs[i : i + step]
            for doc, res in zip(chunk, teacher.label([d["text"] for d in chunk]), strict=True):
                row = {"id": doc["id"], "text": doc["text"][: config.max_chars], **res.labels}
                if res.failures:
                    row["failures"] = res.failures
                rows.append(row)
            done += len(chunk)
            if progress:
                rate = done / max(time.perf_counter() - start, 1e-9)
                typer.echo(f"teach: {done}/{len(docs)} documents ({rate:.2f}/s)", err=True)
    finally:
        teacher.close()
    write_jsonl(out, rows)
    stats = {
        "documents": len(rows),
        "labels": labels,
        "mode": teacher.mode,
        "model": teacher.model_identity(),
        "llm_calls": teacher.llm_calls,
        "cache_hits": teacher.cache_hits,
        "failures": dict(teacher.failures),
        "label_counts": {name: dict(Counter(str(r[name]) for r in rows if name in r).most_common()) for name in labels},
        "seconds": round(time.perf_counter() - start, 1),
        "config": config.model_dump(mode="json"),
    }
    out.with_name(out.name + ".stats.json").write_text(json.dumps(stats, indent=2))
    return stats
