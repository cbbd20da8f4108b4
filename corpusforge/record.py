"""The one document type that flows through every stage, and its fixed Arrow schema."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING

import pyarrow as pa
import xxhash

if TYPE_CHECKING:
    from datatrove.data import Document

SCHEMA_VERSION = "3"  # 3: the hate and offensive columns

RECORD_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("text", pa.large_string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("url", pa.string()),
        pa.field("lang", pa.string()),
        pa.field("lang_score", pa.float64()),
        # label columns the annotators fill (null until a label stage ran); see annotators/taxonomy.py
        pa.field("domain", pa.string()),
        pa.field("domain_score", pa.float64()),
        pa.field("doc_format", pa.string()),
        pa.field("academic_field", pa.string()),
        pa.field("edu_score", pa.float64()),
        pa.field("toxicity", pa.float64()),
        pa.field("adult", pa.float64()),
        pa.field("hate", pa.float64()),
        pa.field("offensive", pa.float64()),
        pa.field("pii", pa.string()),
        pa.field("quality", pa.map_(pa.string(), pa.float64())),
        pa.field("meta", pa.map_(pa.string(), pa.string())),
    ],
    metadata={"corpusforge.schema_version": SCHEMA_VERSION},
)

# datatrove's own steps read and write these metadata keys; mapping them keeps its filters usable on our records.
_DATATROVE_KEYS = {"lang": "language", "lang_score": "language_score"}
#: the annotators' columns: nullable, travel in datatrove metadata under their own names
LABEL_COLUMNS = (
    "domain", "domain_score", "doc_format", "academic_field", "edu_score", "toxicity", "adult", "hate", "offensive",
    "pii",
)  # fmt: skip


def record_id(source: str, location: str) -> str:
    """Stable id from where a document came from, so reruns and engines agree on it."""
    return xxhash.xxh3_128_hexdigest(f"{source}\x00{location}".encode())


@dataclass(slots=True)
class Record:
    id: str
    text: str
    source: str
    url: str | None = None
    lang: str | None = None
    lang_score: float | None = None
    domain: str | None = None  # web topic
    domain_score: float | None = None
    doc_format: str | None = None  # article, forum, reference, ...
    academic_field: str | None = None  # for STEM text; null otherwise
    edu_score: float | None = None  # educational value, 0-5
    toxicity: float | None = None  # probability of hate or harassment
    adult: float | None = None  # probability of adult content
    hate: float | None = None  # probability of hate speech (TweetEval hate)
    offensive: float | None = None  # probability of offensive language (TweetEval offensive)
    pii: str | None = None  # kinds of personal data found, comma-separated ("" when none)
    quality: dict[str, float] = field(default_factory=dict)  # cheap per-document statistics
    meta: dict[str, str] = field(default_factory=dict)

    def to_row(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def to_arrow_row(self) -> dict:
        """A row for RECORD_SCHEMA: map columns as sorted key/value pairs, so equal records write equal bytes."""
        row = self.to_row()
        row["meta"] = sorted(self.meta.items())
        row["quality"] = sorted(self.quality.items())
        return row

    @classmethod
    def from_row(cls, row: dict) -> Record:
        return cls(
            id=row["id"],
            text=row["text"],
            source=row["source"],
            url=row.get("url"),
            lang=row.get("lang"),
            lang_score=row.get("lang_score"),
            **{c: row.get(c) for c in LABEL_COLUMNS},
            quality=_as_dict(row.get("quality")),
            meta=_as_dict(row.get("meta")),
        )

    def to_document(self) -> Document:
        from datatrove.data import Document

        metadata: dict = {"source": self.source, "url": self.url, "corpusforge.meta": dict(self.meta)}
        for ours, theirs in _DATATROVE_KEYS.items():
            metadata[theirs] = getattr(self, ours)
        for column in LABEL_COLUMNS:
            if getattr(self, column) is not None:
                metadata[column] = getattr(self, column)
        if self.quality:
            metadata["quality"] = dict(self.quality)
        return Document(text=self.text, id=self.id, metadata=metadata)

    @classmethod
    def from_document(cls, doc: Document) -> Record:
        md = dict(doc.metadata)
        meta = dict(md.pop("corpusforge.meta", {}) or {})
        # metadata a datatrove step added outside our columns travels in meta, as strings
        known = {"source", "url", "quality", *_DATATROVE_KEYS.values(), *LABEL_COLUMNS}
        for key, value in md.items():
            if key not in known and value is not None:
                meta.setdefault(key, str(value))
        return cls(
            id=doc.id,
            text=doc.text,
            source=md.get("source") or "unknown",
            url=md.get("url"),
            lang=md.get("language"),
            lang_score=md.get("language_score"),
            **{c: md.get(c) for c in LABEL_COLUMNS},
            quality=dict(md.get("quality") or {}),
            meta=meta,
        )


def to_table(records: Iterable[Record]) -> pa.Table:
    rows = [r.to_arrow_row() for r in records]
    return pa.Table.from_pylist(rows, schema=RECORD_SCHEMA)


def from_table(table: pa.Table | pa.RecordBatch) -> Iterator[Record]:
    for row in table.to_pylist():
        yield Record.from_row(row)


def _as_dict(value) -> dict:
    """Arrow map columns come back as key/value pairs; Spark rows as dicts; missing as None."""
    return dict(value) if value else {}
