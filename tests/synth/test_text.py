"""The text verifier: each reason on a text built to trigger it, and a clean text in two languages passing."""

from __future__ import annotations

import pytest

from synth.verify.text import TextVerifier, TextVerifyConfig

pytest.importorskip("fasttext")

EN = (
    "Plants capture light with chlorophyll and use its energy to join carbon dioxide and water into sugar. "
    "The oxygen we breathe is released along the way, which is why forests matter for the air around us."
)
DE = (
    "Pflanzen fangen Licht mit Chlorophyll ein und nutzen seine Energie, um aus Kohlendioxid und Wasser Zucker "
    "herzustellen. Dabei wird der Sauerstoff frei, den wir atmen, deshalb sind Wälder für unsere Luft wichtig."
)


@pytest.fixture(scope="module")
def verifier() -> TextVerifier:
    return TextVerifier(TextVerifyConfig(min_words=10, max_words=200))


def test_clean_text_passes_in_its_language(verifier):
    assert verifier.check(EN, "en") is None
    assert verifier.check(DE, "de") is None


@pytest.mark.parametrize(
    ("text", "lang", "reason"),
    [
        ("Too short to teach anything.", "en", "too_short"),
        (" ".join(["word"] * 201), "en", "too_long"),
        ("I'm sorry, but I cannot help with that. " + EN, "en", "refusal"),
        ("the cycle repeats and " * 12, "en", "repetitive"),
        ("Step one.\nStep one.\nStep one.\nStep two is different from the first step in every way.", "en", "duplicate_lines"),
        (EN, "de", "language_mismatch"),
    ],
)
def test_each_reason(verifier, text, lang, reason):
    assert verifier.check(text, lang) == reason


def test_short_kinds_have_their_own_minimum(verifier):
    qa = "Question: What do plants release?\nAnswer: Oxygen."
    assert verifier.check(qa, "en", kind="qa") == "too_short"  # 7 words < 8
    assert verifier.check(qa + " Mostly.", None, kind="qa") is None
    assert verifier.check(qa, None) == "too_short"


def test_language_is_not_judged_without_a_seed_language(verifier):
    assert verifier.check(EN, None) is None
    assert verifier.check(EN, "de", language=False) is None
