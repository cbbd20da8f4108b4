"""The ``hate`` and ``offensive`` heads: fastText on TweetEval's human labels, one head per task.

One toxicity head could not serve both tasks (TweetEval offensive macro-F1 0.656 on validation): the tasks label
different tweets, and their union is a noisy "toxic". Each head here is trained on its own task's train split.
Everything chosen is chosen on train alone: the hyperparameters (a small grid) and the tweet threshold on a
seeded train-internal dev split; the page threshold on the reference pages' train split. The validation split
and the reference held-out split are read once, at the end, for the card.

Tweets are not pages: a head reading 800 characters of a clean page drifts towards "toxic" (the old toxicity head
flagged half the clean reference pages at 0.5). The page threshold is therefore the ``page_quantile`` of the head's
score over the reference train split's clean pages (never below the tweet threshold): a false-positive budget,
since the shared pages hold one toxic page, too few to fit a threshold on. The heads read text through
`annotators.fasttext_head.normalize` and use word n-grams only, so they fuse with the other heads (one pass).
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import tempfile
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field

from annotators.bars import card_path, read_card
from annotators.convert import split_holdout, tweeteval_rows
from annotators.fasttext_head import (
    DEFAULT_READ_CHARS,
    DEFAULT_READ_WINDOWS,
    LABEL_PREFIX,
    FastTextHead,
    normalize,
)
from annotators.metrics import classification_metrics
from corpusforge.config import Config
from corpusforge.errors import ConfigError, DependencyError

SAFETY_TASKS = ("hate", "offensive")
NEGATIVE = "ok"


class GridPoint(Config):
    word_ngrams: int = Field(2, ge=1, le=2, description="1 or 2: the fused pass computes word bigrams at most.")
    epoch: int = Field(10, ge=1)
    lr: float = Field(0.3, gt=0)
    subwords: bool = Field(
        False, description="Character 2-5-grams of each word too: reads misspelt slurs, but the head is then scored by "
        "its own model, not in the fused pass.",
    )


def _default_grid() -> list[GridPoint]:
    return [GridPoint(word_ngrams=w, epoch=e, lr=lr) for w in (1, 2) for e, lr in ((10, 0.3), (25, 0.1))]


class DistillConfig(Config):
    """Soft labels from a stronger decider, as FineWeb-Edu's students learn from their teacher: the head learns the
    teacher's probability on the train tweets, on unlabelled text and on perturbed copies of both (word dropout, a
    sub-span; Tang et al., 2019), so it sees far more than the human labels alone. The dev split keeps its human
    labels: the grid and the threshold are still chosen on the task itself."""

    teacher: str = Field(..., description="The decider whose probabilities the head learns (a .ctx.npz of "
                         "`annotate train-cascade`, e.g. the fine-tuned encoder).")
    transfer: list[str] = Field(
        default_factory=list, description="Unlabelled text files, one text per line (e.g. the other TweetEval task's "
        "train_text.txt); lines equal to a validation text are left out.",
    )
    augment: int = Field(2, ge=0, le=8, description="Perturbed copies of each text, also labelled by the teacher.")
    copies: int = Field(4, ge=1, le=20, description="A soft label p is written as this many rows, round(p*copies) "
                        "of them positive.")
    dropout: float = Field(0.2, gt=0, lt=1, description="Word dropout of the first perturbation.")
    cache: str | None = Field(None, description="sqlite file of the teacher's scores (null: none), reused by reruns.")


class SafetyTrainConfig(Config):
    grid: list[GridPoint] = Field(default_factory=_default_grid, min_length=1)
    dim: int = Field(64, ge=1)
    bucket: int = Field(200_000, ge=1, description="The other heads' bucket, so the heads fuse.")
    quantize: bool = Field(True, description="Quantize (.ftz, a tenth of the size); needs >= 256 rows.")
    cutoff: int = Field(50_000, ge=0, description="Quantization keeps this many rows (0: all).")
    dev_fraction: float = Field(0.15, gt=0, lt=1, description="Train-internal dev split for the grid and threshold.")
    seed: int = 0
    max_chars: int = Field(800, ge=1, description="Characters of each training text read (tweets are shorter).")
    page_quantile: float = Field(0.99, gt=0, le=1, description="Page threshold: this quantile of clean pages' scores.")
    pages: list[str] = Field(
        default_factory=list, description="JSONL/Parquet of real pages, trained on as negatives ('ok'): the page's "
        "reading plus tweet-sized windows. Pages sharing text with the reference pages are left out.",
    )
    page_windows: int = Field(3, ge=0, description="Tweet-sized (300-character) windows per page, besides its reading.")
    distill: DistillConfig | None = Field(None, description="Learn a teacher's soft labels (null: the human labels).")


def positive_probs(model: Any, texts: list[str], max_chars: int, positive: str) -> list[float]:
    cleaned = [normalize(t, max_chars).encode("utf-8", "replace").decode("utf-8") for t in texts]
    labels, probs = model.predict(cleaned, k=-1)
    want = LABEL_PREFIX + positive
    return [min(float(dict(zip(lab, p, strict=True)).get(want, 0.0)), 1.0) for lab, p in zip(labels, probs, strict=True)]


def macro_f1(gold: list[str], scores: list[float], threshold: float, positive: str) -> float:
    predicted = [positive if s >= threshold else NEGATIVE for s in scores]
    return classification_metrics(gold, predicted)["macro_f1"]


def best_threshold(gold: list[str], scores: list[float], positive: str) -> tuple[float, float]:
    """(macro-F1, threshold) maximising macro-F1 over thresholds 0.05..0.95 by 0.01 (ties: the one nearest 0.5)."""
    grid = [round(0.05 + 0.01 * i, 2) for i in range(91)]
    return max((macro_f1(gold, scores, t, positive), -abs(t - 0.5), t) for t in grid)[::2]


def fit_head(rows: list[dict], point: GridPoint, config: SafetyTrainConfig, tmp: str) -> Any:
    import fasttext

    from annotators.student import fasttext_guard

    data = os.path.join(tmp, "train.txt")
    with open(data, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(f"{LABEL_PREFIX}{row['label']} {normalize(row['text'], config.max_chars)}\n")
    subwords = (2, 5) if point.subwords else (0, 0)
    params = dict(dim=config.dim, wordNgrams=point.word_ngrams, bucket=config.bucket, epoch=point.epoch, lr=point.lr,
                  minCount=1, minn=subwords[0], maxn=subwords[1], loss="softmax", seed=config.seed, thread=1,
                  verbose=0)  # fmt: skip
    with fasttext_guard():
        model = fasttext.train_supervised(input=data, **params)
        if not config.quantize:
            return model
        quantize: dict[str, Any] = dict(input=data, qnorm=True, retrain=True, epoch=point.epoch, lr=point.lr, thread=1)
        if config.cutoff:
            quantize["cutoff"] = config.cutoff
        model.quantize(**quantize, verbose=0)
    return model


def page_figures(scores: list[float], gold: list[bool], threshold: float) -> dict:
    """Flag rate on clean pages (the false-positive rate), toxic pages caught, over one split's pages."""
    clean = [s for s, g in zip(scores, gold, strict=True) if not g]
    toxic = [s for s, g in zip(scores, gold, strict=True) if g]
    flagged = sum(s >= threshold for s in clean)
    return {"examples": len(scores), "positives": len(toxic), "clean": len(clean), "threshold": threshold,
            "flagged_clean": flagged, "flagged_rate": flagged / len(clean) if clean else None,
            "positives_caught": sum(s >= threshold for s in toxic)}  # fmt: skip


