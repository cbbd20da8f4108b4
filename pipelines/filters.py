"""Quality filters: Gopher quality and repetition, C4, FineWeb, URL blocklist; each drop names its reason.

Rules follow the papers (Gopher, arXiv 2112.11446 Table A1; C4, arXiv 1910.10683; FineWeb, arXiv 2406.17557)
with the thresholds of datatrove's implementations as defaults. Word-based rules count words with
`corpusforge.text.split_words`, so Chinese, Japanese or Thai text is measured in characters, not dropped as
"too few words"; the mean-word-length rule does not apply to those scripts, and the stop-word rule applies
only to languages with a configured stop-word list.
"""

from __future__ import annotations

import re
from collections import Counter
from urllib.parse import urlsplit

from pydantic import Field

from corpusforge.config import Config
from corpusforge.errors import ConfigError
from corpusforge.record import Record
from corpusforge.text import is_symbol, is_unspaced, split_words
from pipelines.stage import Filter, Stage

TERMINAL_PUNCTUATION = (".", "!", "?", '"', "'", "”", "’", "。", "！", "？", "؟", "।", "…", "。」", "」", "』")
_PARAGRAPHS = re.compile(r"\n{2,}")
_LINES = re.compile(r"\n+")


class GopherQualityConfig(Config):
    enabled: bool = True
    min_doc_words: int | None = 50
    max_doc_words: int | None = 100_000
    min_avg_word_length: float | None = 3
    max_avg_word_length: float | None = 10
    max_symbol_word_ratio: float | None = 0.1
    max_bullet_lines_ratio: float | None = 0.9
    max_ellipsis_lines_ratio: float | None = 0.3
    min_alpha_words_ratio: float | None = 0.8
    min_stop_words: int | None = 2
    stop_words: dict[str, list[str]] = Field(
        default_factory=lambda: {"en": ["the", "be", "to", "of", "and", "that", "have", "with"]},
        description="Per language; languages without a list skip the stop-word rule.",
    )


class GopherRepetitionConfig(Config):
    enabled: bool = True
    dup_line_frac: float | None = 0.3
    dup_para_frac: float | None = 0.3
    dup_line_char_frac: float | None = 0.2
    dup_para_char_frac: float | None = 0.2
    top_n_grams: dict[int, float] = Field(default_factory=lambda: {2: 0.2, 3: 0.18, 4: 0.16})
    dup_n_grams: dict[int, float] = Field(
        default_factory=lambda: {5: 0.15, 6: 0.14, 7: 0.13, 8: 0.12, 9: 0.11, 10: 0.10}
    )


class C4Config(Config):
    enabled: bool = True
    filter_no_terminal_punct: bool = True
    min_num_sentences: int | None = 5
    min_words_per_line: int | None = 3
    max_word_length: int | None = 1000
    filter_lorem_ipsum: bool = True
    filter_javascript: bool = True
    filter_curly_bracket: bool = True
    filter_policy: bool = True
    remove_citations: bool = True


class FineWebConfig(Config):
    enabled: bool = True
    line_punct_thr: float = 0.12
    line_punct_exclude_zero: bool = False
    short_line_thr: float = 0.67
    short_line_length: int = 30
    char_duplicates_ratio: float = 0.01
    new_line_ratio: float = 0.3


class UrlBlocklistConfig(Config):
    enabled: bool = True
    domains: list[str] = Field(default_factory=list, description="Blocked hosts; subdomains are blocked too.")
    domains_file: str | None = Field(None, description="A file of blocked hosts, one per line.")
    banned_words: list[str] = Field(default_factory=list, description="Substrings that block a URL.")


class FiltersConfig(Config):
    url_blocklist: UrlBlocklistConfig = UrlBlocklistConfig()
    gopher_repetition: GopherRepetitionConfig = GopherRepetitionConfig()
    gopher_quality: GopherQualityConfig = GopherQualityConfig()
    c4: C4Config = C4Config()
    fineweb: FineWebConfig = FineWebConfig()


def _duplicates(items: list[str]) -> tuple[int, int]:
    seen: set[str] = set()
    dup_items = dup_chars = 0
    for item in items:
        if item in seen:
            dup_items += 1
            dup_chars += len(item)
        else:
            seen.add(item)
    return dup_items, dup_chars


