"""Makes the PDF recipe's bundled inputs from this project's own prose (no third-party content, so they may
live in the tree): one PDF with a text layer, and one image-only "scan" of the same kind of page for OCR.

    .venv/bin/python samples/pdf/make_pdfs.py        # rewrites samples/pdf/*.pdf
"""

from __future__ import annotations

from pathlib import Path

import pymupdf as fitz  # PyMuPDF (the ocr extra)

HERE = Path(__file__).resolve().parent
PAGES = [
    "CorpusForge builds pretraining corpora for large language models the way the Qwen3 technical report "
    "describes, and trains on them. Web archives are read record by record; the main text of every page is "
    "extracted, its language is identified, and quality filters decide which documents are kept. Every record "
    "ends kept, dropped with a named reason, or quarantined with its error, and the counts of each task must "
    "balance before the task is marked done.",
    "Kept documents are labelled with their domain, format, academic field, educational value and toxicity by "
    "small classifiers, then deduplicated by URL, by exact text and by MinHash signatures. The survivors are "
    "tokenized with the Qwen3 tokenizer and written as Megatron indexed datasets, one per label cell, so that a "
    "training run can weigh each cell as the mixture asks. A tiny model is then trained in three stages.",
]
SCAN = (
    "Portable documents enter the same path. A page with a sound text layer is read from that layer; a page "
    "without one, such as a scanned letter, is rendered to an image and read by an optical character "
    "recognition engine. The decision for every page is kept with the document, so that a reviewer can see "
    "why a page was read the way it was."
)
META = {"title": "CorpusForge sample", "author": "CorpusForge", "creationDate": "D:20260101000000Z"}


def _page(doc: fitz.Document, text: str) -> None:
    page = doc.new_page(width=595, height=842)  # A4 in points
    page.insert_textbox(fitz.Rect(72, 72, 523, 770), text, fontsize=13, fontname="helv", lineheight=1.4)


def _save(doc: fitz.Document, name: str) -> None:
    doc.set_metadata({**META, "modDate": META["creationDate"]})
    doc.save(HERE / name, garbage=4, deflate=True, no_new_id=True)


def main() -> None:
    text = fitz.open()
    for body in PAGES:
        _page(text, body)
    _save(text, "text_layer.pdf")

    source = fitz.open()
    _page(source, SCAN)
    image = source[0].get_pixmap(dpi=150, colorspace=fitz.csGRAY)
    scan = fitz.open()
    page = scan.new_page(width=595, height=842)
    page.insert_image(page.rect, stream=image.tobytes("png"))
    _save(scan, "scanned.pdf")


if __name__ == "__main__":
    main()
