"""fastText students: learn a label from teacher or human labels, quantized to ``.ftz``, with a model card.

A student reads text through `annotators.fasttext_head.normalize`, the same function the label heads call at
inference, so train and serve see identical input. A validation split is held out (or given) and scored
before the model ships: accuracy and macro-F1 for classes, Spearman and MAE for the 0-5 ``edu`` score. The
card (Markdown for people, JSON for tools) says where the labels came from and how good the model is.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import os
import platform
import tempfile
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import Field

from annotators.convert import read_jsonl, split_holdout
from annotators.fasttext_head import DEFAULT_MAX_CHARS, LABEL_PREFIX, normalize
from corpusforge.config import Config
from corpusforge.errors import ConfigError, DependencyError, InputError

#: labels whose classes are the integers 0..5 and are evaluated as a score
SCORE_LABELS = frozenset({"edu"})


class StudentConfig(Config):
    dim: int = Field(64, ge=1)
    word_ngrams: int = Field(2, ge=1, le=5)
    bucket: int = Field(200_000, ge=0)
    epoch: int = Field(20, ge=1)
    lr: float = Field(0.5, gt=0)
    min_count: int = Field(1, ge=1)
    minn: int = Field(0, ge=0)
    maxn: int = Field(0, ge=0)
    loss: str = Field("softmax", pattern="^(softmax|hs|ova|ns)$")
    #: fraction held out for validation when no validation file is given
    valid_fraction: float = Field(0.1, ge=0.0, lt=1.0)
    seed: int = 0
    #: characters of each text the student reads (must equal the heads' window at inference)
    max_chars: int = Field(DEFAULT_MAX_CHARS, ge=1)
    #: quantization: keep this many words/ngrams (0 = all); smaller files, slight accuracy cost
    cutoff: int = Field(100_000, ge=0)
    qnorm: bool = True
    retrain: bool = True
    #: fastText training threads (1 makes runs reproducible)
    threads: int = Field(1, ge=1)


#: glibc ``mallopt`` parameter: fill every allocation with ``byte ^ 0xff`` (and every freed chunk with ``byte``)
_M_PERTURB = -6


@contextmanager
def fasttext_guard() -> Iterator[None]:
    """Make fastText training reproducible in a long-lived process.

    The ``fasttext-numpy2-wheel`` build reads heap memory it never initialised while training: the first run
    in a fresh interpreter (zeroed pages) learns, later runs in the same process reuse freed memory and
    diverge ("Encountered NaN") or learn nothing, at any learning rate and with ``thread=1``. That is why short
    runs under pytest were flaky. On glibc, perturbing malloc with byte 0xff makes every fresh allocation
    zero-filled for the duration, so every run sees what a fresh process sees: bit-identical models.
    Elsewhere (no glibc) this is a no-op.
    """
    libc = _glibc()
    if libc is None:
        yield
        return
    libc.mallopt(_M_PERTURB, 0xFF)
    try:
        yield
    finally:
        libc.mallopt(_M_PERTURB, int(os.environ.get("MALLOC_PERTURB_", "0") or 0))


def _glibc() -> Any:
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc if hasattr(libc, "mallopt") else None
    except OSError:
        return None


def load_labelled(path: Path, label: str, field: str | None = None) -> list[dict]:
    """``{"text", "label"}`` rows; rows without the label (a failed teacher answer) are skipped."""
    rows = []
    for n, row in enumerate(read_jsonl(path), 1):
        key = field or (label if label in row else "label")
        if not isinstance(row.get("text"), str):
            raise InputError(f"{path}:{n}", "every line needs a string 'text'")
        value = row.get(key)
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        text = normalize(row["text"], DEFAULT_MAX_CHARS)
        if text:
            rows.append({"text": row["text"], "label": str(value).strip().replace(" ", "_")})
    if not rows:
        raise InputError(str(path), f"no rows with text and a '{field or label}' (or 'label') value")
    return rows


def _write_fasttext(rows: list[dict], path: Path, max_chars: int) -> None:
    with path.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(f"{LABEL_PREFIX}{row['label']} {normalize(row['text'], max_chars)}\n")


def predict(model: Any, texts: list[str], max_chars: int) -> tuple[list[str], list[float | None]]:
    """Top class and expected value Σ p_k·k (None for non-integer classes) per text."""
    cleaned = [normalize(t, max_chars).encode("utf-8", "replace").decode("utf-8") for t in texts]
    labels, probs = model.predict(cleaned, k=-1)
    top, expected = [], []
    for row, p in zip(labels, probs, strict=True):
        names = [lab.removeprefix(LABEL_PREFIX) for lab in row]
        top.append(names[0] if names else "")
        if names and all(n.isdigit() for n in names):
            total = float(sum(p)) or 1.0
            expected.append(sum(int(n) * float(q) for n, q in zip(names, p, strict=True)) / total)
        else:
            expected.append(None)
    return top, expected


def train_student(
    data: Path | list[Path],
    label: str,
    out: Path,
    config: StudentConfig | None = None,
    field: str | None = None,
    source: str | None = None,
    human: bool = False,
    valid: Path | list[Path] | None = None,
    notes: str | None = None,
    reference: Path | None = None,
) -> dict:
    """Train, validate, quantize; write ``out/<label>.ftz``, ``<label>.card.json`` and ``<label>.md``.

    With ``reference`` (reference labels), the model is also scored on their held-out split and the figures,
    beside the majority baseline, go in the card as ``evaluations.reference_heldout``: what the bars read.
    """
    from annotators.metrics import classification_metrics, score_metrics

    try:
        import fasttext
    except ImportError as exc:
        raise DependencyError("annotate train", "fasttext-numpy2-wheel", "web") from exc
    fasttext.FastText.eprint = lambda *args, **kwargs: None
    config = config or StudentConfig()
    data_files = data if isinstance(data, list) else [data]
    valid_files = valid if isinstance(valid, list) else [valid] if valid else []
    rows = [r for path in data_files for r in load_labelled(path, label, field)]
    if valid_files:
        train_rows = rows
        valid_rows = [r for path in valid_files for r in load_labelled(path, label, field)]
    else:
        train_rows, valid_rows = split_holdout(rows, config.valid_fraction, config.seed)
    classes = sorted({r["label"] for r in train_rows})
    if len(classes) < 2:
        raise InputError(
            ", ".join(map(str, data_files)), f"training needs at least two classes for '{label}'; found {classes}"
        )
    out.mkdir(parents=True, exist_ok=True)
    params = dict(
        dim=config.dim,
        wordNgrams=config.word_ngrams,
        bucket=config.bucket,
        epoch=config.epoch,
        lr=config.lr,
        minCount=config.min_count,
        minn=config.minn,
        maxn=config.maxn,
        loss=config.loss,
        seed=config.seed,
        thread=config.threads,
        verbose=0,
    )
    with tempfile.TemporaryDirectory() as tmp:
        train_file = Path(tmp) / "train.txt"
        _write_fasttext(train_rows, train_file, config.max_chars)
        quantize: dict[str, Any] = dict(input=str(train_file), qnorm=config.qnorm, retrain=config.retrain)
        if config.cutoff:
            quantize["cutoff"] = config.cutoff
        model, last, lr_used = None, None, config.lr
        probe = [normalize(r["text"], config.max_chars) for r in train_rows[:200]]
        # fastText stops with "Encountered NaN" when lr is too high for the data: retry once at half the lr
        # (recorded in the card); training is deterministic (fasttext_guard), so retrying at the same lr is moot
        for lr_used in (config.lr, config.lr / 2):
            try:
                with fasttext_guard():
                    model = fasttext.train_supervised(input=str(train_file), **{**params, "lr": lr_used})
                    model.quantize(**quantize, epoch=config.epoch, lr=lr_used, thread=config.threads, verbose=0)
                    _, probs = model.predict(probe)  # diverged weights only show here, as NaN probabilities
                if any(p != p for row in probs for p in row):
                    raise RuntimeError("NaN probabilities")
                break
            except RuntimeError as exc:
                model, last = None, exc
        if model is None:
            raise ConfigError(
                "student.lr", f"training diverged at lr={config.lr} and lr={config.lr / 2} ({last}); lower it"
            )
    model_file = out / f"{label}.ftz"
    partial = out / f".{label}.ftz.tmp"
    model.save_model(str(partial))
    os.replace(partial, model_file)  # atomic: a reader never sees half a model
    validation: dict[str, Any] = {"examples": len(valid_rows)}
    if valid_rows:
        top, expected = predict(model, [r["text"] for r in valid_rows], config.max_chars)
        gold = [r["label"] for r in valid_rows]
        validation.update(classification_metrics(gold, top))
        if label in SCORE_LABELS or all(c.isdigit() for c in classes):
            validation.update(score_metrics([float(g) for g in gold], [e or 0.0 for e in expected]))
    card = {
        "model": label,
        "model_file": str(model_file),
        "size_bytes": model_file.stat().st_size,
        "kind": "score" if label in SCORE_LABELS else "class",
        "labels_from": "human" if human else "teacher",
        "source": source or ", ".join(map(str, data_files)),
        "data": [str(p) for p in data_files],
        "train_examples": len(train_rows),
        "label_counts": dict(Counter(r["label"] for r in train_rows).most_common()),
        "validation_source": ", ".join(map(str, valid_files))
        if valid_files
        else f"held-out {config.valid_fraction:.0%} of the data",
        "validation": validation,
        "hyperparameters": config.model_dump(mode="json"),
        "training": {
            "lr": lr_used,
            "retried_at_half_lr": lr_used != config.lr,
            **({"first_attempt_error": str(last)} if lr_used != config.lr else {}),
        },
        "normalization": f"annotators.fasttext_head.normalize(text, {config.max_chars})",
        "trained_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "fasttext": getattr(fasttext, "__version__", "fasttext-numpy2-wheel"),
        "python": platform.python_version(),
        "notes": notes,
    }
    if reference is not None:
        from annotators.reference_eval import HEAD_FIELDS, card_entry, evaluate_predictors, fasttext_predictor

        if label in HEAD_FIELDS:
            result = evaluate_predictors(reference, {label: fasttext_predictor(label, str(model_file))})
            command = f"corpusforge annotate train --label {label} (reference {reference})"
            card["evaluations"] = {"reference_heldout": card_entry(result, label, command)}
    (out / f"{label}.card.json").write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n")
    (out / f"{label}.md").write_text(render_card(card))
    return card


def render_card(card: dict) -> str:
    """The Markdown model card: provenance first, then the figures a user needs to trust it or not."""
    v = card["validation"]
    lines = [
        f"# `{card['model']}` fastText student",
        "",
        f"- labels from: **{card['labels_from']}** — {card['source']}",
        f"- training examples: {card['train_examples']:,}; validation: {card['validation_source']} "
        f"({v.get('examples', 0):,} examples)",
        f"- file: `{Path(card['model_file']).name}`, {card['size_bytes']:,} bytes (quantized)",
        f"- input: {card['normalization']}",
        f"- trained: {card['trained_at']}",
        "",
        "## Validation",
        "",
        "| metric | value |",
        "|---|---|",
    ]
    for key in ("accuracy", "macro_f1", "spearman", "mae"):
        if key in v and v[key] is not None:
            lines.append(f"| {key} | {v[key]:.3f} |")
    lines += ["", "## Label counts (training)", "", "| label | examples |", "|---|---|"]
    lines += [f"| {k} | {n:,} |" for k, n in card["label_counts"].items()]
    lines += ["", "## Hyperparameters", "", "```json", json.dumps(card["hyperparameters"], indent=2), "```"]
    training = card.get("training") or {}
    if training.get("retried_at_half_lr"):
        lines += [
            "",
            f"Training diverged at lr={card['hyperparameters']['lr']} ({training.get('first_attempt_error')}); "
            f"this model was trained at half that, lr={training['lr']}.",
        ]
    for name, entry in (card.get("evaluations") or {}).items():
        lines += ["", f"## Evaluation: {name}", "", f"data: {entry.get('data')} ({entry.get('split', '')}, "
                  f"{entry.get('examples')} examples), {entry.get('date')}; `{entry.get('command')}`", "",
                  "| metric | value | majority baseline |", "|---|---|---|"]
        base = entry.get("baseline") or {}
        for key, value in entry.items():
            if isinstance(value, float | int) and not isinstance(value, bool) and key != "examples":
                b = base.get(key)
                lines.append(f"| {key} | {_num(value)} | {_num(b) if b is not None else 'n/a'} |")
    if card.get("notes"):
        lines += ["", "## Notes", "", card["notes"]]
    return "\n".join(lines) + "\n"


def _num(value) -> str:
    return f"{value:.3f}" if isinstance(value, float) else str(value)
