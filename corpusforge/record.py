"""The one document type that flows through every stage, and its fixed Arrow schema."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING

import pyarrow as pa
import xxhash

if TYPE_CHECKING:
    from datatrove.data import Document

SCHEMA_VERSION = "1"

RECORD_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("text", pa.large_string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("url", pa.string()),
        pa.field("lang", pa.string()),
        pa.field("lang_score", pa.float64()),
        pa.field("meta", pa.map_(pa.string(), pa.string())),
    ],
    metadata={"corpusforge.schema_version": SCHEMA_VERSION},
)

# datatrove's own steps read and write these metadata keys; mapping them keeps its filters usable on our records.
_DATATROVE_KEYS = {"lang": "language", "lang_score": "language_score"}


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
    meta: dict[str, str] = field(default_factory=dict)

    def to_row(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_row(cls, row: dict) -> Record:
        meta = row.get("meta") or {}
        if isinstance(meta, list):  # Arrow map columns come back as key/value pairs
            meta = dict(meta)
        return cls(
            id=row["id"],
            text=row["text"],
            source=row["source"],
            url=row.get("url"),
            lang=row.get("lang"),
            lang_score=row.get("lang_score"),
            meta=dict(meta),
        )

    def to_document(self) -> Document:
        from datatrove.data import Document

        metadata: dict = {"source": self.source, "url": self.url, "corpusforge.meta": dict(self.meta)}
        for ours, theirs in _DATATROVE_KEYS.items():
            metadata[theirs] = getattr(self, ours)
        return Document(text=self.text, id=self.id, metadata=metadata)

    @classmethod
    def from_document(cls, doc: Document) -> Record:
        md = dict(doc.metadata)
        meta = dict(md.pop("corpusforge.meta", {}) or {})
        # metadata a datatrove step added outside our columns travels in meta, as strings
        known = {"source", "url", *_DATATROVE_KEYS.values()}
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
            meta=meta,
        )


def to_table(records: Iterable[Record]) -> pa.Table:
    rows = [r.to_row() for r in records]
    for row in rows:
        row["meta"] = sorted(row["meta"].items())
    return pa.Table.from_pylist(rows, schema=RECORD_SCHEMA)


def from_table(table: pa.Table | pa.RecordBatch) -> Iterator[Record]:
    for row in table.to_pylist():
        yield Record.from_row(row)
