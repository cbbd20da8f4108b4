"""Prompt sets with references for GRPO and evaluation: JSON lines of ``{"messages": [...], "reference": {...}}``
(``{"prompt": str}`` is read as one user turn), and a generated arithmetic task whose answers the ``math``
reward checks (``reference.answer``)."""

from __future__ import annotations

import json
import random
from pathlib import Path

from corpusforge.errors import ConfigError, InputError
from training.posttrain.chat import strip_flags


def arithmetic(n: int, seed: int = 0, digits: int = 2, ops: str = "+-", flag: str = "/no_think") -> list[dict]:
    """``n`` questions ``a op b`` with ``digits``-digit operands, answer expected as a bare number."""
    rng = random.Random(seed)
    lo, hi = 10 ** (digits - 1), 10**digits - 1
    out = []
    for _ in range(n):
        a, b, op = rng.randint(lo, hi), rng.randint(lo, hi), rng.choice(ops)
        value = {"+": a + b, "-": a - b, "*": a * b}[op]
        q = f"What is {a} {op} {b}? Reply with the number only. {flag}".strip()
        out.append({"messages": [{"role": "user", "content": q}], "reference": {"answer": str(value)}})
    return out


def read_prompts(path: str | Path) -> tuple[list[dict], int]:
    """The usable prompt records and the count of bad lines (not JSON, no prompt, no reference)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError("data", f"no such file: {path}")
    good, bad = [], 0
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            bad += 1
            continue
        if isinstance(rec, dict) and isinstance(rec.get("prompt"), str):
            rec = {"messages": [{"role": "user", "content": rec["prompt"]}], "reference": rec.get("reference", {})}
        if not (isinstance(rec, dict) and isinstance(rec.get("messages"), list) and isinstance(rec.get("reference"), dict)):
            bad += 1
            continue
        good.append(rec)
    return good, bad


def write_jsonl(records: list[dict], path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def asked_questions(paths: list[str | Path]) -> set[str]:
    """The questions (user turns, flags stripped) asked anywhere in these JSON-lines sets: SFT conversations or
    prompt sets, so a new evaluation set can leave out what a model trained on."""
    seen = set()
    for path in paths:
        for number, line in enumerate(Path(path).read_text().splitlines(), 1):
            try:
                rec = json.loads(line) if line.strip() else None
            except json.JSONDecodeError as exc:  # a line left unread could hold a question the set must leave out
                raise InputError(f"{path}:{number}", f"not JSON ({exc.msg})") from None
            messages = rec.get("messages", []) if isinstance(rec, dict) else []
            seen |= {strip_flags(m.get("content", "")) for m in messages if isinstance(m, dict) and m.get("role") == "user"}
    return seen
