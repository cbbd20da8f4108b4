"""The annotator contract: declare the columns you add, implement one batch method over texts."""

from __future__ import annotations

import importlib.util
from abc import ABC, abstractmethod
from typing import Any

from corpusforge.errors import DependencyError


class Annotator(ABC):
    name: str = "annotator"
    version: str = "1"
    #: record columns this annotator fills, in the order `annotate` returns them
    columns: tuple[str, ...] = ()
    #: (module, extra) pairs checked at construction, so a missing package fails with an install hint
    requires: tuple[tuple[str, str], ...] = ()

    def __init__(self) -> None:
        for module, extra in self.requires:
            if importlib.util.find_spec(module) is None:
                raise DependencyError(type(self).__name__, module, extra)

    @abstractmethod
    def annotate(self, texts: list[str]) -> dict[str, list[Any]]:
        """Return one list per declared column, each as long as ``texts``."""
