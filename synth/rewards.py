"""Verifiable rewards for GRPO (entry-point group ``corpusforge.rewards``), and the checks the generators reuse.

API (stable; training finds these through the entry points and imports no synth code):
    math_reward(prompt: str, completion: str, reference: dict) -> float
        1.0 when the completion's final answer (last \\boxed{...}, else "#### x", else "the answer is x",
        else the last number) is equivalent to reference["answer"] (see synth.verify.math), else 0.0.
    code_reward(prompt: str, completion: str, reference: dict) -> float
        Runs the completion's code (the last ```python block, else the whole text; prefixed by the prompt
        when the prompt holds the function's signature and the code does not define reference["entry_point"])
        with reference["tests"] in the sandbox (synth.verify.sandbox). tests: a list of snippets -> the
        fraction that passed; one string (e.g. HumanEval's `check` function) -> 1.0 or 0.0. Optional keys:
        "entry_point" (calls check(entry_point) when the tests define check but do not call it), "timeout_s".
Both may raise (a missing key, a sandbox that cannot be set up); callers count that as they see fit.
"""

from __future__ import annotations

import re

from corpusforge.errors import InputError
from synth.verify.math import check_answer
from synth.verify.sandbox import Sandbox, SandboxConfig, Verdict

_FENCE = re.compile(r"```[ \t]*(?:python|py|python3)?[ \t]*\n(.*?)```", re.DOTALL | re.IGNORECASE)


def math_reward(prompt: str, completion: str, reference: dict) -> float:
    if "answer" not in reference:
        raise InputError("reference", "math_reward needs reference['answer']")
    return 1.0 if check_answer(completion, str(reference["answer"])) else 0.0


def extract_code(completion: str) -> str:
    """The program in a completion: the last fenced Python block that defines something, else the last block."""
    blocks = _FENCE.findall(completion)
    if not blocks:
        return completion.strip("\n")
    defining = [b for b in blocks if re.search(r"^\s*(def|class|import|from)\s", b, re.MULTILINE)]
    return (defining or blocks)[-1].strip("\n")


def program_and_tests(prompt: str, completion: str, reference: dict) -> tuple[str, list[str] | str]:
    """Assemble what the sandbox runs: the program (prompt-prefixed when needed) and the tests."""
    if "tests" not in reference:
        raise InputError("reference", "code_reward needs reference['tests']")
    code = extract_code(completion)
    entry = reference.get("entry_point")
    defined = entry and re.search(rf"^\s*def\s+{re.escape(entry)}\s*\(", code, re.MULTILINE)
    if entry and not defined and re.search(rf"def\s+{re.escape(entry)}\s*\(", prompt):
        code = prompt.rstrip("\n") + "\n" + code
    tests = reference["tests"]
    if isinstance(tests, str) and entry and "def check(" in tests and not re.search(r"^check\(", tests, re.MULTILINE):
        tests = tests + f"\ncheck({entry})\n"
    return code, tests


def run_code(prompt: str, completion: str, reference: dict, config: SandboxConfig | None = None) -> Verdict:
    """The sandbox verdict for a completion (what code_reward scores), kept for audit by the generators."""
    code, tests = program_and_tests(prompt, completion, reference)
    timeout = reference.get("timeout_s")
    return Sandbox(config).run_python(code, tests, timeout_s=float(timeout) if timeout else None)


def code_reward(prompt: str, completion: str, reference: dict) -> float:
    verdict = run_code(prompt, completion, reference)
    if verdict.status == "setup_error":
        raise RuntimeError(f"sandbox could not start: {verdict.stderr.strip()[:500]}")
    if isinstance(reference["tests"], str):
        return 1.0 if verdict.ok else 0.0
    return verdict.fraction
