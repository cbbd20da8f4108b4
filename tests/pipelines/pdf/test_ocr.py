import base64
import io
import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

import pipelines.pdf.ocr as ocr
from benchmarks.rotated_pages import LINES, scanned_page
from corpusforge.errors import ConfigError, DependencyError
from pipelines.pdf.evaluate import cer
from pipelines.pdf.ocr import (
    OcrConfig,
    OcrResult,
    RapidOcrEngine,
    TesseractEngine,
    VlmEngine,
    boxes_to_result,
    build_ocr,
    render_page,
    rotate_png,
    tsv_to_result,
)

TRUTH = "Docling bundles PDF document conversion to JSON and Markdown in an easy self contained package"
needs_tesseract = pytest.mark.skipif(ocr.tesseract_binary() is None, reason="needs the tesseract binary")


def _png(width: int = 30, height: int = 10) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (width, height), "white").save(out, "PNG")
    return out.getvalue()


def _page_png(shared_data, name: str, dpi: int = 200) -> bytes:
    import pymupdf

    with pymupdf.open(shared_data / "pdf" / "docling" / "ocr_scanned" / f"{name}.pdf") as doc:
        return render_page(doc[0], dpi)


def test_config_checks_fields():
    assert OcrConfig().engine == "rapidocr" and OcrConfig().vlm.model.startswith("Qwen/")
    with pytest.raises(ConfigError, match="dpi"):
        OcrConfig.parse({"dpi": 1200})
    with pytest.raises(ConfigError, match="engine"):
        OcrConfig.parse({"engine": "abbyy"})
    with pytest.raises(ConfigError, match="vlm.colour"):
        OcrConfig.parse({"vlm": {"colour": "red"}})


def test_boxes_become_lines_in_reading_order():
    def box(x0, y0, x1, y1, text, score=0.9):
        return [[[x0, y0], [x1, y0], [x1, y1], [x0, y1]], text, score]

    boxes = [
        box(200, 52, 300, 70, "world"),  # same line as "hello", a little lower
        box(10, 80, 90, 100, "second"),
        box(10, 50, 100, 68, "hello"),
        box(10, 200, 90, 220, "para", 0.5),
    ]
    result = boxes_to_result(boxes)
    assert result.text == "hello world\nsecond\n\npara"
    assert result.confidence == pytest.approx((0.9 * 16 + 0.5 * 4) / 20)
    assert boxes_to_result([]) == OcrResult("", 0.0)


def test_tall_boxes_do_not_count_for_the_orientation():
    flat = boxes_to_result([[[[0, 0], [100, 0], [100, 10], [0, 10]], "abcd", 1.0]])
    tall = boxes_to_result([[[[0, 0], [10, 0], [10, 100], [0, 100]], "abcd", 1.0]])
    assert flat.upright == 4.0 and tall.upright == 0.0 and tall.confidence == 1.0


def test_tesseract_tsv_becomes_lines_and_paragraphs():
    head = "level\tpage_num\tblock_num\tpar_num\tline_num\tword_num\tleft\ttop\twidth\theight\tconf\ttext"
    rows = [
        "1\t1\t0\t0\t0\t0\t0\t0\t100\t100\t-1\t",
        "5\t1\t1\t1\t1\t1\t0\t0\t10\t10\t90\tHello",
        "5\t1\t1\t1\t1\t2\t0\t0\t10\t10\t80\tthere",
        "5\t1\t1\t1\t2\t1\t0\t0\t10\t10\t100\tnext",
        "5\t1\t1\t2\t1\t1\t0\t0\t10\t10\t50\tnew",
    ]
    result = tsv_to_result("\n".join([head, *rows]))
    assert result.text == "Hello there\nnext\n\nnew"
    assert result.confidence == pytest.approx((0.9 * 5 + 0.8 * 5 + 1.0 * 4 + 0.5 * 3) / 17)


def test_rotate_png_turns_clockwise():
    from PIL import Image

    image = Image.new("RGB", (30, 10), "white")
    image.putpixel((0, 0), (255, 0, 0))  # top left
    out = io.BytesIO()
    image.save(out, "PNG")
    turned = Image.open(io.BytesIO(rotate_png(out.getvalue(), 90)))
    assert turned.size == (10, 30)
    assert turned.getpixel((9, 0)) == (255, 0, 0)  # clockwise: top left goes to top right
    assert rotate_png(out.getvalue(), 0) == out.getvalue()


def test_build_picks_the_engine():
    assert isinstance(build_ocr(OcrConfig(engine="rapidocr")), RapidOcrEngine)
    with pytest.raises(ConfigError, match="base_url"):
        build_ocr(OcrConfig(engine="vlm"))


def test_tesseract_missing_names_the_install(monkeypatch):
    monkeypatch.setattr(ocr, "tesseract_binary", lambda: None)
    with pytest.raises(DependencyError, match="tesseract-ocr"):
        TesseractEngine()


