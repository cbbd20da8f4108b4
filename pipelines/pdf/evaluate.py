"""`corpusforge eval ocr`: character and word error rates of PDF text extraction against Markdown ground truth.

Each PDF in ``--pdfs`` with an expected file in ``--expected`` (``<stem>.md`` or ``<stem>.<tag>.md``) is read
per page (text layer, OCR, or routed per page) and compared after Markdown markup and whitespace are removed:
CER = character edit distance / reference characters, WER = word edit distance / reference words.
Which expected file a document is scored against is never guessed: see `choose_reference`; it is printed and kept
in the JSON for every document.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from corpusforge.errors import DependencyError, Drop, InputError
from pipelines.pdf.ocr import OcrConfig, OcrEngine, build_ocr, render_page, tesseract_binary

_FENCE = re.compile(r"^\s*(```|~~~).*$", re.M)
_IMAGE = re.compile(r"!\[([^\]]*)\]\([^)]*\)")
_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")
_HTML = re.compile(r"<!--.*?-->|<[^>\n]+>", re.S)
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s*", re.M)
_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?\s*$", re.M)
_LIST = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+", re.M)
_QUOTE = re.compile(r"^\s*>\s?", re.M)
_EMPHASIS = re.compile(r"(\*{1,3}|_{2,3})(\S(?:.*?\S)?)\1")
_CODE = re.compile(r"`([^`]*)`")


def strip_markdown(text: str) -> str:
    """Markdown → the plain text a reader sees (what a PDF's page shows)."""
    text = _FENCE.sub("", text)
    text = _IMAGE.sub(r"\1", text)
    text = _LINK.sub(r"\1", text)
    text = _HTML.sub(" ", text)
    text = _TABLE_RULE.sub("", text)
    text = _HEADING.sub("", text)
    text = _LIST.sub("", text)
    text = _QUOTE.sub("", text)
    text = _EMPHASIS.sub(r"\2", text)
    text = _CODE.sub(r"\1", text)
    text = text.replace("|", " ")
    return text


def normalise(text: str) -> str:
    return " ".join(text.split())


def _distance(a, b) -> int:
    try:
        from rapidfuzz.distance import Levenshtein

        return Levenshtein.distance(a, b)
    except ImportError:
        pass
    prev = list(range(len(b) + 1))  # plain dynamic programming: fine for test-sized inputs
    for i, x in enumerate(a, 1):
        cur = [i]
        for j, y in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x != y)))
        prev = cur
    return prev[-1]


def cer(hypothesis: str, reference: str) -> float:
    hyp, ref = normalise(hypothesis), normalise(reference)
    return _distance(hyp, ref) / len(ref) if ref else float(bool(hyp))


def wer(hypothesis: str, reference: str) -> float:
    hyp, ref = hypothesis.split(), reference.split()
    return _distance(hyp, ref) / len(ref) if ref else float(bool(hyp))


def _tag(path: Path, stem: str) -> str:
    """``tesseract.full_page`` for ``<stem>.tesseract.full_page.md``; ``""`` for ``<stem>.md``."""
    return path.name[len(stem) + 1 : -len(".md")]


def choose_reference(stem: str, expected: Path, prefer: str | list[str] | None = None) -> tuple[Path, str] | None:
    """The expected file of one document and why it was chosen, or None when it has none.

    Rule: a single candidate (``<stem>.md`` or ``<stem>.<tag>.md``) is used as it is. Among several, the first
    ``prefer`` tag (in the order given) that names exactly one file picks it: the whole tag or one of its
    dot-separated parts (``tesseract`` picks ``<stem>.tesseract.full_page.md``). Otherwise a plain ``<stem>.md``
    wins; with none, the choice is the user's: an `InputError` lists the candidates.
    """
    prefs = [prefer] if isinstance(prefer, str) else list(prefer or [])
    candidates = sorted(p for p in expected.glob(f"{stem}.*md") if p.is_file() and p.name.endswith(".md"))
    if not candidates:
        return None
    if len(candidates) == 1:
        return candidates[0], "only reference"
    for tag in prefs:
        hits = [p for p in candidates if tag == _tag(p, stem) or tag in _tag(p, stem).split(".")]
        if len(hits) == 1:
            return hits[0], f"--reference {tag}"
    plain = [p for p in candidates if p.name == f"{stem}.md"]
    if plain:
        return plain[0], f"plain {stem}.md over tagged ones"
    names = ", ".join(p.name for p in candidates)
    tags = ", ".join(_tag(p, stem) for p in candidates)
    raise InputError(
        f"{expected / stem}.*.md", f"{len(candidates)} reference files ({names}); pick one with --reference TAG ({tags})"
    )


