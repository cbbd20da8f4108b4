"""MinHash signatures and LSH band keys, vectorised with numpy.

Shingles are hashed to 32 bits; each of the ``bands * rows`` permutations is a multiply-shift hash
``(a * x + b) >> 32`` over 64-bit wrapping arithmetic (strongly universal for 32-bit keys), so a whole
batch of documents is one matrix product-free numpy expression. Documents with more shingles than fit a
chunk are hashed chunk by chunk and min-reduced, so a 20 MB document costs memory bounded by the chunk.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import numpy as np
import regex
import xxhash
from pydantic import Field, model_validator

from corpusforge.config import Config
from corpusforge.text import is_unspaced

_WORD = re.compile(r"\w+")
# outside ASCII, a word keeps its combining marks (Indic vowel signs, Arabic harakat), which \w alone drops
_MARKED_WORD = regex.compile(r"[\w\p{M}]+")
_SPACE = re.compile(r"\s+", re.UNICODE)
_ACCENTS = re.compile("[\u0300-\u036f]")  # combining diacritics of Latin, Greek, Cyrillic (not Indic vowel signs)
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_UNSPACED_WORD = re.compile(
    r"[\u2e80-\u2fdf\u3040-\u30ff\u3100-\u312f\u31a0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
    r"\U00020000-\U0002fa1f\u0e00-\u0e7f\u0e80-\u0eff\u1780-\u17ff\u1000-\u109f\u0f00-\u0fff]"
    r"|[^\W\u2e80-\u2fdf\u3040-\u30ff\u3100-\u312f\u31a0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
    r"\U00020000-\U0002fa1f\u0e00-\u0e7f\u0e80-\u0eff\u1780-\u17ff\u1000-\u109f\u0f00-\u0fff]+",
    re.UNICODE,
)
_MASK32 = np.uint64(0xFFFFFFFF)
_SHIFT32 = np.uint64(32)
_POLY = np.uint64(0x100000001B3)  # FNV prime: mixes word hashes into an n-gram hash
#: shingles hashed per numpy pass: bands*rows*CHUNK*8 bytes of scratch (7 MB at 112 permutations). The scratch is
#: freed after every pass, and glibc keeps a freed block of this size for reuse (its mmap threshold rises to it),
#: so a worker's resident memory ratchets up by a few multiples of it over its first batches (29 MB scratch:
#: +50 MB by the 8th batch, BENCHMARKS.md, issue 20); signatures do not depend on it
CHUNK = 1 << 13

# how a document was shingled; survivors carry it in meta["dedup_shingles"]
WORDS, SHORT, CHARS = "words", "short", "chars"


class MinHashConfig(Config):
    ngram: int = Field(5, ge=1, description="Words per shingle (characters per shingle for unspaced scripts).")
    bands: int = Field(14, ge=1, description="LSH bands; two documents are candidates when any band matches.")
    rows: int = Field(8, ge=1, description="Hashes per band; bands * rows permutations in all.")
    seed: int = Field(1, ge=0, description="Seed of the permutations; signatures of different seeds never mix.")
    lowercase: bool = True
    digits_to_zero: bool = Field(
        True, description="Every number (4, 4.5, 1,000.25) becomes one word '0': updated figures stay duplicates."
    )
    strip_accents: bool = Field(True, description="café = cafe: re-typed or re-encoded copies stay duplicates.")
    char_ngram: int = Field(5, ge=1, description="Characters per shingle for text with no word characters.")

    @model_validator(mode="after")
    def _fits(self) -> MinHashConfig:
        if self.bands * self.rows > 4096:
            raise ValueError("bands * rows above 4096 permutations is almost certainly a typo")
        return self

    @property
    def permutations(self) -> int:
        return self.bands * self.rows

    def threshold(self) -> float:
        """Jaccard where the LSH S-curve crosses 1/2 candidacy probability, approximately (1/b)^(1/r)."""
        return (1 / self.bands) ** (1 / self.rows)


@dataclass(frozen=True)
class Shingles:
    hashes: np.ndarray  # unique uint32 shingle hashes, sorted
    mode: str  # WORDS, SHORT (fewer words than one n-gram: one shingle) or CHARS (no word characters)


class MinHasher:
    """Shingling, signatures, band keys and exact Jaccard for one config; cheap to build in every worker."""

    def __init__(self, config: MinHashConfig | None = None):
        self.config = config or MinHashConfig()
        rng = np.random.default_rng(self.config.seed)
        n = self.config.permutations
        self._a = (rng.integers(0, 1 << 63, n, dtype=np.uint64) << np.uint64(1)) | np.uint64(1)  # odd
        self._b = rng.integers(0, 1 << 63, n, dtype=np.uint64) << np.uint64(1)
        self._band_mix = (rng.integers(0, 1 << 63, self.config.rows, dtype=np.uint64) << np.uint64(1)) | np.uint64(1)

    # -- shingles ---------------------------------------------------------------------------------------------
    def tokens(self, text: str, lang: str | None = None) -> list[str]:
        cfg = self.config
        if cfg.lowercase:
            text = text.lower()
        if cfg.strip_accents and not text.isascii():
            text = unicodedata.normalize("NFC", _ACCENTS.sub("", unicodedata.normalize("NFD", text)))
        if cfg.digits_to_zero:
            text = _NUMBER.sub("0", text)
        if is_unspaced(lang, text):
            return _UNSPACED_WORD.findall(text)
        return (_WORD if text.isascii() else _MARKED_WORD).findall(text)

    def shingles(self, text: str, lang: str | None = None) -> Shingles | None:
        """Hashed shingles, or None when the text has nothing to shingle (empty or whitespace only)."""
        n = self.config.ngram
        words = self.tokens(text, lang)
        if words:
            mode = WORDS if len(words) >= n else SHORT
            hashes = _ngram_hashes(_hash_all(words), n)
        else:
            chars = _SPACE.sub("", unicodedata.normalize("NFKC", text))
            if not chars:
                return None
            mode = CHARS
            grams = [
                chars[i : i + self.config.char_ngram] for i in range(max(1, len(chars) - self.config.char_ngram + 1))
            ]
            hashes = _hash_all(grams)
        return Shingles(np.unique((hashes >> _SHIFT32).astype(np.uint32)), mode)

    # -- signatures -------------------------------------------------------------------------------------------
    def signature(self, hashes: np.ndarray) -> np.ndarray:
        """MinHash of one shingle set (uint32[permutations]); memory bounded by CHUNK, not by the document."""
        out = np.full(self.config.permutations, np.iinfo(np.uint32).max, dtype=np.uint32)
        for start in range(0, len(hashes), CHUNK):
            np.minimum(out, self._permute(hashes[start : start + CHUNK]).min(axis=1), out=out)
        return out

    def signatures(self, shingle_sets: list[np.ndarray]) -> np.ndarray:
        """Signatures of many documents (uint32[n_docs, permutations]), small ones batched into one pass."""
        out = np.empty((len(shingle_sets), self.config.permutations), dtype=np.uint32)
        batch: list[int] = []
        size = 0

        def flush():
            nonlocal size
            if not batch:
                return
            lengths = [len(shingle_sets[i]) for i in batch]
            offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]])
            permuted = self._permute(np.concatenate([shingle_sets[i] for i in batch]))
            out[batch] = np.minimum.reduceat(permuted, offsets, axis=1).T
            batch.clear()
            size = 0

        for i, hashes in enumerate(shingle_sets):
            if len(hashes) == 0:
                raise ValueError("an empty shingle set has no MinHash signature")
            if len(hashes) > CHUNK:
                out[i] = self.signature(hashes)
                continue
            if size + len(hashes) > CHUNK:
                flush()
            batch.append(i)
            size += len(hashes)
        flush()
        return out

    def _permute(self, hashes: np.ndarray) -> np.ndarray:
        """``(a * x + b) >> 32`` for every permutation, in place in one uint64 array (the plain expression makes
        three of them)."""
        x = hashes.astype(np.uint64)
        with np.errstate(over="ignore"):
            out = np.multiply(self._a[:, None], x[None, :])
            out += self._b[:, None]
            out >>= _SHIFT32
        return out.astype(np.uint32)

    def band_keys(self, signatures: np.ndarray) -> np.ndarray:
        """One int64 key per band (int64[n_docs, bands]): equal keys = equal band rows, up to 2^-64 collisions."""
        cfg = self.config
        rows = signatures.reshape(len(signatures), cfg.bands, cfg.rows).astype(np.uint64)
        with np.errstate(over="ignore"):
            mixed = (rows * self._band_mix).sum(axis=2, dtype=np.uint64)
            mixed ^= mixed >> np.uint64(29)
            mixed *= np.uint64(0xBF58476D1CE4E5B9)
            mixed ^= mixed >> np.uint64(32)
        return mixed.view(np.int64)


def _hash_all(strings: list[str]) -> np.ndarray:
    h = xxhash.xxh3_64_intdigest
    return np.fromiter((h(s.encode("utf-8", "surrogatepass")) for s in strings), np.uint64, len(strings))


def _ngram_hashes(words: np.ndarray, n: int) -> np.ndarray:
    """Order-sensitive hash of every window of ``n`` word hashes; one window when there are fewer words."""
    n = min(n, len(words))
    count = len(words) - n + 1
    with np.errstate(over="ignore"):
        out = words[:count].copy()
        for i in range(1, n):
            out = out * _POLY + words[i : i + count]
    return out


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Exact Jaccard of two sorted unique shingle hash arrays."""
    if len(a) == 0 and len(b) == 0:
        return 1.0
    inter = len(np.intersect1d(a, b, assume_unique=True))
    return inter / (len(a) + len(b) - inter)


def estimated_jaccard(sig_a: np.ndarray, sig_b: np.ndarray) -> float:
    return float(np.mean(sig_a == sig_b))
