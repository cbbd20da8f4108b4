import pyarrow as pa
import pyarrow.parquet as pq

from corpusforge.record import RECORD_SCHEMA, Record, from_table, record_id, to_table


def _record(**kw) -> Record:
    base = dict(
        id=record_id("web", "urn:uuid:1"),
        text="Grüße, 世界!\nline two",
        source="web",
        url="https://example.org/a",
        lang="de",
        lang_score=0.93125,
        meta={"warc_file": "a.warc.gz", "k": ""},
    )
    base.update(kw)
    return Record(**base)


def test_id_is_stable_and_depends_on_source_and_location():
    assert record_id("web", "x") == record_id("web", "x")
    assert record_id("web", "x") != record_id("pdf", "x")
    assert record_id("web", "x") != record_id("web", "y")


LABELS = dict(
    domain="science_tech",
    domain_score=0.71,
    doc_format="article",
    academic_field="physics",
    edu_score=3.25,
    toxicity=0.01,
    adult=0.0,
    pii="email,phone",
    quality={"words": 412.0, "dup_line_frac": 0.0},
)


def test_arrow_round_trip_through_parquet(tmp_path):
    records = [_record(), _record(id="b", url=None, lang=None, lang_score=None, meta={}), _record(id="c", **LABELS)]
    table = to_table(records)
    assert table.schema.equals(RECORD_SCHEMA, check_metadata=False)
    pq.write_table(table, tmp_path / "r.parquet")
    back = list(from_table(pq.read_table(tmp_path / "r.parquet")))
    assert back == records


def test_datatrove_document_round_trip_is_lossless():
    rec = _record()
    doc = rec.to_document()
    assert doc.metadata["language"] == "de"  # datatrove's own steps read this key
    assert Record.from_document(doc) == rec
    labelled = _record(**LABELS)
    assert Record.from_document(labelled.to_document()) == labelled


def test_metadata_added_by_a_datatrove_step_is_kept_in_meta():
    doc = _record(meta={}).to_document()
    doc.metadata["token_count"] = 17
    rec = Record.from_document(doc)
    assert rec.meta == {"token_count": "17"}


def test_schema_is_fixed():
    assert [f.name for f in RECORD_SCHEMA] == [
        "id", "text", "source", "url", "lang", "lang_score",
        "domain", "domain_score", "doc_format", "academic_field", "edu_score", "toxicity", "adult", "hate", "offensive",
        "pii",
        "quality", "meta",
    ]  # fmt: skip
    assert RECORD_SCHEMA.field("quality").type == pa.map_(pa.string(), pa.float64())
    assert RECORD_SCHEMA.field("meta").type == pa.map_(pa.string(), pa.string())
