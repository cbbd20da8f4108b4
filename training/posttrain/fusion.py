"""Thinking-mode fusion data: one SFT set mixing thinking and non-thinking answers under the chat template's
flags, single- and multi-turn, the flag switching at random turns (the report's stage 3). Every assistant turn
follows the last flag before it; a turn without a flag inherits it.

Budget control (the report's §4.3) needs the model to answer well from an incomplete thought; a set of only whole
thoughts never shows it one. `ThoughtCut` makes a share of the final thinking answers end where a thinking
budget would cut them: the thought cut at a random token count of the model's tokenizer, then the report's
stop-thinking text exactly as `generate.generate_with_budget` appends it, then the verified answer."""

from __future__ import annotations

import random

from pydantic import Field, model_validator

from corpusforge.config import Config
from corpusforge.errors import ConfigError, InputError
from training.posttrain.chat import mode_before


class ThoughtCut(Config):
    """Which final ``/think`` answers get a cut thought, and where it is cut."""

    # Off by default: at 0.5 (SmolLM2, 72 steps) the budget curve was not monotone and whole-thought accuracy fell
    # from 67% to 55% (BENCHMARKS.md, "Thinking budget after fusion with cut thoughts").
    fraction: float = Field(0.0, ge=0, le=1, description="Share of the conversations ending in a thinking answer whose thought is cut (0: off).")  # fmt: skip
    min_tokens: int = Field(0, ge=0, description="Fewest thought tokens kept (0: the stop text right after <think>).")  # fmt: skip
    max_tokens: int = Field(48, ge=0, description="Most thought tokens kept; never the whole thought (at most its length - 1).")  # fmt: skip

    @model_validator(mode="after")
    def _range(self) -> ThoughtCut:
        if self.min_tokens > self.max_tokens:
            raise ValueError(f"min_tokens {self.min_tokens} > max_tokens {self.max_tokens}")
        return self


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


def fusion_set(pairs: list[dict], n: int, seed: int = 0, max_turns: int = 3, p_no_flag: float = 0.2,
               cut: ThoughtCut | None = None, tokenizer=None) -> list[dict]:  # fmt: skip
    """``n`` SFT records ``{"messages": [...]}`` from ``pairs`` ({question, reasoning, answer}); with ``cut``
    (and the model's ``tokenizer``), a share of them end in a cut thought (`cut_thoughts`)."""
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
    if cut is not None and cut.fraction > 0:
        cut_thoughts(out, cut, tokenizer, seed)
    return out


def cut_thoughts(records: list[dict], cut: ThoughtCut, tokenizer, seed: int = 0) -> int:
    """Cut the final thought of ``round(fraction * k)`` of the ``k`` records ending in a thinking answer, in place,
    at a token count uniform over ``[min_tokens, min(max_tokens, length - 1)]``; returns how many were cut.

    The kept thought is the decoded first tokens of the thought, as the generator's is the decoded first tokens
    it generated; the turn is marked ``thinking_cut`` so the template appends the stop text (`chat`)."""
    if tokenizer is None:
        raise ConfigError("tokenizer", "cutting thoughts needs the model's tokenizer")
    rng = random.Random(f"cut-{seed}")  # its own stream: the conversations are the same with the cut on or off
    ending = [r["messages"][-1] for r in records if (r["messages"][-1].get("reasoning") or "").strip()]
    chosen = rng.sample(range(len(ending)), round(cut.fraction * len(ending)))
    for i in sorted(chosen):
        turn = ending[i]
        ids = tokenizer.encode(turn["reasoning"], add_special_tokens=False)
        hi = min(cut.max_tokens, len(ids) - 1)
        k = rng.randint(min(cut.min_tokens, hi), hi)
        turn["reasoning"] = tokenizer.decode(ids[:k])
        turn["thinking_cut"] = True
    return len(chosen)
