"""Several fastText heads evaluated as one: a shared tokenisation, one table lookup per token for all heads.

A supervised fastText model without character n-grams scores a text as ``softmax(W_out · mean(rows))`` where
``rows`` are the input-matrix rows of its in-vocabulary words and of its hashed word n-grams. The product is
linear, so ``W_out · mean(rows) = mean(W_out · rows)``: each row can be projected to its few logits once, at
load. Stacking every head's projected rows side by side (plus a column that says whether the row exists for
that head, for the mean's denominator) gives one table per kind of row; a document then costs one split,
one dictionary lookup per token and two gathers, however many heads run. fastText's C++ ``predict`` instead
re-tokenises, re-hashes and averages 64-dimensional rows once per head, which made the heads most of the
label stage's cost.

The model files are read here (the Python binding exposes neither the n-gram pruning map of a quantized model
nor its matrices); `FusedHeads` reproduces fastText's tokenisation, FNV-1a hashing (bytes sign-extended, as
the C++ does), n-gram hashing and softmax, so its probabilities equal ``model.predict``'s to float rounding
(checked in the tests on every shipped head). Models it cannot reproduce (character n-grams, a loss other
than softmax) are left to `annotators.fasttext_head.FastTextHead`.
"""

from __future__ import annotations

import functools
import math
import os
import struct
import tempfile
from dataclasses import dataclass

import numpy as np

from annotators.base import Annotator
from annotators.fasttext_head import FastTextHead, call_on_line
from corpusforge.errors import InputError

_MAGIC = 793712314
_LABEL_PREFIX = "__label__"
_LOSS_SOFTMAX = 3  # fastText's loss_name enum: hs=1, ns=2, softmax=3, ova=4
_WORD, _LABEL = 0, 1  # entry_type
#: fastText's predict reports exp(log(p + 1e-5)); reproduced so both paths give the same numbers
_LOG_EPS = 1e-5


@dataclass(frozen=True)
class FastTextWeights:
    """What a supervised fastText model needs to score a text, read from its ``.bin``/``.ftz`` file."""

    path: str
    dim: int
    word_ngrams: int
    bucket: int
    minn: int
    maxn: int
    loss: int
    words: list[str]  # in-vocabulary words, in row order
    labels: list[str]  # without the __label__ prefix, in output-row order
    prune: dict[int, int] | None  # bucket → row offset after quantization's pruning; None when not pruned
    input: np.ndarray  # (nwords + n-gram rows, dim) float32, dequantized
    output: np.ndarray  # (labels, dim) float32

    @property
    def fusable(self) -> bool:
        return self.maxn <= 0 and self.loss == _LOSS_SOFTMAX


class _Reader:
    def __init__(self, data: bytes, path: str):
        self.data, self.pos, self.path = data, 0, path

    def take(self, fmt: str):
        values = struct.unpack_from("<" + fmt, self.data, self.pos)
        self.pos += struct.calcsize("<" + fmt)
        return values if len(values) > 1 else values[0]

    def array(self, dtype, count: int) -> np.ndarray:
        out = np.frombuffer(self.data, dtype=dtype, count=count, offset=self.pos)
        self.pos += out.nbytes
        return out

    def cstring(self) -> bytes:
        end = self.data.index(b"\0", self.pos)
        out, self.pos = self.data[self.pos : end], end + 1
        return out

    def pq_centroids(self) -> tuple[int, int, int, np.ndarray]:
        dim, nsubq, dsub, lastdsub = self.take("4i")
        return nsubq, dsub, lastdsub, self.array(np.float32, dim * 256)

    def matrix(self, quantized: bool) -> np.ndarray:
        if not quantized:
            m, n = self.take("2q")
            return self.array(np.float32, m * n).reshape(m, n)
        qnorm, m, n, codesize = self.take("?2qi")
        codes = self.array(np.uint8, codesize)
        nsubq, dsub, lastdsub, centroids = self.pq_centroids()
        codes = codes.reshape(m, nsubq)
        out = np.empty((m, n), dtype=np.float32)
        for s in range(nsubq):  # product quantization: sub-vector s of row i is centroid codes[i, s] of block s
            d = lastdsub if s == nsubq - 1 else dsub
            block = centroids[s * 256 * dsub : s * 256 * dsub + 256 * d].reshape(256, d)
            out[:, s * dsub : s * dsub + d] = block[codes[:, s]]
        if qnorm:
            norm_codes = self.array(np.uint8, m)
            _, _, _, norm_centroids = self.pq_centroids()
            out *= norm_centroids[norm_codes][:, None]
        return out


