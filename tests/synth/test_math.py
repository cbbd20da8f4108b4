"""The math checker: final-answer extraction and equivalence, and agreement when no reference exists."""

from __future__ import annotations

import pytest

from synth.verify.math import answers_equivalent, check_answer, extract_answer, majority_answer


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("so she makes 9 * 2 = 18 dollars.\n#### 18", "18"),
        ("Hence $x = \\boxed{\\frac{9}{7}}$ and then \\boxed{\\dfrac{1}{2}}.", "\\dfrac{1}{2}"),
        ("The final answer is 42.", "42"),
        ("First 3, then 4, so 7 apples", "7"),
        ("\\boxed{\\{1, 2\\}}", "\\{1, 2\\}"),
        ("no number here", None),
    ],
)
def test_extract_answer(text, answer):
    assert extract_answer(text) == answer


@pytest.mark.parametrize(
    ("a", "b", "equal"),
    [
        ("18", "18.0", True),
        ("$70,000", "70000", True),
        ("\\dfrac{9}{7}", "\\frac{9}{7}", True),
        ("0.5", "\\frac12", True),
        ("2\\sqrt{3}", "\\sqrt{12}", True),
        ("(x+1)^2", "x^2+2x+1", True),
        ("\\text{(B)}", "\\text{(B)}", True),
        ("19", "18", False),
        ("\\frac{9}{8}", "\\frac{9}{7}", False),
        ("2\\sqrt{3}", "\\sqrt{13}", False),
        ("x^2+2x", "x^2+2x+1", False),
        ("4 - 16", "-12", False),
        ("3\\times4", "12", False),
        ("(2+3)", "5", False),
        ("\\sqrt{16}", "4", True),
        ("-12", "-12", True),
    ],
)
def test_equivalence(a, b, equal):
    assert answers_equivalent(a, b) is equal


def test_check_answer_and_majority():
    assert check_answer("so the total is \\boxed{3}", "3")
    assert not check_answer("I don't know", "3")
    assert not check_answer("The answer is 4 - 16.", "-12")  # the question repeated, not answered
    assert check_answer("4 - 16 = -12", "-12")
    answer, share = majority_answer(["#### 4", "the answer is 4.0", "#### 5", "nothing"])
    assert answer in ("4", "4.0") and share == 0.5
