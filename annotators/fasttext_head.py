"""fastText label heads: one quantized model per label, read through a shared text normalisation.

Three kinds of head turn the model's distribution into record columns:

- ``label``: the most probable class and its probability (domain → ``domain``, ``domain_score``; format →
  ``doc_format``; field → ``academic_field``);
- ``score``: the expected value Σ p_k·k over classes ``0``..``5`` (edu → ``edu_score``, a float);
- ``binary``: the probability of the positive class (toxicity → ``toxicity``, adult → ``adult``, hate → ``hate``,
  offensive → ``offensive``).

Training and inference both read text through `normalize`, so a student sees at labelling time exactly what
it was trained on. The label stage scores its heads together through `annotators.fused_heads` (one fastText pass
for all of them, same probabilities); `FastTextHead.values` is the one-model path. Default models live in
``annotators/models/<head>.ftz``; ``corpusforge annotate train`` with the recipe in ``recipes/`` produces them.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import xxhash

from annotators.base import Annotator
from annotators.taxonomy import FIELDS, FORMATS, TOPICS
from corpusforge.errors import InputError

#: characters a head reads when nothing says otherwise (about 200 tokens). The label stage reads more by default
#: (`DEFAULT_READ_CHARS` in `DEFAULT_READ_WINDOWS` stretches: >= 95% agreement with whole-document labels per head).
DEFAULT_MAX_CHARS = 800
#: the label stage's default reading of every head (`pipelines.label.DEFAULT_READS`, `read_windows`); the page
#: thresholds in the safety heads' cards are chosen at this reading
DEFAULT_READ_CHARS, DEFAULT_READ_WINDOWS = 1600, 4
MODELS_DIR = Path(__file__).resolve().parent / "models"
LABEL_PREFIX = "__label__"
T = TypeVar("T")
EDU_CLASSES = tuple(str(k) for k in range(6))


def normalize(text: str, max_chars: int = DEFAULT_MAX_CHARS) -> str:
    """What every head reads: the first ``max_chars`` characters, lower-cased, whitespace runs as one space.

    Truncating first keeps a 10 MB document as cheap as a short one; fastText splits on whitespace only, so
    newlines and tabs would otherwise end its "sentences".
    """
    return " ".join(text[:max_chars].split()).lower()


def read_windows(text: str, max_chars: int = DEFAULT_MAX_CHARS, windows: int = 1, keep_case: bool = False) -> str:
    """What a head reads of ``text``: `normalize` of the first ``max_chars`` characters (``windows`` 1), or of
    ``windows`` stretches of ``max_chars // windows`` characters spread evenly from the start to the end.

    A head's label is the softmax of the mean of its rows over the text; stretches from the whole document
    estimate that mean better than a prefix of the same length (a page's opening is its navigation and title).
    Each stretch is cut at whitespace so no half word makes a spurious token. A text no longer than
    ``max_chars`` is read whole either way. ``keep_case``: the same stretches, not lower-cased (for a cased LM).
    """
    if windows <= 1 or len(text) <= max_chars:
        return " ".join(text[:max_chars].split()) if keep_case else normalize(text, max_chars)
    width = max_chars // windows
    span = len(text) - width
    pieces = []
    for i in range(windows):
        start = span * i // (windows - 1)
        end = start + width
        if start:
            cut = text.find(" ", start, start + 40)
            start = cut + 1 if cut >= 0 else start
        if end < len(text):
            cut = text.rfind(" ", end - 40, end)
            end = cut if cut > start else end
        pieces.append(text[start:end])
    read = " ".join(" ".join(pieces).split())
    return read if keep_case else read.lower()


def call_on_line(call: Callable[[str], T], text: str) -> T:
    """``call(text + "\\n")`` into fastText's C++; lone surrogates cannot cross as UTF-8, so such a text is sent
    with them replaced (the common case pays nothing for the check)."""
    try:
        return call(text + "\n")
    except (UnicodeEncodeError, TypeError):
        return call(text.encode("utf-8", "replace").decode("utf-8") + "\n")


@dataclass(frozen=True)
class HeadSpec:
    """What a head's model predicts and which record columns it fills."""

    name: str
    kind: str  # "label", "score" or "binary"
    columns: tuple[str, ...]
    classes: tuple[str, ...]  # the labels a model for this head may have (without the __label__ prefix)
    positive: str | None = None  # the class whose probability a binary head reports


HEADS: dict[str, HeadSpec] = {
    "domain": HeadSpec("domain", "label", ("domain", "domain_score"), tuple(TOPICS)),
    "format": HeadSpec("format", "label", ("doc_format",), tuple(FORMATS)),
    "field": HeadSpec("field", "label", ("academic_field",), tuple(FIELDS)),
    "edu": HeadSpec("edu", "score", ("edu_score",), EDU_CLASSES),
    "toxicity": HeadSpec("toxicity", "binary", ("toxicity",), ("toxic", "ok"), positive="toxic"),
    "adult": HeadSpec("adult", "binary", ("adult",), ("adult", "ok"), positive="adult"),
    # TweetEval's two tasks, one head each (annotators/safety_heads.py): hate speech, and offensive language
    "hate": HeadSpec("hate", "binary", ("hate",), ("hate", "ok"), positive="hate"),
    "offensive": HeadSpec("offensive", "binary", ("offensive",), ("offensive", "ok"), positive="offensive"),
    # AG News topics: an evaluation head on human labels; no record column, the label stage does not offer it
    "topic_agnews": HeadSpec("topic_agnews", "label", ("topic",), ("World", "Sports", "Business", "Sci/Tech")),
}
#: heads the label stage can run (those with a record column)
RECORD_HEADS = ("domain", "format", "field", "edu", "toxicity", "adult", "hate", "offensive")


def default_model_path(head: str) -> Path:
    return MODELS_DIR / f"{head}.ftz"


def missing_model_hint(head: str, path: str | os.PathLike) -> str:
    return (
        f"no fastText model for the '{head}' head at {path}; produce the default models with "
        f"`corpusforge annotate train` and the recipe recipes/annotators.yaml, or point labels.models.{head} at a "
        ".bin/.ftz model"
    )


def resolve_model_path(head: str, path: str | None = None) -> str:
    """The model file of ``head``: ``path`` if given, else the packaged default; a missing file is an InputError."""
    resolved = str(path) if path else str(default_model_path(head))
    if not os.path.isfile(resolved):
        raise InputError(resolved, missing_model_hint(head, resolved))
    return resolved


def model_version(path: str) -> str:
    """A model's version is its content hash: two files label alike exactly when their bytes are alike."""
    digest = xxhash.xxh3_64()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()[:12]


class FastTextHead(Annotator):
    """One fastText model as a label head; predicts a whole batch in one ``model.predict(list, k=-1)`` call."""

    requires = (("fasttext", "web"),)

    def __init__(self, head: str, model_path: str | None = None, max_chars: int = DEFAULT_MAX_CHARS, windows: int = 1):
        super().__init__()
        if head not in HEADS:
            raise InputError(head, f"unknown head; choose from {', '.join(HEADS)}")
        self.spec = HEADS[head]
        self.name = head
        self.columns = self.spec.columns
        self.model_path = resolve_model_path(head, model_path)
        self.version = f"{head}-{model_version(self.model_path)}"
        self.max_chars = max_chars
        self.windows = windows  # read_windows: 1 reads the prefix, more spread max_chars over the document
        self._model = None
        self._predict = None  # the model's C++ predict, bound in setup
        self._k = -1

    @property
    def model(self):
        if self._model is None:  # loaded lazily so the object pickles cheaply to workers
            self.setup()
        return self._model

    def setup(self) -> None:
        if self._model is not None:
            return
        import fasttext

        fasttext.FastText.eprint = lambda *args, **kwargs: None  # silence the load-time deprecation warning
        try:
            model = fasttext.load_model(self.model_path)
        except ValueError as exc:
            raise InputError(self.model_path, f"not a fastText model: {exc}") from None
        labels = [lab.removeprefix(LABEL_PREFIX) for lab in model.get_labels()]
        unknown = sorted(set(labels) - set(self.spec.classes))
        if unknown:
            raise InputError(
                self.model_path,
                f"the '{self.name}' head expects labels among {', '.join(self.spec.classes)}; the model has "
                f"{', '.join(unknown)}",
            )
        if self.spec.kind == "binary" and self.spec.positive not in labels:
            raise InputError(self.model_path, f"a '{self.name}' model needs the label __label__{self.spec.positive}")
        self._model = model
        # the C++ predict without the wrapper's per-call checks; a label head needs only the top class
        self._predict = model.f.predict
        self._k = 1 if self.spec.kind == "label" else -1

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_model": None, "_predict": None}

    def values(self, cleaned: str) -> tuple:
        """This head's column values for one text already read (`read`: `normalize`, this head's ``max_chars``).

        One C++ call, with k=1 for a label head (only the top class is kept) and all classes for the others.
        The label stage usually scores its heads together instead (`annotators.fused_heads`) and calls
        `columns_from` with the probabilities.
        """
        if self._predict is None:
            self.setup()
        pairs = call_on_line(lambda line: self._predict(line, self._k, 0.0, "strict"), cleaned)
        probs, labels = zip(*pairs, strict=True) if pairs else ((), ())
        return self.columns_from([label.removeprefix(LABEL_PREFIX) for label in labels], probs)

    def columns_from(self, labels, probs) -> tuple:
        """Column values from class probabilities; ``labels`` lack the prefix, empty ``probs``: nothing was read."""
        if not probs:
            return (None,) * len(self.columns)
        kind = self.spec.kind
        if kind == "label":
            best = max(range(len(probs)), key=probs.__getitem__)
            # fastText reports p + 1e-5, which can exceed 1
            return (labels[best], min(float(probs[best]), 1.0))[: len(self.columns)]
        total = float(sum(probs))
        if not total:
            return (None,)
        if kind == "score":
            return (sum(int(label) * float(p) for label, p in zip(labels, probs, strict=True)) / total,)
        hit = next((float(p) for label, p in zip(labels, probs, strict=True) if label == self.spec.positive), 0.0)
        return (min(hit / total, 1.0),)

    def read(self, text: str) -> str:
        """What this head reads of ``text`` (`read_windows` with its ``max_chars`` and ``windows``)."""
        return read_windows(text, self.max_chars, self.windows)

    def predict(self, texts: list[str]) -> tuple[list[tuple[str, ...]], list]:
        """All classes with their probabilities per text (prefix stripped), one call for the batch."""
        cleaned = [self.read(t) for t in texts]
        try:
            labels, probs = self.model.predict(cleaned, k=-1)
        except (UnicodeEncodeError, TypeError):  # lone surrogates cannot reach the C++ side as UTF-8
            cleaned = [t.encode("utf-8", "replace").decode("utf-8") for t in cleaned]
            labels, probs = self.model.predict(cleaned, k=-1)
        return [tuple(lab.removeprefix(LABEL_PREFIX) for lab in row) for row in labels], probs

    def annotate(self, texts: list[str]) -> dict[str, list[Any]]:
        rows = [self.values(self.read(t)) for t in texts]
        return {column: [row[i] for row in rows] for i, column in enumerate(self.columns)}
