"""``kind: web``: archives → HTML records → main text → language → quality filters → [labels →] documents
[→ dedup, chained into OUTPUT/dedup]."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from corpusforge.errors import ConfigError
from corpusforge.fs import expand, filesystem
from corpusforge.job import JobResult
from pipelines.decontam import DecontamConfig, DecontamStage
from pipelines.dedup.config import DedupConfig
from pipelines.extract import ExtractConfig, ExtractStage
from pipelines.filters import FiltersConfig, build_filters
from pipelines.jobs.base import JobConfig
from pipelines.jobs.dedup import DedupJobConfig
from pipelines.label import LabelConfig, LabelStage, LangIdConfig, LanguageStage
from pipelines.stage import Stage
from pipelines.web import WarcConfig, WarcSource


class WebJobConfig(JobConfig):
    """Web path: archives → HTML records → main text → language → quality filters → [labels →] documents."""

    kind: Literal["web"] = "web"
    name: str = "web"
    warc: WarcConfig = WarcConfig()
    extract: ExtractConfig = ExtractConfig()
    langid: LangIdConfig = LangIdConfig()
    filters: FiltersConfig = FiltersConfig()
    labels: LabelConfig | None = Field(None, description="Label kept documents (after the filters); null: no labels.")
    dedup: DedupConfig | None = Field(None, description="Deduplicate the kept documents into OUTPUT/dedup.")
    decontam: DecontamConfig | None = Field(
        None, description="Drop documents sharing an n-gram with an evaluation set (after the filters); null: off."
    )

    def input_files(self) -> list[str]:
        """The task list: one archive file per task, in a stable order."""
        if self.decontam is not None:
            self.decontam.check()
        return self.sorted_inputs()[0]

    def sorted_inputs(self) -> tuple[list[str], list[str]]:
        """(archives, skipped): a file found in an input folder or glob that neither is named as an archive nor
        reads as one (a LICENSE, a README beside the archives) is skipped, not quarantined as a broken archive.
        A file named in ``inputs`` is always read."""
        from pipelines.web import is_archive

        files = expand(self.inputs)
        if not files:
            raise ConfigError("inputs", f"no file matches {self.inputs}")
        named = set()
        for pattern in self.inputs:
            fs, path = filesystem(pattern)
            if not any(ch in path for ch in "*?[") and not fs.isdir(path):
                named.add(path)
        archives, skipped = [], []
        for f in files:
            is_named = f in named or filesystem(f)[1] in named
            (archives if is_named or is_archive(f) else skipped).append(f)
        if not archives:
            raise ConfigError("inputs", f"no archive among the files of {self.inputs} (skipped {', '.join(skipped)})")
        return archives, skipped

    def build_source(self) -> WarcSource:
        return WarcSource(self.warc)

    def build_stages(self) -> list[Stage]:
        stages: list[Stage] = [ExtractStage(self.extract)]
        if self.langid.enabled:
            stages.append(LanguageStage(self.langid))
        stages += build_filters(self.filters)
        if self.decontam is not None and self.decontam.enabled:
            stages.append(DecontamStage(self.decontam))
        if self.labels is not None and self.labels.enabled:
            stages.append(LabelStage(self.labels))
        return stages

    def finish(self, files: list[str], result: JobResult) -> None:
        if skipped := self.sorted_inputs()[1]:
            result.skipped_inputs = skipped
            result.ledger.notes["skipped_not_archive"] += len(skipped)

    def chained(self, files: list[str], result: JobResult) -> dict[str, DedupJobConfig]:
        return {"dedup": self.dedup_job()} if self.dedup is not None and self.dedup.enabled else {}

    def dedup_job(self) -> DedupJobConfig:
        return DedupJobConfig.after(self)
