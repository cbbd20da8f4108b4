"""Prompt templates as versioned data files: a generator's wording lives in YAML, not in code.

A template has ``name``, ``version`` (stored in every sample's meta), ``system``, ``user`` (a str.format
string over ``seed``, ``language`` and its ``choices``), ``choices`` (lists; one value is drawn per sample,
deterministically from the seed id) and ``max_new_tokens``; extra string fields (e.g. math's ``solve``) are
further prompts.
"""

from __future__ import annotations

import random
import string
from pathlib import Path

import yaml
from pydantic import Field

from corpusforge.config import Config
from corpusforge.errors import ConfigError

PROMPTS_DIR = Path(__file__).with_name("prompts")


class PromptTemplate(Config):
    name: str
    version: int = Field(ge=1)
    system: str = ""
    user: str
    choices: dict[str, list[str]] = Field(default_factory=dict)
    max_new_tokens: int = Field(256, ge=1)
    solve: str | None = None

    def fields(self, text: str) -> set[str]:
        return {f for _, f, _, _ in string.Formatter().parse(text) if f}

    def check(self, source: str) -> PromptTemplate:
        allowed = {"seed", "language", *self.choices}
        unknown = self.fields(self.user) - allowed
        if unknown:
            raise ConfigError("user", f"unknown placeholder {{{sorted(unknown)[0]}}}", source)
        if any(not values for values in self.choices.values()):
            raise ConfigError("choices", "every choice needs at least one value", source)
        return self

    def draw(self, key: str) -> dict[str, str]:
        """One value per choice, drawn from a generator seeded by ``key`` (stable across runs and engines)."""
        rng = random.Random(f"{self.name}:{self.version}:{key}")
        return {name: rng.choice(values) for name, values in sorted(self.choices.items())}

    def messages(self, seed: str, language: str, chosen: dict[str, str]) -> list[dict[str, str]]:
        user = self.user.format(seed=seed, language=language, **chosen).strip()
        return ([{"role": "system", "content": self.system.strip()}] if self.system else []) + [
            {"role": "user", "content": user}
        ]


def load_template(name_or_path: str) -> PromptTemplate:
    """A bundled template by name (``textbook``) or any YAML file by path."""
    path = Path(name_or_path)
    if not path.suffix:
        path = PROMPTS_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        raise ConfigError("template", f"no prompt template {name_or_path} (bundled: {', '.join(bundled())})")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError("<file>", f"not valid YAML: {exc}", str(path)) from None
    return PromptTemplate.parse(data, source=str(path)).check(str(path))


def bundled() -> list[str]:
    return sorted(p.stem for p in PROMPTS_DIR.glob("*.yaml"))
