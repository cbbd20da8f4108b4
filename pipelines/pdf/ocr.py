"""OCR of rendered PDF pages: RapidOCR (ONNX, CPU, models in the wheel), Tesseract, or a vision LLM behind an
OpenAI-compatible endpoint (Qwen2.5-VL on vLLM on a GPU cluster).

Every engine reads a PNG and returns the text upright: rotated scans (90/180/270) are detected with Tesseract's
orientation detection when the binary is there, else by reading the page in each orientation and keeping the
most confident reading. Models load once per process, on first use.
"""

from __future__ import annotations

import base64
import io
import math
import os
import shutil
import subprocess
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Literal

from pydantic import Field

from corpusforge.config import Config
from corpusforge.errors import ConfigError, DependencyError, InputError

ANGLES = (0, 90, 180, 270)
#: below this share of text on horizontal lines a reading is not trusted to be upright
HORIZONTAL_SHARE = 0.8
#: Tesseract languages written right to left (Arabic, Persian, Urdu, Pashto, Sindhi, Uyghur, Hebrew, Yiddish, Syriac)
RTL_LANGUAGES = frozenset({"ara", "fas", "urd", "pus", "snd", "uig", "heb", "yid", "syr", "Arabic", "Hebrew"})
VLM_PROMPT = (
    "Transcribe all text on this page image exactly, in reading order, as plain text. Keep paragraphs apart "
    "with blank lines. Do not describe images, do not translate, do not add anything."
)


class VlmConfig(Config):
    base_url: str | None = Field(None, description="OpenAI-compatible API root, e.g. http://gpu-node:8000/v1.")
    model: str = "Qwen/Qwen2.5-VL-7B-Instruct"
    api_key_env: str = Field("OPENAI_API_KEY", description="Environment variable holding the API key, if any.")
    timeout_s: float = Field(120.0, gt=0)
    max_tokens: int = Field(4096, ge=1)
    prompt: str = VLM_PROMPT


class OcrConfig(Config):
    engine: Literal["rapidocr", "tesseract", "vlm"] = "rapidocr"
    dpi: int = Field(200, ge=72, le=600, description="Render resolution of a page before OCR.")
    languages: list[str] = Field(["eng"], min_length=1, description="Tesseract language codes (eng, deu, ...).")
    detect_rotation: bool = Field(True, description="Detect pages scanned at 90/180/270 degrees and read upright.")
    vlm: VlmConfig = VlmConfig()


@dataclass(slots=True)
class OcrResult:
    text: str
    confidence: float | None  # 0..1, mean over characters; None when the engine gives none (VLM)
    angle: int = 0  # degrees the page image was turned clockwise to read it upright
    #: how well this reading supports its orientation (confidence x characters on horizontal lines)
    upright: float | None = field(default=None, repr=False, compare=False)
    #: share of that (confidence-weighted) text read from horizontal lines; None when the engine gives no boxes
    horizontal: float | None = field(default=None, repr=False, compare=False)


def rotate_png(png: bytes, angle: int) -> bytes:
    """Turn a PNG ``angle`` degrees clockwise."""
    if angle % 360 == 0:
        return png
    from PIL import Image

    out = io.BytesIO()
    Image.open(io.BytesIO(png)).rotate(-angle, expand=True).save(out, "PNG")
    return out.getvalue()


def _score(result: OcrResult) -> float:
    if result.upright is not None:
        return result.upright
    return (result.confidence or 0.0) * len("".join(result.text.split()))


def tesseract_binary() -> str | None:
    return shutil.which("tesseract")


def osd_angle(png: bytes) -> int | None:
    """Tesseract's orientation detection: the clockwise turn that makes the page upright, or None if unsure."""
    binary = tesseract_binary()
    if binary is None:
        return None
    proc = subprocess.run([binary, "stdin", "stdout", "--psm", "0"], input=png, capture_output=True, timeout=120)
    fields = dict(line.split(":", 1) for line in proc.stdout.decode(errors="replace").splitlines() if ":" in line)
    try:
        angle, confidence = int(fields["Rotate"].strip()), float(fields["Orientation confidence"].strip())
    except (KeyError, ValueError):
        return None  # too little text to tell
    return angle % 360 if confidence >= 1.0 and angle % 90 == 0 else None


