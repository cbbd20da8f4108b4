"""Reading PDFs: one ``.pdf`` file per task, or a web job's ``pdfs/part-*.parquet`` (one PDF per row).

Conversion happens here, while the bytes are at hand: stages after it only see records, so the bytes never
travel through an engine's outcome rows. Each PDF ends as one outcome, with the stage's own semantics:
`Drop` drops with its reason, any other exception quarantines the PDF.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import xxhash

from corpusforge.errors import Drop, InputError
from corpusforge.fs import open_input
from corpusforge.ledger import DROPPED, QUARANTINED
from corpusforge.record import Record, record_id
from pipelines.pdf.stage import PdfConfig, PdfStage
from pipelines.stage import Outcome

SOURCE = "pdf"
SIDE_COLUMNS = ("id", "url", "meta", "content")


class PdfSource:
    name = "read"

    def __init__(self, config: PdfConfig):
        self.stage = PdfStage(config)
        self.stage.setup()

    def read(self, path: str) -> Iterator[Outcome]:
        if path.lower().endswith(".parquet"):
            yield from self._read_parquet(path)
            return
        basename = os.path.basename(path)
        with open_input(path, "rb") as f:
            data = f.read(self.stage.config.max_bytes + 1)
        # content, not position or directory, names the document: moving the file keeps its id
        location = f"{basename}:{xxhash.xxh3_64_hexdigest(data)}"
        record = Record(id=record_id(SOURCE, location), text="", source=SOURCE, meta={"pdf_file": basename})
        yield self._convert(record, data)

    def _read_parquet(self, path: str) -> Iterator[Outcome]:
        import pyarrow.parquet as pq

        basename = os.path.basename(path)
        with open_input(path, "rb") as f:
            try:
                parquet = pq.ParquetFile(f)
                missing = [c for c in SIDE_COLUMNS if c not in parquet.schema_arrow.names]
                if missing:
                    raise InputError(basename, f"not a pdfs/ side output: no column {', '.join(missing)}")
                batches = parquet.iter_batches(batch_size=1, columns=list(SIDE_COLUMNS))  # one PDF in memory
                for row in _rows(batches):
                    meta = dict(row["meta"] or {})
                    meta["pdf_file"] = basename
                    record = Record(id=row["id"], text="", source=SOURCE, url=row["url"], meta=meta)
                    yield self._convert(record, row["content"] or b"")
            except Exception as exc:  # noqa: BLE001 - a file that is not Parquet, or is cut short
                yield _unreadable(basename, exc)

    def _convert(self, record: Record, data: bytes) -> Outcome:
        try:
            return Outcome(self.stage.convert(record, data))
        except Drop as drop:
            return Outcome(record, DROPPED, self.stage.name, drop.reason, drop.detail)
        except Exception as exc:  # noqa: BLE001 - one bad PDF must not stop the task
            return Outcome(record, QUARANTINED, self.stage.name, type(exc).__name__, str(exc)[:2000])


def _rows(batches) -> Iterator[dict]:
    for batch in batches:
        for row in batch.to_pylist():
            if isinstance(row["meta"], list):
                row["meta"] = dict(row["meta"])
            yield row


def _unreadable(basename: str, exc: Exception) -> Outcome:
    record = Record(id=record_id(SOURCE, f"{basename}:unreadable"), text="", source=SOURCE, meta={"pdf_file": basename})
    err = exc if isinstance(exc, InputError) else InputError(basename, f"{type(exc).__name__}: {exc}")
    return Outcome(record, QUARANTINED, PdfSource.name, type(exc).__name__, str(err)[:2000])
