"""Every head against the reference labels' held-out split, each figure beside its majority-class baseline.

Reference field → head: topic → ``domain``, format → ``format``, edu → ``edu``, toxic → ``toxicity``, adult (topic
``adult``, none in the shared pages: the figure is then the rate of clean pages flagged) → ``adult``. A
predictor is anything that maps texts to that head's record values (a fastText head, the probe teacher, the
generative teacher), so teachers and students are scored by the same code on the same pages. The baseline
predicts the train split's majority value for every page (edu: its majority class as a constant score).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from annotators.metrics import classification_metrics, score_metrics
from annotators.reference import EDU_THRESHOLD, REFERENCE_HEADS, load_reference, majority, split_reference
from corpusforge.errors import InputError

HEAD_FIELDS = {head: field for field, head in REFERENCE_HEADS.items()}
#: heads scored against a reference field they share with another head (named explicitly, not in the default set)
HEAD_FIELDS |= {"hate": "toxic", "offensive": "toxic"}
#: a predictor: texts → one value per text (a class name, a 0-5 score, or a toxic probability)
Predictor = Callable[[list[str]], list]


def binary_f1(gold: list[bool], predicted: list[bool]) -> float:
    tp = sum(g and p for g, p in zip(gold, predicted, strict=True))
    fp = sum(p and not g for g, p in zip(gold, predicted, strict=True))
    fn = sum(g and not p for g, p in zip(gold, predicted, strict=True))
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


def field_metrics(field: str, gold: list, predicted: list, threshold: float = 0.5) -> dict:
    """The figures of one reference field: classes → accuracy, macro-F1; edu → Spearman, MAE, F1 at >= 3;
    toxic, adult → flags at ``threshold`` (a head's card may choose its page threshold)."""
    if field in ("topic", "format"):
        m = classification_metrics([str(g) for g in gold], [str(p) for p in predicted])
        return {"accuracy": m["accuracy"], "macro_f1": m["macro_f1"], "per_class": m["per_class"]}
    if field == "edu":
        scores = [float(p) if p is not None else 0.0 for p in predicted]
        m = score_metrics([float(g) for g in gold], scores)
        high_gold = [g >= EDU_THRESHOLD for g in gold]
        high_pred = [round(s) >= EDU_THRESHOLD for s in scores]
        return {**m, f"f1_at_{EDU_THRESHOLD}": binary_f1(high_gold, high_pred), "positives": sum(high_gold)}
    if field in ("toxic", "adult"):
        flagged = [p is not None and float(p) >= threshold for p in predicted]
        m = classification_metrics([str(g) for g in gold], [str(f) for f in flagged])
        return {"accuracy": m["accuracy"], "macro_f1": m["macro_f1"], f"f1_{field}": binary_f1(gold, flagged),
                "positives": sum(gold), "flagged": sum(flagged), "flagged_rate": sum(flagged) / max(len(gold), 1),
                "threshold": threshold}
    raise InputError(field, f"not a reference field; one of {', '.join(REFERENCE_HEADS)}")


def baseline(field: str, train_gold: list, n: int) -> tuple[object, list]:
    value = majority(train_gold)
    if field in ("toxic", "adult"):
        return value, [1.0 if value else 0.0] * n
    return value, [value] * n


def evaluate_predictors(
    reference: str | Path, predictors: dict[str, Predictor], split: str = "heldout", name: str = "",
    limit: int | None = None, thresholds: dict[str, float] | None = None,
) -> dict:
    """``{head: {field, metrics, baseline, majority}}`` for each head predictor, on one split of the reference."""
    rows = load_reference(reference)
    train, held = split_reference(rows)
    chosen = {"heldout": held, "train": train, "all": rows}.get(split)
    if chosen is None:
        raise InputError(split, "split must be heldout, train or all")
    chosen = chosen[:limit] if limit else chosen  # the first pages in file order: the same for every predictor
    texts = [r["text"] for r in chosen]
    result = {"reference": str(reference), "split": split, "examples": len(chosen), "predictor": name,
              "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), "heads": {}}
    for head, predict in predictors.items():
        field = HEAD_FIELDS.get(head)
        if field is None:
            raise InputError(head, f"no reference field for this head; heads with one: {', '.join(HEAD_FIELDS)}")
        gold = [r[field] for r in chosen]
        value, constant = baseline(field, [r[field] for r in train], len(chosen))
        result["heads"][head] = {
            "field": field,
            "metrics": field_metrics(field, gold, predict(texts), (thresholds or {}).get(head, 0.5)),
            "baseline": {"majority": value, **field_metrics(field, gold, constant)},
        }
    return result


def fasttext_predictor(head: str, model_path: str | None = None) -> Predictor:
    """The record value a fastText head writes: top class (domain, format), expected score (edu), P(toxic); read
    as the label stage reads by default (``DEFAULT_READ_CHARS`` in ``DEFAULT_READ_WINDOWS`` stretches)."""
    from annotators.fasttext_head import DEFAULT_READ_CHARS, DEFAULT_READ_WINDOWS, FastTextHead

    annotator = FastTextHead(head, model_path, DEFAULT_READ_CHARS, DEFAULT_READ_WINDOWS)

    def predict(texts: list[str]) -> list:
        return annotator.annotate(texts)[annotator.columns[0]]

    return predict


def page_threshold(head: str, model_path: str | None = None) -> float:
    """The page-level flag threshold a binary head's card chose (``decision.page_threshold``), else 0.5."""
    from annotators.bars import read_card
    from annotators.fasttext_head import resolve_model_path

    card = read_card(resolve_model_path(head, model_path)) or {}
    return float((card.get("decision") or {}).get("page_threshold", 0.5))


def card_entry(result: dict, head: str, command: str) -> dict:
    """What a model card keeps of one evaluation: the figures (no per-class table), baseline, data, date."""
    entry = result["heads"][head]
    keep = {k: v for k, v in entry["metrics"].items() if k != "per_class"}
    base = {k: v for k, v in entry["baseline"].items() if k != "per_class"}
    return {"data": result["reference"], "split": result["split"], "examples": result["examples"],
            "field": entry["field"], **keep, "baseline": base, "date": result["date"], "command": command}