def read_fasttext(path: str) -> FastTextWeights:
    """Parse a fastText model file (format version 12, as fastText 0.9 writes it)."""
    with open(path, "rb") as f:
        r = _Reader(f.read(), path)
    try:
        magic, version = r.take("2i")
        if magic != _MAGIC:
            raise InputError(path, "not a fastText model (bad magic number)")
        if version != 12:
            raise InputError(path, f"fastText model format {version}; only version 12 can be fused")
        dim, _ws, _epoch, _min_count, _neg, word_ngrams, loss, _model, bucket, minn, maxn, _lr_rate = r.take("12i")
        r.take("d")  # sampling threshold
        size, nwords, _nlabels, _ntokens, prune_size = r.take("3i2q")
        words, labels = [], []
        for _ in range(size):
            word = r.cstring().decode("utf-8", "surrogateescape")
            _count, kind = r.take("qb")
            (words if kind == _WORD else labels).append(word)
        prune = None
        if prune_size >= 0:
            pairs = r.array(np.int32, 2 * prune_size).reshape(-1, 2)
            prune = dict(zip(pairs[:, 0].tolist(), pairs[:, 1].tolist(), strict=True))
        quant_input = r.take("?")
        matrix_in = r.matrix(quant_input)
        qout = r.take("?")
        matrix_out = r.matrix(quant_input and qout)
    except (struct.error, ValueError) as exc:
        raise InputError(path, f"truncated or malformed fastText model: {exc}") from None
    if len(words) != nwords:
        raise InputError(path, f"dictionary holds {len(words)} words, header says {nwords}")
    return FastTextWeights(
        path, dim, word_ngrams, bucket, minn, maxn, loss, words,
        [lab.removeprefix(_LABEL_PREFIX) for lab in labels], prune, matrix_in, matrix_out,
    )  # fmt: skip


class FusedHeads:
    """Label heads sharing one tokenisation: `scores(text)` gives every head's class probabilities at once.

    The heads' projected rows are written as one dense fastText model (dimension: all heads' labels plus one
    count column per head) whose sentence vector, computed by fastText's C++ in one pass, is the mean of the
    text's rows; a head's logits are its columns divided by its count column (the common denominator cancels).
    All models must share ``bucket`` and ``wordNgrams`` (unigram models fit any set) and be
    `FastTextWeights.fusable`; `group` sorts a list of models into such sets.
    """

    def __init__(self, models: list[FastTextWeights]):
        if not models:
            raise ValueError("FusedHeads needs at least one model")
        for m in models:
            if not m.fusable:
                raise InputError(m.path, "cannot be fused: it uses character n-grams or a loss other than softmax")
        # a unigram model has no n-gram rows (its count column stays 0 there), so it joins any set
        grams = {(m.bucket, m.word_ngrams) for m in models if m.word_ngrams > 1}
        if len(grams) > 1:
            raise InputError(models[0].path, "cannot be fused with models of a different bucket or wordNgrams")
        self.labels = [m.labels for m in models]
        self.bucket, self.word_ngrams = next(iter(grams)) if grams else (0, 1)
        widths = [len(m.labels) for m in models]
        starts = np.cumsum([0, *widths]).tolist()
        self.dim = starts[-1] + len(models)  # every head's logits side by side, then one count column per head
        self._slices = [(starts[i], starts[i + 1]) for i in range(len(models))]
        self._counts = [starts[-1] + i for i in range(len(models))]
        self._vocab = sorted({w for m in models for w in m.words})
        index = {w: i for i, w in enumerate(self._vocab)}
        self._rows = np.zeros((len(self._vocab) + (self.bucket if self.word_ngrams > 1 else 0), self.dim), np.float32)
        buckets = self._rows[len(self._vocab) :]
        for m, (lo, hi), count in zip(models, self._slices, self._counts, strict=True):
            projected = m.input @ m.output.T  # (rows, labels): each row's contribution to the logits
            nwords = len(m.words)
            rows = np.fromiter((index[w] for w in m.words), dtype=np.int64, count=nwords)
            self._rows[rows, lo:hi] = projected[:nwords]
            self._rows[rows, count] = 1.0
            if m.word_ngrams > 1:
                if m.prune is None:
                    buckets[:, lo:hi] = projected[nwords : nwords + self.bucket]
                    buckets[:, count] = 1.0
                else:
                    kept = np.fromiter(m.prune.keys(), dtype=np.int64, count=len(m.prune))
                    offsets = np.fromiter(m.prune.values(), dtype=np.int64, count=len(m.prune))
                    buckets[kept, lo:hi] = projected[nwords + offsets]
                    buckets[kept, count] = 1.0
        self._model = None
        self._vector = None

    @staticmethod
    def group(models: list[FastTextWeights]) -> list[list[int]]:
        """Indices of ``models`` in fusable sets (same bucket and wordNgrams; unigram models join the first set);
        unfusable ones are left out."""
        sets: dict[tuple[int, int], list[int]] = {}
        unigrams = []
        for i, m in enumerate(models):
            if m.fusable:
                if m.word_ngrams > 1:
                    sets.setdefault((m.bucket, m.word_ngrams), []).append(i)
                else:
                    unigrams.append(i)
        groups = list(sets.values())
        if unigrams:
            if groups:
                groups[0] = sorted(groups[0] + unigrams)
            else:
                groups.append(unigrams)
        return groups

    def write(self, path: str) -> None:
        """The fused rows as a fastText ``.bin`` (format 12, supervised, not quantized, one placeholder label)."""
        with open(path, "wb") as f:
            f.write(struct.pack("<2i", _MAGIC, 12))
            # dim ws epoch minCount neg wordNgrams loss model(sup) bucket minn maxn lrUpdateRate t
            f.write(struct.pack("<12id", self.dim, 5, 1, 1, 5, self.word_ngrams, _LOSS_SOFTMAX, 3, self.bucket,
                                0, 0, 100, 1e-4))  # fmt: skip
            f.write(struct.pack("<3i2q", len(self._vocab) + 1, len(self._vocab), 1, 0, -1))
            for word in self._vocab:
                f.write(word.encode("utf-8", "surrogateescape") + b"\0" + struct.pack("<qb", 1, _WORD))
            f.write(_LABEL_PREFIX.encode() + b"fused\0" + struct.pack("<qb", 1, _LABEL))
            f.write(struct.pack("<?2q", False, *self._rows.shape))
            self._rows.astype("<f4", copy=False).tofile(f)
            f.write(struct.pack("<?2q", False, 1, self.dim))
            f.write(np.zeros(self.dim, dtype="<f4").tobytes())

    def setup(self) -> None:
        """Load the fused model into fastText (through a temporary file; the tables are then dropped here)."""
        if self._model is not None:
            return
        import fasttext
        import fasttext_pybind  # the binding's own module: its Vector receives the sentence vector

        fasttext.FastText.eprint = lambda *args, **kwargs: None
        with tempfile.TemporaryDirectory(prefix="corpusforge-fused-") as tmp:
            path = os.path.join(tmp, "heads.bin")
            self.write(path)
            self._model = fasttext.load_model(path)
        self._vector = fasttext_pybind.Vector(self.dim)
        self._rows = None

    def __getstate__(self) -> dict:
        if self._model is not None:
            raise TypeError("a loaded FusedHeads does not pickle; pickle the heads and fuse them in the worker")
        return self.__dict__

    def scores(self, text: str) -> list[list[float]]:
        """Per head, its class probabilities in its model's label order (empty when it read nothing).

        ``text`` is one line (no newline), already through `annotators.fasttext_head.normalize`.
        """
        if self._model is None:
            self.setup()
        call_on_line(functools.partial(self._model.f.getSentenceVector, self._vector), text)
        mean = memoryview(self._vector).tolist()
        out: list[list[float]] = []
        for (lo, hi), count in zip(self._slices, self._counts, strict=True):
            n = mean[count]
            if not n:
                out.append([])
                continue
            logits = mean[lo:hi]
            top = max(logits)
            exps = [math.exp((x - top) / n) for x in logits]
            z = sum(exps)
            out.append([e / z + _LOG_EPS for e in exps])
        return out