class OcrEngine(ABC):
    """Reads a page image; subclasses implement `_read` for an upright image."""

    name = "ocr"
    version = "1"
    #: try the other orientations when the upright reading is poor and OSD cannot tell (cheap engines only)
    try_orientations = True

    def __init__(self, config: OcrConfig | None = None) -> None:
        self.config = config or OcrConfig()

    @abstractmethod
    def _read(self, png: bytes, languages: list[str]) -> OcrResult: ...

    def reads_rtl(self, languages: list[str] | None = None) -> bool:
        """Whether this engine, with these languages, can read Arabic or Hebrew script at all."""
        return False

    def read(self, png: bytes, languages: list[str] | None = None) -> OcrResult:
        languages = languages or self.config.languages
        if not self.config.detect_rotation:
            return self._read(png, languages)
        first = self._read(png, languages)
        # the common case: an upright page read well, no second pass. A page turned by 90/270 degrees can also
        # read well (RapidOCR turns tall boxes before recognising them), but then its lines are columns and
        # come out in the wrong order: most of the text standing on tall boxes rules the shortcut out
        well_read = first.confidence is not None and first.confidence >= 0.9 and len(first.text.strip()) >= 40
        if well_read and (first.horizontal is None or first.horizontal >= HORIZONTAL_SHARE):
            return first
        angle = osd_angle(png)
        if angle is not None:
            if angle == 0:
                return first
            result = self._read(rotate_png(png, angle), languages)
            result.angle = angle
            return result
        if not self.try_orientations:
            return first
        best = first
        for angle in ANGLES[1:]:
            result = self._read(rotate_png(png, angle), languages)
            result.angle = angle
            if _score(result) > _score(best):
                best = result
        return best


_MODELS: dict[tuple[int, str], object] = {}


def _per_process(key: str, load):
    """One model per process: a forked worker loads its own rather than sharing the parent's sessions."""
    slot = (os.getpid(), key)
    if slot not in _MODELS:
        _MODELS[slot] = load()
    return _MODELS[slot]


class RapidOcrEngine(OcrEngine):
    """PP-OCR models on onnxruntime; the bundled models read Chinese and English whatever ``languages`` says."""

    name = "rapidocr"

    def __init__(self, config: OcrConfig | None = None) -> None:
        super().__init__(config)
        try:
            import rapidocr_onnxruntime  # noqa: F401
        except ImportError:
            raise DependencyError("RapidOcrEngine", "rapidocr-onnxruntime", "ocr") from None
        from importlib.metadata import version

        self.version = version("rapidocr-onnxruntime")  # the module has no __version__

    @staticmethod
    def _model():
        from rapidocr_onnxruntime import RapidOCR

        return _per_process("rapidocr", RapidOCR)

    def _read(self, png: bytes, languages: list[str]) -> OcrResult:
        import numpy as np
        from PIL import Image

        image = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))[:, :, ::-1]  # BGR, as OpenCV reads
        # the line classifier flips upside-down lines one by one, which hides a turned page (and reverses its line
        # order); with rotation detection on, the page is turned as a whole instead
        boxes, _ = self._model()(np.ascontiguousarray(image), use_cls=not self.config.detect_rotation)
        return boxes_to_result(boxes or [])


