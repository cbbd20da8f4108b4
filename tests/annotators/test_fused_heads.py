import pickle
import random
from pathlib import Path

import pytest

from annotators.fasttext_head import RECORD_HEADS, default_model_path, normalize
from annotators.fused_heads import FusedHeads, read_fasttext
from annotators.student import fasttext_guard
from corpusforge.errors import InputError
from tests.annotators.tiny_heads import FILLER, class_words, train_head

TEXTS = [
    "",
    "a",
    "The committee approved the new budget for schools and hospitals after a long debate.",
    "Recipe: whisk two eggs with sugar, fold in the flour and bake for 25 minutes at 180 degrees.",
    "héllo wörld — ça va? 日本語のテキスト と русский текст together",
    "__label__toxic is a token fastText reads as a label, not a word",
    "tab\tseparated\x00null\x0bvertical",
    "you are an idiot and everyone hates you " * 40,
    "lone \ud800 surrogate",
]


def fasttext_probs(path: str, text: str) -> dict[str, float]:
    import fasttext

    fasttext.FastText.eprint = lambda *args, **kwargs: None
    model = fasttext.load_model(path)
    try:
        labels, probs = model.predict(text, k=-1)
    except (UnicodeEncodeError, TypeError):
        labels, probs = model.predict(text.encode("utf-8", "replace").decode("utf-8"), k=-1)
    return {label.removeprefix("__label__"): float(p) for label, p in zip(labels, probs, strict=True)}


def assert_same_as_fasttext(paths: list[str], texts: list[str]) -> None:
    weights = [read_fasttext(p) for p in paths]
    fused = FusedHeads(weights)
    for text in texts:
        cleaned = normalize(text)
        for path, w, probs in zip(paths, weights, fused.scores(cleaned), strict=True):
            expected = fasttext_probs(path, cleaned)
            if not probs:
                assert not expected, (path, cleaned)
                continue
            got = dict(zip(w.labels, probs, strict=True))
            assert got == pytest.approx(expected, abs=1e-5), (path, cleaned)


@pytest.mark.skipif(
    not all(default_model_path(h).is_file() for h in RECORD_HEADS), reason="the shipped head models are absent"
)
def test_shipped_heads_fused_give_fasttexts_probabilities():
    paths = [str(default_model_path(h)) for h in RECORD_HEADS]
    w = read_fasttext(paths[0])
    assert w.prune is not None and w.input.shape[1] == 64  # quantized and pruned: the hard case
    assert_same_as_fasttext(paths, TEXTS)


def _train(tmp_path, name: str, lines: list[str], quantize: bool, **params):
    import fasttext

    data = tmp_path / f"{name}.txt"
    data.write_text("".join(lines))
    with fasttext_guard():
        model = fasttext.train_supervised(str(data), thread=1, seed=0, verbose=0, minCount=1, epoch=5, **params)
        if quantize:
            model.quantize(input=str(data), retrain=False, cutoff=400, qnorm=True)
    path = tmp_path / f"{name}.{'ftz' if quantize else 'bin'}"
    model.save_model(str(path))
    return str(path)


@pytest.mark.parametrize("quantize", [False, True], ids=["dense", "quantized-pruned"])
def test_trained_models_fused_give_fasttexts_probabilities(tmp_path, quantize):
    rng = random.Random(0)
    lines = [f"__label__{rng.choice('abc')} {' '.join(rng.sample(FILLER[:300], 10))}\n" for _ in range(400)]
    # trigrams and a small bucket: n-gram hashing and collisions must match fastText's
    paths = [
        _train(tmp_path, f"m{i}", lines, quantize, dim=8, wordNgrams=3, bucket=997 if i else 5003) for i in range(2)
    ]
    weights = [read_fasttext(p) for p in paths]
    assert [len(g) for g in FusedHeads.group(weights)] == [1, 1]  # buckets differ
    assert all(w.prune is not None for w in weights) if quantize else all(w.prune is None for w in weights)
    texts = [" ".join(rng.sample(FILLER[:400], 12)) for _ in range(30)] + TEXTS
    for path in paths:
        assert_same_as_fasttext([path], texts)


def test_models_with_character_ngrams_are_left_to_fasttext(tmp_path):
    lines = [f"__label__{'ab'[i % 2]} word{i % 7} other{i % 5}\n" for i in range(100)]
    subword = read_fasttext(_train(tmp_path, "sub", lines, False, dim=4, minn=2, maxn=3, bucket=1000))
    plain = read_fasttext(_train(tmp_path, "plain", lines, False, dim=4, bucket=1000))
    assert FusedHeads.group([subword, plain]) == [[1]]
    with pytest.raises(InputError, match="character n-grams"):
        FusedHeads([subword])


def test_tiny_heads_fused_agree_with_their_own_predict(tmp_path):
    paths = [str(train_head(h, tmp_path / f"{h}.bin")) for h in ("domain", "edu", "toxicity")]
    words = class_words("domain")
    texts = [" ".join(w[:4]) for w in words.values()] + TEXTS
    assert_same_as_fasttext(paths, texts)
    import fasttext

    # the file's label order is the model's output order
    assert read_fasttext(paths[0]).labels == [
        lab.removeprefix("__label__") for lab in fasttext.load_model(paths[0]).labels
    ]


def test_unreadable_model_files_are_named(tmp_path):
    bad = tmp_path / "bad.ftz"
    bad.write_bytes(b"not a model at all")
    with pytest.raises(InputError, match="bad magic"):
        read_fasttext(str(bad))
    good = _train(tmp_path, "g", [f"__label__a x{i} y\n" for i in range(20)], False, dim=4, bucket=100)
    cut = tmp_path / "cut.bin"
    cut.write_bytes(Path(good).read_bytes()[:200])
    with pytest.raises(InputError, match="truncated"):
        read_fasttext(str(cut))


def test_fused_heads_pickle_before_loading_only(tmp_path):
    path = str(train_head("adult", tmp_path / "adult.bin"))
    fused = FusedHeads([read_fasttext(path)])
    clone = pickle.loads(pickle.dumps(fused))
    assert clone.scores("hello")[0] == pytest.approx(fused.scores("hello")[0])
    with pytest.raises(TypeError, match="does not pickle"):
        pickle.dumps(fused)


def test_unigram_models_fuse_with_bigram_models(tmp_path):
    # hate and offensive heads may be unigram models: they have no n-gram rows, so they join the bigram heads' pass
    rng = random.Random(1)
    lines = [f"__label__{rng.choice('ab')} {' '.join(rng.sample(FILLER[:300], 10))}\n" for _ in range(400)]
    bigram = _train(tmp_path, "bi", lines, True, dim=8, wordNgrams=2, bucket=997)
    unigram = _train(tmp_path, "uni", lines, True, dim=8, wordNgrams=1)
    weights = [read_fasttext(p) for p in (unigram, bigram)]
    assert FusedHeads.group(weights) == [[0, 1]]
    texts = [" ".join(rng.sample(FILLER[:400], 12)) for _ in range(20)] + TEXTS
    assert_same_as_fasttext([unigram, bigram], texts)