def _shingles(text: str, n: int = 8) -> set[str]:
    words = text.lower().split()
    return {" ".join(words[i : i + n]) for i in range(len(words) - n + 1)}


def page_negatives(sources: list[str], config: SafetyTrainConfig, reference: Path | None) -> list[dict]:
    """Real pages as ``ok`` rows: each page's reading and ``page_windows`` 300-character windows spread over it.

    A page sharing two or more 8-word shingles with any reference page is skipped, so neither the held-out pages
    nor the train pages the page threshold is chosen on are trained on.
    """
    from annotators.convert import iter_documents
    from annotators.fasttext_head import read_windows

    seen: set[str] = set()
    if reference is not None:
        from annotators.reference import load_reference

        for row in load_reference(reference):
            seen |= _shingles(row["text"])
    rows = []
    for source in sources:
        for doc in iter_documents(source):
            text = doc["text"]
            if not text.strip() or len(_shingles(text) & seen) >= 2:
                continue
            rows.append({"text": text[: config.max_chars], "label": NEGATIVE})
            if config.page_windows and len(text) > config.max_chars:
                spread = read_windows(text, 300 * config.page_windows, config.page_windows)
                words, chunk = spread.split(), max(1, len(spread.split()) // config.page_windows)
                rows += [{"text": " ".join(words[i : i + chunk]), "label": NEGATIVE} for i in range(0, len(words), chunk)]
    return rows


def _teacher_figures(teacher: str) -> dict:
    """The teacher's own validation figures, from its card beside it (``X.ctx.npz`` → ``X.ctx.card.json``)."""
    card = read_card(teacher)
    if card is None:
        return {}
    evaluations = card.get("evaluations", {})
    val = next((v for k, v in evaluations.items() if k.startswith("tweeteval_")), {})
    names = {"probe_alone_macro_f1": "alone_macro_f1", "alone_threshold": "alone_threshold", "macro_f1": "cascade_macro_f1"}
    return {"card": str(card_path(teacher)), **{new: val[old] for old, new in names.items() if old in val}}


def cached_scorer(scorer: Callable[[list[str]], list[float]], teacher: str, cache: str | None,
                  chunk: int = 2000) -> Callable[[list[str]], list[float]]:  # fmt: skip
    """``scorer`` behind a sqlite cache keyed by the teacher file (name, size) and the text: the teacher's pass over
    ~100,000 texts is most of a distillation's cost, and a second grid or recipe then pays nothing for it."""
    if not cache:
        return scorer
    from annotators.probe import FeatureCache

    stat = Path(teacher).stat()
    tag = f"{Path(teacher).name}:{stat.st_size}:{int(stat.st_mtime)}|"

    def score(texts: list[str]) -> list[float]:
        store = FeatureCache(cache)
        try:
            keys = [hashlib.sha256((tag + t).encode("utf-8", "replace")).hexdigest() for t in texts]
            found = {k: v for k in set(keys) if (v := store.get(k)) is not None}
            missing = list(dict.fromkeys(k for k in keys if k not in found))
            text_of = dict(zip(keys, texts, strict=True))
            for start in range(0, len(missing), chunk):
                part = missing[start : start + chunk]
                values = [np.array([p], np.float32) for p in scorer([text_of[k] for k in part])]
                store.put_many(list(zip(part, values, strict=True)))
                found.update(zip(part, values, strict=True))
            return [float(found[k][0]) for k in keys]
        finally:
            store.close()

    return score


def perturb(text: str, variant: int, rng: random.Random, dropout: float) -> str:
    """An augmented copy: even variants drop words at random, odd ones keep a 50-90% span of them."""
    words = text.split()
    if len(words) < 3:
        return text
    if variant % 2 == 0:
        return " ".join(w for w in words if rng.random() >= dropout) or text
    n = max(2, int(len(words) * rng.uniform(0.5, 0.9)))
    start = rng.randrange(0, len(words) - n + 1)
    return " ".join(words[start : start + n])


def transfer_texts(tweets: list[str], config: DistillConfig, exclude: set[str], seed: int) -> tuple[list[str], list[int]]:
    """(texts, owner): the tweets, the transfer files' lines (not in ``exclude``), then ``augment`` perturbed copies
    of each; ``owner`` is the tweet's index for a tweet and its copies, -1 for transfer text."""
    texts, owner = list(tweets), list(range(len(tweets)))
    seen = set(tweets) | exclude
    for name in config.transfer:
        for line in Path(name).read_text(encoding="utf-8", errors="replace").splitlines():
            if line.strip() and line not in seen:
                seen.add(line)
                texts.append(line)
                owner.append(-1)
    rng = random.Random(seed)
    base = len(texts)
    for i in range(base):
        for variant in range(config.augment):
            texts.append(perturb(texts[i], variant, rng, config.dropout))
            owner.append(owner[i])
    return texts, owner


def soft_rows(texts: list[str], probs: list[float], positive: str, copies: int) -> list[dict]:
    """fastText learns hard labels: a probability p becomes ``copies`` rows, round(p*copies) of them positive."""
    rows = []
    for text, p in zip(texts, probs, strict=True):
        k = int(round(min(max(p, 0.0), 1.0) * copies))
        rows += [{"text": text, "label": positive}] * k + [{"text": text, "label": NEGATIVE}] * (copies - k)
    return rows


def upper_quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def train_safety_head(
    task: Literal["hate", "offensive"],
    tweeteval: Path,
    out: Path,
    reference: Path | None = None,
    config: SafetyTrainConfig | None = None,
    command: str | None = None,
    teacher: Callable[[list[str]], list[float]] | None = None,
) -> dict:
    """Train ``out/<task>.ftz`` from ``tweeteval/<task>`` and write its card (``.card.json``, ``.md``) with the
    validation and page figures; returns the card. ``teacher`` scores texts for ``config.distill``."""
    try:
        import fasttext
    except ImportError as exc:
        raise DependencyError("annotate train-safety", "fasttext-numpy2-wheel", "web") from exc
    from annotators.student import render_card

    if task not in SAFETY_TASKS:
        raise ConfigError("task", f"{task!r} is not one of {', '.join(SAFETY_TASKS)}")
    fasttext.FastText.eprint = lambda *args, **kwargs: None
    config = config or SafetyTrainConfig()
    src = Path(tweeteval) / task
    rows = list(tweeteval_rows(src, "train", task))
    val = list(tweeteval_rows(src, "val", task))
    if config.distill and teacher is None:
        raise ConfigError("distill.teacher", "distillation needs the teacher's scorer")
    fit, dev = split_holdout(rows, config.dev_fraction, config.seed)
    pages = page_negatives(config.pages, config, reference) if config.pages else []
    final = rows + pages
    distilled: dict[str, Any] = {}
    if config.distill and teacher is not None:
        texts, owner = transfer_texts([r["text"] for r in rows], config.distill, {r["text"] for r in val}, config.seed)
        probs = [float(p) for p in teacher(texts)]
        dev_ids = {id(r) for r in dev}
        dev_owner = {i for i, r in enumerate(rows) if id(r) in dev_ids}
        kept = [j for j, o in enumerate(owner) if o not in dev_owner]
        fit = soft_rows([texts[j] for j in kept], [probs[j] for j in kept], task, config.distill.copies)
        final = soft_rows(texts, probs, task, config.distill.copies) + pages
        distilled = {"texts": len(texts), "transfer_texts": sum(o < 0 for o in owner) // (1 + config.distill.augment),
                     "fit_texts": len(kept), "mean_teacher_p": sum(probs) / len(probs)}
    fit += pages  # the dev split stays tweets with human labels: the grid and the threshold are chosen on the task
    dev_gold = [r["label"] for r in dev]
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="corpusforge-safety-") as tmp:
        tried = []
        for point in config.grid:
            scores = positive_probs(fit_head(fit, point, config, tmp), [r["text"] for r in dev], config.max_chars, task)
            f1, threshold = best_threshold(dev_gold, scores, task)
            tried.append({**point.model_dump(), "dev_macro_f1": f1, "dev_threshold": threshold})
        chosen = max(tried, key=lambda t: t["dev_macro_f1"])
        point = GridPoint(**{k: chosen[k] for k in GridPoint.model_fields})
        model = fit_head(final, point, config, tmp)  # the chosen point on the whole train split
    model_file = out / f"{task}.ftz"
    partial = out / f".{task}.ftz.tmp"
    model.save_model(str(partial))
    os.replace(partial, model_file)
    threshold = chosen["dev_threshold"]
    val_gold = [r["label"] for r in val]
    val_scores = positive_probs(model, [r["text"] for r in val], config.max_chars, task)
    at = classification_metrics(val_gold, [task if s >= threshold else NEGATIVE for s in val_scores])
    majority = Counter(r["label"] for r in rows).most_common(1)[0][0]
    base = classification_metrics(val_gold, [majority] * len(val_gold))
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    command = command or f"corpusforge annotate train-safety --task {task}"
    evaluations = {
        f"tweeteval_{task}_val": {
            "data": str(src / "val_text.txt"), "examples": len(val), "threshold": threshold,
            "accuracy": at["accuracy"], "macro_f1": at["macro_f1"],
            "macro_f1_at_0.5": macro_f1(val_gold, val_scores, 0.5, task),
            "per_class_f1": {c: v["f1"] for c, v in at["per_class"].items()},
            "baseline": {"majority": majority, "accuracy": base["accuracy"], "macro_f1": base["macro_f1"]},
            "date": now, "command": command,
        }  # fmt: skip
    }
    page: dict[str, Any] = {}
    if reference is not None:
        page, evaluations["reference_heldout"] = page_decision(task, model_file, reference, threshold, config.page_quantile)
        evaluations["reference_heldout"] |= {"date": now, "command": command}
    card = {
        "model": task,
        "model_file": str(model_file),
        "size_bytes": model_file.stat().st_size,
        "kind": "class",
        "labels_from": "teacher" if distilled else "human",
        "source": (f"TweetEval {task} train split: soft labels of the teacher {config.distill.teacher} on the train "
                   f"tweets, {distilled['transfer_texts']} transfer texts and {config.distill.augment} perturbed copies of each"
                   if distilled else f"TweetEval {task} train split (human labels)")
        + (f"; {len(pages)} real-page negatives ({'readings and windows' if config.page_windows else 'readings'}) from "
           f"{', '.join(config.pages)}" if pages else ""),
        "data": [str(src / "train_text.txt"), *config.pages],
        "train_examples": len(rows) + len(pages),
        "page_negatives": len(pages),
        "label_counts": dict(Counter(r["label"] for r in final).most_common()),
        "validation_source": str(src / "val_text.txt"),
        "validation": {"examples": len(val), **at},
        "hyperparameters": {**point.model_dump(), **config.model_dump(mode="json", exclude={"grid"})},
        "selection": {"dev_examples": len(dev), "tried": tried, "chosen_on": "train-internal dev split"},
        **({"distillation": {**distilled, **config.distill.model_dump(mode="json"),
                             "teacher_card": _teacher_figures(config.distill.teacher)}} if config.distill else {}),
        "decision": {"tweet_threshold": threshold, **page},
        "normalization": f"annotators.fasttext_head.normalize(text, {config.max_chars})",
        "trained_at": now,
        "fasttext": getattr(fasttext, "__version__", "fasttext-numpy2-wheel"),
        "notes": (
            f"Record value: P({task}) of the label stage's prefix. Flag a page at decision.page_threshold (chosen on "
            "the reference train split's clean pages), a tweet at decision.tweet_threshold (chosen on a "
            "train-internal dev split). Trained on tweets: a page-level figure is a false-positive rate on clean "
            "pages, not a recall (the reference pages hold one toxic page)."
        ),
        "evaluations": evaluations,
    }
    (out / f"{task}.card.json").write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n")
    (out / f"{task}.md").write_text(render_card(card))
    return card


