"""Scanned pages turned 0/90/180/270 degrees, and upright scans carrying a /Rotate, for ``corpusforge eval ocr``.

Each PDF is one image-only page of six numbered lines (rendered by PyMuPDF, turned as a whole, optionally with
``page.set_rotation``); ``<stem>.md`` holds the six lines in order, so a reading in the wrong line order scores
a high WER even when every word is right.

    python benchmarks/rotated_pages.py --out out/rotated
    corpusforge eval ocr --pdfs out/rotated/pdf --expected out/rotated/md --engine all --dpi 150
"""

from __future__ import annotations

import sys

# run as a path, benchmarks/ leads sys.path and its tokenize.py would shadow the standard library's (see dedup_pairs.py)
if sys.path[0].endswith("benchmarks"):
    sys.path[0] = sys.path[0][: -len("benchmarks")].rstrip("/") or "/"

import argparse  # noqa: E402
import io  # noqa: E402
from pathlib import Path  # noqa: E402

LINES = [
    "Alpha river crossing at dawn",
    "Bravo mountain pass in winter",
    "Charlie valley farms and mills",
    "Delta harbour ships at night",
    "Echo forest paths in autumn",
    "Foxtrot desert wells in summer",
]
CASES = {  # stem: (degrees the scan is turned clockwise, /Rotate of the page)
    "upright": (0, 0),
    "turned_90": (90, 0),
    "turned_180": (180, 0),
    "turned_270": (270, 0),
    "rotate_attr_90": (0, 90),
    "rotate_attr_180": (0, 180),
    "rotate_attr_270": (0, 270),
}


def scanned_page(turn: int, rotate: int, dpi: int = 150) -> bytes:
    import pymupdf
    from PIL import Image

    with pymupdf.open() as source:
        page = source.new_page(width=320, height=300)
        for i, line in enumerate(LINES):
            page.insert_text((20, 50 + 36 * i), line, fontsize=16)
        image = Image.open(io.BytesIO(page.get_pixmap(dpi=dpi).tobytes("png"))).rotate(-turn, expand=True)
    png = io.BytesIO()
    image.save(png, "PNG")
    with pymupdf.open() as doc:
        page = doc.new_page(width=image.width * 72 / dpi, height=image.height * 72 / dpi)
        page.insert_image(page.rect, stream=png.getvalue())
        page.set_rotation(rotate)
        return doc.tobytes()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    (args.out / "pdf").mkdir(parents=True, exist_ok=True)
    (args.out / "md").mkdir(parents=True, exist_ok=True)
    for stem, (turn, rotate) in CASES.items():
        (args.out / "pdf" / f"{stem}.pdf").write_bytes(scanned_page(turn, rotate))
        (args.out / "md" / f"{stem}.md").write_text("\n\n".join(LINES) + "\n")
    print(f"{len(CASES)} PDFs in {args.out / 'pdf'}, expected text in {args.out / 'md'}")


if __name__ == "__main__":
    main()