class HeadGroup(Annotator):
    """fastText heads scored together: heads reading the same part of a document (``max_chars``, ``windows``) share
    one read of the text and one `FusedHeads` pass when they fuse; each head's own model scores the rest."""

    def __init__(self, heads: list[FastTextHead], fuse: bool = True):
        super().__init__()
        self.heads, self.fuse = heads, fuse
        self.name = "+".join(h.name for h in heads)
        self.columns = tuple(c for h in heads for c in h.columns)
        self._passes: list | None = None  # per reading: (head, [(scorer, heads)]), built per worker in setup

    def setup(self) -> None:
        readings: dict[tuple[int, int], list[FastTextHead]] = {}
        for head in self.heads:
            readings.setdefault((head.max_chars, head.windows), []).append(head)
        self._passes = []
        for heads in readings.values():
            scorers = self._fused(heads) if self.fuse else [(None, [h]) for h in heads]
            for scorer, members in scorers:
                if scorer is None:  # a fused head's own model is never loaded
                    members[0].setup()
            self._passes.append((heads[0], scorers))

    @staticmethod
    def _fused(heads: list[FastTextHead]) -> list[tuple[FusedHeads | None, list[FastTextHead]]]:
        """The heads in fusable sets, each scored by one `FusedHeads`; the rest (None) by their own model."""
        weights = [read_fasttext(head.model_path) for head in heads]
        groups = FusedHeads.group(weights)
        fused = {i for group in groups for i in group}
        scorers: list[tuple[FusedHeads | None, list[FastTextHead]]] = []
        for group in groups:
            scorer = FusedHeads([weights[i] for i in group])
            scorer.setup()
            scorers.append((scorer, [heads[i] for i in group]))
        scorers += [(None, [head]) for i, head in enumerate(heads) if i not in fused]
        return scorers

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_passes": None}  # fastText models do not pickle; setup rebuilds them

    def annotate(self, texts: list[str]) -> dict[str, list]:
        if self._passes is None:
            self.setup()
        out: dict[str, list] = {c: [] for c in self.columns}
        for text in texts:
            values: dict[str, tuple] = {}
            for reader, scorers in self._passes:
                cleaned = reader.read(text)
                for scorer, heads in scorers:
                    if scorer is None:
                        values[heads[0].name] = heads[0].values(cleaned)
                        continue
                    for head, labels, probs in zip(heads, scorer.labels, scorer.scores(cleaned), strict=True):
                        values[head.name] = head.columns_from(labels, probs)
            for head in self.heads:
                for column, value in zip(head.columns, values[head.name], strict=True):
                    out[column].append(value)
        return out
