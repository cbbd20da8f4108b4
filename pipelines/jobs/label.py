"""``kind: label``: a previous job's documents (Parquet, record schema) → the same documents with label columns.

One task per input part file, on any engine, filed by the standard `TaskWriter`: documents/, audit/ (dropped
by a threshold or quarantined), ledger/ and completion markers, so the ledger balances and reruns resume.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Literal

from pydantic import Field

from corpusforge.job import JobResult
from corpusforge.ledger import QUARANTINED
from corpusforge.parquet import read_batches
from corpusforge.record import Record, from_table, record_id
from pipelines.jobs.base import DocumentsJobConfig
from pipelines.label import LabelConfig, LabelStage, LangIdConfig, LanguageStage, failing_heads
from pipelines.stage import Outcome, Stage

READ_ROWS = 1024


class DocumentSource:
    """Records of one Parquet part; a part that breaks mid-file ends in one quarantined placeholder record."""

    name = "read"

    def read(self, path: str) -> Iterator[Outcome]:
        basename = os.path.basename(path)
        try:
            for batch in read_batches(path, batch_rows=READ_ROWS):
                for record in from_table(batch):
                    yield Outcome(record)
        except Exception as exc:  # noqa: BLE001 - a truncated or foreign file must not stop the job
            record = Record(id=record_id("label", f"{basename}:unreadable"), text="", source="unknown")
            yield Outcome(record, QUARANTINED, self.name, type(exc).__name__, str(exc)[:2000])


class LabelJobConfig(DocumentsJobConfig):
    """Documents in the record schema (e.g. a web job's ``documents/``) → labelled documents."""

    kind: Literal["label"] = "label"
    name: str = "label"
    labels: LabelConfig = Field(default_factory=LabelConfig, description="Labels to write; needs the models.")
    langid: LangIdConfig | None = Field(
        default_factory=lambda: LangIdConfig(min_score=0.0, relabel=False),
        description="Language ID of documents without a language (lid.176; relabel: true for every document); "
        "null: none.",
    )

    def build_source(self) -> DocumentSource:
        return DocumentSource()

    def build_stages(self) -> list[Stage]:
        stages: list[Stage] = []
        if self.langid is not None and self.langid.enabled:
            stages.append(LanguageStage(self.langid))
        if self.labels.enabled:
            stages.append(LabelStage(self.labels))
        return stages

    def finish(self, files: list[str], result: JobResult) -> None:
        failing = failing_heads(self.labels) if self.labels.enabled else []
        if failing:  # the funnel says it too: these labels exist but nothing should be keyed on them
            result.notes.append(
                f"heads below their bar (meta labels.failing; `corpusforge annotate report`): {', '.join(failing)}"
            )
