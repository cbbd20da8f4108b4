"""Cheap per-document quality signals for the mixture optimizer, written to the record's ``quality`` map.

Definitions (what the tests compute by hand). Words are runs of characters between whitespace and
punctuation ("don't", "e-mail" and "3.14" are two words each); in Chinese,
Japanese, Thai and other unspaced scripts each character of those scripts is a word. Lines are the non-empty
lines after stripping whitespace.

- ``chars``: characters of the whole text; every other signal reads its first ``max_chars`` (the label stage
  notes ``label_quality_truncated`` when that cut a document);
- ``words``, ``mean_word_len`` (characters per word), ``lines``;
- ``symbol_word_ratio``: (``#`` + ``...`` + ``…``) per word (Gopher);
- ``line_punct_frac``: lines ending in terminal punctuation; ``bullet_line_frac``: lines starting with a bullet;
- ``dup_line_frac``, ``dup_line_char_frac``: lines that repeat an earlier line, by count and by characters
  (Gopher);
- ``top_2gram_frac``, ``top_3gram_frac``, ``top_4gram_frac``: Gopher's top n-gram fraction: among word n-grams
  occurring more than once, the largest count × characters of the n-gram, over all word characters, capped at 1
  (the largest product rather than the most frequent n-gram, so ties cannot make it depend on order);
- ``non_alpha_word_frac``: words without a letter; ``upper_ratio``: upper-case letters per letter;
  ``digit_ratio``: decimal digits per character; ``bad_char_ratio``: control characters (other than tab and
  newlines), U+FFFD and non-characters per character, high for binary garbage decoded as text;
- ``stop_words``: occurrences of Gopher's English stop words (the, be, to, of, and, that, have, with).

Character classes come from one table lookup over the code points, n-grams from token hashes counted in
numpy: about 0.8 ms for a 5,000-character web page on one core.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np

from annotators.base import NOTES, Annotator
from corpusforge.text import _UNSPACED_CHARS

DEFAULT_MAX_CHARS = 100_000
TERMINAL_PUNCTUATION = (".", "!", "?", '"', "'", "”", "’", "。", "！", "？", "؟", "।", "…", "」", "』", ":", ";")
BULLETS = ("•", "●", "○", "■", "□", "▪", "▫", "◦", "‣", "⁃", "·", "–", "- ", "* ", "+ ", "➢", "✓", "✔", "→")
STOP_WORDS = ("the", "be", "to", "of", "and", "that", "have", "with")


LETTER, UPPER, DIGIT, BAD, SPACE, PUNCT, UNSPACED = 1, 2, 4, 8, 16, 32, 64
_KEEP_IN_WORDS: frozenset[str] = frozenset()  # every punctuation mark separates words
_UNSPACED_RE = re.compile(rf"[{_UNSPACED_CHARS}]")
#: per-position multipliers of the token hash (fixed, so every process and engine hashes alike)
_MULT = np.random.default_rng(20240601).integers(1, 2**62, size=64, dtype=np.int64) | 1


@functools.cache
def _char_table() -> np.ndarray:
    """Class bits of every Basic Multilingual Plane code point; built once per process (about 50 ms)."""
    table = np.zeros(0x10000, dtype=np.uint8)
    for cp in range(0x10000):
        ch = chr(cp)
        cat = unicodedata.category(ch)
        if ch.isalpha():
            table[cp] = LETTER | (UPPER if ch.isupper() else 0) | (UNSPACED if _UNSPACED_RE.match(ch) else 0)
        elif ch.isdecimal():
            table[cp] = DIGIT
        elif ch.isspace():
            table[cp] = SPACE
        elif cat.startswith("P") and ch not in _KEEP_IN_WORDS:
            table[cp] = PUNCT
        elif (
            (cp < 0x20 and ch not in "\t\n\r")
            or 0x7F <= cp < 0xA0
            or cp in (0xFFFD, 0xFFFE, 0xFFFF)
            or 0xD800 <= cp < 0xE000
        ):
            table[cp] = BAD
    table.flags.writeable = False  # shared by every caller in the process
    return table


def _code_points(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)


def char_flags(cps: np.ndarray) -> np.ndarray:
    """Class bits per code point; astral CJK counts as an unspaced letter, other astral ones (emoji) as none."""
    flags = _char_table()[cps & 0xFFFF]
    astral = cps >= 0x10000
    if astral.any():
        flags[astral] = np.where((cps[astral] >= 0x20000) & (cps[astral] < 0x40000), LETTER | UNSPACED, 0)
    return flags


@dataclass
class _Words:
    count: int
    chars: int
    alpha: int  # words holding a letter
    lengths: np.ndarray
    hashes: np.ndarray  # of the lower-cased word


def _words(cps: np.ndarray, lower_cps: np.ndarray, flags: np.ndarray) -> _Words:
    """Words as runs of characters between whitespace and punctuation; unspaced-script characters alone."""
    sep = (flags & (SPACE | PUNCT)) > 0
    word = ~sep
    if not word.any():
        empty = np.zeros(0, dtype=np.int64)
        return _Words(0, 0, 0, empty, empty)
    unspaced = (flags & UNSPACED) > 0
    prev_breaks = np.empty_like(sep)  # (np.r_ costs ~25 µs a call; these run per document)
    prev_breaks[0] = True
    np.logical_or(sep[:-1], unspaced[:-1], out=prev_breaks[1:])
    starts = word & (prev_breaks | unspaced)
    wid = (np.cumsum(starts) - 1)[word]
    count = int(starts.sum())
    lengths = np.bincount(wid, minlength=count).astype(np.int64)
    alpha = int(np.count_nonzero(np.bincount(wid, weights=(flags[word] & LETTER) > 0, minlength=count)))
    new_word = np.empty(wid.size, dtype=bool)
    new_word[0] = True
    np.not_equal(wid[1:], wid[:-1], out=new_word[1:])
    first = np.flatnonzero(new_word)
    pos = np.arange(wid.size) - first[wid]
    with np.errstate(over="ignore"):
        values = (lower_cps[word].astype(np.int64) + 1) * _MULT[pos % 64]
        hashes = np.add.reduceat(values, first) ^ (lengths * np.int64(0x9E3779B97F4A7C15 - 2**64))
    return _Words(count, int(wid.size), alpha, lengths, hashes)


def _top_ngram_fracs(words: _Words, ns=(2, 3, 4)) -> list[float]:
    """Gopher's top n-gram character fractions, from word hashes combined and counted in numpy."""
    out = []
    ends = np.zeros(words.count + 1, dtype=np.int64)
    np.cumsum(words.lengths, out=ends[1:])
    with np.errstate(over="ignore"):
        for n in ns:
            m = words.count - n + 1
            if m < 2 or not words.chars:
                out.append(0.0)
                continue
            keys = words.hashes[:m].copy()
            for i in range(1, n):
                keys = keys * np.int64(1_000_003) ^ words.hashes[i : i + m]
            # one occurrence per distinct n-gram: its count and its characters (alike in every occurrence)
            _, first, counts = np.unique(keys, return_index=True, return_counts=True)
            repeated = counts > 1
            if not repeated.any():
                out.append(0.0)
                continue
            covered = counts[repeated] * (ends[n : n + m] - ends[:m])[first[repeated]]
            out.append(min(1.0, int(covered.max()) / words.chars))
    return out


