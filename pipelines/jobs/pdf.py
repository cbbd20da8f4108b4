"""``kind: pdf``: PDF files and web-routed PDFs → per-page text layer or OCR → documents, on any engine."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from corpusforge.errors import ConfigError
from corpusforge.fs import expand
from pipelines.decontam import DecontamConfig, DecontamStage
from pipelines.jobs.base import JobConfig
from pipelines.label import LangIdConfig, LanguageStage
from pipelines.pdf.refine import RefineConfig, RefineStage
from pipelines.pdf.source import PdfSource
from pipelines.pdf.stage import PdfConfig
from pipelines.stage import Stage

SUFFIXES = (".pdf", ".parquet")


class PdfJobConfig(JobConfig):
    """Inputs are PDF files, or a web job's ``pdfs/`` directory of Parquet parts (one task per file)."""

    kind: Literal["pdf"] = "pdf"
    name: str = "pdf"
    pdf: PdfConfig = PdfConfig()
    refine: RefineConfig = RefineConfig()
    langid: LangIdConfig | None = Field(
        default_factory=lambda: LangIdConfig(min_score=0.0),
        description="Language ID of every document (lid.176), as the web job; min_score 0 labels and never drops; "
        "null: no language (documents land in the 'other' language cell).",
    )

    decontam: DecontamConfig | None = Field(
        None, description="Drop documents sharing an n-gram with an evaluation set; null: off."
    )

    def input_files(self) -> list[str]:
        """One task per PDF or Parquet file; other files in input directories (markers, ledgers) are skipped."""
        if self.decontam is not None:
            self.decontam.check()
        files = [f for f in expand(self.inputs) if f.lower().endswith(SUFFIXES)]
        if not files:
            raise ConfigError("inputs", f"no .pdf or .parquet file matches {self.inputs}")
        return files

    def build_source(self) -> PdfSource:
        return PdfSource(self.pdf)

    def build_stages(self) -> list[Stage]:
        stages: list[Stage] = [RefineStage(self.refine)] if self.refine.enabled else []
        if self.langid is not None and self.langid.enabled:  # on the refined text
            stages.append(LanguageStage(self.langid))
        if self.decontam is not None and self.decontam.enabled:
            stages.append(DecontamStage(self.decontam))
        return stages
