"""`corpusforge docs show ID`: one document with its labels and the stages that kept, dropped or sharded it."""

import pyarrow.compute as pc
import pyarrow.parquet as pq
from typer.testing import CliRunner

from corpusforge.cli import build_app


def _show(run_dir, doc_id, columns=200):
    outputs = [run_dir / "web", run_dir / "web" / "dedup", run_dir / "shards"]
    args = ["docs", "show", doc_id, *[a for o in outputs for a in ("--output", str(o))]]
    return CliRunner().invoke(build_app(), args, env={"COLUMNS": str(columns)})


def _id_of(folder, url):
    table = pq.read_table(folder, columns=["id", "url"])
    return table.filter(pc.equal(table["url"], url))["id"][0].as_py()


def test_a_kept_document_shows_labels_and_every_output_it_went_through(run_dir):
    doc_id = _id_of(run_dir / "web" / "dedup" / "documents", "https://mirror0.example.net/valley/1")
    result = _show(run_dir, doc_id)
    assert result.exit_code == 0, result.output
    out = result.output
    assert doc_id in out and "edu_score" in out and "domain" in out and "quality.words" in out
    assert "meta.dedup_cluster_size" in out and "meta.extractor" in out
    assert out.count("kept") >= 2 and "sharded" in out and "tokens" in out
    assert "gopher_quality" in out  # the web job's stages it passed, from the resolved config
    docs = pq.read_table(run_dir / "web" / "dedup" / "documents", columns=["id", "text"])
    text = docs.filter(pc.equal(docs["id"], doc_id))["text"][0].as_py()
    assert text[:60] in out  # and its text


def test_a_dropped_duplicate_names_the_copy_that_was_kept(run_dir):
    kept = _id_of(run_dir / "web" / "dedup" / "documents", "https://mirror0.example.net/valley/1")
    dup = _id_of(run_dir / "web" / "documents", "https://example.org/valley/1")
    result = _show(run_dir, dup)
    assert result.exit_code == 0, result.output
    assert "duplicate_exact" in result.output and f"duplicate of {kept}" in result.output.replace("\n", "")


def test_a_filtered_document_shows_its_stage_and_reason(run_dir):
    audit = pq.read_table(run_dir / "web" / "audit", columns=["id", "url", "reason"])
    stub = audit.filter(pc.equal(audit["url"], "https://example.org/stub/0")).to_pylist()[0]
    result = _show(run_dir, stub["id"])
    assert result.exit_code == 0, result.output
    assert "dropped" in result.output and "gopher_quality gopher_short_doc" in result.output


def test_an_unknown_id_fails_naming_it(run_dir):
    result = _show(run_dir, "no-such-document")
    assert result.exit_code != 0 and "no-such-document" in str(result.exception)


def test_it_reads_at_80_columns(run_dir):
    doc_id = _id_of(run_dir / "web" / "dedup" / "documents", "https://mirror0.example.net/valley/1")
    result = _show(run_dir, doc_id, columns=80)
    assert result.exit_code == 0
    assert max(len(line) for line in result.output.splitlines()) <= 80
