"""Per-page routing on real PDFs: text layers are read as they are, scans and broken layers go to OCR."""

import json

import pytest

from pipelines.pdf.routing import EMPTY, OCR, TEXT_LAYER, PageFeatures, RoutingConfig, read_page, route

pymupdf = pytest.importorskip("pymupdf")
CONFIG = RoutingConfig()


def _routes(path, config=CONFIG):
    with pymupdf.open(path) as doc:
        return [route(read_page(page).features, config) for page in doc]


def test_scanned_pdfs_route_every_page_to_ocr(shared_data):
    scans = sorted((shared_data / "pdf" / "docling" / "ocr_scanned").glob("*.pdf"))
    assert scans
    for path in scans:
        assert {r for r in _routes(path)} == {(OCR, "no_text_layer")}, path.name


@pytest.mark.parametrize(
    "name", ["multi_page.pdf", "code_and_formula.pdf", "2305.03393v1-pg9.pdf", "amt_handbook_sample.pdf"]
)
def test_text_layer_pdfs_are_read_from_their_text_layer(shared_data, name):
    routes = _routes(shared_data / "pdf" / "docling" / "pdf" / name)
    assert {method for method, _ in routes} == {TEXT_LAYER}


def test_mis_ordered_right_to_left_text_goes_to_ocr(shared_data):
    # Word's lam-alef ligatures come out reversed ("اإلنتاجية" for "الإنتاجية"): the text layer cannot be trusted
    for name in ("right_to_left_01.pdf", "right_to_left_03.pdf"):
        assert _routes(shared_data / "pdf" / "docling" / "pdf" / name) == [(OCR, "rtl_misordered")]


def test_garbled_page_goes_to_ocr_and_its_neighbours_do_not(shared_data):
    routes = _routes(shared_data / "pdf" / "docling" / "pdf" / "skipped_1page.pdf")
    assert [m for m, _ in routes] == [TEXT_LAYER, OCR, TEXT_LAYER]
    assert routes[1][1] == "garbled"


def test_invisible_text_is_kept_apart(shared_data):
    with pymupdf.open(shared_data / "pdf" / "docling" / "pdf" / "invisible_text_layer.pdf") as doc:
        read = read_page(doc[0])
    assert read.text == "Visible heading line"
    assert read.hidden == "Invisible OCR text layer"
    assert read.features.invisible == len("InvisibleOCRtextlayer")


def test_ligatures_are_counted_and_normalized(shared_data):
    with pymupdf.open(shared_data / "pdf" / "docling" / "pdf" / "2305.03393v1-pg9.pdf") as doc:
        read = read_page(doc[0])
    assert read.features.ligatures > 0
    assert not any(0xFB00 <= ord(c) <= 0xFB06 for c in read.text)


def _scan_with_ocr_layer() -> bytes:
    """A page-sized image with invisible text over it: what OCR tools write into scans."""
    doc = pymupdf.open()
    page = doc.new_page()
    pix = pymupdf.Pixmap(pymupdf.csRGB, pymupdf.IRect(0, 0, 60, 80), False)
    pix.clear_with(200)
    page.insert_image(page.rect, pixmap=pix)
    page.insert_text((72, 100), "An old OCR layer that nobody checked", render_mode=3)
    return doc.tobytes()


def test_invisible_layer_over_a_scan_is_redone_or_kept_as_configured():
    with pymupdf.open(stream=_scan_with_ocr_layer(), filetype="pdf") as doc:
        features = read_page(doc[0]).features
    assert features.image_coverage > 0.9 and features.invisible == features.chars > 0
    assert route(features, CONFIG) == (OCR, "invisible_ocr_layer")
    assert route(features, RoutingConfig(invisible_layer="keep")) == (TEXT_LAYER, "invisible_kept")


@pytest.mark.parametrize(
    ("features", "expected"),
    [
        (PageFeatures(), (EMPTY, "blank")),
        (PageFeatures(chars=5), (TEXT_LAYER, "little_text")),
        (PageFeatures(chars=3, image_coverage=0.9), (OCR, "no_text_layer")),
        (PageFeatures(chars=100, garbage=10), (OCR, "garbled")),
        (PageFeatures(chars=100, rtl=100, rtl_presentation=50), (OCR, "rtl_presentation_forms")),
        (PageFeatures(chars=100, rtl=100), (TEXT_LAYER, "ok")),
        (PageFeatures(chars=100, invisible=90), (TEXT_LAYER, "little_text")),
    ],
)
def test_route_thresholds(features, expected):
    assert route(features, CONFIG) == expected


def test_features_serialize_for_meta():
    assert json.loads(json.dumps(PageFeatures(chars=3).to_dict()))["chars"] == 3
