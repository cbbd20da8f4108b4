"""Language-aware word splitting shared by filters and annotators.

Word-based rules (Gopher, C4, FineWeb) assume spaces between words. Scripts written without them
(Chinese, Japanese, Thai, Lao, Khmer, Burmese, Tibetan) would look like a handful of giant "words", so
there each character of those scripts counts as one word unit instead.
"""

from __future__ import annotations

import re
import string
import unicodedata

# languages whose scripts do not separate words with spaces
UNSPACED_LANGUAGES = frozenset({"zh", "ja", "th", "lo", "km", "my", "bo", "yue", "wuu", "dz"})

_UNSPACED_CHARS = (
    "\u2e80-\u2fdf\u3040-\u30ff\u3100-\u312f\u31a0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
    "\U00020000-\U0002fa1f\u0e00-\u0e7f\u0e80-\u0eff\u1780-\u17ff\u1000-\u109f\u0f00-\u0fff"
)
_SPACED_WORD = re.compile(r"\w+(?:['’]\w+)*|[^\w\s]+", re.UNICODE)
_MIXED_WORD = re.compile(rf"[{_UNSPACED_CHARS}]|[^\s{_UNSPACED_CHARS}\W]+(?:['’]\w+)*|[^\w\s]+", re.UNICODE)
_HAS_UNSPACED = re.compile(rf"[{_UNSPACED_CHARS}]")

PUNCTUATION = (
    frozenset(string.punctuation)
    | frozenset(chr(i) for i in range(0x2000, 0x206F) if unicodedata.category(chr(i)).startswith("P"))
    | frozenset("。、，！？；：「」『』（）《》〈〉【】…・")
)


def is_unspaced(lang: str | None, text: str) -> bool:
    if lang is not None:
        return lang.split("_")[0] in UNSPACED_LANGUAGES
    return bool(_HAS_UNSPACED.search(text[:2000]))


def split_words(text: str, lang: str | None = None) -> list[str]:
    """Words and punctuation runs; characters of unspaced scripts are words of their own."""
    if is_unspaced(lang, text):
        return _MIXED_WORD.findall(text)
    return _SPACED_WORD.findall(text)


def is_symbol(word: str) -> bool:
    return all(ch in PUNCTUATION for ch in word)
