"""MinHash: shingling by script, signature properties, chunked hashing of huge documents, band keys."""

from __future__ import annotations

import random

import numpy as np
import pytest

from corpusforge.errors import ConfigError
from pipelines.dedup.minhash import CHARS, CHUNK, SHORT, WORDS, MinHashConfig, MinHasher, estimated_jaccard, jaccard

_rng = random.Random(0)
WORDS_POOL = ["".join(_rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(7)) for _ in range(5000)]


def text(n: int, seed: int) -> str:
    rng = random.Random(seed)
    return " ".join(rng.choice(WORDS_POOL) for _ in range(n))


def test_word_shingles_are_ngrams_of_normalised_words():
    h = MinHasher(MinHashConfig(ngram=3))
    a = h.shingles("The cat sat on the mat.", "en")
    b = h.shingles("the CAT, sat  on the mat!", "en")
    assert a.mode == WORDS and len(a.hashes) == 4  # 6 words → 4 trigrams
    assert np.array_equal(a.hashes, b.hashes)  # case and punctuation do not matter
    assert not np.array_equal(a.hashes, h.shingles("the cat sat on a mat", "en").hashes)


def test_numbers_count_as_equal_unless_configured():
    assert np.array_equal(
        MinHasher().shingles("it grew 4.5 percent to 1,000.25 units in the year", "en").hashes,
        MinHasher().shingles("it grew 12 percent to 7 units in the year", "en").hashes,
    )
    assert np.array_equal(
        MinHasher().shingles("price 12 dollars on 2021 05 01", "en").hashes,
        MinHasher().shingles("price 99 dollars on 2024 11 30", "en").hashes,
    )
    strict = MinHasher(MinHashConfig(digits_to_zero=False))
    assert not np.array_equal(
        strict.shingles("price 12 dollars", "en").hashes, strict.shingles("price 99 dollars", "en").hashes
    )


def test_accents_are_stripped_but_not_other_marks():
    h = MinHasher(MinHashConfig(ngram=2))
    assert np.array_equal(h.shingles("Café crème brûlée").hashes, h.shingles("cafe creme brulee").hashes)
    assert not np.array_equal(h.shingles("कि की").hashes, h.shingles("क क").hashes)  # Hindi vowel signs stay
    assert np.array_equal(h.shingles("한국어 문장").hashes, h.shingles("한국어 문장").hashes)
    assert len(h.shingles("한국어 문장").hashes) == 1  # Hangul recomposed: two words, one bigram


def test_unspaced_scripts_are_shingled_by_character():
    h = MinHasher()
    zh = h.shingles("我们今天去公园散步然后回家吃饭", "zh")
    assert zh.mode == WORDS and len(zh.hashes) == 15 - 5 + 1
    # detected from the text when no language is known
    assert np.array_equal(zh.hashes, h.shingles("我们今天去公园散步然后回家吃饭", None).hashes)


def test_short_and_symbol_only_and_empty_texts():
    h = MinHasher()
    short = h.shingles("two words", "en")
    assert short.mode == SHORT and len(short.hashes) == 1
    emoji = h.shingles("😀😀😀 !!! ??? 🎉", "en")
    assert emoji.mode == CHARS and len(emoji.hashes) >= 1
    assert h.shingles("   \n\t ", "en") is None


def test_signature_estimates_jaccard():
    h = MinHasher(MinHashConfig(bands=32, rows=8))
    base = text(2000, 1).split()
    edited = base[:1500] + text(500, 2).split()
    a, b = h.shingles(" ".join(base)), h.shingles(" ".join(edited))
    sig = h.signatures([a.hashes, b.hashes])
    assert abs(estimated_jaccard(sig[0], sig[1]) - jaccard(a.hashes, b.hashes)) < 0.08


def test_batched_and_single_signatures_agree_and_chunking_is_exact():
    h = MinHasher()
    sets = [h.shingles(text(n, n)).hashes for n in (3, 50, 700, 40000)]
    assert len(sets[-1]) > CHUNK  # hashed chunk by chunk
    batched = h.signatures(sets)
    for i, s in enumerate(sets):
        assert np.array_equal(batched[i], h.signature(s))
    # a chunked minimum equals the unchunked one
    full = h._permute(sets[-1]).min(axis=1)
    assert np.array_equal(full, batched[-1])


def test_band_keys_match_exactly_when_band_rows_match():
    h = MinHasher()
    sig = h.signatures([h.shingles(text(300, s)).hashes for s in (1, 2)])
    other = sig[1].copy()
    other[:8] = sig[0][:8]  # first band identical, the rest differ
    keys = h.band_keys(np.stack([sig[0], other]))
    assert keys.dtype == np.int64 and keys.shape == (2, 14)
    assert keys[0, 0] == keys[1, 0] and (keys[0, 1:] != keys[1, 1:]).all()


def test_permutations_depend_on_seed_only():
    s = MinHasher().shingles(text(100, 3)).hashes
    assert np.array_equal(MinHasher().signature(s), MinHasher().signature(s))
    assert not np.array_equal(MinHasher().signature(s), MinHasher(MinHashConfig(seed=2)).signature(s))


def test_lsh_threshold_and_config_validation():
    assert MinHashConfig().threshold() == pytest.approx((1 / 14) ** (1 / 8))
    with pytest.raises(ConfigError, match="minhash"):
        from pipelines.dedup.config import DedupConfig

        DedupConfig.parse({"fuzzy": {"minhash": {"bands": 0}}})


def test_permute_is_the_plain_expression_in_one_scratch_array():
    """Same values as ``(a * x + b) >> 32``, with about one uint64 array of scratch at peak, not the two or three
    numpy's temporaries make (the worker's resident memory followed that scratch, BENCHMARKS.md issue 20)."""
    import tracemalloc

    h = MinHasher()
    x = np.random.default_rng(0).integers(0, 1 << 32, CHUNK, dtype=np.uint64).astype(np.uint32)
    with np.errstate(over="ignore"):
        plain = ((h._a[:, None] * x.astype(np.uint64)[None, :] + h._b[:, None]) >> np.uint64(32)).astype(np.uint32)
    tracemalloc.start()
    try:
        got = h._permute(x)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert np.array_equal(got, plain)
    scratch = h.config.permutations * CHUNK * 8
    assert peak < 1.6 * scratch  # the uint64 array and its uint32 result; the plain expression peaks at 2x
