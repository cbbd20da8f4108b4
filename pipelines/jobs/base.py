"""What the record jobs share: inputs (one task per file), Parquet settings, and the documents-in base."""

from __future__ import annotations

from pydantic import Field, field_validator, model_validator

from corpusforge.errors import ConfigError
from corpusforge.fs import expand
from corpusforge.job import EngineConfig, Job, OutputConfig, Stages, Task
from corpusforge.parquet import check_record_parquet


class JobConfig(Job):
    """A record job: inputs (one task per file), an output directory, an engine, Parquet settings; by default
    its task is the kind's source and stages over every input file."""

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

    def tasks(self, files: list[str]) -> list[Task]:
        return [Stages()]


class DocumentsJobConfig(JobConfig):
    """A job over a previous job's ``documents/`` (record Parquet): one task per part file."""

    def input_files(self) -> list[str]:
        files = [f for f in expand(self.inputs) if f.endswith(".parquet")]
        if not files:
            raise ConfigError("inputs", f"no Parquet file matches {self.inputs}")
        for path in files:  # footers only: a wrong file fails the job before any work
            check_record_parquet(path)
        return files
