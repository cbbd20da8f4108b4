"""The long-CoT cold-start SFT set (Qwen3 report, stage 1): verified query-answer pairs as chat conversations,
after the report's filters. Every input ends kept or dropped with a named reason:

- ``unverifiable``: no reference answer (nothing to check the response against);
- ``unverified``: the final answer does not match the reference (synth.verify.math);
- ``inconsistent``: a think block that never closes, or an answer after ``</think>`` that disagrees with the
  conclusion the thinking reached;
- ``repetitive``: the response repeats itself (share of repeated word 4-grams above a bound);
- ``contaminated:<benchmark>``: shares a 13-gram with an evaluation set (synth.decontam registry).

Input: JSON lines ``{"query", "response", "answer"}`` (``response`` may open with ``<think>...</think>``).
Output: ``{"messages": [...]}`` lines, the SFT recipe's data, and ``ledger.json``.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from corpusforge.errors import ConfigError
from synth.decontam import Registry
from synth.verify.math import answers_equivalent, check_answer, extract_answer


def repetition(text: str, n: int = 4) -> float:
    """Share of word n-grams that occur more than once."""
    words = text.split()
    grams = [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]
    if not grams:
        return 0.0
    counts = Counter(grams)
    return sum(c for c in counts.values() if c > 1) / len(grams)


def judge(record: dict, registry: Registry | None, max_repetition: float = 0.3) -> str | None:
    """None to keep, else the drop reason."""
    response, answer = record.get("response") or "", record.get("answer")
    if answer is None or str(answer).strip() == "":
        return "unverifiable"
    thinking, final = None, response
    if "<think>" in response:
        if "</think>" not in response:
            return "inconsistent"
        thinking, final = response.split("</think>", 1)
    if not check_answer(final, str(answer)):
        return "unverified"
    if thinking is not None:
        reached = extract_answer(thinking)
        if reached is not None and not answers_equivalent(reached, str(answer)) and reached in thinking[-200:]:
            return "inconsistent"
    if repetition(response) > max_repetition:
        return "repetitive"
    if registry is not None:
        hits = registry.hits(f"{record.get('query', '')}\n{response}")
        if hits:
            return f"contaminated:{hits[0]}"
    return None


def build(src: str | Path, out: str | Path, registry: Registry | None = None, max_repetition: float = 0.3) -> dict:
    """Filter ``src`` into ``out`` (SFT conversations) and write ``ledger.json`` beside it; returns the ledger."""
    src, out = Path(src), Path(out)
    if not src.is_file():
        raise ConfigError("src", f"no such file: {src}")
    kept, dropped = [], Counter()
    total = 0
    for line in src.read_text().splitlines():
        if not line.strip():
            continue
        total += 1
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            dropped["bad_record"] += 1
            continue
        if not isinstance(rec, dict) or not rec.get("query"):
            dropped["bad_record"] += 1
            continue
        reason = judge(rec, registry, max_repetition)
        if reason:
            dropped[reason] += 1
            continue
        kept.append({"messages": [{"role": "user", "content": rec["query"]}, {"role": "assistant", "content": rec["response"]}]})
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text("".join(json.dumps(r) + "\n" for r in kept))
    tmp.replace(out)
    ledger = {"inputs": total, "kept": len(kept), "dropped": dict(dropped)}
    assert ledger["inputs"] == ledger["kept"] + sum(dropped.values())
    (out.parent / "ledger.json").write_text(json.dumps(ledger, indent=2) + "\n")
    return ledger
