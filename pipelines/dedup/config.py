"""Dedup settings: URL, exact and fuzzy (MinHash-LSH) phases, the survivor rule, the audit sample."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from corpusforge.config import Config
from pipelines.dedup.minhash import MinHashConfig

# survivor sort fields that are not meta keys
RECORD_FIELDS = ("id", "url", "source", "lang", "lang_score", "length")


class SortKey(Config):
    """One survivor criterion: a record field or ``meta.KEY``; missing values always lose."""

    field: str
    order: Literal["asc", "desc"] = "asc"
    type: Literal["string", "float"] = "string"

    @field_validator("field")
    @classmethod
    def _known(cls, value: str) -> str:
        if value in RECORD_FIELDS or (value.startswith("meta.") and len(value) > 5):
            return value
        raise ValueError(f"{value!r} is neither one of {', '.join(RECORD_FIELDS)} nor meta.KEY")


DEFAULT_SURVIVOR = (
    SortKey(field="meta.quality_score", order="desc", type="float"),
    SortKey(field="meta.fetch_time", order="asc"),
    SortKey(field="id"),
)


class UrlDedupConfig(Config):
    enabled: bool = True
    keep: Literal["newest", "oldest"] = Field("newest", description="Which fetch of a URL survives.")
    strip_params: list[str] = Field(
        default_factory=lambda: ["utm_*", "fbclid", "gclid", "mc_cid", "mc_eid", "sessionid", "phpsessid"],
        description="Query parameters that do not change the page (glob patterns, case-insensitive).",
    )


class ExactDedupConfig(Config):
    enabled: bool = True
    lowercase: bool = True
    collapse_whitespace: bool = True
    strip_punctuation: bool = False
    digits_to_zero: bool = False


class VerifyConfig(Config):
    enabled: bool = Field(False, description="Compute the true Jaccard of every candidate pair before linking.")
    threshold: float = Field(0.7, gt=0, le=1)


class FuzzyDedupConfig(Config):
    enabled: bool = True
    backend: Literal["corpusforge", "datatrove"] = Field(
        "corpusforge",
        description="datatrove: clusters from datatrove's own four MinHash stages (local engine), for comparison.",
    )
    minhash: MinHashConfig = MinHashConfig()
    verify: VerifyConfig = VerifyConfig()

    @model_validator(mode="after")
    def _backend(self) -> FuzzyDedupConfig:
        if self.backend == "datatrove" and self.verify.enabled:
            raise ValueError("verify: datatrove's MinHash stages have no verification pass; use backend corpusforge")
        return self


class AuditConfig(Config):
    sample_clusters: int = Field(20, ge=0, description="Clusters written with members and pairwise Jaccard.")
    max_members: int = Field(8, ge=2, description="Members shown per sampled cluster.")


class DedupConfig(Config):
    """URL, then exact, then fuzzy: each phase sees the survivors of the one before."""

    enabled: bool = True
    url: UrlDedupConfig = UrlDedupConfig()
    exact: ExactDedupConfig = ExactDedupConfig()
    fuzzy: FuzzyDedupConfig = FuzzyDedupConfig()
    survivor: list[SortKey] = Field(
        default_factory=lambda: list(DEFAULT_SURVIVOR),
        description="Who survives in a cluster: first criterion first; id breaks any remaining tie.",
    )
    partitions: int | None = Field(
        None, ge=1, description="Spark: partitions of the dedup shuffle (default: the session's parallelism)."
    )
    audit: AuditConfig = AuditConfig()

    def survivor_keys(self) -> list[SortKey]:
        keys = list(self.survivor)
        if not any(k.field == "id" for k in keys):
            keys.append(SortKey(field="id"))
        return keys
