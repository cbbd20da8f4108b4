"""Record Parquet, read and written in one place: the footer check, batched reading, an atomic row-group writer.

Every job that reads a previous job's ``documents/`` (dedup, label, shard, synth seeds) reads through here, so
a file in another schema fails the same way everywhere, naming the file and the missing column.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pyarrow as pa
import pyarrow.parquet as pq

from corpusforge.errors import ConfigError, InputError
from corpusforge.fs import atomic_open, open_input
from corpusforge.heap import trim_heap
from corpusforge.record import RECORD_SCHEMA, Record, from_table

#: the columns a Parquet file needs to be read as records (a previous job's ``documents/``)
RECORD_COLUMNS = ("id", "text", "source")


def _missing(names: list[str]) -> list[str]:
    return [c for c in RECORD_COLUMNS if c not in names]


def check_record_parquet(path: str) -> None:
    """A readable Parquet footer with the record columns, or a ConfigError naming the file (no rows are read)."""
    try:
        with open_input(path) as f:
            names = pq.ParquetFile(f).schema_arrow.names
    except Exception as exc:  # noqa: BLE001 - pyarrow raises several types for a broken footer
        raise ConfigError("inputs", f"{path} is not a readable Parquet file: {exc}") from None
    if missing := _missing(names):
        raise ConfigError("inputs", f"{path} is not in the record schema: no column {', '.join(missing)}")


def read_batches(path: str, columns: list[str] | None = None, batch_rows: int = 2048) -> Iterator[pa.RecordBatch]:
    """Batches of a record Parquet file, with the wanted ``columns`` it has (default: the record schema's);
    a file without the record columns is an `InputError` naming the column."""
    with open_input(path) as f:
        parquet = pq.ParquetFile(f)
        names = parquet.schema_arrow.names
        if missing := _missing(names):
            raise InputError(path, f"not in the record schema: no column {', '.join(missing)}")
        present = [c for c in (columns or RECORD_SCHEMA.names) if c in names]
        yield from parquet.iter_batches(batch_size=batch_rows, columns=present)


def read_records(path: str, batch_rows: int = 2048) -> Iterator[list[Record]]:
    """Batches of records from one Parquet part, in file order."""
    for batch in read_batches(path, batch_rows=batch_rows):
        yield list(from_table(batch))


#: a row group also closes once its rows hold this much text or content (characters and bytes): writing a row
#: group costs several times its size in Arrow and Parquet buffers, so a row bound alone (``write.batch_rows``)
#: lets a worker's memory grow with its documents' length, and with the input until the first group is written
ROW_GROUP_BYTES = 1 << 20


def _row_size(row) -> int:
    """The text and content a buffered row holds (a record's text; a dict row's strings and bytes)."""
    if isinstance(row, Record):
        return len(row.text)
    return sum(len(v) for v in row.values() if isinstance(v, str | bytes))


def rows_to_table(rows: list, schema: pa.Schema, pool: pa.MemoryPool | None = None) -> pa.Table:
    """Records or dict rows as a table of ``schema``, built in ``pool``: the table ``Table.from_pylist`` builds
    (one ``pa.array`` per column), which cannot be told a pool."""
    if schema is RECORD_SCHEMA:
        rows = [r.to_arrow_row() for r in rows]
    arrays = [pa.array([row.get(f.name) for row in rows], type=f.type, memory_pool=pool) for f in schema]
    return pa.Table.from_arrays(arrays, schema=schema)


class ParquetSink:
    """Buffers rows and writes row groups to one Parquet file under a temporary name, renamed at close. A row
    group closes at ``batch_rows`` rows or `ROW_GROUP_BYTES`, whichever comes first, so the buffer is bounded
    in memory, not only in rows.

    Its Arrow buffers (the table, the writer's pages and compression) come from the system allocator, and the
    heap is trimmed after every row group (`corpusforge.heap.trim_heap`): Arrow's default pool (mimalloc) kept
    10-15 MB of each row group's buffers resident for reuse, and building a row group in it cost several times
    the system allocator's peak (BENCHMARKS.md, issue 20)."""

    def __init__(
        self, path: str, schema: pa.Schema, batch_rows: int, compression: str, batch_bytes: int = ROW_GROUP_BYTES
    ):
        self.path, self.schema, self.batch_rows, self.batch_bytes = path, schema, batch_rows, batch_bytes
        self.compression = None if compression == "none" else compression
        self.rows: list = []
        self.size = 0
        self.pool = pa.system_memory_pool()
        # pyarrow imports pandas, when installed, the first time it converts a Python list (about 50 MB): done
        # here, before the task's documents, so a worker's peak does not depend on whether its largest document
        # came before or after its first row group (it did: BENCHMARKS.md, issue 20)
        pa.array([], pa.string(), memory_pool=self.pool)
        self._ctx = self._file = self._writer = None

    def add(self, row) -> None:
        self.rows.append(row)
        self.size += _row_size(row)
        if len(self.rows) >= self.batch_rows or self.size >= self.batch_bytes:
            self.flush()

    def flush(self) -> None:
        if self._writer is None:
            self._ctx = atomic_open(self.path, "wb")
            self._file = self._ctx.__enter__()
            self._writer = pq.ParquetWriter(
                self._file, self.schema, compression=self.compression, memory_pool=self.pool
            )
        if self.rows:
            self._writer.write_table(rows_to_table(self.rows, self.schema, self.pool))
            self.rows, self.size = [], 0
            trim_heap()

    def close(self, keep_empty: bool = True) -> None:
        if self._writer is None and not self.rows and not keep_empty:
            return
        self.flush()
        self._writer.close()
        self._ctx.__exit__(None, None, None)

    def abort(self) -> None:
        if self._ctx is not None:
            with contextlib.suppress(Exception):
                self._writer.close()
            with contextlib.suppress(Exception):
                self._ctx.__exit__(RuntimeError, RuntimeError("aborted"), None)