def boxes_to_result(boxes: list) -> OcrResult:
    """Detected ``[corners, text, score]`` boxes → lines in reading order (top to bottom, then left to right)."""
    items = []
    upright = 0.0
    for corners, text, score in boxes:
        if not text.strip():
            continue
        ys = [p[1] for p in corners]
        xs = [p[0] for p in corners]
        items.append((min(ys), max(ys), min(xs), text.strip(), float(score)))
        if max(xs) - min(xs) >= max(ys) - min(ys):  # a tall line of text is a sign of a turned page
            upright += float(score) * len(text.strip())
    if not items:
        return OcrResult("", 0.0, upright=0.0, horizontal=0.0)
    items.sort(key=lambda b: ((b[0] + b[1]) / 2, b[2]))
    lines: list[list] = []
    for box in items:
        top, bottom = box[0], box[1]
        if lines:
            line = lines[-1]
            l_top, l_bottom = min(b[0] for b in line), max(b[1] for b in line)
            overlap = min(bottom, l_bottom) - max(top, l_top)
            if overlap >= 0.5 * min(bottom - top, l_bottom - l_top):
                line.append(box)
                continue
        lines.append([box])
    heights = sorted(max(b[1] for b in line) - min(b[0] for b in line) for line in lines)
    typical = heights[len(heights) // 2] or 1.0
    out, prev_bottom = [], None
    for line in lines:
        line.sort(key=lambda b: b[2])
        top = min(b[0] for b in line)
        if prev_bottom is not None and top - prev_bottom > 1.0 * typical:
            out.append("")  # a gap of more than a line: a new paragraph
        out.append(" ".join(b[3] for b in line))
        prev_bottom = max(b[1] for b in line)
    chars = sum(len(b[3]) for b in items)
    weighted = sum(b[4] * len(b[3]) for b in items)
    horizontal = upright / weighted if weighted else 0.0
    return OcrResult("\n".join(out), weighted / chars, upright=upright, horizontal=horizontal)


class TesseractEngine(OcrEngine):
    """The ``tesseract`` binary (Debian: apt-get install tesseract-ocr tesseract-ocr-eng)."""

    name = "tesseract"

    def __init__(self, config: OcrConfig | None = None) -> None:
        super().__init__(config)
        binary = tesseract_binary()
        if binary is None:
            raise DependencyError("TesseractEngine", "tesseract-ocr (apt-get install tesseract-ocr)")
        self.binary = binary
        self.version = subprocess.run([binary, "--version"], capture_output=True, text=True).stdout.split("\n")[0]

    def reads_rtl(self, languages: list[str] | None = None) -> bool:
        return bool(RTL_LANGUAGES.intersection(languages or self.config.languages))

    def _read(self, png: bytes, languages: list[str]) -> OcrResult:
        cmd = [self.binary, "stdin", "stdout", "-l", "+".join(languages), "--dpi", str(self.config.dpi), "tsv"]
        proc = subprocess.run(cmd, input=png, capture_output=True, timeout=600)
        if proc.returncode != 0:
            raise InputError("tesseract", proc.stderr.decode(errors="replace").strip()[-500:])
        return tsv_to_result(proc.stdout.decode("utf-8", errors="replace"))


def tsv_to_result(tsv: str) -> OcrResult:
    """Tesseract's TSV (one row per word) → lines, a blank line between paragraphs, character-weighted conf."""
    rows = tsv.splitlines()[1:]
    out: list[str] = []
    key = para = None
    conf_sum = chars = 0.0
    for row in rows:
        cols = row.split("\t")
        if len(cols) < 12 or cols[0] != "5":
            continue
        word = cols[11].strip()
        if not word:
            continue
        conf = float(cols[10])
        conf_sum += max(conf, 0.0) / 100 * len(word)
        chars += len(word)
        this_para, this_line = (cols[2], cols[3]), (cols[2], cols[3], cols[4])
        if this_line != key:
            if para is not None and this_para != para:
                out.append("")
            out.append(word)
            key, para = this_line, this_para
        else:
            out[-1] += " " + word
    return OcrResult("\n".join(out), conf_sum / chars if chars else 0.0)


class VlmEngine(OcrEngine):
    """A vision LLM transcribes the page through ``/chat/completions``; orientation only through Tesseract OSD."""

    name = "vlm"
    try_orientations = False  # four requests per page is too dear

    def __init__(self, config: OcrConfig | None = None) -> None:
        super().__init__(config)
        if self.config.vlm.base_url is None:
            raise ConfigError("ocr.vlm.base_url", "the vlm engine needs the endpoint's URL")
        try:
            import httpx  # noqa: F401
        except ImportError:
            raise DependencyError("VlmEngine", "httpx", "ocr") from None
        self.version = self.config.vlm.model

    def reads_rtl(self, languages: list[str] | None = None) -> bool:
        return True  # a multilingual vision LLM reads any script it was trained on

    def _client(self):
        import httpx

        vlm = self.config.vlm
        headers = {"Authorization": f"Bearer {os.environ[vlm.api_key_env]}"} if os.environ.get(vlm.api_key_env) else {}
        return _per_process(f"vlm:{vlm.base_url}", lambda: httpx.Client(timeout=vlm.timeout_s, headers=headers))

    def request(self, png: bytes) -> dict:
        vlm = self.config.vlm
        url = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
        content = [{"type": "text", "text": vlm.prompt}, {"type": "image_url", "image_url": {"url": url}}]
        return {
            "model": vlm.model,
            "messages": [{"role": "user", "content": content}],
            "max_tokens": vlm.max_tokens,
            "temperature": 0.0,
        }

    def _read(self, png: bytes, languages: list[str]) -> OcrResult:
        endpoint = self.config.vlm.base_url.rstrip("/") + "/chat/completions"
        response = self._client().post(endpoint, json=self.request(png))
        if response.status_code != 200:
            raise InputError(endpoint, f"HTTP {response.status_code}: {response.text[:500]}")
        try:
            text = response.json()["choices"][0]["message"]["content"] or ""
        except (ValueError, KeyError, IndexError, TypeError):
            raise InputError(endpoint, f"not an OpenAI chat completion: {response.text[:500]}") from None
        return OcrResult(_unfence(text.strip()), None)


def _unfence(text: str) -> str:
    """VLMs like to wrap a transcription in a code fence."""
    if text.startswith("```") and text.endswith("```"):
        text = text.split("\n", 1)[1] if "\n" in text else ""
        text = text[:-3].rstrip()
    return text


ENGINES: dict[str, type[OcrEngine]] = {"rapidocr": RapidOcrEngine, "tesseract": TesseractEngine, "vlm": VlmEngine}


def build_ocr(config: OcrConfig | None = None) -> OcrEngine:
    config = config or OcrConfig()
    return ENGINES[config.engine](config)


def render_page(page, dpi: int, max_pixels: int | None = None) -> bytes:
    """A PyMuPDF page as PNG bytes (its /Rotate applied, as a viewer shows it), at most ``max_pixels`` large."""
    import pymupdf

    zoom = dpi / 72
    pixels = page.rect.width * zoom * page.rect.height * zoom
    if max_pixels is not None and pixels > max_pixels:
        zoom *= math.sqrt(max_pixels / pixels)
    pix = page.get_pixmap(matrix=pymupdf.Matrix(zoom, zoom))
    try:
        return pix.tobytes("png")
    finally:
        del pix
        # MuPDF caches decoded images (a 600 dpi scan is ~100 MB): empty the cache so memory stays one page
        pymupdf.TOOLS.store_shrink(100)