class UrlBlocklistFilter(Filter):
    name = "url_blocklist"

    def __init__(self, config: UrlBlocklistConfig):
        super().__init__()
        domains = {d.strip().lower().lstrip(".") for d in config.domains if d.strip()}
        if config.domains_file:
            from corpusforge.fs import exists, read_text

            if not exists(config.domains_file):
                raise ConfigError("filters.url_blocklist.domains_file", f"no such file {config.domains_file}")
            for line in read_text(config.domains_file).splitlines():
                if (line := line.strip().lower()) and not line.startswith("#"):
                    domains.add(line.lstrip("."))
        self.domains = frozenset(domains)
        self.banned_words = tuple(w.lower() for w in config.banned_words)

    def filter(self, record: Record) -> bool | tuple[bool, str]:
        if not record.url:
            return True
        host = (urlsplit(record.url).hostname or "").lower()
        parts = host.split(".")
        if any(".".join(parts[i:]) in self.domains for i in range(len(parts))):
            return False, "url_blocklist_domain"
        url = record.url.lower()
        if any(word in url for word in self.banned_words):
            return False, "url_blocklist_word"
        return True


class GopherRepetitionFilter(Filter):
    name = "gopher_repetition"

    def __init__(self, config: GopherRepetitionConfig):
        super().__init__()
        self.c = config

    def filter(self, record: Record) -> bool | tuple[bool, str]:
        c, text = self.c, record.text
        if not text.strip():
            return False, "empty"
        paragraphs = _PARAGRAPHS.split(text.strip())
        dup, chars = _duplicates(paragraphs)
        if c.dup_para_frac is not None and dup / len(paragraphs) > c.dup_para_frac:
            return False, "gopher_dup_para_frac"
        if c.dup_para_char_frac is not None and chars / len(text) > c.dup_para_char_frac:
            return False, "gopher_dup_para_char_frac"
        lines = _LINES.split(text)
        dup, chars = _duplicates(lines)
        if c.dup_line_frac is not None and dup / len(lines) > c.dup_line_frac:
            return False, "gopher_dup_line_frac"
        if c.dup_line_char_frac is not None and chars / len(text) > c.dup_line_char_frac:
            return False, "gopher_dup_line_char_frac"
        words = split_words(text, record.lang)
        joiner = "" if is_unspaced(record.lang, text) else " "
        for n, frac in sorted(c.top_n_grams.items()):
            if len(words) < n:
                continue
            counts = Counter(joiner.join(words[i : i + n]) for i in range(len(words) - n + 1))
            gram, count = counts.most_common(1)[0]
            if len(gram) * count / len(text) > frac:
                return False, f"gopher_top_{n}_gram"
        for n, frac in sorted(c.dup_n_grams.items()):
            if _repeated_ngram_chars(words, n) / len(text) > frac:
                return False, f"gopher_dup_{n}_gram"
        return True


def _repeated_ngram_chars(words: list[str], n: int) -> int:
    seen: set[tuple[str, ...]] = set()
    repeated = idx = 0
    while idx < len(words) - n + 1:
        gram = tuple(words[idx : idx + n])
        if gram in seen:
            repeated += sum(len(w) for w in gram)
            idx += n
        else:
            seen.add(gram)
            idx += 1
    return repeated


class GopherQualityFilter(Filter):
    name = "gopher_quality"

    def __init__(self, config: GopherQualityConfig):
        super().__init__()
        self.c = config
        self.stop_words = {lang: frozenset(ws) for lang, ws in config.stop_words.items()}

    def filter(self, record: Record) -> bool | tuple[bool, str]:
        c, text = self.c, record.text
        unspaced = is_unspaced(record.lang, text)
        words = split_words(text, record.lang)
        if not words:
            return False, "gopher_short_doc"
        content = [w for w in words if not is_symbol(w)]
        n_words = len(content)
        if c.min_doc_words is not None and n_words < c.min_doc_words:
            return False, "gopher_short_doc"
        if c.max_doc_words is not None and n_words > c.max_doc_words:
            return False, "gopher_long_doc"
        if not unspaced and content:
            mean = sum(len(w) for w in content) / n_words
            if c.min_avg_word_length is not None and mean < c.min_avg_word_length:
                return False, "gopher_below_avg_word_length"
            if c.max_avg_word_length is not None and mean > c.max_avg_word_length:
                return False, "gopher_above_avg_word_length"
        if c.max_symbol_word_ratio is not None:
            if text.count("#") / len(words) > c.max_symbol_word_ratio:
                return False, "gopher_too_many_hashes"
            if (text.count("...") + text.count("…")) / len(words) > c.max_symbol_word_ratio:
                return False, "gopher_too_many_ellipsis"
        lines = text.splitlines() or [text]
        if c.max_bullet_lines_ratio is not None:
            bullets = sum(s.lstrip().startswith(("•", "-", "*", "·")) for s in lines)
            if bullets / len(lines) > c.max_bullet_lines_ratio:
                return False, "gopher_too_many_bullets"
        if c.max_ellipsis_lines_ratio is not None:
            ending = sum(s.rstrip().endswith(("...", "…")) for s in lines)
            if ending / len(lines) > c.max_ellipsis_lines_ratio:
                return False, "gopher_too_many_end_ellipsis"
        if c.min_alpha_words_ratio is not None:
            # the paper's words are whitespace-separated: "world!" counts as a word with letters
            spaced = words if unspaced else text.split()
            alpha = sum(any(ch.isalpha() for ch in w) for w in spaced)
            if alpha / max(len(spaced), 1) < c.min_alpha_words_ratio:
                return False, "gopher_below_alpha_ratio"
        stop_words = self.stop_words.get((record.lang or "").split("_")[0])
        if c.min_stop_words and stop_words:
            found = stop_words.intersection(w.lower() for w in words)
            if len(found) < c.min_stop_words:
                return False, "gopher_few_stop_words"
        return True


