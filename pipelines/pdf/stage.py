"""PDF bytes → one text record: each page from its text layer or by OCR, chosen per page (see routing.py).

Pages are read and rendered one at a time, so memory stays bounded by one page (and one rendered image), not
by the document. Bad input ends with a named reason: ``not_pdf``, ``too_large``, ``pdf_unreadable``,
``pdf_encrypted``, ``pdf_no_pages``, ``pdf_too_many_pages``, ``pdf_no_text``.
"""

from __future__ import annotations

import json
import unicodedata
from collections import Counter
from typing import Any

from pydantic import Field

from corpusforge.config import Config
from corpusforge.errors import DependencyError, Drop
from corpusforge.ledger import add_note
from corpusforge.record import Record
from pipelines.pdf.ocr import OcrConfig, render_page
from pipelines.pdf.routing import EMPTY, OCR, TEXT_LAYER, RoutingConfig, page_text, read_page, route

PAGE_BREAK = "\f"  # between pages; meta["pdf_page_offsets"] gives each page's [start, end) in the text
PDF_MAGIC = b"%PDF-"


class PdfConfig(Config):
    routing: RoutingConfig = RoutingConfig()
    max_render_pixels: int = Field(
        40_000_000, gt=0, description="A page larger than this at `ocr.dpi` is rendered at a lower resolution."
    )
    max_pages: int = Field(2000, gt=0, description="Documents with more pages are dropped (pdf_too_many_pages).")
    max_bytes: int = Field(64 * 1024 * 1024, gt=0, description="Larger files are dropped (too_large).")
    min_chars: int = Field(1, ge=1, description="Documents with fewer non-space characters: pdf_no_text.")
    min_ocr_confidence: float = Field(
        0.8, ge=0, le=1, description="A page read by OCR with less confidence keeps its text layer, if it has one."
    )
    ocr: OcrConfig | None = Field(
        default_factory=OcrConfig,
        description="OCR for pages routed to it; null reads those pages from their text layer, if any.",
    )


