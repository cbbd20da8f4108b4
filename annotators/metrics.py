"""Classification and score metrics shared by the eval command, student validation and the reference eval."""

from __future__ import annotations

from corpusforge.errors import InputError


def classification_metrics(gold: list[str], predicted: list[str]) -> dict:
    """Accuracy, macro-F1 over the gold and predicted classes, per-class P/R/F1 and the confusion matrix."""
    if len(gold) != len(predicted):
        raise InputError("predictions", f"{len(predicted)} predictions for {len(gold)} labels")
    if not gold:
        return {"accuracy": None, "macro_f1": None, "classes": [], "confusion": [], "per_class": {}}
    classes = sorted(set(gold) | set(predicted))
    index = {c: i for i, c in enumerate(classes)}
    confusion = [[0] * len(classes) for _ in classes]
    for g, p in zip(gold, predicted, strict=True):
        confusion[index[g]][index[p]] += 1
    per_class, f1s = {}, []
    for c, i in index.items():
        tp = confusion[i][i]
        predicted_n = sum(row[i] for row in confusion)
        gold_n = sum(confusion[i])
        precision = tp / predicted_n if predicted_n else 0.0
        recall = tp / gold_n if gold_n else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[c] = {"precision": precision, "recall": recall, "f1": f1, "support": gold_n}
        f1s.append(f1)
    return {
        "accuracy": sum(g == p for g, p in zip(gold, predicted, strict=True)) / len(gold),
        "macro_f1": sum(f1s) / len(f1s),
        "classes": classes,  # rows: gold, columns: predicted
        "confusion": confusion,
        "per_class": per_class,
    }


def score_metrics(gold: list[float], predicted: list[float]) -> dict:
    """Spearman rank correlation (None when either side is constant) and mean absolute error."""
    from scipy.stats import spearmanr

    if not gold:
        return {"spearman": None, "mae": None}
    mae = sum(abs(g - p) for g, p in zip(gold, predicted, strict=True)) / len(gold)
    rho = None if len(set(gold)) < 2 or len(set(predicted)) < 2 else float(spearmanr(gold, predicted).statistic)
    return {"spearman": rho, "mae": mae}
