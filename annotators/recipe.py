"""Annotator recipes: the steps (convert, teach, split, train) that reproduce the shipped default models.

A recipe is data (``recipes/annotators.yaml``), validated whole before the first step runs. Paths may use
``{shared}`` (the shared data root), ``{work}`` (scratch: converted data, teacher labels and their cache) and
``{models}`` (where models and cards go). Steps run in order; each is one of the CLI commands, so a recipe
is also the documentation of how to rerun any single step by hand.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from annotators.student import StudentConfig
from annotators.teach import teach_corpus
from annotators.teacher import LABELS, TeacherConfig
from corpusforge.config import Config
from corpusforge.errors import ConfigError
from corpusforge.job import DriverJob


class ConvertSpec(Config):
    kind: Literal["tweeteval", "ag_news", "html"]
    src: str
    out: str
    split: str = "train"
    positive: str = "toxic"
    holdout: float = Field(0.0, ge=0.0, lt=1.0)
    max_chars: int | None = Field(None, ge=1)
    seed: int = 0


class TeachSpec(Config):
    data: list[str] = Field(min_length=1)
    labels: list[str] = Field(min_length=1)
    out: str
    sample: int | None = Field(None, ge=1)
    seed: int = 0
    cache: str | None = None
    teacher: TeacherConfig = TeacherConfig()

    @model_validator(mode="after")
    def _known_labels(self) -> TeachSpec:
        unknown = [name for name in self.labels if name not in LABELS]
        if unknown:
            raise ValueError(f"unknown label(s) {unknown}; known: {', '.join(LABELS)}")
        return self


class SplitSpec(Config):
    data: str
    #: rows kept for training / held out for evaluation
    train: str
    heldout: str
    holdout: float = Field(0.2, gt=0.0, lt=1.0)
    seed: int = 0


class GateSpec(Config):
    """Lexical evidence gate (annotators.evidence): ``label`` stays ``positive`` only with evidence."""

    data: str
    out: str
    label: str = "adult"
    positive: str = "adult"
    negative: str = "ok"
    min_terms: int = Field(2, ge=1)
    #: human-labelled files (label ``toxic``) whose rows with evidence are added as positives to ``out``
    positives_from: list[str] = []


class TrainSpec(Config):
    data: list[str] = Field(min_length=1)
    label: str
    field: str | None = None
    valid: list[str] = []
    human: bool = False
    source: str | None = None
    notes: str | None = None
    #: reference labels: the trained head is scored on their held-out split and the figures go in its card
    reference: str | None = None
    student: StudentConfig = StudentConfig()


class Step(Config):
    name: str
    convert: ConvertSpec | None = None
    teach: TeachSpec | None = None
    split: SplitSpec | None = None
    gate: GateSpec | None = None
    train: TrainSpec | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Step:
        given = [k for k in ("convert", "teach", "split", "gate", "train") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"step '{self.name}' needs exactly one of convert, teach, split, gate, train; has {given}")
        return self

    @property
    def action(self) -> str:
        return next(k for k in ("convert", "teach", "split", "gate", "train") if getattr(self, k) is not None)


class AnnotatorRecipe(DriverJob):
    """``kind: annotators``: convert data, teach, train: reproduces the shipped models (`corpusforge run` or
    `corpusforge annotate recipe`). Its outputs are under ``work`` and ``models``: no output folder of its own."""

    kind: Literal["annotators"] = "annotators"
    name: str = "annotators"
    output: str | None = Field(None, description="Unused: the steps write under work and models.")
    shared: str = "../shared/data"
    work: str = "build/annotators"
    models: str = "annotators/models"
    steps: list[Step] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_names(self) -> AnnotatorRecipe:
        names = [s.name for s in self.steps]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"step names must be unique; repeated: {dupes}")
        return self

    def run_step(self, progress: bool = True, overwrite: bool = False) -> dict[str, Any]:
        return run_recipe(self)

    def path(self, template: str) -> Path:
        return Path(template.format(shared=self.shared, work=self.work, models=self.models))


def run_recipe(recipe: AnnotatorRecipe, only: list[str] | None = None, log: Any = print) -> dict[str, Any]:
    """Run the steps in order (or just ``only``); returns each step's result (stats, card, row counts)."""
    from annotators.convert import (
        ag_news_rows,
        html_rows,
        read_jsonl,
        split_holdout,
        tweeteval_rows,
        write_jsonl,
    )
    from annotators.student import train_student

    if only:
        unknown = sorted(set(only) - {s.name for s in recipe.steps})
        if unknown:
            raise ConfigError("only", f"no step named {unknown}")
    results: dict[str, Any] = {}
    for step in recipe.steps:
        if only and step.name not in only:
            continue
        log(f"== {step.name} ({step.action})")
        if step.convert:
            c = step.convert
            src = recipe.path(c.src)
            if c.kind == "tweeteval":
                rows = list(tweeteval_rows(src, c.split, c.positive))
            elif c.kind == "ag_news":
                rows = list(ag_news_rows(src))
            else:
                rows = list(html_rows(src, c.max_chars))
            out = recipe.path(c.out)
            result = {"rows": len(rows)}
            if c.holdout:
                rows, held = split_holdout(rows, c.holdout, c.seed)
                result["heldout"] = write_jsonl(out.with_name(out.name.removesuffix(".jsonl") + ".heldout.jsonl"), held)
            result["rows"] = write_jsonl(out, rows)
        elif step.teach:
            t = step.teach
            overrides = t.teacher.model_dump(mode="json", exclude_unset=True)
            result = teach_corpus(
                [recipe.path(d) for d in t.data],
                t.labels,
                recipe.path(t.out),
                t.sample,
                cache=recipe.path(t.cache) if t.cache else None,
                seed=t.seed,
                overrides=overrides,
            )
        elif step.split:
            s = step.split
            train_rows, held = split_holdout(list(read_jsonl(recipe.path(s.data))), s.holdout, s.seed)
            result = {
                "train": write_jsonl(recipe.path(s.train), train_rows),
                "heldout": write_jsonl(recipe.path(s.heldout), held),
            }
        elif step.gate:
            from annotators.evidence import evidence_positives, gate_rows

            g = step.gate
            rows, result = gate_rows(
                list(read_jsonl(recipe.path(g.data))), g.label, g.positive, g.negative, g.min_terms
            )
            extra = [
                r
                for src in g.positives_from
                for r in evidence_positives(recipe.path(src), g.min_terms, g.label, g.positive)
            ]
            result["added_positives"] = len(extra)
            result["rows"] = write_jsonl(recipe.path(g.out), rows + extra)
        else:
            assert step.train is not None
            tr = step.train
            result = train_student(
                [recipe.path(d) for d in tr.data],
                tr.label,
                recipe.path("{models}"),
                tr.student,
                field=tr.field,
                source=tr.source,
                human=tr.human,
                valid=[recipe.path(v) for v in tr.valid] or None,
                notes=tr.notes,
                reference=recipe.path(tr.reference) if tr.reference else None,
            )
        log(
            f"   {step.name}: { {k: v for k, v in result.items() if k in ('rows', 'heldout', 'train', 'documents', 'failures', 'demoted', 'kept_terms', 'kept_url', 'added_positives', 'validation', 'size_bytes')} }"
        )
        results[step.name] = result
    return results
