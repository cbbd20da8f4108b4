"""The decontamination registry: planted benchmark text is a hit naming its benchmark; clean text is not."""

from __future__ import annotations

import json

import numpy as np
import pytest

from corpusforge.errors import ConfigError
from synth.decontam import Registry, ngram_hashes


def test_ngrams_are_normalized_and_positional():
    a = ngram_hashes("The quick, brown fox jumps over the lazy dog again and again and again!", n=5)
    b = ngram_hashes("the QUICK brown fox — jumps over the lazy dog again and again and again", n=5)
    assert np.array_equal(a, b) and a.size == 10
    assert ngram_hashes("too short", n=5).size == 0
    assert ngram_hashes("too short", n=5, short=True).size == 1


def test_user_set_by_path(tmp_path):
    path = tmp_path / "mybench.jsonl"
    path.write_text(json.dumps({"q": "what is the colour of a clear summer sky at noon over the open sea", "a": "blue"}) + "\n")
    registry = Registry(n=8).add("mybench", path)
    assert registry.hits("Quiz: What is the colour of a clear summer sky at noon over the open sea? Blue.") == ["mybench"]
    assert registry.hits("The sea at noon is often calm, and the sky is clear in summer.") == []
    assert registry.size() == {"mybench": 9}  # question and answer joined: 16 words give 9 grams
    saved = tmp_path / "index.npz"
    registry.save(saved)
    assert Registry.load(saved).hits("the colour of a clear summer sky at noon over the open sea") == ["mybench"]
    with pytest.raises(ConfigError, match="nope.jsonl"):
        registry.add("x", tmp_path / "nope.jsonl")


def test_defaults_catch_planted_samples_and_keep_clean_ones(shared_data):
    registry = Registry.load_defaults(shared_data)
    assert set(registry.size()) == {"gsm8k", "math", "humaneval"}
    root = shared_data / "math_code"
    gsm = json.loads((root / "gsm8k/gsm8k_test.jsonl").open().readline())
    math = json.loads((root / "math/math_test.json").open().readline())
    humaneval = json.loads((root / "humaneval/humaneval-python.jsonl").open().readline())
    planted = {
        "gsm8k": "Here is a practice problem. " + gsm["question"] + " Think step by step.",
        "math": "Exercise 4. " + math["problem"] + " Show your work.",
        "humaneval": "Implement this:\n" + humaneval["prompt"] + humaneval["canonical_solution"],
    }
    for name, text in planted.items():
        assert registry.hits(text) == [name]
    clean = [
        "Photosynthesis converts light energy into chemical energy stored in glucose, releasing oxygen as a by-product "
        "of splitting water molecules inside the chloroplasts of plant cells.",
        "def fibonacci(n):\n    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n    return a\n",
        "Ein Zug fährt um 9 Uhr ab und kommt um 11 Uhr an. Wie lange dauert die Fahrt, wenn er unterwegs nicht hält?",
    ]
    assert [registry.hits(t) for t in clean] == [[], [], []]
