"""Training a binary safety head's cascade: the shipped fastText head screens, a contextual decider decides.

The decider (``stage2``) is a logistic probe over a frozen LM's pooled states (below) or a fine-tuned small encoder
(`annotators.encoder_head`): a seeded development split of the train tweets (``dev_share``) picks its epoch, and
both stages' scores on it (fastText refitted without it) pick the screen and the flag threshold as below.

For the probe, all on TweetEval's train split: a seeded sample of ``sample`` train tweets gets the LM's features (the
expensive part); k folds over that sample give out-of-fold scores of both stages (the fastText head refitted per
fold on every train tweet outside the fold's test part, with the shipped head's hyperparameters); the probe's
layer and C maximise its out-of-fold macro-F1; the screen is the highest fastText score that keeps ``recall`` of
the fold-held positives; the flag threshold (>= the screen) maximises the cascade's out-of-fold macro-F1. The
probe is then refitted on the whole sample, and validation is read once, for the card (``<task>.ctx.card.json``
beside ``<task>.ctx.npz``), which the bars and `corpusforge annotate report` read.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import Field

from annotators.contextual_head import ContextualProbe, PooledStates, StatesConfig, load_second_stage
from annotators.convert import tweeteval_rows
from annotators.encoder_head import EncoderConfig, EncoderHead
from annotators.metrics import classification_metrics
from annotators.safety_heads import NEGATIVE, SAFETY_TASKS, GridPoint, SafetyTrainConfig, fit_head, positive_probs
from corpusforge.config import Config
from corpusforge.errors import ConfigError


class CascadeConfig(Config):
    stage2: Literal["probe", "encoder"] = Field(
        "probe", description="The decider: a logistic probe over a frozen LM's states, or a fine-tuned encoder."
    )
    states: StatesConfig = StatesConfig()
    encoder: EncoderConfig = EncoderConfig()
    dev_share: float = Field(0.15, gt=0, lt=1, description="encoder: train tweets held out to pick epoch, screen, threshold.")
    sample: int = Field(3000, ge=50, description="Train tweets the LM reads (a seeded sample): its CPU cost.")
    folds: int = Field(5, ge=2)
    c_grid: list[float] = Field([0.001, 0.003, 0.01, 0.03], min_length=1, description="Logistic C values tried.")
    search_layers: list[int] | None = Field(None, description="Layers the CV tries (default: every pooled one).")
    recall: float = Field(0.95, gt=0, le=1, description="Share of positives the screen must let through (CV).")
    seed: int = 0


def _threshold_grid(low: float) -> list[float]:
    return [t for t in (round(0.01 * i, 2) for i in range(1, 100)) if t >= low]


def _cascade_f1(gold: list[str], s1: np.ndarray, s2: np.ndarray, screen: float, threshold: float, positive: str) -> float:
    flagged = (s1 >= screen) & (s2 >= threshold)
    return classification_metrics(gold, [positive if f else NEGATIVE for f in flagged])["macro_f1"]


def _best_flag(gold: list[str], s1: np.ndarray, s2: np.ndarray, screen: float, positive: str) -> tuple[float, float]:
    """(macro-F1, threshold) of the cascade over flag thresholds >= the screen (ties: the one nearest 0.5)."""
    best = max((_cascade_f1(gold, s1, s2, screen, t, positive), -abs(t - 0.5), t) for t in _threshold_grid(screen))
    return best[0], best[2]


def screen_for_recall(s1: np.ndarray, positive: np.ndarray, recall: float) -> float:
    """The highest screen passing at least ``recall`` of the positives: the (1 - recall) quantile of their scores
    (fastText's scores of a positive tweet go down to 1e-4, so a fixed grid would screen in everything)."""
    scores = np.sort(s1[positive])
    if not len(scores):
        return 0.0
    return float(scores[int(np.floor((1 - recall) * len(scores) + 1e-9))])


def _logistic(C: float, seed: int):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=3000, random_state=seed))


@dataclass
class _Stage2:
    """A fitted decider and what was chosen on the train split: held-out scores of both stages on the same tweets."""

    model: ContextualProbe | EncoderHead
    gold: list[str]
    s1: np.ndarray
    s2: np.ndarray
    alone_threshold: float
    selection: dict
    source: str
    lm: dict
    label_counts: dict
    val_scores: Callable[[list[str]], np.ndarray]


