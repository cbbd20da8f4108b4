"""The PDF job: bad PDFs end with named reasons, text-layer PDFs become records, engines agree, web PDFs flow in."""

import json
from collections import Counter

import pyarrow.parquet as pq
import pytest

from pipelines.engines import run_job
from pipelines.jobs.pdf import PdfJobConfig
from pipelines.jobs.web import WebJobConfig
from pipelines.pdf.source import PdfSource
from pipelines.pdf.stage import PAGE_BREAK, PdfConfig, split_pages
from tests.pipelines import warc_factory as wf

pymupdf = pytest.importorskip("pymupdf")

TEXT = "The river that runs through the old town was once the main road for merchants. Page {n} of {name}."


def make_pdf(name: str = "doc", pages: int = 2, text: str = TEXT) -> bytes:
    doc = pymupdf.open()
    doc.set_metadata({"producer": "corpusforge-tests"})
    for n in range(pages):
        page = doc.new_page()
        if text:
            page.insert_text((72, 72), text.format(n=n + 1, name=name), fontsize=9)
    data = doc.tobytes(garbage=1, no_new_id=True)
    doc.close()
    return data


def encrypted() -> bytes:
    doc = pymupdf.open(stream=make_pdf("secret"), filetype="pdf")
    data = doc.tobytes(encryption=pymupdf.PDF_ENCRYPT_AES_256, user_pw="x", owner_pw="y")
    doc.close()
    return data


def too_many_pages(n: int = 2001) -> bytes:
    doc = pymupdf.open()
    for _ in range(n):
        doc.new_page(width=100, height=100)
    return doc.tobytes()


def no_pages() -> bytes:
    """A well-formed PDF whose page tree is empty (PyMuPDF refuses to save one)."""
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [] /Count 0 >>"]
    out, offsets = bytearray(b"%PDF-1.7\n"), []
    for i, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 3\n0000000000 65535 f \n" + b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size 3 /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)


def bad_xref() -> bytes:
    """The startxref offset points into nowhere: MuPDF repairs the file by scanning for objects."""
    data = make_pdf("xref")
    head, _, _ = data.rpartition(b"startxref")
    return head + b"startxref\n999999\n%%EOF\n"


BAD = {
    "encrypted.pdf": (encrypted, "pdf_encrypted"),
    "html.pdf": (lambda: b"<!doctype html><html><body>Not found</body></html>", "not_pdf"),
    "truncated.pdf": (lambda: make_pdf("cut")[:300], "pdf_unreadable"),
    "garbage.pdf": (lambda: b"%PDF-1.4\n" + bytes(range(256)) * 4, "pdf_unreadable"),
    "blank.pdf": (lambda: make_pdf("blank", pages=3, text=""), "pdf_no_text"),
    "no_pages.pdf": (no_pages, "pdf_no_pages"),
    "huge.pdf": (too_many_pages, "pdf_too_many_pages"),
    "empty.pdf": (lambda: b"", "not_pdf"),
}


def _outcome(tmp_path, name: str, data: bytes, config: PdfConfig | None = None):
    path = tmp_path / name
    path.write_bytes(data)
    (outcome,) = PdfSource(config or PdfConfig()).read(str(path))
    return outcome


@pytest.mark.parametrize("name", sorted(BAD))
def test_every_bad_pdf_ends_with_its_reason(tmp_path, name):
    build, reason = BAD[name]
    outcome = _outcome(tmp_path, name, build())
    assert (outcome.status, outcome.reason) == ("dropped", reason), outcome.detail
    assert outcome.stage == "pdf" and outcome.record.source == "pdf"


def test_a_broken_xref_is_repaired_and_kept(tmp_path):
    outcome = _outcome(tmp_path, "xref.pdf", bad_xref())
    assert outcome.status == "kept", outcome.detail
    assert "Page 2 of xref" in outcome.record.text
    assert outcome.record.meta["pdf_repaired"] == "true"


def test_max_pages_is_configurable(tmp_path):
    outcome = _outcome(tmp_path, "three.pdf", make_pdf("three", pages=3), PdfConfig(max_pages=2))
    assert (outcome.reason, outcome.detail) == ("pdf_too_many_pages", "3 pages")


