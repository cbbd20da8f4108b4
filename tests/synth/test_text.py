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


JA = (
    "植物は葉緑素で光を受け止め、そのエネルギーを使って二酸化炭素と水から糖を作ります。"
    "その途中で私たちが吸う酸素が放出されるので、森は空気にとって大切なのです。"
)


def test_scripts_without_spaces_are_measured_by_characters(verifier):
    """Japanese has no spaces: counted as whitespace words it was one 'word' (too_short) and its loops were never
    seen; measured by characters, a clean passage passes and a loop is repetitive."""
    assert verifier.check(JA, "ja") is None
    assert verifier.check("植物は光を受け止めます。", "ja") == "too_short"
    loop = "ベルトのサックは、ベルトのサックがサックできないです。" * 4
    assert verifier.check(loop, "ja") == "repetitive"