def _fit_probe(task: str, rows: list[dict], point: GridPoint, ft: SafetyTrainConfig, config: CascadeConfig) -> _Stage2:
    """A logistic probe on a sample's pooled LM states; layer and C by k-fold CV (stage 1 refitted per fold)."""
    from sklearn.model_selection import StratifiedKFold

    from annotators.safety_heads import best_threshold

    order = np.random.default_rng(config.seed).permutation(len(rows))[: config.sample]
    sample = [rows[i] for i in order]
    y = np.array([r["label"] == task for r in sample])
    gold = [r["label"] for r in sample]
    states = PooledStates(config.states)
    try:
        X = states.features([r["text"] for r in sample])
    finally:
        states.close()
    layers = states.config.layers
    searched = [layer for layer in layers if not config.search_layers or layer in config.search_layers]
    folds = list(StratifiedKFold(config.folds, shuffle=True, random_state=config.seed).split(X, y))
    # stage 1 out of fold: fastText refitted on every train tweet but the fold's test part
    s1 = np.zeros(len(sample))
    with tempfile.TemporaryDirectory(prefix="corpusforge-cascade-") as tmp:
        for _, test in folds:
            held = {int(order[i]) for i in test}
            model = fit_head([r for i, r in enumerate(rows) if i not in held], point, ft, tmp)
            s1[test] = positive_probs(model, [sample[i]["text"] for i in test], ft.max_chars, task)
    tried = []
    for layer in searched:
        Xl = X[:, layers.index(layer), :]
        for C in config.c_grid:
            oof = np.zeros(len(sample))
            for train, test in folds:
                oof[test] = _logistic(C, config.seed).fit(Xl[train], y[train]).predict_proba(Xl[test])[:, 1]
            f1, threshold = best_threshold(gold, oof.tolist(), task)
            tried.append({"layer": layer, "C": C, "cv_macro_f1": f1, "cv_threshold": threshold, "oof": oof})
    chosen = max(tried, key=lambda t: t["cv_macro_f1"])
    fitted = _logistic(chosen["C"], config.seed).fit(X[:, layers.index(chosen["layer"]), :], y)
    scaler, logistic = fitted[0], fitted[1]
    probe = ContextualProbe(states.config, chosen["layer"], scaler.mean_, scaler.scale_, logistic.coef_[0],
                            logistic.intercept_[0])  # fmt: skip

    def val_scores(texts: list[str]) -> np.ndarray:
        val_states = PooledStates(config.states)  # the train run's cache: tweets seen before cost nothing
        try:
            return probe.proba(val_states.features(texts)[:, layers.index(chosen["layer"]), :])
        finally:
            val_states.close()

    selection = {
        "chosen_on": f"{config.folds}-fold CV over the train sample (stage 1 refitted per fold)",
        "tried": [{k: v for k, v in t.items() if k != "oof"} for t in tried],
        "layer": chosen["layer"], "C": chosen["C"], "cv_probe_macro_f1": chosen["cv_macro_f1"],
    }  # fmt: skip
    return _Stage2(probe, gold, s1, chosen["oof"], chosen["cv_threshold"], selection,
                   f"TweetEval {task} train split (human labels): a seeded sample of {len(sample)} tweets for the probe",
                   {"kind": "probe", **states.config.model_dump(mode="json", exclude={"cache"})},
                   dict(Counter(gold).most_common()), val_scores)  # fmt: skip


def _fit_encoder(task: str, rows: list[dict], point: GridPoint, ft: SafetyTrainConfig, config: CascadeConfig,
                 on_epoch: Callable[[dict], None] | None = None) -> _Stage2:  # fmt: skip
    """A fine-tuned encoder; a seeded development split of the train tweets picks its epoch and holds the scores
    both stages (fastText refitted without it) give it."""
    perm = np.random.default_rng(config.seed).permutation(len(rows))
    n_dev = max(1, int(round(config.dev_share * len(rows))))
    dev_idx, fit_idx = perm[:n_dev], perm[n_dev:]
    if config.encoder.train_examples:
        fit_idx = fit_idx[: config.encoder.train_examples]
    dev, fit = [rows[i] for i in dev_idx], [rows[i] for i in fit_idx]
    gold = [r["label"] for r in dev]
    with tempfile.TemporaryDirectory(prefix="corpusforge-cascade-") as tmp:
        model = fit_head([rows[i] for i in perm[n_dev:]], point, ft, tmp)
        s1 = np.array(positive_probs(model, [r["text"] for r in dev], ft.max_chars, task))
    head = EncoderHead.pretrained(config.encoder)
    history = head.fit([r["text"] for r in fit], np.array([r["label"] == task for r in fit]),
                       [r["text"] for r in dev], np.array([r["label"] == task for r in dev]), on_epoch)  # fmt: skip
    best = max(history, key=lambda h: (h["dev_macro_f1"], -h["dev_loss"]))
    s2 = head.dev_scores
    selection = {
        "chosen_on": f"a seeded development split of {len(dev)} train tweets (stage 1 refitted without it)",
        "tried": history, "epoch": best["epoch"], "cv_probe_macro_f1": best["dev_macro_f1"],
    }  # fmt: skip
    return _Stage2(head, gold, s1, s2, best["dev_threshold"], selection,
                   f"TweetEval {task} train split (human labels): {len(fit)} tweets fine-tune the encoder",
                   {"kind": "encoder", **config.encoder.model_dump(mode="json")},
                   dict(Counter(r["label"] for r in fit).most_common()), head.proba)  # fmt: skip