def page_decision(head: str, model_file: str | Path, reference: str | Path, min_threshold: float = 0.0,
                  quantile: float = 0.99, chars: int = DEFAULT_READ_CHARS,
                  windows: int = DEFAULT_READ_WINDOWS) -> tuple[dict, dict]:  # fmt: skip
    """(decision, held-out entry) of a binary head on real pages, read as the label stage reads them: the page
    threshold is the ``quantile`` of its scores on the reference train split's clean pages (at least
    ``min_threshold``), then scored on held-out."""
    from annotators.reference import load_reference, split_reference

    train, held = split_reference(load_reference(reference))
    field = "adult" if head == "adult" else "toxic"
    score = FastTextHead(head, str(model_file), chars, windows).annotate
    train_scores = score([r["text"] for r in train])[head]
    clean = [s for s, r in zip(train_scores, train, strict=True) if not r[field]]
    threshold = max(min_threshold, upper_quantile(clean, quantile))
    held_scores = score([r["text"] for r in held])[head]
    gold = [r[field] for r in held]
    entry = {"data": str(reference), "split": "heldout", "field": field, **page_figures(held_scores, gold, threshold),
             "flagged_rate_at_0.5": page_figures(held_scores, gold, 0.5)["flagged_rate"],
             "baseline": {"majority": False, "flagged_rate": 0.0}}  # fmt: skip
    decision = {"page_threshold": threshold, "page_quantile": quantile, "page_reading": {"chars": chars, "windows": windows},
                "page_train": page_figures(train_scores, [r[field] for r in train], threshold)}  # fmt: skip
    return decision, entry