def test_a_text_layer_pdf_becomes_one_record_with_its_pages(tmp_path):
    outcome = _outcome(tmp_path, "doc.pdf", make_pdf("doc", pages=3))
    rec = outcome.record
    assert outcome.status == "kept"
    assert rec.text.count(PAGE_BREAK) == 2
    assert split_pages(rec) == [TEXT.format(n=n, name="doc") for n in (1, 2, 3)]
    meta = rec.meta
    assert meta["pdf_page_count"] == "3" and meta["pdf_producer"] == "corpusforge-tests"
    assert json.loads(meta["pdf_methods"]) == {"text_layer": 3}
    pages = json.loads(meta["pdf_pages"])
    assert [p["method"] for p in pages] == ["text_layer"] * 3 and pages[0]["chars"] > 50
    # the id follows the content and name, not the directory
    other = tmp_path / "elsewhere"
    other.mkdir()
    assert _outcome(other, "doc.pdf", make_pdf("doc", pages=3)).record.id == rec.id


class _FakeOcr:
    """Stands in for the OCR engine where a test is about the stage's page handling, not about reading."""

    def __init__(self, confidence: float = 0.9, rtl: bool = True, fail: bool = False):
        self.images, self.confidence, self.rtl, self.fail = [], confidence, rtl, fail

    def reads_rtl(self, languages=None) -> bool:
        return self.rtl

    def read(self, png: bytes, languages):
        from types import SimpleNamespace

        self.images.append(png)
        if self.fail:
            raise RuntimeError("engine crashed on this page")
        return SimpleNamespace(text="text read from the image", confidence=self.confidence, angle=0)


def test_scanned_pages_are_rendered_one_at_a_time_for_ocr(shared_data, tmp_path):
    source = PdfSource(PdfConfig(ocr={"dpi": 72}))
    source.stage._ocr = fake = _FakeOcr()
    (outcome,) = source.read(str(shared_data / "pdf" / "docling" / "ocr_scanned" / "nemotron_multipage.pdf"))
    assert outcome.status == "kept", outcome.detail
    assert len(fake.images) == 4 and all(png.startswith(b"\x89PNG") for png in fake.images)
    assert split_pages(outcome.record) == ["text read from the image"] * 4
    pages = json.loads(outcome.record.meta["pdf_pages"])
    assert {(p["method"], p["why"], p["ocr_confidence"]) for p in pages} == {("ocr", "no_text_layer", 0.9)}


def test_an_unsure_ocr_reading_keeps_the_text_layer(shared_data):
    source = PdfSource(PdfConfig(ocr={"dpi": 72}))
    source.stage._ocr = _FakeOcr(confidence=0.5)
    (outcome,) = source.read(str(shared_data / "pdf" / "docling" / "pdf" / "right_to_left_01.pdf"))
    (page,) = json.loads(outcome.record.meta["pdf_pages"])
    assert (page["route"], page["method"], page["why"]) == ("ocr", "text_layer", "rtl_misordered+ocr_unsure")
    assert "Python" in outcome.record.text and "text read from the image" not in outcome.record.text


def test_rtl_pages_keep_their_text_layer_when_the_ocr_cannot_read_the_script(shared_data):
    source = PdfSource(PdfConfig(ocr={"dpi": 72}))
    source.stage._ocr = fake = _FakeOcr(rtl=False)
    (outcome,) = source.read(str(shared_data / "pdf" / "docling" / "pdf" / "right_to_left_01.pdf"))
    (page,) = json.loads(outcome.record.meta["pdf_pages"])
    assert (page["route"], page["method"], page["why"]) == ("ocr", "text_layer", "rtl_misordered+ocr_no_rtl_script")
    assert not fake.images  # never rendered
    assert "Python" in outcome.record.text


def test_the_tesseract_engine_reads_rtl_only_with_an_rtl_language():
    from pipelines.pdf.ocr import OcrConfig, RapidOcrEngine, TesseractEngine, tesseract_binary

    if tesseract_binary() is None:
        pytest.skip("tesseract-ocr is not installed")
    assert not TesseractEngine(OcrConfig(languages=["eng"])).reads_rtl()
    assert TesseractEngine(OcrConfig(languages=["eng", "ara"])).reads_rtl()
    pytest.importorskip("rapidocr_onnxruntime")
    assert not RapidOcrEngine().reads_rtl(["ara"])  # its bundled models read Chinese and English only