def stage1_digest(path: str | Path) -> str:
    """The screening head's file hash: a cascade's screen is a threshold on *that* head's scores."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def train_cascade(task: str, tweeteval: Path, stage1: Path, out: Path, config: CascadeConfig | None = None,
                  command: str = "", on_epoch: Callable[[dict], None] | None = None) -> dict:  # fmt: skip
    """Fit ``out/<task>.ctx.npz`` behind the fastText head ``stage1`` (its card gives the hyperparameters stage 1
    is refitted with); write the card with the cascade's validation figures; returns the card. ``on_epoch`` hears
    each fine-tuning epoch's development figures (an encoder decider)."""
    from annotators.bars import read_card
    from annotators.fasttext_head import FastTextHead
    from annotators.safety_heads import best_threshold

    if task not in SAFETY_TASKS:
        raise ConfigError("task", f"{task!r} is not one of {', '.join(SAFETY_TASKS)}")
    config = config or CascadeConfig()
    card1 = read_card(stage1) or {}
    hyper = card1.get("hyperparameters") or {}
    ft = SafetyTrainConfig(**{k: hyper[k] for k in ("dim", "bucket", "max_chars", "seed") if k in hyper},
                           quantize=False)  # fmt: skip
    point = GridPoint(**{k: hyper[k] for k in GridPoint.model_fields if k in hyper})
    src = Path(tweeteval) / task
    rows = list(tweeteval_rows(src, "train", task))
    if config.stage2 == "encoder":
        fit = _fit_encoder(task, rows, point, ft, config, on_epoch)
    else:
        fit = _fit_probe(task, rows, point, ft, config)
    screen = screen_for_recall(fit.s1, np.array(fit.gold) == task, config.recall)
    cv_f1, flag = _best_flag(fit.gold, fit.s1, fit.s2, screen, task)
    s1_f1, s1_threshold = best_threshold(fit.gold, fit.s1.tolist(), task)
    out.mkdir(parents=True, exist_ok=True)
    model_file = out / f"{task}.ctx.npz"
    fit.model.save(model_file)
    # validation, read once: the shipped fastText head screens, the decider decides
    val = list(tweeteval_rows(src, "val", task))
    val_gold = [r["label"] for r in val]
    head = FastTextHead(task, str(stage1), ft.max_chars)
    v1 = np.array([head.values(head.read(r["text"]))[0] or 0.0 for r in val])
    v2 = fit.val_scores([r["text"] for r in val])
    flagged = (v1 >= screen) & (v2 >= flag)
    at = classification_metrics(val_gold, [task if f else NEGATIVE for f in flagged])
    alone = classification_metrics(val_gold, [task if p >= fit.alone_threshold else NEGATIVE for p in v2])
    majority = Counter(r["label"] for r in rows).most_common(1)[0][0]
    base = classification_metrics(val_gold, [majority] * len(val))
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    entry = {"data": str(src / "val_text.txt"), "examples": len(val), "screen": screen, "threshold": flag,
             "accuracy": at["accuracy"], "macro_f1": at["macro_f1"],
             "per_class_f1": {c: v["f1"] for c, v in at["per_class"].items()},
             "screened_share": float((v1 >= screen).mean()),
             "positives_screened": float((v1[np.array(val_gold) == task] >= screen).mean()),
             "probe_alone_macro_f1": alone["macro_f1"], "alone_threshold": fit.alone_threshold,
             "baseline": {"majority": majority, "accuracy": base["accuracy"], "macro_f1": base["macro_f1"]},
             "date": now, "command": command}  # fmt: skip
    card = {
        "model": f"{task} (cascade)",
        "model_file": str(model_file),
        "stage1": str(stage1),
        "stage1_sha256": stage1_digest(stage1),
        "kind": "cascade",
        "labels_from": "human",
        "source": fit.source,
        "lm": fit.lm,
        "train_examples": sum(fit.label_counts.values()),
        "label_counts": fit.label_counts,
        "selection": fit.selection | {
            "cv_cascade_macro_f1": cv_f1, "cv_stage1_macro_f1": s1_f1, "cv_stage1_threshold": s1_threshold,
            "cv_screened_share": float((fit.s1 >= screen).mean()), "recall_target": config.recall,
        },  # fmt: skip
        "decision": {"screen": screen, "tweet_threshold": flag},
        "trained_at": now,
        "notes": (
            f"Record value: the decider's P({task}) where the fastText head's score >= decision.screen, else the "
            "fastText score (below the screen, so below every flag threshold). The decider costs ~0.01-1 s CPU per "
            "text: the label stage's speed depends on the share of pages screened in (BENCHMARKS.md)."
        ),
        "evaluations": {f"tweeteval_{task}_val": entry},
    }
    (out / f"{task}.ctx.card.json").write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n")
    (out / f"{task}.ctx.md").write_text(render_cascade_card(card))
    return card


