"""Main-text extraction from HTML records; the extractor is pluggable and its quality is measurable."""

from __future__ import annotations

import signal
import threading
from abc import ABC, abstractmethod
from contextlib import contextmanager
from typing import Literal

from pydantic import Field

from corpusforge.config import Config
from corpusforge.errors import CorpusForgeError, Drop
from corpusforge.record import Record
from pipelines.stage import Stage
from pipelines.web import TEXT_FORMAT


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


class ExtractConfig(Config):
    extractor: Literal["trafilatura", "resiliparse"] = "trafilatura"
    trafilatura: TrafilaturaOptions = TrafilaturaOptions()
    timeout_s: float = Field(10.0, gt=0, description="Per-page limit; slower pages are quarantined.")
    min_chars: int = Field(1, ge=0, description="Extracted text shorter than this is dropped.")


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
        return trafilatura.extract(
            html, url=url, fast=o.fast, favor_precision=o.favor_precision, favor_recall=o.favor_recall,
            include_comments=o.include_comments, include_tables=o.include_tables, deduplicate=o.deduplicate,
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
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


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
        with time_limit(self.config.timeout_s):
            text = self.extractor.extract(record.text, record.url)
        text = (text or "").strip()
        if len(text) < max(self.config.min_chars, 1):
            raise Drop("no_main_text")
        record.text = text
        record.meta["format"] = TEXT_FORMAT
        record.meta["extractor"] = self.extractor.name
        return record