def quality_signals(text: str, max_chars: int = DEFAULT_MAX_CHARS) -> dict[str, float]:
    """The signals of the module docstring for one text."""
    chars = len(text)
    text = text[:max_chars]
    n = len(text)
    cps = _code_points(text)
    lower = text.lower()
    lower_cps = _code_points(lower) if len(lower) == n else cps  # "İ" lower-cases to two characters
    flags = char_flags(cps)
    counts = np.bincount(flags & 0x0F, minlength=16)
    letters = int(counts[LETTER] + counts[LETTER | UPPER])
    words = _words(cps, lower_cps, flags)
    lines = [s for s in map(str.strip, text.split("\n")) if s]
    n_lines = len(lines)
    line_counts = Counter(lines)
    line_chars = sum(map(len, lines))
    dup_chars = sum((c - 1) * len(line) for line, c in line_counts.items() if c > 1)
    symbols = text.count("#") + text.count("...") + text.count("…")
    top2, top3, top4 = _top_ngram_fracs(words)
    n_words = words.count
    return {
        "chars": float(chars),
        "words": float(n_words),
        "mean_word_len": words.chars / n_words if n_words else 0.0,
        "lines": float(n_lines),
        "symbol_word_ratio": symbols / n_words if n_words else 0.0,
        "line_punct_frac": sum(1 for s in lines if s.endswith(TERMINAL_PUNCTUATION)) / n_lines if n_lines else 0.0,
        "bullet_line_frac": sum(1 for s in lines if s.startswith(BULLETS)) / n_lines if n_lines else 0.0,
        "dup_line_frac": (n_lines - len(line_counts)) / n_lines if n_lines else 0.0,
        "dup_line_char_frac": dup_chars / line_chars if line_chars else 0.0,
        "top_2gram_frac": top2,
        "top_3gram_frac": top3,
        "top_4gram_frac": top4,
        "non_alpha_word_frac": (n_words - words.alpha) / n_words if n_words else 0.0,
        "upper_ratio": int(counts[LETTER | UPPER]) / letters if letters else 0.0,
        "digit_ratio": int(counts[DIGIT]) / n if n else 0.0,
        "bad_char_ratio": int(counts[BAD]) / n if n else 0.0,
        "stop_words": float(np.isin(words.hashes, _stop_hashes()).sum()) if n_words else 0.0,
    }


@functools.cache
def _stop_hashes() -> np.ndarray:
    text = " ".join(STOP_WORDS)
    cps = _code_points(text)
    return _words(cps, cps, char_flags(cps)).hashes


class QualitySignals(Annotator):
    """Fills the ``quality`` map; no model, so nothing to load."""

    name = "quality"
    version = "1"
    columns = ("quality",)

    def __init__(self, max_chars: int = DEFAULT_MAX_CHARS):
        super().__init__()
        self.max_chars = max_chars

    def setup(self) -> None:
        _char_table()
        _stop_hashes()

    def annotate(self, texts: list[str]) -> dict[str, list[Any]]:
        notes = [["label_quality_truncated"] if len(t) > self.max_chars else [] for t in texts]
        return {"quality": [quality_signals(t, self.max_chars) for t in texts], NOTES: notes}
