"""Generators: a seed (a corpus document or a topic) + a versioned prompt template -> a candidate sample.

Each kind is one class with one method, ``parse``: the completion becomes the sample's text and meta, or
`Unparseable` with a reason. Requests and choices are drawn deterministically from the seed id, so reruns and
engines ask the same questions (and hit the request cache). Every sample's meta names its seed document,
the template name and version, and the drawn choices. The prompt asks for the seed's language.

Kinds: textbook (a section for an audience, in a style), qa (a question answered by the passage),
instruction (a task and its response), math (a problem, a worked solution and a \\boxed final answer; the
answer is checked by re-solving), code (a function and assert-based tests; run in the sandbox).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from corpusforge.record import record_id
from synth.rewards import extract_code
from synth.templates import PromptTemplate, load_template
from synth.verify.math import last_boxed

#: ISO 639-1 codes (as lid.176 names them) -> the name the prompt uses
LANGUAGE_NAMES = {
    "en": "English", "de": "German", "fr": "French", "es": "Spanish", "it": "Italian", "pt": "Portuguese",
    "nl": "Dutch", "pl": "Polish", "cs": "Czech", "sv": "Swedish", "da": "Danish", "no": "Norwegian",
    "fi": "Finnish", "ru": "Russian", "uk": "Ukrainian", "tr": "Turkish", "ar": "Arabic", "fa": "Persian",
    "hi": "Hindi", "zh": "Chinese", "ja": "Japanese", "ko": "Korean", "vi": "Vietnamese", "id": "Indonesian",
    "el": "Greek", "hu": "Hungarian", "ro": "Romanian", "he": "Hebrew", "th": "Thai",
}  # fmt: skip


class Unparseable(Exception):
    """The completion does not have the shape the template asked for; ``reason`` names what is missing."""

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(reason)


@dataclass(frozen=True)
class Seed:
    """What a sample is generated from: a corpus document or a topic line."""

    id: str
    text: str
    lang: str | None = None
    origin: str = "corpus"  # corpus | topic


@dataclass
class Candidate:
    id: str
    kind: str
    seed: Seed
    messages: list[dict[str, str]]
    meta: dict[str, str] = field(default_factory=dict)
    text: str = ""


def language_name(lang: str | None) -> str:
    if not lang:
        return "English"
    return LANGUAGE_NAMES.get(lang.split("_")[0], "the same language as the text below")


def _labelled(completion: str, labels: tuple[str, ...]) -> list[str]:
    """The parts after ``Label:`` markers, in order (markers may be bold or upper-case)."""
    pattern = r"\**\s*(" + "|".join(labels) + r")\s*\**\s*:\s*\**"
    pieces = re.split(pattern, completion, flags=re.IGNORECASE)
    found: dict[str, str] = {}
    for i in range(1, len(pieces) - 1, 2):
        key = pieces[i].lower()
        if key not in found:
            found[key] = pieces[i + 1].strip()
    missing = [label for label in labels if not found.get(label.lower())]
    if missing:
        raise Unparseable(f"no_{missing[0].lower().replace(' ', '_')}")
    return [found[label.lower()] for label in labels]


class Generator:
    """Builds the requests of one kind and parses its completions."""

    kind = "textbook"

    def __init__(self, template: PromptTemplate | str | None = None, seed_chars: int = 1500):
        self.template = template if isinstance(template, PromptTemplate) else load_template(template or self.kind)
        self.seed_chars = seed_chars

    def candidate(self, seed: Seed, index: int) -> Candidate:
        chosen = self.template.draw(f"{seed.id}:{index}")
        messages = self.template.messages(seed.text[: self.seed_chars], language_name(seed.lang), chosen)
        location = f"{seed.id}:{self.template.name}:v{self.template.version}:{index}"
        meta = {
            "generator": self.kind,
            "seed_id": seed.id,
            "seed_origin": seed.origin,
            "prompt": self.template.name,
            "prompt_version": str(self.template.version),
            "sample_index": str(index),
            **{f"choice_{k}": v for k, v in chosen.items()},
        }
        if seed.lang:
            meta["seed_lang"] = seed.lang
        return Candidate(record_id(f"synthetic/{self.kind}", location), self.kind, seed, messages, meta)

    def parse(self, completion: str, candidate: Candidate) -> str:
        """The sample's text (and extra meta set on ``candidate``); raises `Unparseable`."""
        text = completion.strip()
        if not text:
            raise Unparseable("empty")
        return text


class TextbookGenerator(Generator):
    kind = "textbook"


class QAGenerator(Generator):
    kind = "qa"

    def parse(self, completion: str, candidate: Candidate) -> str:
        question, answer = _labelled(completion, ("Question", "Answer"))
        return f"Question: {question}\nAnswer: {answer}"


class InstructionGenerator(Generator):
    kind = "instruction"

    def parse(self, completion: str, candidate: Candidate) -> str:
        instruction, response = _labelled(completion, ("Instruction", "Response"))
        candidate.meta["instruction"] = instruction
        return f"Instruction: {instruction}\nResponse: {response}"


class MathGenerator(Generator):
    kind = "math"

    def parse(self, completion: str, candidate: Candidate) -> str:
        problem, solution = _labelled(completion.split("Final answer")[0], ("Problem", "Solution"))
        stated = re.search(r"final answer\s*(?:is)?\s*:?\s*\$?([^\n$]+)", completion, re.IGNORECASE)
        answer = last_boxed(completion) or (stated.group(1).strip().rstrip(".") if stated else None)
        if not answer:
            raise Unparseable("no_final_answer")
        candidate.meta.update(problem=problem, answer=answer)
        return f"Problem: {problem}\nSolution: {solution}\nFinal answer: \\boxed{{{answer}}}"

    def solve_messages(self, problem: str) -> list[dict[str, str]]:
        solve = self.template.solve or "Solve step by step; end with \\boxed{{<answer>}}.\n\nProblem: {problem}"
        return [{"role": "user", "content": solve.format(problem=problem).strip()}]


_ASSERT = re.compile(r"^\s*assert\b.*$", re.MULTILINE)


class CodeGenerator(Generator):
    kind = "code"

    def parse(self, completion: str, candidate: Candidate) -> str:
        blocks = re.findall(r"```[ \t]*(?:python|py)?[ \t]*\n(.*?)```", completion, re.DOTALL | re.IGNORECASE)
        code = extract_code(completion) if blocks else ""
        if not re.search(r"^\s*def\s+\w+\s*\(", code, re.MULTILINE):
            raise Unparseable("no_function")
        tests = [t.strip() for block in blocks for t in _ASSERT.findall(block)]
        code = "\n".join(line for line in code.splitlines() if not _ASSERT.match(line)).rstrip()
        if not tests:
            raise Unparseable("no_tests")
        candidate.meta["tests"] = json.dumps(tests)
        return f"```python\n{code}\n```\n\nTests:\n```python\n" + "\n".join(tests) + "\n```"


GENERATORS: dict[str, type[Generator]] = {
    g.kind: g for g in (TextbookGenerator, QAGenerator, InstructionGenerator, MathGenerator, CodeGenerator)
}


def code_of(text: str) -> tuple[str, list[str]]:
    """The function and the tests of an admitted code sample's text (the inverse of CodeGenerator.parse)."""
    blocks = re.findall(r"```python\n(.*?)```", text, re.DOTALL)
    if len(blocks) < 2:
        raise Unparseable("no_tests")
    return blocks[0], [t for t in blocks[1].splitlines() if t.strip()]
