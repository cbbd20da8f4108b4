"""Stages that run annotators over records and write their label columns."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from annotators.bars import Bar, head_status, read_card
from annotators.base import Annotator, write_values
from annotators.cascade import stage1_digest
from annotators.contextual_head import ContextualProbe, cascade_model_path, cascade_reader, load_second_stage
from annotators.encoder_head import EncoderHead
from annotators.fasttext_head import (
    DEFAULT_MAX_CHARS,
    DEFAULT_READ_CHARS,
    DEFAULT_READ_WINDOWS,
    RECORD_HEADS,
    FastTextHead,
    model_version,
    resolve_model_path,
)
from annotators.fused_heads import HeadGroup
from annotators.langid import DEFAULT_MAX_CHARS as LID_MAX_CHARS
from annotators.langid import FastTextLanguageID
from annotators.quality import QualitySignals
from annotators.safety import KINDS as PII_KINDS
from annotators.safety import PiiAnnotator
from corpusforge.config import Config
from corpusforge.errors import ConfigError, Drop, InputError
from corpusforge.record import Record
from pipelines.stage import Stage

#: entry-point group of annotators a label pass can run by name (``labels.annotators``)
ANNOTATORS_GROUP = "corpusforge.annotators"


class LangIdConfig(Config):
    enabled: bool = True
    model_path: str | None = Field(None, description="A fastText LID model; default: lid.176 from the wheel.")
    min_score: float = Field(0.65, ge=0, le=1, description="Records scoring below are dropped.")
    thresholds: dict[str, float] = Field(default_factory=dict, description="Per-language min_score overrides.")
    languages: list[str] | None = Field(None, description="Keep only these languages; null keeps all.")
    max_chars: int = Field(LID_MAX_CHARS, gt=0, description="Characters of each document the model reads.")
    relabel: bool = Field(True, description="False: a record that already has a language keeps it, unfiltered.")


class AnnotateStage(Stage):
    """Runs one annotator per record and writes its columns onto the record."""

    def __init__(self, annotator: Annotator):
        super().__init__()
        self.annotator = annotator
        self.name = annotator.name
        self.version = annotator.version

    def apply(self, record: Record) -> Record:
        write_values(record, self.annotator, self.annotator.annotate([record.text]))
        record.meta[f"annotator.{self.annotator.name}"] = self.annotator.version
        return record


class LanguageStage(AnnotateStage):
    """Labels language and score, then applies the per-language thresholds of the config."""

    def __init__(self, config: LangIdConfig):
        super().__init__(FastTextLanguageID(config.model_path, config.max_chars))
        self.config = config
        self.wanted = frozenset(config.languages) if config.languages else None
        self._meta_key = f"annotator.{self.annotator.name}"

    def setup(self) -> None:
        self.annotator.setup()

    def apply(self, record: Record) -> Record:
        if record.lang and not self.config.relabel:
            return record
        record.lang, record.lang_score = self.annotator.label(record.text)
        record.meta[self._meta_key] = self.annotator.version
        if self.wanted is not None and record.lang not in self.wanted:
            raise Drop("lang_not_wanted", record.lang)
        threshold = self.config.thresholds.get(record.lang or "", self.config.min_score)
        if (record.lang_score or 0.0) < threshold:
            raise Drop("lang_low_score", f"{record.lang}={record.lang_score:.3f} < {threshold}")
        return record


class PiiConfig(Config):
    enabled: bool = True
    kinds: list[Literal["email", "iban", "card", "ipv6", "ipv4", "phone"]] = Field(
        default_factory=lambda: list(PII_KINDS), description="Kinds of personal data to detect."
    )
    redact: bool = Field(False, description="Replace each span with a placeholder such as <EMAIL>.")


class HeadRead(Config):
    """What part of a document one head reads (`annotators.fasttext_head.read_windows`)."""

    chars: int = Field(..., gt=0, description="Characters read.")
    windows: int = Field(1, ge=1, le=64, description="1: the prefix; more: that many stretches spread over the text.")


#: each head's reading by default, from `python -m benchmarks.label_prefix` (BENCHMARKS.md "Label stage throughput"):
#: 1,600 characters in 4 stretches spread over the document agree with the whole-document label on >= 95% of the
#: benchmark's 1,010 real pages for every head (domain 0.956, the lowest; an 800-character prefix gave domain 0.911,
#: format 0.934), in one fused pass for all heads, within the >= 2,000 docs/s per core goal
DEFAULT_READS: dict[str, HeadRead] = {
    head: HeadRead(chars=DEFAULT_READ_CHARS, windows=DEFAULT_READ_WINDOWS) for head in RECORD_HEADS
}


class LabelConfig(Config):
    """Which labels one pass writes, from which models, and which labels drop a document."""

    enabled: bool = True
    heads: list[Literal["domain", "format", "field", "edu", "toxicity", "adult", "hate", "offensive"]] = Field(
        default_factory=lambda: list(RECORD_HEADS), description="fastText heads to run (annotators/fasttext_head.py)."
    )
    models: dict[str, str] = Field(
        default_factory=dict, description="Model file per head, overriding annotators/models/<head>.ftz."
    )
    max_chars: int | None = Field(
        None, gt=0, description="Every head reads this many characters of each document (its prefix); null: each "
        "head's measured default (DEFAULT_READS) unless `reads` names it.",
    )
    reads: dict[str, HeadRead] = Field(
        default_factory=dict, description="Per head: the characters it reads and in how many stretches.",
    )
    fuse: bool = Field(
        True,
        description="Score the heads together in one fastText pass (annotators/fused_heads.py: same probabilities "
        "to 1e-5, several times faster); false calls each model's own predict.",
    )
    cascade: dict[str, str] = Field(
        default_factory=dict,
        description="Per binary head (offensive): a contextual decider (.ctx.npz: a probe over a local LM's states "
        "or a fine-tuned encoder; 'default': annotators/models/<head>.ctx.npz) re-scoring the documents whose "
        "fastText score clears its card's screen (annotators/contextual_head.py, encoder_head.py). Its card's "
        "figures then stand for the head; each screened document costs the decider's time (BENCHMARKS.md: the "
        "share screened and docs/s).",
    )
    quality: bool = Field(True, description="Write the quality map (annotators/quality.py).")
    quality_max_chars: int = Field(
        10_000, gt=0, description="Characters the quality signals read (a longer document gets a note)."
    )
    pii: PiiConfig = PiiConfig()
    drop_empty: bool = Field(True, description="Drop documents with no text other than whitespace (empty_text).")
    max_toxicity: float | None = Field(None, ge=0, le=1, description="Drop above this toxicity (reason toxic).")
    max_adult: float | None = Field(None, ge=0, le=1, description="Drop above this adult probability (adult).")
    max_hate: float | None = Field(
        None, ge=0, le=1, description="Drop above this hate probability (reason hate); the card's decision.page_threshold "
        "is the evaluated page-level choice.",
    )
    max_offensive: float | None = Field(
        None, ge=0, le=1, description="Drop above this offensive probability (reason offensive); see max_hate.",
    )
    min_edu: float | None = Field(None, ge=0, le=5, description="Drop below this educational value (low_edu).")
    bars: dict[str, list[Bar]] | None = Field(
        None, description="Bars each head's card must clear (annotators/bars.py); null: the defaults."
    )
    annotators: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="More annotators, run after the heads and quality signals and before PII: an entry-point name "
        "(group corpusforge.annotators) or 'package.module:Class', mapped to its constructor arguments.",
    )

    @model_validator(mode="after")
    def _consistent(self):
        for head in [*self.models, *self.reads]:
            if head not in RECORD_HEADS:
                raise ValueError(f"models/reads.{head}: not a head; choose from {', '.join(RECORD_HEADS)}")
        thresholds = (("max_toxicity", "toxicity"), ("max_adult", "adult"), ("max_hate", "hate"),
                      ("max_offensive", "offensive"), ("min_edu", "edu"))  # fmt: skip
        for field, head in thresholds:
            if getattr(self, field) is not None and head not in self.heads:
                raise ValueError(f"{field} needs the '{head}' head in heads")
        if self.enabled:  # a missing model fails here, before any work, naming the head
            for head in self.heads:
                try:
                    resolve_model_path(head, self.models.get(head))
                except InputError as exc:
                    raise ValueError(f"models.{head}: {exc}") from None
        for head, path in self.cascade.items():
            if head not in ("hate", "offensive", "toxicity", "adult") or head not in self.heads:
                raise ValueError(f"cascade.{head}: a cascade follows a binary head listed in heads")
            if self.enabled:
                try:
                    cascade_screen(head, path, resolve_model_path(head, self.models.get(head)))
                except InputError as exc:
                    raise ValueError(f"cascade.{head}: {exc}") from None
        for name, kwargs in self.annotators.items():  # an unknown name or a bad argument fails before any work
            try:
                build_annotator(name, kwargs)
            except (ConfigError, TypeError, ValueError) as exc:
                raise ValueError(f"annotators.{name}: {exc}") from None
        return self


def cascade_screen(head: str, path: str | None, stage1: str | Path | None = None) -> float:
    """The screening threshold in the card beside a head's contextual probe (InputError when missing). With
    ``stage1``, also an InputError when the card names another stage-1 head than that file: the screen is a
    threshold on that head's scores, and on a retrained head it may pass nearly every page (cards from before the
    hash was recorded are not checked)."""
    model = cascade_model_path(head, path)
    card = read_card(model) or {}
    screen = (card.get("decision") or {}).get("screen")
    if screen is None:
        raise InputError(str(model), "its card (.ctx.card.json) names no decision.screen")
    recorded = card.get("stage1_sha256")
    if stage1 is not None and recorded and recorded != stage1_digest(stage1):
        raise InputError(str(model), f"its screen was calibrated on another {head} head than {stage1}; retrain it "
                         "with `corpusforge annotate train-cascade --stage1 ...`")  # fmt: skip
    return float(screen)


def build_annotator(name: str, kwargs: dict[str, Any]) -> Annotator:
    """An annotator by entry-point name (group ``corpusforge.annotators``) or ``package.module:Class``."""
    import importlib
    from importlib.metadata import entry_points

    if ":" in name:
        module, _, attr = name.partition(":")
        try:
            cls = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as exc:
            raise ConfigError(name, f"cannot import: {exc}") from None
    else:
        found = {ep.name: ep for ep in entry_points(group=ANNOTATORS_GROUP)}
        if name not in found:
            raise ConfigError(name, f"no such annotator; registered: {', '.join(sorted(found)) or 'none'}")
        cls = found[name].load()
    if not (isinstance(cls, type) and issubclass(cls, Annotator)):
        raise ConfigError(name, "is not an Annotator class")
    return cls(**kwargs)


def head_read(config: LabelConfig, head: str) -> HeadRead:
    """``reads.<head>``, else ``max_chars`` as a prefix, else the head's measured default."""
    if head in config.reads:
        return config.reads[head]
    if config.max_chars is not None:
        return HeadRead(chars=config.max_chars)
    return DEFAULT_READS.get(head, HeadRead(chars=DEFAULT_MAX_CHARS))


