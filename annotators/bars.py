"""Bars a head must clear before anything is built on its label, and each head's verdict from its model card.

A card keeps its evaluated figures under ``evaluations.<name>`` (``reference_heldout``: the reference labels'
held-out split; ``tweeteval_hate_val`` ...). A bar names one figure, a bound, and whether the figure must also
beat the majority-class baseline stored beside it. A head with a missing figure fails: unmeasured is not good.
The label stage flags failing heads, the shard job keys no cell on them, `corpusforge annotate report` lists them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import Field, model_validator

from corpusforge.config import Config


class Bar(Config):
    evaluation: str = Field(..., description="The card's evaluations.<name> holding the figure.")
    metric: str = Field(..., description="The figure, e.g. accuracy, spearman, macro_f1.")
    min: float | None = None
    max: float | None = None
    beat_baseline: bool = Field(True, description="The figure must also beat the stored majority baseline.")

    @model_validator(mode="after")
    def _bounded(self):
        if self.min is None and self.max is None:
            raise ValueError(f"bar {self.evaluation}.{self.metric}: give min or max")
        return self

    def describe(self) -> str:
        bound = f">= {self.min}" if self.min is not None else f"<= {self.max}"
        return f"{self.evaluation}.{self.metric} {bound}" + (" and > baseline" if self.beat_baseline else "")


def _bar(evaluation: str, metric: str, **kw) -> Bar:
    return Bar(evaluation=evaluation, metric=metric, **kw)


def default_bars() -> dict[str, list[Bar]]:
    """The issue's goals (topic accuracy, edu Spearman, TweetEval macro-F1); format and adult: see the notes."""
    ref = "reference_heldout"
    return {
        "domain": [_bar(ref, "accuracy", min=0.70)],
        # format: 77% of the held-out pages are articles, so accuracy alone rewards the constant answer
        "format": [_bar(ref, "accuracy", min=0.80), _bar(ref, "macro_f1", min=0.40)],
        "edu": [_bar(ref, "spearman", min=0.70)],
        "toxicity": [
            _bar("tweeteval_hate_val", "macro_f1", min=0.60, beat_baseline=False),
            _bar("tweeteval_offensive_val", "macro_f1", min=0.75, beat_baseline=False),
            # real pages: one reference page in 400 is toxic, so the head must leave clean pages alone
            _bar(ref, "flagged_rate", max=0.05, beat_baseline=False),
        ],
        # hate, offensive (annotators/safety_heads.py): the TweetEval goals, and clean real pages left alone
        "hate": [
            _bar("tweeteval_hate_val", "macro_f1", min=0.60),
            _bar(ref, "flagged_rate", max=0.05, beat_baseline=False),
        ],
        "offensive": [
            _bar("tweeteval_offensive_val", "macro_f1", min=0.75),
            _bar(ref, "flagged_rate", max=0.05, beat_baseline=False),
        ],
        # adult: no adult page among the reference pages; a head that flags clean real pages cannot be trusted
        "adult": [_bar(ref, "flagged_rate", max=0.02, beat_baseline=False)],
        # field: no reference labels for academic fields, so nothing can show it works
        "field": [_bar("reference_heldout", "accuracy", min=0.70)],
    }


@dataclass
class HeadStatus:
    head: str
    passed: bool
    checks: list[dict] = field(default_factory=list)  # {bar, figure, baseline, passed, why}
    card: str | None = None

    def reason(self) -> str:
        failed = [c for c in self.checks if not c["passed"]]
        return "; ".join(f"{c['bar']}: {c['why']}" for c in failed) or "passes"


def check_bar(bar: Bar, card: dict) -> dict:
    entry = (card.get("evaluations") or {}).get(bar.evaluation)
    out = {"bar": bar.describe(), "figure": None, "baseline": None, "passed": False}
    if entry is None:
        return {**out, "why": f"no '{bar.evaluation}' evaluation in the card"}
    figure = entry.get(bar.metric)
    base = (entry.get("baseline") or {}).get(bar.metric)
    out.update(figure=figure, baseline=base)
    if figure is None:
        return {**out, "why": f"no {bar.metric} figure (undefined)"}
    if bar.min is not None and figure < bar.min:
        return {**out, "why": f"{figure:.3f} < {bar.min}"}
    if bar.max is not None and figure > bar.max:
        return {**out, "why": f"{figure:.3f} > {bar.max}"}
    if bar.beat_baseline and base is not None and figure <= base:
        return {**out, "why": f"{figure:.3f} does not beat the baseline {base:.3f}"}
    return {**out, "passed": True, "why": "passes"}


def card_path(model_path: str | Path) -> Path:
    path = Path(model_path)
    return path.with_name(path.name.removesuffix(".npz").removesuffix(".ftz").removesuffix(".bin") + ".card.json")


def read_card(model_path: str | Path) -> dict | None:
    path = card_path(model_path)
    return json.loads(path.read_text()) if path.is_file() else None


def head_status(head: str, model_path: str | Path, bars: dict[str, list[Bar]] | None = None) -> HeadStatus:
    """Does the model at ``model_path`` clear every bar of ``head``? A head without bars passes by configuration."""
    bars = default_bars() if bars is None else bars
    if not bars.get(head):  # a head configured with no bar passes: the user chose not to gate it
        return HeadStatus(head, True, [], None)
    card = read_card(model_path)
    if card is None:
        return HeadStatus(head, False, [{"bar": "model card", "figure": None, "baseline": None, "passed": False,
                                         "why": f"no card beside {model_path}"}])
    checks = [check_bar(bar, card) for bar in bars.get(head, [])]
    return HeadStatus(head, all(c["passed"] for c in checks), checks, str(card_path(model_path)))


def record_evaluation(model_path: str | Path, name: str, entry: dict) -> Path:
    """Write (or replace) ``evaluations.<name>`` in the model's card, atomically."""
    path = card_path(model_path)
    card = json.loads(path.read_text()) if path.is_file() else {"model": Path(model_path).stem}
    card.setdefault("evaluations", {})[name] = entry
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n")
    tmp.replace(path)
    return path
