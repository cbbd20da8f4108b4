"""The annotator contract: declare the columns you add, implement one batch method over texts.

An annotator returns one list per declared column, as long as its input. It may also return, under the
reserved key `META`, one dict per text of string entries for the record's ``meta`` (counts, what a transform
did), so that side facts travel without a column of their own. Models load lazily or in `setup()`, once per
worker process, and are left out of the pickled state, so an annotator ships cheaply to Spark executors and
worker processes.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from corpusforge.plugin import Plugin

#: reserved key of `Annotator.annotate`'s result: one ``dict[str, str]`` per text, merged into the record's meta
META = "meta"


class Annotator(Plugin, ABC):
    """Name, version, ``requires`` and ``setup`` come from `corpusforge.plugin.Plugin` (shared with `Stage`)."""

    name: str = "annotator"
    #: record columns this annotator fills, in the order `annotate` returns them
    columns: tuple[str, ...] = ()

    @abstractmethod
    def annotate(self, texts: list[str]) -> dict[str, list[Any]]:
        """Return one list per declared column (and optionally `META`), each as long as ``texts``."""
