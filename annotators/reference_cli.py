"""`corpusforge eval classifier --reference`: fastText heads, the probe teacher or the generative teacher scored
on the reference split, printed beside the majority baseline and optionally recorded in the heads' cards."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table

from annotators.reference import REFERENCE_HEADS
from annotators.reference_eval import (
    HEAD_FIELDS,
    Predictor,
    card_entry,
    evaluate_predictors,
    fasttext_predictor,
    page_threshold,
)
from corpusforge.errors import InputError

#: the figures shown per reference field, the first one being the field's headline
SHOWN = {
    "topic": ("accuracy", "macro_f1"),
    "format": ("accuracy", "macro_f1"),
    "edu": ("spearman", "mae", "f1_at_3"),
    "toxic": ("f1_toxic", "accuracy", "flagged_rate"),
    "adult": ("f1_adult", "accuracy", "flagged_rate"),
}


def parse_heads(spec: str | None) -> dict[str, str | None]:
    """``domain,edu=path/edu.ftz`` → {head: model path or None (the shipped one)}."""
    heads: dict[str, str | None] = {}
    for part in (spec or ",".join(REFERENCE_HEADS.values())).split(","):
        head, _, path = part.strip().partition("=")
        if head not in HEAD_FIELDS:
            raise InputError(head, f"no reference field for this head; heads with one: {', '.join(HEAD_FIELDS)}")
        heads[head] = path or None
    return heads


def teacher_predictors(mode: str, heads: list[str], cache: Path | None) -> tuple[dict[str, Predictor], object]:
    """The local generative teacher (SmolLM2-135M) as predictors; the teacher labels each split once."""
    from annotators.teacher import Teacher, TeacherConfig

    if mode not in ("score", "generate"):
        raise InputError(mode, "--teacher is 'score' (calibrated log-likelihood) or 'generate' (zero-shot answer)")
    config = TeacherConfig(mode=mode, torch_threads=1, cache=str(cache) if cache else None)
    teacher = Teacher(config, heads)
    memo: dict[tuple, list] = {}

    def for_head(head: str) -> Predictor:
        def predict(texts: list[str]) -> list:
            key = tuple(texts)
            if key not in memo:
                memo[key] = [r.labels for r in teacher.label(texts)]
            values = [labels.get(head) for labels in memo[key]]
            if head in ("toxicity", "adult"):
                return [None if v is None else float(v == head.replace("toxicity", "toxic")) for v in values]
            return values

        return predict

    return {head: for_head(head) for head in heads}, teacher


def run_reference_eval(
    reference: Path,
    model: str | None,
    split: str,
    probe: Path | None,
    teacher: str | None,
    cache: Path | None,
    record: str | None,
    command: str,
    limit: int | None = None,
) -> dict:
    heads = parse_heads(model)
    closer = None
    if probe is not None:
        from annotators.probe import ProbeTeacher

        pt = ProbeTeacher.load(probe, str(cache) if cache else None)
        missing = [h for h in heads if h not in pt.probes["heads"]]
        heads = {h: p for h, p in heads.items() if h in pt.probes["heads"]}
        memo: dict[tuple, dict] = {}

        def probe_head(head: str) -> Predictor:
            def predict(texts: list[str]) -> list:
                memo.setdefault(tuple(texts), pt.label(texts))
                return memo[tuple(texts)][head]

            return predict

        predictors = {h: probe_head(h) for h in heads}
        name, closer = f"probe teacher {probe}", pt.features
        if missing:
            Console().print(f"the probe has no head for: {', '.join(missing)}")
    elif teacher is not None:
        predictors, closer = teacher_predictors(teacher, list(heads), cache)
        name = f"generative teacher (SmolLM2-135M, {teacher} mode)"
    thresholds: dict[str, float] = {}
    if probe is None and teacher is None:
        predictors = {h: fasttext_predictor(h, p) for h, p in heads.items()}
        thresholds = {h: page_threshold(h, p) for h, p in heads.items() if HEAD_FIELDS[h] in ("toxic", "adult")}
        name = "fastText heads"
    try:
        result = evaluate_predictors(reference, predictors, split, name, limit, thresholds)
    finally:
        if closer is not None:
            closer.close()
    print_reference(result)
    if record and probe is None and teacher is None and not limit:
        from annotators.bars import record_evaluation
        from annotators.fasttext_head import resolve_model_path

        for head, path in heads.items():
            written = record_evaluation(resolve_model_path(head, path), record, card_entry(result, head, command))
            Console().print(f"recorded {head} in {written}")
    return result


def print_reference(result: dict) -> None:
    table = Table(title=f"{result['predictor']} on the reference {result['split']} split ({result['examples']} pages)")
    for col in ("head", "field", "metric", "figure", "majority baseline"):
        table.add_column(col, justify="left" if col in ("head", "field", "metric") else "right")
    for head, entry in result["heads"].items():
        for metric in SHOWN[entry["field"]]:
            fig, base = entry["metrics"].get(metric), entry["baseline"].get(metric)
            table.add_row(head, entry["field"], metric, _fmt(fig), _fmt(base))
    Console().print(table)


def _fmt(value) -> str:
    if value is None:
        return "n/a"
    return f"{value:.3f}" if isinstance(value, float) else str(value)
