import signal
import time

import pytest

from corpusforge.errors import Drop
from corpusforge.record import Record
from pipelines.extract import ExtractConfig, ExtractionTimeout, ExtractStage, time_limit
from pipelines.web import decode_body

ARTICLE = (
    "<html><head><title>Valley notes</title></head><body><nav><a href='/'>Home</a> | <a href='/about'>About</a></nav>"
    "<article><h1>The river in spring</h1>"
    + "".join(
        f"<p>In the spring of year {i} the river rose above the old stone bridge, and the farmers moved their "
        f"animals to the higher fields before the water reached the barns near the mill.</p>"
        for i in range(8)
    )
    + "</article><footer>Copyright 2024 Valley Times. All rights reserved.</footer></body></html>"
)


def _rec(html: str) -> Record:
    return Record(id="a", text=html, source="web", url="https://valley.example/river", meta={"format": "html"})


@pytest.mark.parametrize("extractor", ["trafilatura", "resiliparse"])
def test_extractors_keep_the_article_and_mark_the_record(extractor):
    out = ExtractStage(ExtractConfig(extractor=extractor)).apply(_rec(ARTICLE))
    assert "the farmers moved their animals" in out.text
    assert "<p>" not in out.text
    assert out.meta["format"] == "text" and out.meta["extractor"] == extractor


def test_page_without_main_text_is_dropped():
    with pytest.raises(Drop) as drop:
        ExtractStage(ExtractConfig()).apply(
            _rec("<html><head><script>var x = 1;</script></head><body><img src='a.png'></body></html>")
        )
    assert drop.value.reason == "no_main_text"


@pytest.mark.parametrize("extractor", ["trafilatura", "resiliparse"])
def test_pathologically_deep_html_is_dropped_fast(extractor):
    deep = "<html><body>" + "<div>" * 100_000 + "deep text" + "</div>" * 100_000 + "</body></html>"
    start = time.monotonic()
    with pytest.raises(Drop) as drop:
        ExtractStage(ExtractConfig(extractor=extractor)).apply(_rec(deep))
    assert drop.value.reason == "html_too_deep"
    assert time.monotonic() - start < 5


def test_time_limit_raises_and_restores_an_outer_timer():
    fired = []
    old = signal.signal(signal.SIGALRM, lambda *a: fired.append(1))
    try:
        signal.setitimer(signal.ITIMER_REAL, 30)
        with pytest.raises(ExtractionTimeout), time_limit(0.05):
            time.sleep(1)
        remaining, _ = signal.getitimer(signal.ITIMER_REAL)
        assert 25 < remaining <= 30, "the outer timer keeps running"
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    assert not fired


@pytest.mark.parametrize(
    ("body", "declared", "expected"),
    [
        ("Grüße aus Köln".encode(), "iso-8859-1", "Grüße aus Köln"),  # UTF-8 mislabelled as Latin-1
        ("café crème brûlée".encode("cp1252"), "utf-8", "café crème brûlée"),  # Latin-1 mislabelled as UTF-8
        ("Привет, как дела? Это тест кодировки.".encode("koi8-r"), "koi8-r", "Привет, как дела? Это тест кодировки."),
        (b"<meta charset='windows-1251'>" + "Пример".encode("cp1251"), None, "Пример"),
    ],
)
def test_decode_body_by_evidence(body, declared, expected):
    text, _ = decode_body(body, declared)
    assert expected in text