def test_a_page_the_ocr_engine_fails_on_loses_only_that_page(shared_data, tmp_path):
    """A scan whose OCR fails keeps its other pages; the failure is in the page meta and the ledger's notes."""
    doc = pymupdf.open()
    doc.insert_pdf(pymupdf.open(shared_data / "pdf" / "docling" / "ocr_scanned" / "ocr_test.pdf"))
    doc.new_page().insert_text((72, 72), TEXT.format(n=2, name="mixed"), fontsize=9)
    (tmp_path / "mixed.pdf").write_bytes(doc.tobytes())
    source = PdfSource(PdfConfig(ocr={"dpi": 72}))
    source.stage._ocr = _FakeOcr(fail=True)
    (outcome,) = source.read(str(tmp_path / "mixed.pdf"))
    assert outcome.status == "kept", outcome.detail
    scan, text = json.loads(outcome.record.meta["pdf_pages"])
    assert scan["method"] == "error" and "engine crashed" in scan["ocr_error"]
    assert text["method"] == "text_layer"
    assert split_pages(outcome.record) == ["", TEXT.format(n=2, name="mixed")]
    assert outcome.record.meta["ledger_notes"] == "pdf_page_ocr_error"


def test_a_huge_page_is_rendered_within_the_pixel_budget():
    doc = pymupdf.open()
    page = doc.new_page(width=72 * 200, height=72 * 200)  # 200 x 200 inches: 1.6 gigapixels at 200 dpi
    stage = PdfSource(PdfConfig(max_render_pixels=1_000_000)).stage
    pix = pymupdf.Pixmap(stage.render(page))
    assert pix.width * pix.height <= 1_000_000 * 1.01


def test_without_ocr_a_scan_has_no_text(shared_data):
    (outcome,) = PdfSource(PdfConfig(ocr=None)).read(
        str(shared_data / "pdf" / "docling" / "ocr_scanned" / "ocr_test.pdf")
    )
    assert outcome.reason == "pdf_no_text"


def _pdf_dir(tmp_path, bad: bool = True):
    src = tmp_path / "in"
    src.mkdir()
    for i in range(5):
        (src / f"doc{i}.pdf").write_bytes(make_pdf(f"doc{i}", pages=i + 1))
    if bad:
        for name, (build, _) in BAD.items():
            (src / name).write_bytes(build())
    (src / "notes.txt").write_text("not an input")
    return src


def _job(src, out, kind="local") -> PdfJobConfig:
    return PdfJobConfig.parse(
        {
            "inputs": [str(src)],
            "output": str(out),
            "engine": {"kind": kind, "workers": 2, "spark": {"master": "local[2]"}},
        }
    )


def _rows(path):
    rows = pq.read_table(path).to_pylist()
    for row in rows:
        if isinstance(row.get("meta"), list):
            row["meta"] = dict(row["meta"])
    return sorted(rows, key=lambda r: r["id"])


def test_a_job_over_a_directory_of_pdfs_balances_its_ledger(tmp_path):
    src = _pdf_dir(tmp_path)
    result = run_job(_job(src, tmp_path / "out"))
    led = result.ledger.to_dict()
    assert (
        led["inputs"] == 5 + len(BAD) == led["kept"] + sum(led["dropped"].values()) + sum(led["quarantined"].values())
    )
    assert led["kept"] == 5
    assert led["dropped"] == dict(Counter(reason for _, reason in BAD.values()))
    assert not led["quarantined"]
    docs = _rows(tmp_path / "out" / "documents")
    assert sorted(d["meta"]["pdf_file"] for d in docs) == [f"doc{i}.pdf" for i in range(5)]
    assert all(d["source"] == "pdf" for d in docs)
    audit = {(r["reason"], r["stage"]) for r in _rows(tmp_path / "out" / "audit")}
    assert audit == {(reason, "pdf") for _, reason in BAD.values()}


def test_local_and_datatrove_write_byte_identical_part_files(tmp_path, assert_same_part_files):
    pytest.importorskip("datatrove")
    src = _pdf_dir(tmp_path)
    for kind in ("local", "datatrove"):
        run_job(_job(src, tmp_path / kind, kind))
    assert_same_part_files(tmp_path / "local", tmp_path / "datatrove")


