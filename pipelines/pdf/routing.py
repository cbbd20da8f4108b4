"""Per-page routing: read a page from its text layer when that layer is trustworthy, send it to OCR when not.

A text layer can be missing (scans), garbled (fonts without a Unicode map), an invisible OCR layer of unknown
quality over a scanned image, or right-to-left text stored in visual order. The features below catch those
cheaply from PyMuPDF's own extraction, without rendering the page.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import asdict, dataclass
from typing import Literal

from pydantic import Field

from corpusforge.config import Config

TEXT_LAYER, OCR, EMPTY = "text_layer", "ocr", "empty"

# pymupdf.TEXT_PRESERVE_LIGATURES | TEXT_PRESERVE_WHITESPACE | TEXT_MEDIABOX_CLIP: "dict" without the image
# data its default copies into Python; unmapped glyphs come out as U+FFFD, which the garbage count sees
_FLAGS = 1 | 2 | 64
_FILLED_OR_STROKED = 16 | 32  # MuPDF char flags; text drawn with neither is render mode 3 (invisible)
_LIGATURES = {chr(c): unicodedata.normalize("NFKC", chr(c)) for c in range(0xFB00, 0xFB07)}
_LIGATURE_TABLE = str.maketrans(_LIGATURES)
# lam-alef ligatures split in visual order leave two alef forms in a row, which Arabic and Persian never write
_RTL_BROKEN = re.compile("[\u0627\u0623\u0625\u0622][\u0627\u0623\u0625\u0622]")


class RoutingConfig(Config):
    min_chars: int = Field(20, ge=0, description="Pages with fewer visible characters count as having no text.")
    min_image_coverage: float = Field(
        0.05, ge=0, le=1, description="A page without text but with at least this image area goes to OCR."
    )
    max_garbage: float = Field(
        0.05, ge=0, le=1, description="Above this share of replacement, private-use or control characters: OCR."
    )
    max_rtl_broken: float = Field(
        0.002, ge=0, le=1, description="Above this share of RTL characters in mis-ordered ligatures: OCR."
    )
    max_rtl_presentation: float = Field(
        0.2, ge=0, le=1, description="Above this share of RTL text in presentation forms (visual order): OCR."
    )
    invisible_layer: Literal["ocr", "keep"] = Field(
        "ocr", description="An invisible text layer over a page-sized image (an old OCR): redo it, or keep it."
    )
    scan_coverage: float = Field(0.5, ge=0, le=1, description="Image coverage from which a page counts as a scan.")
    hidden_text: Literal["drop", "keep"] = Field(
        "drop", description="Invisible text on a page that is not a scan (hidden keywords): leave it out, or keep."
    )


@dataclass(slots=True)
class PageFeatures:
    chars: int = 0  # non-whitespace characters in the text layer, visible or not
    invisible: int = 0  # of which drawn invisibly (render mode 3 or fully transparent)
    garbage: int = 0  # U+FFFD, private-use and control characters
    ligatures: int = 0  # U+FB00-FB06 presentation forms (normalized in the output)
    rtl: int = 0  # Arabic and Hebrew characters
    rtl_presentation: int = 0  # of which presentation forms (U+FB1D-FDFF, U+FE70-FEFF)
    rtl_broken: int = 0  # mis-ordered lam-alef pairs
    image_coverage: float = 0.0  # share of the page area under images (overlaps counted once per image)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(slots=True)
class PageRead:
    """A page's text-layer reading: its text (visible, and invisible kept apart) and its features."""

    text: str
    hidden: str
    features: PageFeatures


def read_page(page) -> PageRead:
    """Extract a page's text layer and measure it; invisible spans are kept apart so routing can decide."""
    features = PageFeatures(image_coverage=_image_coverage(page))
    visible_blocks, hidden_blocks = [], []
    for block in page.get_text("dict", flags=_FLAGS)["blocks"]:
        if block.get("type", 0) != 0:
            continue
        visible_lines, hidden_lines = [], []
        for line in block["lines"]:
            shown, hidden = [], []
            for span in line["spans"]:
                text = span["text"]
                invisible = span.get("alpha", 255) == 0 or not (span.get("char_flags", 16) & _FILLED_OR_STROKED)
                (hidden if invisible else shown).append(text)
                _count(features, text, invisible)
            if shown:
                visible_lines.append("".join(shown))
            if hidden:
                hidden_lines.append("".join(hidden))
        if visible_lines:
            visible_blocks.append("\n".join(visible_lines))
        if hidden_lines:
            hidden_blocks.append("\n".join(hidden_lines))
    return PageRead(_clean("\n".join(visible_blocks)), _clean("\n".join(hidden_blocks)), features)


def _count(f: PageFeatures, text: str, invisible: bool) -> None:
    n = 0
    for ch in text:
        if ch.isspace():
            continue
        n += 1
        code = ord(ch)
        if code == 0xFFFD or 0xE000 <= code <= 0xF8FF or code < 0x20 or 0x7F <= code < 0xA0:
            f.garbage += 1
        elif 0xFB00 <= code <= 0xFB06:
            f.ligatures += 1
        elif 0x0590 <= code <= 0x08FF:
            f.rtl += 1
        elif 0xFB1D <= code <= 0xFDFF or 0xFE70 <= code <= 0xFEFF:
            f.rtl += 1
            f.rtl_presentation += 1
    f.chars += n
    if invisible:
        f.invisible += n
    f.rtl_broken += len(_RTL_BROKEN.findall(text))


def _image_coverage(page) -> float:
    area = abs(page.rect)
    if not area:
        return 0.0
    import pymupdf

    covered = 0.0
    for info in page.get_image_info():
        covered += abs(pymupdf.Rect(info["bbox"]) & page.rect)
    return round(min(covered / area, 1.0), 4)


def _clean(text: str) -> str:
    """Ligature presentation forms back to letters; trailing spaces and blank-line runs out."""
    text = text.translate(_LIGATURE_TABLE)
    lines = [line.rstrip() for line in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def route(f: PageFeatures, config: RoutingConfig) -> tuple[str, str]:
    """(method, why): ``text_layer``, ``ocr`` or ``empty`` (nothing to read: no text, no image)."""
    scan = f.image_coverage >= config.scan_coverage
    visible = f.chars - f.invisible
    if f.invisible and scan and f.invisible >= visible:
        return (OCR, "invisible_ocr_layer") if config.invisible_layer == "ocr" else (TEXT_LAYER, "invisible_kept")
    readable = f.chars if config.hidden_text == "keep" else visible
    if readable < config.min_chars:
        if f.image_coverage >= config.min_image_coverage:
            return OCR, "no_text_layer"
        return (TEXT_LAYER, "little_text") if readable else (EMPTY, "blank")
    if f.garbage > config.max_garbage * f.chars:
        return OCR, "garbled"
    if f.rtl and f.rtl_presentation > config.max_rtl_presentation * f.rtl:
        return OCR, "rtl_presentation_forms"
    if f.rtl and f.rtl_broken > config.max_rtl_broken * f.rtl:
        return OCR, "rtl_misordered"
    return TEXT_LAYER, "ok"


def page_text(read: PageRead, method: str, config: RoutingConfig) -> str:
    """The text a page contributes when read from its text layer."""
    if method != TEXT_LAYER:
        return ""
    scan = read.features.image_coverage >= config.scan_coverage
    if read.hidden and (config.hidden_text == "keep" or scan and config.invisible_layer == "keep"):
        return "\n".join(t for t in (read.text, read.hidden) if t)
    return read.text
