import json
import sys

import pytest
from typer.testing import CliRunner

from corpusforge.cli import build_app
from pipelines.pdf import evaluate
from pipelines.pdf.evaluate import cer, choose_reference, find_expected, normalise, strip_markdown, wer

runner = CliRunner()


def _linked_pdfs(tmp_path, folder, names):
    """A folder of links to some of the shared data's PDFs: an evaluation reads a whole folder."""
    pdfs = tmp_path / "pdfs"
    pdfs.mkdir()
    for name in names:
        (pdfs / f"{name}.pdf").symlink_to(folder / f"{name}.pdf")
    return pdfs


def test_error_rates_on_known_strings():
    assert cer("sitting", "kitten") == pytest.approx(3 / 6)
    assert cer("kitten", "kitten") == 0.0
    assert cer("  the\n cat ", "the cat") == 0.0  # whitespace is normalised first
    assert wer("the cat sat", "the cat sat down") == pytest.approx(1 / 4)
    assert wer("a x c", "a b c") == pytest.approx(1 / 3)
    assert cer("", "") == 0.0 and cer("x", "") == 1.0
    assert cer("", "abcd") == 1.0


def test_distance_without_rapidfuzz_agrees(monkeypatch):
    pairs = [("kitten", "sitting"), ("", "abc"), ("flaw", "lawn"), (["a", "b"], ["b", "a", "c"])]
    with_rf = [evaluate._distance(a, b) for a, b in pairs]
    monkeypatch.setitem(sys.modules, "rapidfuzz", None)
    monkeypatch.setitem(sys.modules, "rapidfuzz.distance", None)
    assert [evaluate._distance(a, b) for a, b in pairs] == with_rf == [3, 3, 2, 2]


def test_markdown_markup_is_stripped():
    md = (
        "## The *Evolution* of **Word** Processing\n\n"
        "See [the docs](http://x.y) and ![a chart](c.png) <!-- image -->\n\n"
        "| a | b |\n|---|:--:|\n| 1 | 2 |\n\n"
        "```python\nprint(1)\n```\n\n"
        "- item `code` <b>bold</b>\n1. first\n> quoted"
    )
    assert normalise(strip_markdown(md)) == (
        "The Evolution of Word Processing See the docs and a chart a b 1 2 print(1) item code bold first quoted"
    )


def test_expected_file_is_found_by_stem(tmp_path):
    names = ("doc.md", "doc.b.md", "doc_rotated.md", "other.tesseract.full.md", "other.nemotron.md", "one.x.md")
    for name in names:
        (tmp_path / name).write_text("x")
    assert choose_reference("doc", tmp_path) == (tmp_path / "doc.md", "plain doc.md over tagged ones")
    assert find_expected("doc", tmp_path, prefer="b").name == "doc.b.md"
    assert find_expected("doc_rotated", tmp_path).name == "doc_rotated.md"
    assert choose_reference("one", tmp_path) == (tmp_path / "one.x.md", "only reference")
    assert find_expected("other", tmp_path, prefer="tesseract").name == "other.tesseract.full.md"
    assert find_expected("other", tmp_path, prefer="tesseract.full").name == "other.tesseract.full.md"
    assert choose_reference("other", tmp_path, ["absent", "nemotron"]) == (
        tmp_path / "other.nemotron.md",
        "--reference nemotron",
    )
    assert find_expected("missing", tmp_path) is None


def test_several_references_without_a_choice_are_refused_not_guessed(tmp_path):
    for name in ("other.tesseract.full.md", "other.nemotron.md"):
        (tmp_path / name).write_text("x")
    with pytest.raises(evaluate.InputError) as err:
        choose_reference("other", tmp_path)
    assert "other.nemotron.md" in str(err.value) and "--reference" in str(err.value)
    with pytest.raises(evaluate.InputError):
        choose_reference("other", tmp_path, prefer="full_page")  # a tag that names none of them
    (tmp_path / "other.pdf").write_bytes(b"%PDF-1.4")
    result = runner.invoke(build_app(), ["eval", "ocr", "--pdfs", str(tmp_path), "--expected", str(tmp_path)])
    assert result.exit_code != 0 and "--reference" in str(result.exception or result.output)


@pytest.mark.slow
def test_rapidocr_on_real_scans(shared_data, tmp_path):
    docling = shared_data / "pdf" / "docling"
    pdfs = _linked_pdfs(tmp_path, docling / "ocr_scanned", ("ocr_test", "ocr_test_rotated_180"))
    result = evaluate.evaluate(pdfs, docling / "ocr_groundtruth_md", ["rapidocr"], "ocr", prefer="tesseract")
    docs = {d["document"]: d for d in result["runs"][0]["documents"]}
    assert docs["ocr_test.pdf"]["reference"] == "ocr_test.tesseract.full_page.md"
    assert docs["ocr_test.pdf"]["reference_rule"] == "--reference tesseract"
    assert docs["ocr_test.pdf"]["cer"] < 0.05 and docs["ocr_test.pdf"]["wer"] < 0.15
    # the page scanned upside down reads as well as the upright one
    assert docs["ocr_test_rotated_180.pdf"]["angles"] == [180]
    assert docs["ocr_test_rotated_180.pdf"]["cer"] <= docs["ocr_test.pdf"]["cer"] + 0.02


def test_cli_text_layer_run_writes_json(shared_data, tmp_path):
    docling = shared_data / "pdf" / "docling"
    pdfs = _linked_pdfs(tmp_path, docling / "pdf", ("multi_page", "code_and_formula"))
    out = tmp_path / "r.json"
    args = ["eval", "ocr", "--pdfs", str(pdfs), "--expected", str(docling / "groundtruth_md"), "--routing", "text"]
    result = runner.invoke(build_app(), [*args, "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "multi_page.pdf" in result.output
    assert "reference for multi_page.pdf: multi_page.md (only reference)" in result.output
    data = json.loads(out.read_text())
    run = data["runs"][0]
    assert run["engine"] == "text-layer" and run["pages"] >= 2
    docs = {d["document"]: d for d in run["documents"]}
    assert docs["multi_page.pdf"]["cer"] < 0.1 and docs["multi_page.pdf"]["ocr_pages"] == 0


def test_cli_auto_routing_reads_text_pages_without_ocr(shared_data, tmp_path):
    docling = shared_data / "pdf" / "docling"
    pdfs = _linked_pdfs(tmp_path, docling / "pdf", ("multi_page",))
    args = ["eval", "ocr", "--pdfs", str(pdfs), "--expected", str(docling / "groundtruth_md"), "--routing", "auto"]
    result = runner.invoke(build_app(), args)
    assert result.exit_code == 0, result.output
    assert "multi_page.pdf" in result.output


def test_cli_rejects_unknown_engine(tmp_path):
    result = runner.invoke(
        build_app(), ["eval", "ocr", "--pdfs", str(tmp_path), "--expected", str(tmp_path), "--engine", "x"]
    )
    assert result.exit_code != 0


def test_no_matching_expected_files_is_an_input_error(tmp_path):
    (tmp_path / "a.pdf").write_bytes(b"%PDF-1.4")
    with pytest.raises(evaluate.InputError, match="no PDF"):
        evaluate.evaluate(tmp_path, tmp_path, ["rapidocr"], "text")
