"""Per-document keys: URL canonicalisation, exact-text normalisation, survivor sort values."""

from __future__ import annotations

from corpusforge.record import Record
from pipelines.dedup.config import ExactDedupConfig, SortKey, UrlDedupConfig
from pipelines.dedup.keys import canonical_url, exact_key, sort_value


def test_canonical_url_ignores_what_does_not_change_the_page():
    cfg = UrlDedupConfig()
    same = [
        "http://Example.com/a/b?y=2&x=1#top",
        "https://www.example.com:443/a/b/?x=1&y=2&utm_source=news",
        "HTTP://example.com:80/a/b?x=1&fbclid=abc&y=2",
    ]
    assert len({canonical_url(u, cfg) for u in same}) == 1
    assert canonical_url("http://example.com/a/b?x=2&y=2", cfg) != canonical_url(same[0], cfg)
    assert canonical_url("http://example.com:8080/", cfg) == "example.com:8080/"
    assert canonical_url(None, cfg) is None and canonical_url("  ", cfg) is None
    assert canonical_url("http://[bad", cfg) == "http://[bad"  # unparseable URLs are compared as they are


def test_exact_key_normalisation_is_configurable():
    default = ExactDedupConfig()
    assert exact_key("Hello   World\n", default) == exact_key("hello world", default)
    assert exact_key("Hello, world!", default) != exact_key("hello world", default)
    loose = ExactDedupConfig(strip_punctuation=True, digits_to_zero=True)
    assert exact_key("Hello, world! 2024", loose) == exact_key("hello world 1999", loose)
    strict = ExactDedupConfig(lowercase=False, collapse_whitespace=False)
    assert exact_key("A b", strict) != exact_key("a  b", strict)
    assert exact_key("bad \udcff surrogate", default)  # lone surrogates hash instead of crashing


def test_sort_values_from_fields_and_meta():
    rec = Record(
        id="x", text="abc", source="s", meta={"quality_score": "0.7", "fetch_time": "2024-01-01", "bad": "n/a"}
    )
    assert sort_value(rec, SortKey(field="meta.quality_score", type="float")) == 0.7
    assert sort_value(rec, SortKey(field="meta.bad", type="float")) is None
    assert sort_value(rec, SortKey(field="meta.missing")) is None
    assert sort_value(rec, SortKey(field="length", type="float")) == 3.0
    assert sort_value(rec, SortKey(field="id")) == "x"
