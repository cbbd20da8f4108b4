"""Layout tables are unwrapped before extraction so their prose survives; data tables stay tables."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from corpusforge.errors import Drop
from corpusforge.record import Record
from pipelines.extract import ExtractConfig, ExtractStage, TrafilaturaOptions
from pipelines.filters import FiltersConfig, build_filters
from pipelines.layout_tables import is_layout_table, unwrap_layout_tables

DATA = Path(__file__).parent / "data"
PROSE = "The mill was powered by an overshot wheel eighteen feet across, fed by a wooden flume"


def _extract(html: str, unwrap: bool = True, url: str = "http://millbrook.example/mill.html") -> str:
    config = ExtractConfig(trafilatura=TrafilaturaOptions(unwrap_layout_tables=unwrap))
    record = Record(id="p", text=html, source="web", url=url, meta={"format": "html"})
    return ExtractStage(config).apply(record).text


def _passes_filters(text: str) -> str | None:
    """None when the default quality filters keep the text, else the drop reason."""
    record = Record(id="p", text=text, source="web", lang="en")
    try:
        for stage in build_filters(FiltersConfig()):
            record = stage.apply(record)
    except Drop as drop:
        return drop.reason
    return None


def _is_row(line: str) -> bool:
    return line.startswith("| ") and line.rstrip().endswith("|")


def _table(html: str):
    import lxml.html

    return lxml.html.fromstring(html)


def test_layout_table_page_keeps_its_prose_as_paragraphs():
    html = (DATA / "layout_table_page.html").read_text(encoding="latin-1")
    text = _extract(html)
    lines = text.splitlines()
    assert any(line.startswith(PROSE) for line in lines), "the prose is a paragraph of its own"
    assert not any(_is_row(line) for line in lines), "no table rows left"
    assert len([line for line in lines if len(line) > 250]) == 4  # the page's four paragraphs, one per line
    assert _passes_filters(text) is None
    # as tables, the same page is pipe rows and the quality filters drop it: what the unwrapping fixes
    as_tables = _extract(html, unwrap=False)
    assert "| Home |" in as_tables and _passes_filters(as_tables) is not None


def test_data_table_stays_a_table():
    html = (DATA / "data_table_page.html").read_text()
    text = _extract(html)
    assert "| 1915 | 2,140 | 860 | 310 |" in text
    assert "| Year | Wheat flour (barrels) | Corn meal (barrels) | Buckwheat (barrels) |" in text
    assert text == _extract(html, unwrap=False)


@pytest.mark.parametrize(
    ("html", "layout"),
    [
        ("<table role='presentation'><tr><td>a</td><td>b</td></tr></table>", True),
        ("<table><tr><th>Year</th><th>Count</th></tr><tr><td>" + "x" * 400 + "</td><td>1</td></tr></table>", False),
        ("<table><caption>Scores</caption><tr><td>a</td><td>1</td></tr></table>", False),
        ("<table><tr><td><table><tr><td>a</td><td>b</td></tr></table></td><td>c</td></tr></table>", True),
        ("<table><tr><td>one box</td></tr><tr><td>another box</td></tr></table>", True),
        ("<table><tr><td>nav</td><td><p>first</p><p>second</p></td></tr></table>", True),
        ("<table><tr><td>Menu</td><td>" + "A long sentence of prose in a content cell. " * 3 + "</td></tr></table>", True),
        ("<table>" + "<tr><td>1915</td><td>2,140</td><td>860</td></tr>" * 5 + "</table>", False),
        ("<table><tr><td>Name</td><td>Ada Lovelace</td></tr><tr><td>Born</td><td>1815</td></tr></table>", False),
    ],
)
def test_layout_or_data_rule(html, layout):
    assert is_layout_table(_table(html).xpath("//table")[0]) is layout


def test_unwrapping_keeps_a_data_table_nested_in_a_layout_table():
    tree = _table(
        "<div><table><tr><td class='nav'>Home</td><td id='main'><p>Text</p><p>More</p>"
        "<table><tr><th>Year</th><th>Barrels</th></tr><tr><td>1915</td><td>2,140</td></tr></table>"
        "</td></tr></table></div>"
    )
    assert unwrap_layout_tables(tree) == 1
    assert [t.xpath("count(.//tr)") for t in tree.iter("table")] == [2.0]
    assert tree.xpath("//div[@class='nav']") and tree.xpath("//div[@id='main']")


def _warc_page(shared_data: Path, name: str, url: str) -> str:
    from warcio.archiveiterator import ArchiveIterator

    from pipelines.web import decode_body

    with gzip.open(shared_data / "warc" / name) as f:
        for rec in ArchiveIterator(f):
            if rec.rec_type == "response" and rec.rec_headers.get_header("WARC-Target-URI") == url:
                return decode_body(rec.content_stream().read(), None)[0]
    raise AssertionError(f"{url} not in {name}")


def test_real_warc_pages(shared_data):
    # a shop page laid out with 11 tables: its product description was pipe rows, now it is prose
    url = "http://www.uraharajuku.st/shopdetail/001017000078/order/"
    html = _warc_page(shared_data, "resiliparse_clueweb-quirk.warc.gz", url)
    description = "カジュアルな2トーンカラーに白レザーストラップ"
    assert any(line.startswith(description) for line in _extract(html, url=url).splitlines())
    assert not any(line.startswith(description) for line in _extract(html, unwrap=False, url=url).splitlines())
    # a genealogy table with <th> headers stays a table
    url = "https://soldaini.net/lineage/"
    html = _warc_page(shared_data, "dolma_sample-0000.warc.gz", url)
    assert "| 0 | Luca Soldaini | Natural Language Processing, Information Retrieval |" in _extract(html, url=url)
