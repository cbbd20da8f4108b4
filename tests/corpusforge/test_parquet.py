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
