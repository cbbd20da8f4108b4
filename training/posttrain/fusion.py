"""Thinking-mode fusion data: one SFT set mixing thinking and non-thinking answers under the chat template's
flags, single- and multi-turn, the flag switching at random turns (the report's stage 3). Every assistant turn
follows the last flag before it; a turn without a flag inherits it."""

from __future__ import annotations

import random

from corpusforge.errors import InputError
from training.posttrain.chat import mode_before


def arithmetic_pairs(n: int, seed: int = 0) -> list[dict]:
    """Verified (question, reasoning, answer) triples: two-digit sums and differences, worked by place value."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        a, b, op = rng.randint(10, 99), rng.randint(10, 99), rng.choice("+-")
        value = a + b if op == "+" else a - b
        ta, tb = a // 10 * 10, b // 10 * 10
        tens = ta + tb if op == "+" else ta - tb
        ones = a % 10 + b % 10 if op == "+" else a % 10 - b % 10
        reasoning = f"{a} {op} {b}: tens {ta} {op} {tb} = {tens}, ones {a % 10} {op} {b % 10} = {ones}. "
        reasoning += f"{tens} + {ones} = {value}." if ones >= 0 else f"{tens} - {-ones} = {value}."
        out.append({"question": f"What is {a} {op} {b}?", "reasoning": reasoning, "answer": str(value)})
    return out


def fusion_set(pairs: list[dict], n: int, seed: int = 0, max_turns: int = 3, p_no_flag: float = 0.2) -> list[dict]:
    """``n`` SFT records ``{"messages": [...]}`` from ``pairs`` ({question, reasoning, answer})."""
    if not pairs:
        raise InputError("fusion pairs", "empty")
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        conv: list[dict] = []
        for t in range(rng.randint(1, max_turns)):
            p = rng.choice(pairs)
            flag = "" if t and rng.random() < p_no_flag else rng.choice(["/think", "/no_think"])
            conv.append({"role": "user", "content": f"{p['question']} {flag}".strip()})
            think = mode_before(conv, len(conv)) == "think"
            conv.append({"role": "assistant", "content": p["answer"], "reasoning": p["reasoning"] if think else ""})
        out.append({"messages": conv})
    return out