class _Handler(BaseHTTPRequestHandler):
    seen: list = []

    def do_POST(self):  # noqa: N802 - http.server's name
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        _Handler.seen.append((self.path, self.headers.get("Authorization"), body))
        reply = {
            "id": "x",
            "object": "chat.completion",
            "model": body["model"],
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "```\nHello page\n```"},
                    "finish_reason": "stop",
                }
            ],
        }
        data = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def test_vlm_speaks_openai_chat_completions(monkeypatch):
    server = HTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("TEST_VLM_KEY", "sekrit")
    try:
        config = OcrConfig.parse(
            {
                "engine": "vlm",
                "detect_rotation": False,
                "vlm": {"base_url": f"http://127.0.0.1:{server.server_port}/v1/", "api_key_env": "TEST_VLM_KEY"},
            }
        )
        engine = build_ocr(config)
        assert isinstance(engine, VlmEngine)
        png = _png()
        result = engine.read(png)
    finally:
        server.shutdown()
        server.server_close()
    assert result == OcrResult("Hello page", None, 0)
    path, auth, body = _Handler.seen[-1]
    assert path == "/v1/chat/completions" and auth == "Bearer sekrit"
    assert body["model"] == "Qwen/Qwen2.5-VL-7B-Instruct" and body["temperature"] == 0.0
    text, image = body["messages"][0]["content"]
    assert text["type"] == "text" and "Transcribe" in text["text"]
    assert image["image_url"]["url"] == "data:image/png;base64," + base64.b64encode(png).decode()


@pytest.mark.slow
def test_rapidocr_reads_a_scan(shared_data):
    result = build_ocr(OcrConfig(engine="rapidocr")).read(_page_png(shared_data, "ocr_test"))
    assert result.angle == 0 and result.confidence > 0.9
    assert cer(result.text, TRUTH) < 0.05


@pytest.mark.slow
@needs_tesseract
@pytest.mark.parametrize("engine", ["rapidocr", "tesseract"])
@pytest.mark.parametrize(("name", "angle"), [("ocr_test_rotated_90", 90), ("ocr_test_rotated_180", 180)])
def test_rotated_scans_are_read_upright(shared_data, engine, name, angle):
    result = build_ocr(OcrConfig(engine=engine)).read(_page_png(shared_data, name))
    assert result.angle == angle
    assert cer(result.text, TRUTH) < 0.05


@pytest.mark.slow
def test_rotation_without_tesseract_tries_each_orientation(shared_data, monkeypatch):
    monkeypatch.setattr(ocr, "tesseract_binary", lambda: None)
    result = build_ocr(OcrConfig(engine="rapidocr", dpi=150)).read(_page_png(shared_data, "ocr_test_rotated_90", 150))
    assert result.angle == 90
    assert cer(result.text, TRUTH) < 0.05


@pytest.mark.slow
def test_rotation_detection_off_reads_as_is(shared_data):
    result = build_ocr(OcrConfig(engine="rapidocr", detect_rotation=False)).read(_page_png(shared_data, "ocr_test"))
    assert result.angle == 0 and cer(result.text, TRUTH) < 0.05


def _scan(turn: int = 0, rotate: int = 0):
    """A one-page scanned PDF of LINES: the page image turned ``turn`` degrees clockwise, then /Rotate set."""
    import pymupdf

    return pymupdf.open(stream=scanned_page(turn, rotate))


def _line_order(text: str) -> list[str]:
    """The first word of each line read: the order is under test, not the OCR of every character."""
    firsts = [line.split()[0] for line in LINES]
    return [next((w for w in firsts if line.strip().startswith(w)), line) for line in text.splitlines() if line.strip()]


@pytest.mark.slow
@needs_tesseract
@pytest.mark.parametrize("engine", ["rapidocr", "tesseract"])
@pytest.mark.parametrize(("turn", "rotate"), [(90, 0), (180, 0), (270, 0), (0, 90)])
def test_rotated_pages_keep_their_line_order(engine, turn, rotate):
    """Scans turned on the glass, and upright scans whose page carries a /Rotate, read top to bottom."""
    with _scan(turn, rotate) as doc:
        assert doc[0].rotation == rotate
        result = build_ocr(OcrConfig(engine=engine, dpi=150)).read(render_page(doc[0], 150))
    assert _line_order(result.text) == [line.split()[0] for line in LINES]


@pytest.mark.slow
def test_turned_page_without_tesseract_keeps_its_line_order(monkeypatch):
    # RapidOCR reads a page turned by 90 degrees confidently, one column per line: the orientation must still be found
    monkeypatch.setattr(ocr, "tesseract_binary", lambda: None)
    with _scan(0, 90) as doc:
        result = build_ocr(OcrConfig(engine="rapidocr", dpi=150)).read(render_page(doc[0], 150))
    assert result.angle in (90, 270) and _line_order(result.text) == [line.split()[0] for line in LINES]
