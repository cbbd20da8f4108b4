"""The strict arithmetic reward: a written number, never an unevaluated expression (the hack GRPO found)."""

import pytest

from training.posttrain.rewards import last_number, load_reward


@pytest.mark.parametrize(
    ("text", "answer", "score"),
    [
        ("The answer is 4 - 16.", "-12", 0.0),  # synth's math check accepts this; the strict reward must not
        ("4 - 16 = -12", "-12", 1.0),
        ("5 * 8 = 40\n\nThe answer is 40", "40", 1.0),
        ("3 - 7 = 4", "-4", 0.0),
        ("no number", "1", 0.0),
        ("2.50", "2.5", 1.0),
    ],
)
def test_last_number(text, answer, score):
    assert last_number("", text, {"answer": answer}) == score


def test_missing_reference_scores_zero_and_path_loads():
    assert last_number("", "7", {}) == 0.0
    assert load_reward("training.posttrain.rewards:last_number") is last_number
