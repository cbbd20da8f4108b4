"""Math answer checking: extract the final answer of a solution and decide equivalence with a reference.

API (stable; used by synth.rewards and the post-training rewards):
    extract_answer(text: str) -> str | None       # last \\boxed{...} / \\fbox{...}, else "#### x", else last number
    answers_equivalent(candidate: str, reference: str) -> bool
    check_answer(completion: str, reference_answer: str) -> bool   # extract, then compare
    majority_answer(completions: list[str]) -> tuple[str | None, float]   # agreement when no reference exists

Equivalence tries, in order: normalized string equality, numbers within a relative tolerance (commas, $,
% and units stripped), then math-verify (LaTeX and plain expressions parsed to sympy, symbolic and numeric
comparison). math-verify's own timeout uses SIGALRM, which works only in the main thread; elsewhere it runs
without one.
"""

from __future__ import annotations

import math
import re
import threading
from collections import Counter

from corpusforge.errors import DependencyError

REL_TOL = 1e-6
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?(?:/\d+)?|-?\.\d+")
_HASHES = re.compile(r"####\s*(.+)")
_FINAL = re.compile(r"(?:final answer|the answer)\s*(?:is|:)\s*\$?([^\n$]+)", re.IGNORECASE)


def _braced(text: str, start: int) -> str | None:
    """The content of the brace group opening at ``text[start]``."""
    depth = 0
    for i in range(start, len(text)):
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                return text[start + 1 : i]
    return None


def last_boxed(text: str) -> str | None:
    for macro in ("\\boxed", "\\fbox"):
        pos = text.rfind(macro)
        while pos != -1:
            brace = text.find("{", pos)
            if brace != -1 and text[pos + len(macro) : brace].strip() == "":
                content = _braced(text, brace)
                if content is not None:
                    return content.strip()
            pos = text.rfind(macro, 0, pos)
    return None


def extract_answer(text: str) -> str | None:
    """The final answer of a solution: \\boxed{...}, else ``#### x``, else "the answer is x", else the last number."""
    if not text:
        return None
    boxed = last_boxed(text)
    if boxed:
        return boxed
    hashes = _HASHES.findall(text)
    if hashes:
        return hashes[-1].strip()
    final = _FINAL.findall(text)
    if final:
        return final[-1].strip().rstrip(".")
    numbers = _NUMBER.findall(text)
    return numbers[-1].rstrip(".,") if numbers else None


def _normalize(answer: str) -> str:
    s = answer.strip().strip("$").strip()
    s = re.sub(r"\\text\{\s*([^}]*)\}", r"\1", s)
    s = re.sub(r"\\(?:left|right|displaystyle|!|,|;|quad)", "", s)
    s = s.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac").replace("^\\circ", "").replace("^{\\circ}", "")
    s = s.replace("\\$", "").replace("\\%", "").replace("%", "")
    return re.sub(r"\s+", "", s).rstrip(".").lower()


def _as_number(answer: str) -> float | None:
    s = _normalize(answer)
    s = re.sub(r"^[a-z]\s*=", "", s)  # "x=5"
    s = s.replace(",", "").replace("$", "")
    s = re.sub(r"(?<=\d)[a-z]+$", "", s)  # trailing unit words: "18dollars"
    frac = re.fullmatch(r"(-?)\\frac\{(-?\d+(?:\.\d+)?)\}\{(-?\d+(?:\.\d+)?)\}", s)
    try:
        if frac:
            value = float(frac.group(2)) / float(frac.group(3))
            return -value if frac.group(1) else value
        if re.fullmatch(r"-?\d+(?:\.\d+)?/\d+(?:\.\d+)?", s):
            num, den = s.split("/")
            return float(num) / float(den)
        return float(s)
    except (ValueError, ZeroDivisionError):
        return None


# Arithmetic left undone between two numbers ("4-16", "3\\times4"): not an answer to a numeric question, or a
# reward could be earned by repeating the question (GRPO on differences learnt "The answer is 4 - 16.").
_UNEVALUATED = re.compile(r"\d\)?(?:[-+*\u00d7\u00f7]|\\times|\\cdot|\\div)\(?-?\d")


def _is_integer(answer: str) -> bool:
    return re.fullmatch(r"-?[\d,]+", _normalize(answer).replace("$", "")) is not None


def _math_verify(candidate: str, reference: str) -> bool:
    try:
        from math_verify import parse, verify
    except ImportError as exc:
        raise DependencyError("math answer checking", "math-verify", "synth") from exc
    timeout = 5 if threading.current_thread() is threading.main_thread() else None
    gold = parse(f"\\boxed{{{reference}}}", parsing_timeout=timeout)
    pred = parse(f"\\boxed{{{candidate}}}", parsing_timeout=timeout)
    if not gold or not pred:
        return False
    return bool(verify(gold, pred, timeout_seconds=timeout))


def answers_equivalent(candidate: str, reference: str) -> bool:
    """True when two final answers denote the same value (strings, numbers, or sympy-equal expressions)."""
    if candidate is None or reference is None:
        return False
    a, b = _normalize(str(candidate)), _normalize(str(reference))
    if not a or not b:
        return False
    if a == b:
        return True
    x, y = _as_number(candidate), _as_number(reference)
    if x is not None and y is not None:
        if _is_integer(candidate) and _is_integer(reference):  # 1450001 is not 1450000, however close
            return round(x) == round(y)
        return math.isclose(x, y, rel_tol=REL_TOL, abs_tol=1e-9)
    if y is not None and _UNEVALUATED.search(a):
        return False
    return _math_verify(str(candidate), str(reference))


def check_answer(completion: str, reference_answer: str) -> bool:
    """Extract the completion's final answer and compare it with the reference answer."""
    answer = extract_answer(completion)
    return answer is not None and answers_equivalent(answer, reference_answer)


def majority_answer(completions: list[str]) -> tuple[str | None, float]:
    """The answer most samples agree on (by equivalence, not spelling) and the share of samples that give it."""
    answers = [a for a in (extract_answer(c) for c in completions) if a]
    if not answers:
        return None, 0.0
    groups: list[list[str]] = []
    for answer in answers:
        for group in groups:
            if answers_equivalent(answer, group[0]):
                group.append(answer)
                break
        else:
            groups.append([answer])
    best = max(groups, key=len)
    spelling = Counter(best).most_common(1)[0][0]
    return spelling, len(best) / len(completions)