def page_scores(task: str, stage1: str | Path, probe: ContextualProbe | EncoderHead, screen: float, texts: list[str]) -> tuple[list, int]:
    """(cascade values, pages screened in) of pages read as the label stage reads them."""
    from annotators.contextual_head import cascade_reader, cascade_values
    from annotators.fasttext_head import DEFAULT_READ_CHARS, DEFAULT_READ_WINDOWS, FastTextHead

    first = FastTextHead(task, str(stage1), DEFAULT_READ_CHARS, DEFAULT_READ_WINDOWS).annotate(texts)[task]
    return cascade_values(first, [cascade_reader(t) for t in texts], probe, screen)


def calibrate_cascade_pages(task: str, model_dir: Path, reference: Path, quantile: float = 0.99,
                            command: str = "") -> dict:  # fmt: skip
    """The cascade's page threshold (``quantile`` of its values on the reference train split's clean pages, never
    below its tweet threshold), the share of pages screened in, and the held-out pages' figures, into its card."""
    from annotators.reference import load_reference, split_reference
    from annotators.safety_heads import page_figures, upper_quantile

    card_file = model_dir / f"{task}.ctx.card.json"
    card = json.loads(card_file.read_text())
    probe = load_second_stage(model_dir / f"{task}.ctx.npz")
    screen, floor = card["decision"]["screen"], card["decision"]["tweet_threshold"]
    train, held = split_reference(load_reference(reference))
    train_values, train_screened = page_scores(task, card["stage1"], probe, screen, [r["text"] for r in train])
    clean = [v for v, r in zip(train_values, train, strict=True) if not r["toxic"]]
    threshold = max(floor, upper_quantile(clean, quantile))
    held_values, held_screened = page_scores(task, card["stage1"], probe, screen, [r["text"] for r in held])
    gold = [r["toxic"] for r in held]
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    card["decision"] |= {"page_threshold": threshold, "page_quantile": quantile,
                         "page_train": page_figures(train_values, [r["toxic"] for r in train], threshold),
                         "pages_screened": {"train": train_screened / len(train), "heldout": held_screened / len(held)}}
    card["evaluations"]["reference_heldout"] = {
        "data": str(reference), "split": "heldout", "field": "toxic", **page_figures(held_values, gold, threshold),
        "screened_share": held_screened / len(held), "baseline": {"majority": False, "flagged_rate": 0.0},
        "date": now, "command": command}  # fmt: skip
    card_file.write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n")
    card_file.with_name(f"{task}.ctx.md").write_text(render_cascade_card(card))
    return card


def _stage2_line(card: dict) -> str:
    sel, lm = card["selection"], card["lm"]
    if lm.get("kind") == "encoder":
        return (f"- stage 2: {lm['model'] or 'all-MiniLM-L6-v2'} fine-tuned ({lm['max_tokens']} tokens, lr {lm['lr']}, "
                f"epoch {sel['epoch']} of {lm['epochs']} kept)")  # fmt: skip
    return (f"- stage 2: logistic probe on layer {sel['layer']} of {lm['model']} (C {sel['C']}), mean over the first "
            f"{lm['max_tokens']} tokens")  # fmt: skip


def render_cascade_card(card: dict) -> str:
    """The card as Markdown (``<task>.ctx.md``): what screens, what decides, the figures with their baselines."""
    sel, dec = card["selection"], card["decision"]
    lines = [f"# {card['model']}", "", card["notes"], "",
             f"- stage 1 (screen): `{card['stage1']}`, screen {dec['screen']:.2f}",
             _stage2_line(card) + f"; tweet threshold {dec['tweet_threshold']:.2f}"
             + (f", page threshold {dec['page_threshold']:.3f}" if "page_threshold" in dec else ""),
             f"- trained on: {card['source']} ({card['label_counts']})",
             f"- chosen by: {sel['chosen_on']}: macro-F1 stage 2 {sel['cv_probe_macro_f1']:.3f}, cascade "
             f"{sel['cv_cascade_macro_f1']:.3f}, fastText alone {sel['cv_stage1_macro_f1']:.3f}", ""]  # fmt: skip
    for name, entry in card["evaluations"].items():
        lines += [f"## Evaluation: {name}", ""]
        lines += [f"- {k}: {v:.4f}" if isinstance(v, float) else f"- {k}: {v}" for k, v in entry.items()
                  if k not in ("per_class_f1",)]  # fmt: skip
        lines.append("")
    return "\n".join(lines)
