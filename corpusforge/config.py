"""Typed configs: validated before any work starts, saved resolved beside every output."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from corpusforge.errors import ConfigError

C = TypeVar("C", bound="Config")


class Config(BaseModel):
    """Base of every config: unknown fields are errors, values are immutable once validated."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    @classmethod
    def parse(cls: type[C], data: dict[str, Any] | None, source: str | None = None) -> C:
        """Validate ``data``; the first invalid field becomes a `ConfigError` naming it."""
        try:
            return cls.model_validate(data or {})
        except ValidationError as exc:
            err = exc.errors()[0]
            field = ".".join(str(p) for p in err["loc"]) or "<root>"
            problem = err["msg"]
            if err["type"] not in ("missing", "extra_forbidden") and "input" in err:
                problem += f" (got {err['input']!r})"
            raise ConfigError(field, problem, source) from None

    @classmethod
    def load(cls: type[C], path: str | Path, overrides: dict[str, Any] | None = None) -> C:
        """Read a YAML file, apply dotted overrides (``{"engine.kind": "spark"}``), validate."""
        from corpusforge.fs import read_text

        try:
            data = yaml.safe_load(read_text(str(path))) or {}
        except yaml.YAMLError as exc:
            raise ConfigError("<file>", f"not valid YAML: {exc}", str(path)) from None
        if not isinstance(data, dict):
            raise ConfigError("<root>", "the file must hold a mapping", str(path))
        for dotted, value in (overrides or {}).items():
            set_dotted(data, dotted, value)
        return cls.parse(data, source=str(path))

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False, allow_unicode=True)


def set_dotted(data: dict[str, Any], dotted: str, value: Any) -> None:
    keys = dotted.split(".")
    node = data
    for key in keys[:-1]:
        node = node.setdefault(key, {})
        if not isinstance(node, dict):
            raise ConfigError(dotted, f"'{key}' is not a mapping")
    node[keys[-1]] = value


def parse_override(text: str) -> tuple[str, Any]:
    """``a.b=3`` → ``("a.b", 3)``; the value is read as YAML so numbers and lists work."""
    if "=" not in text:
        raise ConfigError(text, "an override must look like field.path=value")
    key, raw = text.split("=", 1)
    return key.strip(), yaml.safe_load(raw)
