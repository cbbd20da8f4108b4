"""The rewards post-training uses: math answers against a reference, code run with its tests in the sandbox."""

from __future__ import annotations

import json
import os

import pytest

from corpusforge.errors import InputError
from synth.rewards import code_reward, extract_code, math_reward


def test_math_reward():
    assert math_reward("q", "3 + 4 = 7, so \\boxed{7}", {"answer": "7"}) == 1.0
    assert math_reward("q", "#### 8", {"answer": "7"}) == 0.0
    with pytest.raises(InputError):
        math_reward("q", "#### 8", {})


def test_extract_code_prefers_the_defining_block():
    text = "Here:\n```python\ndef f():\n    return 1\n```\nUsage:\n```python\nprint(f())\n```\n"
    assert extract_code(text) == "def f():\n    return 1"


@pytest.mark.skipif(os.geteuid() != 0, reason="the namespace sandbox needs root")
def test_code_reward_on_humaneval(shared_data):
    with (shared_data / "math_code/humaneval/humaneval-python.jsonl").open() as f:
        item = json.loads(f.readline())
    ref = {"tests": item["test"], "entry_point": "has_close_elements"}
    assert code_reward(item["prompt"], item["canonical_solution"], ref) == 1.0
    assert code_reward(item["prompt"], "    return False\n", ref) == 0.0
    fenced = "```python\n" + item["prompt"] + item["canonical_solution"] + "```"
    assert code_reward("", fenced, ref) == 1.0


@pytest.mark.skipif(os.geteuid() != 0, reason="the namespace sandbox needs root")
def test_code_reward_fraction():
    assert code_reward("", "def f(x):\n    return 2 * x\n", {"tests": ["assert f(2) == 4", "assert f(3) == 7"]}) == 0.5