def find_expected(stem: str, expected: Path, prefer: str | list[str] | None = None) -> Path | None:
    """The path `choose_reference` picks."""
    chosen = choose_reference(stem, expected, prefer)
    return chosen[0] if chosen else None


def _read_routed(path: Path, engine: OcrEngine | None, dpi: int) -> dict:
    """Exactly what the pdf job does: per-page routing, OCR fallbacks and all, through `PdfStage` itself."""
    from corpusforge.record import Record
    from pipelines.pdf.stage import PdfConfig, PdfStage, split_pages

    start = time.perf_counter()
    ocr = engine.config if engine is not None else None
    stage = PdfStage(PdfConfig(ocr=ocr.model_copy(update={"dpi": dpi}) if ocr is not None else None))
    stage.setup()
    stage._ocr = engine  # one engine (and its loaded model) for every document of the run
    try:
        record = stage.convert(Record(id=path.name, text="", source="pdf"), path.read_bytes())
    except Drop as drop:  # the job would drop it (e.g. pdf_no_text): it contributes no text
        return {
            "text": "",
            "pages": 0,
            "ocr_pages": 0,
            "angles": [],
            "seconds": time.perf_counter() - start,
            "dropped": drop.reason,
        }
    pages = json.loads(record.meta["pdf_pages"])
    return {
        "text": "\n\n".join(split_pages(record)),
        "pages": len(pages),
        "ocr_pages": sum(p["method"] == "ocr" for p in pages),
        "angles": [p["ocr_angle"] for p in pages if p["method"] == "ocr"],
        "seconds": time.perf_counter() - start,
    }


def read_pdf(path: Path, routing: str, engine: OcrEngine | None, dpi: int) -> dict:
    """Text of every page by ``routing``; returns text, pages, pages OCRed and seconds."""
    import pymupdf

    if routing == "auto":
        return _read_routed(path, engine, dpi)
    start = time.perf_counter()
    texts, ocred, angles = [], 0, []
    with pymupdf.open(path) as doc:
        for page in doc:
            if routing == "text":
                texts.append(page.get_text())
                continue
            if engine is None:
                raise InputError(str(path), "a page needs OCR but no OCR engine is configured")
            result = engine.read(render_page(page, dpi))
            texts.append(result.text)
            ocred += 1
            angles.append(result.angle)
        pages = len(doc)
    return {
        "text": "\n\n".join(texts),
        "pages": pages,
        "ocr_pages": ocred,
        "angles": angles,
        "seconds": time.perf_counter() - start,
    }


def evaluate(
    pdfs: Path,
    expected: Path,
    engines: list[str],
    routing: str,
    dpi: int = 200,
    prefer: str | list[str] | None = None,
    languages: list[str] | None = None,
    console: Console | None = None,
) -> dict:
    pairs = []
    for pdf in sorted(pdfs.glob("*.pdf")):
        chosen = choose_reference(pdf.stem, expected, prefer)  # every choice made (or refused) before any OCR
        if chosen is not None:
            pairs.append((pdf, *chosen))
    if console is not None:
        for pdf, ref, why in pairs:
            console.print(f"reference for {pdf.name}: {ref.name} ({why})", highlight=False)
    if not pairs:
        raise InputError(str(pdfs), f"no PDF there has an expected <stem>.md or <stem>.<tag>.md in {expected}")
    runs = []
    for name in engines if routing != "text" else ["text-layer"]:
        engine = (
            None if routing == "text" else build_ocr(OcrConfig(engine=name, dpi=dpi, languages=languages or ["eng"]))
        )
        docs = []
        for pdf, ref, why in pairs:
            got = read_pdf(pdf, routing, engine, dpi)
            reference = normalise(strip_markdown(ref.read_text(encoding="utf-8")))
            hypothesis = normalise(got.pop("text"))
            docs.append(
                {
                    "document": pdf.name,
                    "reference": ref.name,
                    "reference_rule": why,
                    "cer": cer(hypothesis, reference),
                    "wer": wer(hypothesis, reference),
                    "reference_chars": len(reference),
                    **got,
                }
            )
        pages = sum(d["pages"] for d in docs)
        seconds = sum(d["seconds"] for d in docs)
        chars = sum(d["reference_chars"] for d in docs)
        runs.append(
            {
                "engine": name,
                "routing": routing,
                "dpi": dpi,
                "languages": languages or ["eng"],
                "documents": docs,
                # means weighted by reference length, so a one-line page does not weigh like a paper
                "cer": sum(d["cer"] * d["reference_chars"] for d in docs) / chars if chars else 0.0,
                "wer": sum(d["wer"] * d["reference_chars"] for d in docs) / chars if chars else 0.0,
                "pages": pages,
                "seconds": seconds,
                "pages_per_s": pages / seconds if seconds else 0.0,
            }
        )
    return {"pdfs": str(pdfs), "expected": str(expected), "runs": runs}


