import pytest

from annotators.quality import QualitySignals, quality_signals


def test_signals_on_a_hand_computed_example():
    q = quality_signals("The cat sat. The cat sat.\n- item one\n- item one\n1234 5678")
    # words: the cat sat the cat sat item one item one 1234 5678 (12 words, 40 characters)
    assert q["chars"] == 57 and q["words"] == 12 and q["lines"] == 4
    assert q["mean_word_len"] == pytest.approx(40 / 12)
    assert q["line_punct_frac"] == pytest.approx(1 / 4)  # only "The cat sat. The cat sat."
    assert q["bullet_line_frac"] == pytest.approx(2 / 4)
    assert q["dup_line_frac"] == pytest.approx(1 / 4)  # the second "- item one"
    assert q["dup_line_char_frac"] == pytest.approx(10 / 54)  # line characters: 25 + 10 + 10 + 9
    assert q["top_2gram_frac"] == pytest.approx(2 * 7 / 40)  # "item one" twice beats "the cat" twice
    assert q["top_3gram_frac"] == pytest.approx(2 * 9 / 40)  # "the cat sat" twice
    assert q["top_4gram_frac"] == 0.0
    assert q["non_alpha_word_frac"] == pytest.approx(2 / 12)
    assert q["upper_ratio"] == pytest.approx(2 / 32)  # two capital T among 32 letters
    assert q["digit_ratio"] == pytest.approx(8 / 57)
    assert q["stop_words"] == 2  # "the" twice
    assert q["symbol_word_ratio"] == 0.0 and q["bad_char_ratio"] == 0.0


def test_symbols_repetition_and_binary_garbage():
    q = quality_signals("# one ... two … three")
    assert q["symbol_word_ratio"] == pytest.approx(3 / 3)
    assert quality_signals("spam " * 50)["top_4gram_frac"] == 1.0
    garbage = bytes(range(256)).decode("latin-1") * 10
    # C0 and C1 controls and DEL (66), less those Python counts as whitespace (\t \n \x0b \x0c \r \x1c-\x1f \x85)
    assert quality_signals(garbage)["bad_char_ratio"] == pytest.approx(55 / 256)


def test_unspaced_scripts_count_characters_as_words():
    q = quality_signals("我们今天去北京。 Hello world")
    assert q["words"] == 7 + 2


def test_empty_and_huge_text():
    assert all(v == 0.0 for v in quality_signals("").values())
    q = quality_signals("word " * 2_000_000, max_chars=1000)
    assert q["chars"] == 10_000_000 and q["words"] == 200


def test_annotator_contract():
    ann = QualitySignals()
    ann.setup()
    out = ann.annotate(["a b c", ""])
    assert ann.columns == ("quality",) and len(out["quality"]) == 2 and out["quality"][0]["words"] == 3