#: meta key listing (comma-separated) the heads that wrote a label although they fail their bar
FAILING_KEY = "labels.failing"


def failing_heads(config: LabelConfig) -> list[str]:
    """The configured heads whose model card does not clear their bars (annotators/bars.py)."""
    def model(head: str):  # a cascaded head is judged by its cascade's card
        if head in config.cascade:
            return cascade_model_path(head, config.cascade[head])
        return resolve_model_path(head, config.models.get(head))

    return [head for head in config.heads if not head_status(head, model(head), config.bars).passed]


class LabelStage(Stage):
    """The label annotators in one pass per record, each through the `Annotator` interface: the fastText heads
    (scored together, `HeadGroup`), the quality signals, any ``annotators:`` of the config, PII last (its
    redaction replaces the text after the others read the original); then the drop thresholds.

    Each annotator's version goes into meta as ``annotator.<name>``, so a labelled corpus says which models
    labelled it; heads that fail their bar are named under ``labels.failing``, so nothing downstream mistakes
    their labels for good ones.
    """

    name = "label"

    def __init__(self, config: LabelConfig):
        super().__init__()
        self.config = config
        heads = []
        for h in config.heads:
            read = head_read(config, h)
            heads.append(FastTextHead(h, config.models.get(h), read.chars, read.windows))
        self.annotators: list[Annotator] = [HeadGroup(heads, fuse=config.fuse)] if heads else []
        if config.quality:
            self.annotators.append(QualitySignals(config.quality_max_chars))
        self.annotators += [build_annotator(name, kwargs) for name, kwargs in config.annotators.items()]
        if config.pii.enabled:
            self.annotators.append(PiiAnnotator(config.pii.kinds, redact=config.pii.redact))
        named = [*heads, *(a for a in self.annotators if not isinstance(a, HeadGroup))]
        self.versions = {f"annotator.{a.name}": a.version for a in named}
        #: head → (contextual probe, screen): documents the head's fastText score screens in are re-scored
        self.cascades: dict[str, tuple[ContextualProbe | EncoderHead, float]] = {}
        for head, path in config.cascade.items():
            model = cascade_model_path(head, path)
            self.cascades[head] = (load_second_stage(model), cascade_screen(head, path))
            self.versions[f"annotator.{head}.ctx"] = model_version(str(model))
        self.failing = failing_heads(config) if heads else []
        if self.failing:
            self.versions[FAILING_KEY] = ",".join(self.failing)

    def setup(self) -> None:
        for annotator in self.annotators:
            annotator.setup()

    def apply(self, record: Record) -> Record:
        if self.config.drop_empty and not record.text.strip():
            raise Drop("empty_text")
        for annotator in self.annotators:
            write_values(record, annotator, annotator.annotate([record.text]))
            if self.cascades and isinstance(annotator, HeadGroup):  # before PII can redact the text
                self._cascade(record)
        record.meta.update(self.versions)
        self._thresholds(record)
        return record

    def _cascade(self, record: Record) -> None:
        for head, (probe, screen) in self.cascades.items():
            value = getattr(record, head)
            if value is not None and value >= screen:
                setattr(record, head, probe.score([cascade_reader(record.text)])[0])

    def _thresholds(self, record: Record) -> None:
        c = self.config
        if c.max_toxicity is not None and record.toxicity is not None and record.toxicity > c.max_toxicity:
            raise Drop("toxic", f"toxicity={record.toxicity:.3f} > {c.max_toxicity}")
        if c.max_adult is not None and record.adult is not None and record.adult > c.max_adult:
            raise Drop("adult", f"adult={record.adult:.3f} > {c.max_adult}")
        if c.max_hate is not None and record.hate is not None and record.hate > c.max_hate:
            raise Drop("hate", f"hate={record.hate:.3f} > {c.max_hate}")
        if c.max_offensive is not None and record.offensive is not None and record.offensive > c.max_offensive:
            raise Drop("offensive", f"offensive={record.offensive:.3f} > {c.max_offensive}")
        if c.min_edu is not None and record.edu_score is not None and record.edu_score < c.min_edu:
            raise Drop("low_edu", f"edu_score={record.edu_score:.2f} < {c.min_edu}")
