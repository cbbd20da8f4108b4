"""The web job's config: what to read, which stages run with which thresholds, which engine runs them."""

from __future__ import annotations

import os
from typing import Literal

from pydantic import Field, field_validator, model_validator

from corpusforge.config import Config
from corpusforge.errors import ConfigError
from corpusforge.fs import expand, filesystem, join
from pipelines.decontam import DecontamConfig, DecontamStage
from pipelines.dedup.config import DedupConfig
from pipelines.extract import ExtractConfig, ExtractStage
from pipelines.filters import FiltersConfig, build_filters
from pipelines.label import LabelConfig, LabelStage, LangIdConfig, LanguageStage
from pipelines.stage import Stage
from pipelines.web import WarcConfig, WarcSource


class SparkOptions(Config):
    master: str = Field("local[*]", description="Ignored under spark-submit, which sets the master itself.")
    app_name: str = "corpusforge"
    conf: dict[str, str] = Field(default_factory=dict, description="Extra Spark settings, e.g. executor memory.")
    log_level: Literal["ERROR", "WARN", "INFO", "DEBUG"] = Field(
        "WARN", description="Spark's log level once the session is up (INFO prints a line per task)."
    )


class EngineConfig(Config):
    kind: Literal["local", "spark", "datatrove"] = "local"
    workers: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=1)
    spark: SparkOptions = SparkOptions()


class OutputConfig(Config):
    batch_rows: int = Field(1000, gt=0, description="Rows buffered per Parquet row group.")
    compression: Literal["zstd", "snappy", "gzip", "none"] = "zstd"


class JobConfig(Config):
    """What every job has: inputs (one task per file), an output directory, an engine, Parquet settings."""

    name: str
    inputs: list[str] = Field(min_length=1, description="Input files, globs or directories (fsspec URLs).")
    output: str = Field(description="Output directory (local path or fsspec URL).")
    engine: EngineConfig = EngineConfig()
    write: OutputConfig = OutputConfig()

    @field_validator("inputs")
    @classmethod
    def _nonempty(cls, value: list[str]) -> list[str]:
        if any(not v.strip() for v in value):
            raise ValueError("an input path is empty")
        return value

    @model_validator(mode="after")
    def _dedup_engine(self):
        dedup = getattr(self, "dedup", None)
        if dedup is not None and dedup.fuzzy.backend == "datatrove" and self.engine.kind == "spark":
            raise ValueError("dedup.fuzzy.backend: datatrove's MinHash stages run on the local engine only")
        scheme = self.output.split("://", 1)[0] if "://" in self.output else "file"
        if dedup is not None and dedup.enabled and self.engine.kind == "spark" and scheme in ("s3", "memory"):
            # the decision is DataFrame jobs: Spark's own Hadoop file systems read and write it, not fsspec
            raise ValueError(
                f"output: dedup on Spark cannot write {scheme}:// (Hadoop has no such file system); use s3a:// "
                "with the hadoop-aws jars on the cluster, a path every node shares, or the local engine"
            )
        return self


#: the columns a Parquet file needs to be read as records (a previous job's ``documents/``)
RECORD_COLUMNS = ("id", "text", "source")


class DocumentsJobConfig(JobConfig):
    """A job over a previous job's ``documents/`` (record Parquet): one task per part file."""

    def input_files(self) -> list[str]:
        files = [f for f in expand(self.inputs) if f.endswith(".parquet")]
        if not files:
            raise ConfigError("inputs", f"no Parquet file matches {self.inputs}")
        for path in files:  # footers only: a wrong file fails the job before any work
            check_record_parquet(path)
        return files


def check_record_parquet(path: str) -> None:
    """A readable Parquet footer with the record columns, or a ConfigError naming the file (no rows are read)."""
    import pyarrow.parquet as pq

    from corpusforge.fs import open_input

    try:
        with open_input(path) as f:
            names = pq.ParquetFile(f).schema_arrow.names
    except Exception as exc:  # noqa: BLE001 - pyarrow raises several types for a broken footer
        raise ConfigError("inputs", f"{path} is not a readable Parquet file: {exc}") from None
    missing = [c for c in RECORD_COLUMNS if c not in names]
    if missing:
        raise ConfigError("inputs", f"{path} is not in the record schema: no column {', '.join(missing)}")


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

    def execute(self, files: list[str], progress: bool = False):
        from pipelines.engines import run_engine

        result = run_engine(self, files, progress=progress)
        if skipped := self.sorted_inputs()[1]:
            result.skipped_inputs = skipped
            result.ledger.notes["skipped_not_archive"] += len(skipped)
        if self.dedup is not None and self.dedup.enabled:
            from pipelines.dedup.run import run_dedup

            dedup = self.dedup_job()
            result.then["dedup"] = run_dedup(dedup, dedup.input_files(), progress=progress)
        return result

    def dedup_job(self):
        from pipelines.dedup.run import DedupJobConfig

        return DedupJobConfig(
            name=f"{self.name}.dedup",
            inputs=[join(self.output, "documents")],
            output=join(self.output, "dedup"),
            engine=self.engine,
            dedup=self.dedup,
            write=self.write,
        )