def calibrate_page_threshold(head: str, reference: str | Path, model_path: str | None = None,
                             quantile: float = 0.99, command: str = "") -> dict:  # fmt: skip
    """Choose a shipped binary head's page threshold on the reference train split and write it, with the held-out
    figures, into its card (``decision``, ``evaluations.reference_heldout``); returns the card."""
    from annotators.bars import card_path, record_evaluation
    from annotators.fasttext_head import HEADS, resolve_model_path
    from annotators.student import render_card

    if head not in HEADS or HEADS[head].kind != "binary":
        raise ConfigError("head", f"{head!r} is not a binary head (toxicity, adult, hate, offensive)")
    path = resolve_model_path(head, model_path)
    card_file = card_path(path)
    card = json.loads(card_file.read_text()) if card_file.is_file() else {}
    floor = float((card.get("decision") or {}).get("tweet_threshold", 0.0))
    decision, entry = page_decision(head, path, reference, floor, quantile)
    entry |= {"date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), "command": command}
    record_evaluation(path, "reference_heldout", entry)
    card = json.loads(card_file.read_text())
    card["decision"] = {**(card.get("decision") or {}), **decision}
    card_file.write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n")
    if "validation" in card and "label_counts" in card:
        card_file.with_name(f"{head}.md").write_text(render_card(card))
    return card
