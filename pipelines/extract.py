"""Main-text extraction from HTML records; the extractor is pluggable and its quality is measurable."""

from __future__ import annotations

import re
import signal
import threading
import time
from abc import ABC, abstractmethod
from contextlib import contextmanager
from typing import Literal

from pydantic import Field

from corpusforge.config import Config
from corpusforge.errors import CorpusForgeError, Drop
from corpusforge.record import Record
from pipelines.layout_tables import unwrap_layout_tables
from pipelines.stage import Stage
from pipelines.web import TEXT_FORMAT

_TABLE = re.compile(r"<table\b", re.I)


class ExtractionTimeout(CorpusForgeError):
    """The extractor spent longer than ``extract.timeout_s`` on one page."""


class TrafilaturaOptions(Config):
    # fast (no fallback extractors) with neither precision nor recall bias matched the F1 of datatrove's
    # favour_precision setting on trafilatura's eval set at half the cost: see BENCHMARKS.md
    fast: bool = True
    favor_precision: bool = False
    favor_recall: bool = False
    include_comments: bool = False
    include_tables: bool = True
    deduplicate: bool = False
    unwrap_layout_tables: bool = Field(
        True,
        description="Turn tables used for page layout into divs before extraction, so their prose is kept as "
        "paragraphs (data tables stay tables; the rule is in pipelines/layout_tables.py).",
    )


class ExtractConfig(Config):
    extractor: Literal["trafilatura", "resiliparse"] = "trafilatura"
    trafilatura: TrafilaturaOptions = TrafilaturaOptions()
    timeout_s: float = Field(10.0, gt=0, description="Per-page limit; slower pages are quarantined.")
    min_chars: int = Field(1, ge=0, description="Extracted text shorter than this is dropped.")
    max_depth: int = Field(
        2_000, gt=0, description="Pages nesting elements deeper than this are dropped (extractors slow down badly)."
    )


class Extractor(ABC):
    """One method: HTML in, main text out (None or empty when the page has none)."""

    name: str

    @abstractmethod
    def extract(self, html: str, url: str | None = None) -> str | None: ...


class TrafilaturaExtractor(Extractor):
    name = "trafilatura"

    def __init__(self, options: TrafilaturaOptions | None = None):
        self.options = options or TrafilaturaOptions()

    def extract(self, html: str, url: str | None = None) -> str | None:
        import trafilatura

        o = self.options
        document = html
        if o.unwrap_layout_tables and _TABLE.search(html):
            tree = trafilatura.load_html(html)
            if tree is not None:
                unwrap_layout_tables(tree)
                document = tree
        return trafilatura.extract(
            document,
            url=url,
            fast=o.fast,
            favor_precision=o.favor_precision,
            favor_recall=o.favor_recall,
            include_comments=o.include_comments,
            include_tables=o.include_tables,
            deduplicate=o.deduplicate,
        )


class ResiliparseExtractor(Extractor):
    """About 10x faster than trafilatura, with lower precision (measured in BENCHMARKS.md)."""

    name = "resiliparse"

    def extract(self, html: str, url: str | None = None) -> str | None:
        from resiliparse.extract.html2text import extract_plain_text
        from resiliparse.parse.html import HTMLTree

        return extract_plain_text(HTMLTree.parse(html), main_content=True)


def build_extractor(config: ExtractConfig) -> Extractor:
    if config.extractor == "resiliparse":
        return ResiliparseExtractor()
    return TrafilaturaExtractor(config.trafilatura)


@contextmanager
def time_limit(seconds: float):
    """SIGALRM-based limit; only the main thread can take signals, elsewhere the page runs unlimited."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def _raise(signum, frame):
        raise ExtractionTimeout(f"extraction took longer than {seconds}s")

    previous = signal.signal(signal.SIGALRM, _raise)
    outer, _ = signal.setitimer(signal.ITIMER_REAL, seconds)
    started = time.monotonic()
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if outer:  # someone else's timer (pytest-timeout, a caller's limit) keeps its remaining time
            signal.setitimer(signal.ITIMER_REAL, max(outer - (time.monotonic() - started), 1e-3))


# counting "<" is C-fast; only pages with this many tags pay for the exact depth scan
_DEPTH_SCAN_FROM = 20_000
_TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)[^>]*?(/?)>")
_VOID = frozenset(
    ["area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source", "track", "wbr"]
)


def _nesting_depth(html: str) -> int:
    depth = deepest = 0
    for closing, name, self_closing in _TAG.findall(html):
        if closing:
            depth = max(depth - 1, 0)
        elif not self_closing and name.lower() not in _VOID:
            depth += 1
            deepest = max(deepest, depth)
    return deepest


class ExtractStage(Stage):
    """Replaces a record's HTML with its main text; records already holding text pass through."""

    name = "extract"
    requires = (("trafilatura", "web"), ("resiliparse", "web"))

    def __init__(self, config: ExtractConfig):
        super().__init__()
        self.config = config
        self.extractor = build_extractor(config)
        self.version = f"{self.extractor.name}-1"

    def apply(self, record: Record) -> Record:
        if record.meta.get("format") == TEXT_FORMAT:
            return record
        if record.text.count("<") > _DEPTH_SCAN_FROM and _nesting_depth(record.text) > self.config.max_depth:
            raise Drop("html_too_deep")
        with time_limit(self.config.timeout_s):
            text = self.extractor.extract(record.text, record.url)
        text = (text or "").strip()
        if len(text) < max(self.config.min_chars, 1):
            raise Drop("no_main_text")
        record.text = text
        record.meta["format"] = TEXT_FORMAT
        record.meta["extractor"] = self.extractor.name
        return record