def report(result: dict) -> Table:
    table = Table(title=f"OCR / text extraction on {result['pdfs']} against {result['expected']}")
    for col in ("engine", "routing", "document", "reference", "pages", "OCR pages", "CER", "WER", "seconds"):
        table.add_column(col, justify="left" if col in ("engine", "routing", "document", "reference") else "right")
    for run in result["runs"]:
        for d in run["documents"]:
            table.add_row(
                run["engine"],
                run["routing"],
                d["document"],
                d["reference"],
                str(d["pages"]),
                str(d["ocr_pages"]),
                f"{d['cer']:.3f}",
                f"{d['wer']:.3f}",
                f"{d['seconds']:.1f}",
            )
        table.add_row(
            run["engine"],
            run["routing"],
            "[b]all (weighted by length)[/b]",
            "",
            str(run["pages"]),
            str(sum(d["ocr_pages"] for d in run["documents"])),
            f"[b]{run['cer']:.3f}[/b]",
            f"[b]{run['wer']:.3f}[/b]",
            f"{run['seconds']:.1f}",
            end_section=True,
        )
    return table


def eval_ocr(
    pdfs: Path = typer.Option(..., "--pdfs", help="Directory of PDFs.", exists=True, file_okay=False),
    expected: Path = typer.Option(
        ..., "--expected", help="Directory of <stem>.md or <stem>.<tag>.md ground truth.", exists=True, file_okay=False
    ),
    engine: str = typer.Option("rapidocr", help="rapidocr, tesseract, vlm, or all (rapidocr and tesseract)."),
    routing: str = typer.Option("ocr", help="ocr (every page), text (the text layer), or auto (per-page routing)."),
    dpi: int = typer.Option(200, help="Render resolution for OCR."),
    reference: list[str] = typer.Option(
        [],
        "--reference",
        help="Where a document has several expected files, use the one whose tag is or contains this part, "
        "e.g. 'tesseract' for <stem>.tesseract.full_page.md (repeatable, in order of preference). "
        "Without it such a document is an error; the choice for every document is printed.",
    ),
    lang: list[str] = typer.Option(["eng"], "--lang", help="Tesseract language code(s) to read with (repeatable)."),
    json_path: Path | None = typer.Option(None, "--json", help="Also write the results as JSON here."),
) -> None:
    """Character and word error rates of PDF text (text layer, OCR or routed) against Markdown ground truth."""
    if routing not in ("ocr", "text", "auto"):
        raise InputError(f"--routing {routing}", "choose ocr, text or auto")
    if engine == "all":
        engines = ["rapidocr"] + (["tesseract"] if tesseract_binary() else [])
    elif engine in ("rapidocr", "tesseract", "vlm"):
        engines = [engine]
    else:
        raise InputError(f"--engine {engine}", "choose rapidocr, tesseract, vlm or all")
    try:
        OcrConfig(dpi=dpi)
    except Exception:
        raise InputError(f"--dpi {dpi}", "must be between 72 and 600") from None
    try:
        import pymupdf  # noqa: F401
    except ImportError:
        raise DependencyError("eval ocr", "pymupdf", "ocr") from None
    console = Console(width=200)
    result = evaluate(pdfs, expected, engines, routing, dpi, reference, lang, console)
    console.print(report(result))
    if json_path:
        json_path.write_text(json.dumps(result, indent=2))