_CITATION = re.compile(r"\[\d*\]|\[edit\]|\[citation needed\]")
_POLICY = ("terms of use", "privacy policy", "cookie policy", "uses cookies", "use of cookies", "use cookies")
_SENTENCE_END = re.compile(r"[.!?。！？]+")


class C4Filter(Stage):
    """C4's line rules remove lines; its document rules drop the document."""

    name = "c4"

    def __init__(self, config: C4Config):
        super().__init__()
        self.c = config

    def apply(self, record: Record) -> Record:
        from corpusforge.errors import Drop

        c, text = self.c, record.text
        lower = text.lower()
        if c.filter_lorem_ipsum and "lorem ipsum" in lower:
            raise Drop("c4_lorem_ipsum")
        if c.filter_curly_bracket and "{" in text:
            raise Drop("c4_curly_bracket")
        unspaced = is_unspaced(record.lang, text)
        kept: list[str] = []
        for line in text.splitlines():
            line = line.strip()
            if not line:
                continue
            if c.remove_citations:
                line = _CITATION.sub("", line)
            words = split_words(line, record.lang) if unspaced else line.split()
            if c.max_word_length is not None and any(len(w) > c.max_word_length for w in words):
                continue
            if c.filter_no_terminal_punct and not line.endswith(TERMINAL_PUNCTUATION):
                continue
            if c.min_words_per_line is not None and len(words) < c.min_words_per_line:
                continue
            low = line.lower()
            if c.filter_javascript and "javascript" in low:
                continue
            if c.filter_policy and any(p in low for p in _POLICY):
                continue
            kept.append(line)
        if not kept:
            raise Drop("c4_no_lines_left")
        new_text = "\n".join(kept)
        if c.min_num_sentences is not None and len(_SENTENCE_END.findall(new_text)) < c.min_num_sentences:
            raise Drop("c4_too_few_sentences")
        record.text = new_text
        return record


class FineWebFilter(Filter):
    name = "fineweb"

    def __init__(self, config: FineWebConfig):
        super().__init__()
        self.c = config

    def filter(self, record: Record) -> bool | tuple[bool, str]:
        c, text = self.c, record.text
        lines = [line for line in text.split("\n") if line.strip()]
        if not lines:
            return False, "empty"
        ratio = sum(line.endswith(TERMINAL_PUNCTUATION) for line in lines) / len(lines)
        if ratio < c.line_punct_thr and not (ratio == 0 and c.line_punct_exclude_zero):
            return False, "fineweb_line_punct_ratio"
        # a "short" line is measured in characters: scale for scripts that pack a word into one character
        short = c.short_line_length // (3 if is_unspaced(record.lang, text) else 1)
        if sum(len(line) <= short for line in lines) / len(lines) > c.short_line_thr:
            return False, "fineweb_short_line_ratio"
        body = len(text.replace("\n", "")) or 1
        if _duplicates(lines)[1] / body > c.char_duplicates_ratio:
            return False, "fineweb_char_dup_ratio"
        words = split_words(text, record.lang) or [""]
        if text.count("\n") / len(words) > c.new_line_ratio:
            return False, "fineweb_list_ratio"
        return True


def build_filters(config: FiltersConfig) -> list[Stage]:
    """The enabled filters, cheapest first, so expensive rules see fewer documents."""
    built: list[Stage] = []
    if config.url_blocklist.enabled:
        built.append(UrlBlocklistFilter(config.url_blocklist))
    if config.gopher_quality.enabled:
        built.append(GopherQualityFilter(config.gopher_quality))
    if config.gopher_repetition.enabled:
        built.append(GopherRepetitionFilter(config.gopher_repetition))
    if config.fineweb.enabled:
        built.append(FineWebFilter(config.fineweb))
    if config.c4.enabled:
        built.append(C4Filter(config.c4))
    return built
