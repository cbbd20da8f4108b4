"""The Parquet sink bounds its buffer in rows and in bytes: a row group closes at whichever comes first."""

import pyarrow.parquet as pq

from corpusforge.parquet import ParquetSink, read_records
from corpusforge.record import RECORD_SCHEMA, Record


def write(tmp_path, texts: list[str], batch_rows: int, batch_bytes: int):
    path = str(tmp_path / f"part-{batch_rows}-{batch_bytes}.parquet")
    sink = ParquetSink(path, RECORD_SCHEMA, batch_rows, "zstd", batch_bytes=batch_bytes)
    for i, text in enumerate(texts):
        sink.add(Record(id=f"d{i}", text=text, source="t"))
        assert len(sink.rows) < batch_rows and sink.size < batch_bytes  # never holds a full group
    sink.close()
    meta = pq.ParquetFile(path).metadata
    groups = [meta.row_group(g).num_rows for g in range(meta.num_row_groups)]
    return groups, [r.text for batch in read_records(path) for r in batch]


def test_row_groups_close_at_rows_or_bytes_whichever_first(tmp_path):
    texts = ["x" * 100] * 10 + ["y" * 1000] * 3 + ["z" * 10] * 5
    by_rows, back = write(tmp_path, texts, batch_rows=4, batch_bytes=1 << 20)
    assert by_rows == [4, 4, 4, 4, 2] and back == texts
    # 250 characters: three short texts a group, a long one closes the group it joins
    by_bytes, back = write(tmp_path, texts, batch_rows=1000, batch_bytes=250)
    assert by_bytes == [3, 3, 3, 2, 1, 1, 5] and back == texts


def test_dict_rows_count_their_strings_and_bytes(tmp_path):
    from pipelines.task import SIDE_SCHEMA

    path = str(tmp_path / "side.parquet")
    sink = ParquetSink(path, SIDE_SCHEMA, 64, "zstd", batch_bytes=1000)
    for i in range(4):
        sink.add({"id": f"p{i}", "url": None, "meta": [], "content": b"%PDF" + b"0" * 600})
    sink.close()
    meta = pq.ParquetFile(path).metadata
    assert [meta.row_group(g).num_rows for g in range(meta.num_row_groups)] == [2, 2]


def test_tables_are_built_in_the_sinks_pool_and_equal_from_pylist():
    """`rows_to_table` builds what ``Table.from_pylist`` builds, in the pool it is given (the sink's system pool,
    trimmed after every row group), and frees it all when the table goes."""
    import pyarrow as pa

    from corpusforge.parquet import rows_to_table
    from pipelines.task import AUDIT_SCHEMA

    records = [Record(id=f"d{i}", text="t" * i, source="s", lang_score=0.5 if i else None, meta={"b": "2", "a": "1"},
                      quality={"q": 1.0}) for i in range(50)]  # fmt: skip
    audit = [{"id": "x", "url": None, "source": "s", "stage": "gopher", "status": "dropped", "reason": "r",
              "detail": None, "task": 3}]  # fmt: skip
    pool = pa.proxy_memory_pool(pa.system_memory_pool())
    table = rows_to_table(records, RECORD_SCHEMA, pool)
    assert table.equals(pa.Table.from_pylist([r.to_arrow_row() for r in records], schema=RECORD_SCHEMA))
    assert table.schema.metadata == RECORD_SCHEMA.metadata
    assert pool.bytes_allocated() >= table.nbytes > 0
    del table
    assert pool.bytes_allocated() == 0
    assert rows_to_table(audit, AUDIT_SCHEMA).equals(pa.Table.from_pylist(audit, schema=AUDIT_SCHEMA))


def test_sink_writes_from_the_system_pool_and_keeps_nothing_between_row_groups(tmp_path):
    import pyarrow as pa

    path = str(tmp_path / "p.parquet")
    sink = ParquetSink(path, RECORD_SCHEMA, 10, "zstd")
    assert sink.pool.backend_name == "system"
    before = pa.system_memory_pool().bytes_allocated()
    for i in range(25):
        sink.add(Record(id=f"d{i}", text="w " * 500, source="t"))
    # two row groups written; the third is still Python rows, and no table of the first two is alive
    assert len(sink.rows) == 5 and pa.system_memory_pool().bytes_allocated() - before < 1 << 16
    sink.close()
    assert pq.ParquetFile(path).metadata.num_rows == 25


def test_the_sink_pays_pyarrows_pandas_import_when_it_opens(tmp_path):
    """pyarrow imports pandas on its first conversion of a Python list; the sink makes that conversion when it is
    created, so the cost lands before a task's first document, not between two of them."""
    import importlib.util
    import subprocess
    import sys

    import pytest

    if importlib.util.find_spec("pandas") is None:
        pytest.skip("pandas not installed: nothing to import")
    code = (
        "import sys; from corpusforge.parquet import ParquetSink; from corpusforge.record import RECORD_SCHEMA;"
        "assert 'pandas' not in sys.modules;"
        f"ParquetSink({str(tmp_path / 'p.parquet')!r}, RECORD_SCHEMA, 10, 'zstd');"
        "assert 'pandas' in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