class PdfStage:
    """Converts one PDF at a time; the OCR engine is built on the first page that needs it."""

    name = "pdf"

    def __init__(self, config: PdfConfig):
        self.config = config
        self._ocr: Any = None

    def setup(self) -> None:
        try:
            import pymupdf
        except ImportError:
            raise DependencyError("PdfStage", "pymupdf", "ocr") from None
        pymupdf.TOOLS.mupdf_display_errors(False)  # repairs are reported in meta, not on stderr
        pymupdf.TOOLS.mupdf_display_warnings(False)

    def ocr_engine(self):
        if self._ocr is None:
            from pipelines.pdf.ocr import build_ocr

            self._ocr = build_ocr(self.config.ocr)
        return self._ocr

    def convert(self, record: Record, data: bytes) -> Record:
        """Fill ``record.text`` and its PDF meta from ``data``, or raise `Drop` with the reason."""
        if len(data) > self.config.max_bytes:
            raise Drop("too_large", f"{len(data)} bytes")
        start = data.find(PDF_MAGIC, 0, 1024)
        if start < 0:
            raise Drop("not_pdf", f"starts {data[:24]!r}")
        import pymupdf

        pymupdf.TOOLS.reset_mupdf_warnings()
        try:
            doc = pymupdf.open(stream=data[start:], filetype="pdf")
        except Exception as exc:  # noqa: BLE001 - MuPDF raises its own types for every kind of broken file
            raise Drop("pdf_unreadable", f"{type(exc).__name__}: {exc}"[:500]) from None
        try:
            return self._convert(record, doc)
        finally:
            doc.close()

    def _convert(self, record: Record, doc) -> Record:
        import pymupdf

        if doc.needs_pass:
            raise Drop("pdf_encrypted")
        try:
            count = doc.page_count
        except Exception as exc:  # noqa: BLE001 - a page tree MuPDF cannot walk
            raise Drop("pdf_unreadable", f"{type(exc).__name__}: {exc}"[:500]) from None
        if count == 0:
            raise Drop("pdf_no_pages")
        if count > self.config.max_pages:
            raise Drop("pdf_too_many_pages", f"{count} pages")

        routing = self.config.routing
        texts, pages, methods = [], [], Counter()
        for number in range(count):
            try:
                page = doc.load_page(number)
                read = read_page(page)
            except Exception as exc:  # noqa: BLE001 - one broken page must not lose the others
                texts.append("")
                pages.append({"page": number, "method": "error", "why": f"{type(exc).__name__}: {exc}"[:200]})
                methods["error"] += 1
                continue
            method, why = route(read.features, routing)
            info: dict[str, Any] = {"page": number, "route": method, "why": why, **read.features.to_dict()}
            if method == OCR and self.config.ocr is None:
                method, why = (TEXT_LAYER, "ocr_disabled") if read.text else (EMPTY, "ocr_disabled")
            if method == OCR and why.startswith("rtl") and not self.ocr_engine().reads_rtl():
                # OCR with no model for the script reads worse than a text layer stored in visual order
                method, why = TEXT_LAYER, f"{why}+ocr_no_rtl_script"
                info["why"] = why
                text = unicodedata.normalize("NFKC", page_text(read, TEXT_LAYER, routing))
            elif method == OCR:
                method, text = self._ocr_page(page, read, info)
            else:
                text = page_text(read, method, routing)
            info["method"] = method
            texts.append(text.replace(PAGE_BREAK, "\n"))
            pages.append(info)
            methods[method] += 1
            del page

        record.text, offsets = join_pages(texts)
        if sum(not ch.isspace() for ch in record.text) < self.config.min_chars:
            raise Drop("pdf_no_text", f"{count} pages: {dict(methods)}")

        meta = record.meta
        metadata = doc.metadata or {}
        meta.update(
            format="pdf",
            pdf_page_count=str(count),
            pdf_producer=metadata.get("producer") or "",
            pdf_creator=metadata.get("creator") or "",
            pdf_methods=json.dumps(dict(sorted(methods.items()))),
            pdf_pages=json.dumps(pages, separators=(",", ":")),
            pdf_page_offsets=offsets,
            pdf_repaired=str(bool(getattr(doc, "is_repaired", False))).lower(),
        )
        # pages lost or read the second-best way still leave a kept document: the ledger counts them as notes
        add_note(meta, *("pdf_page_ocr_error" for p in pages if "ocr_error" in p))
        add_note(meta, *("pdf_page_unreadable" for p in pages if p["method"] == "error" and "ocr_error" not in p))
        if warnings := pymupdf.TOOLS.mupdf_warnings():
            meta["pdf_warnings"] = warnings[:500]
        return record

    def _ocr_page(self, page, read, info: dict[str, Any]) -> tuple[str, str]:
        """(method, text) of a page routed to OCR; a failed or unsure reading falls back to the text layer."""
        routing = self.config.routing
        try:
            result = self.ocr_engine().read(self.render(page), list(self.config.ocr.languages))
        except DependencyError:
            raise  # a missing engine is a setup problem for every page, not this page's fault
        except Exception as exc:  # noqa: BLE001 - one page the engine cannot read must not lose the document
            info.update(why=f"{info['why']}+ocr_error", ocr_error=f"{type(exc).__name__}: {exc}"[:200])
            return (TEXT_LAYER, page_text(read, TEXT_LAYER, routing)) if read.text else ("error", "")
        info.update(ocr_confidence=result.confidence, ocr_angle=result.angle)
        # an engine unsure of the script (CJK, a rare alphabet) guesses; a flawed text layer beats its guess
        if read.text and result.confidence is not None and result.confidence < self.config.min_ocr_confidence:
            info["why"] = f"{info['why']}+ocr_unsure"
            return TEXT_LAYER, page_text(read, TEXT_LAYER, routing)
        return OCR, result.text.strip()

    def render(self, page) -> bytes:
        """One page as PNG at the configured resolution, lowered for pages too large to render at it."""
        dpi = self.config.ocr.dpi if self.config.ocr is not None else 200
        return render_page(page, dpi, self.config.max_render_pixels)


def join_pages(texts: list[str]) -> tuple[str, str]:
    """Pages → (text with page breaks, JSON of each page's [start, end) offsets)."""
    offsets, position = [], 0
    for text in texts:
        offsets.append([position, position + len(text)])
        position += len(text) + len(PAGE_BREAK)
    return PAGE_BREAK.join(texts), json.dumps(offsets, separators=(",", ":"))


def split_pages(record: Record) -> list[str]:
    """The text of each page again, from the offsets the stage recorded."""
    return [record.text[a:b] for a, b in json.loads(record.meta["pdf_page_offsets"])]