@pytest.mark.spark
def test_local_and_spark_give_the_same_rows(tmp_path, spark):
    src = _pdf_dir(tmp_path)
    results = {kind: run_job(_job(src, tmp_path / kind, kind)) for kind in ("local", "spark")}
    assert _rows(tmp_path / "spark" / "documents") == _rows(tmp_path / "local" / "documents")
    cols = ("id", "stage", "status", "reason", "task")
    audits = {k: sorted(tuple(r[c] for c in cols) for r in _rows(tmp_path / k / "audit")) for k in results}
    assert audits["spark"] == audits["local"]
    assert results["spark"].ledger.to_dict() == results["local"].ledger.to_dict()


def test_a_job_over_a_web_jobs_routed_pdfs(tmp_path):
    url = "https://example.org/papers"
    pages = [
        wf.Page(f"{url}/a.pdf", make_pdf("a", pages=2), headers=(("Content-Type", "application/pdf"),)),
        wf.Page(f"{url}/b.pdf", make_pdf("b", pages=1), headers=(("Content-Type", "application/pdf"),)),
        wf.Page(f"{url}/c.pdf", encrypted(), headers=(("Content-Type", "application/pdf"),)),
        wf.Page(f"{url}/page.html", wf.good_html(1)),
    ]
    wf.write_warc(tmp_path / "crawl.warc.gz", pages)
    web = WebJobConfig.parse({"inputs": [str(tmp_path / "crawl.warc.gz")], "output": str(tmp_path / "web")})
    assert run_job(web).ledger.dropped["pdf_routed"] == 3
    routed = {r["id"]: r["url"] for r in _rows(tmp_path / "web" / "pdfs")}

    result = run_job(_job(tmp_path / "web" / "pdfs", tmp_path / "pdf"))
    assert (result.ledger.inputs, result.ledger.kept, result.ledger.dropped) == (3, 2, {"pdf_encrypted": 1})
    docs = _rows(tmp_path / "pdf" / "documents")
    assert {d["id"]: d["url"] for d in docs} == {i: u for i, u in routed.items() if not u.endswith("c.pdf")}
    a = next(d for d in docs if d["url"].endswith("a.pdf"))
    assert a["text"] == PAGE_BREAK.join(TEXT.format(n=n, name="a") for n in (1, 2))
    assert a["meta"]["content_type"] == "application/pdf" and a["meta"]["warc_file"] == "crawl.warc.gz"


def test_a_parquet_file_that_is_not_a_side_output_is_quarantined(tmp_path):
    import pyarrow as pa

    pq.write_table(pa.table({"x": [1]}), tmp_path / "other.parquet")
    (outcome,) = PdfSource(PdfConfig()).read(str(tmp_path / "other.parquet"))
    assert outcome.status == "quarantined" and "no column" in outcome.detail


GERMAN = "Der Fluss, der durch die alte Stadt fließt, war einst die wichtigste Straße für die Händler. Seite {n} von {name}."


def test_every_pdf_document_carries_its_language(tmp_path):
    """Language ID runs by default (lid.176, as in the web job): PDF documents do not land in the 'other' cell."""
    from pipelines.label import LanguageStage

    src = tmp_path / "in"
    src.mkdir()
    (src / "en.pdf").write_bytes(make_pdf("en", pages=2))
    (src / "de.pdf").write_bytes(make_pdf("de", pages=2, text=GERMAN))
    result = run_job(_job(src, tmp_path / "out"))
    docs = {d["meta"]["pdf_file"]: d for d in _rows(tmp_path / "out" / "documents")}
    assert (docs["en.pdf"]["lang"], docs["de.pdf"]["lang"]) == ("en", "de")
    assert all(d["lang_score"] > 0.5 and d["meta"]["annotator.langid"] for d in docs.values())
    assert result.languages == Counter({"en": 1, "de": 1}) and result.ledger.kept == 2
    off = PdfJobConfig.parse({"inputs": [str(src)], "output": str(tmp_path / "o2"), "langid": None})
    assert not any(isinstance(s, LanguageStage) for s in off.build_stages())
