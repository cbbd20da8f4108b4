"""The scaling curves' inputs are fair: every size holds the same largest document, and the table says how large."""

import json

import pyarrow.parquet as pq

from benchmarks.extract import WARC_NAME, build_warc, largest_first
from benchmarks.scaling import largest_document
from benchmarks.scaling import largest_first as largest_text_first
from corpusforge.record import Record, to_table


def test_every_prefix_holds_the_largest_page_and_the_warc_stamp_says_so(tmp_path):
    pages = [{"url": f"https://e.org/{i}", "html": b"<p>x</p>" * (i * 7 % 13 + 1)} for i in range(20)]
    ordered = largest_first(pages)
    assert sorted(p["url"] for p in ordered) == sorted(p["url"] for p in pages)  # a permutation
    assert ordered == largest_first(pages)  # seeded
    top = max(len(p["html"]) for p in pages)
    assert len(ordered[0]["html"]) == top
    for n in (1, 5, 12):
        build_warc(ordered, n, tmp_path / f"w{n}" / WARC_NAME, every_page=False, order="largest_first")
        assert largest_document("extract", {"warc_dir": str(tmp_path / f"w{n}")}) == top  # no text size: HTML
    stamp = json.loads((tmp_path / "w5" / WARC_NAME).with_suffix(".json").read_text())
    assert stamp["order"] == "largest_first" and stamp["records"] == 5


def test_largest_document_of_parquet_inputs(tmp_path):
    docs = [{"text": "a" * n} for n in (5, 90, 7, 40)]
    ordered = largest_text_first(docs)
    assert len(ordered[0]["text"]) == 90 and len(ordered) == 4
    folder = tmp_path / "parts"
    folder.mkdir()
    for i, chunk in enumerate((ordered[:2], ordered[2:])):
        records = [Record(id=f"{i}-{j}", text=d["text"], source="s") for j, d in enumerate(chunk)]
        pq.write_table(to_table(records), folder / f"part-{i:05d}.parquet")
    assert largest_document("label", {"parts": str(folder)}) == 90
    assert largest_document("dedup", {"files": [str(folder / "part-00001.parquet")]}) == max(
        len(d["text"]) for d in ordered[2:]
    )
    assert largest_document("shard", {"corpus": str(folder)}) == 90
