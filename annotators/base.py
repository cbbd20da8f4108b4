"""The annotator contract: declare the columns you add, implement one batch method over texts.

An annotator returns one list per declared column, as long as its input. It may also return, under the
reserved key `META`, one dict per text of string entries for the record's ``meta`` (counts, what a transform
did), so that side facts travel without a column of their own; under `NOTES`, ledger notes per text; under
`TEXT`, the text rewritten (redaction). `write_values` files all of it onto a record, the same for every
annotator, so a stage that runs annotators knows none of them. Models load lazily or in `setup()`, once per
worker process, and are left out of the pickled state, so an annotator ships cheaply to Spark executors and
worker processes.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from corpusforge.ledger import add_note
from corpusforge.plugin import Plugin
from corpusforge.record import Record

#: reserved key of `Annotator.annotate`'s result: one ``dict[str, str]`` per text, merged into the record's meta
META = "meta"
#: reserved key: one list of ledger note names per text (events on a record that stays kept)
NOTES = "notes"
#: reserved key: the text rewritten (e.g. redacted) per text; later annotators and the output see it
TEXT = "text"


class Annotator(Plugin, ABC):
    """Name, version, ``requires`` and ``setup`` come from `corpusforge.plugin.Plugin` (shared with `Stage`)."""

    name: str = "annotator"
    #: record columns this annotator fills, in the order `annotate` returns them
    columns: tuple[str, ...] = ()

    @abstractmethod
    def annotate(self, texts: list[str]) -> dict[str, list[Any]]:
        """Return one list per declared column (and optionally `META`), each as long as ``texts``."""


def write_values(record: Record, annotator: Annotator, values: dict[str, list[Any]], i: int = 0) -> None:
    """Text ``i`` of an `annotate` result onto ``record``: its columns (a map column is merged into the map the
    record has), meta entries, ledger notes, and the rewritten text."""
    for column in annotator.columns:
        value = values[column][i]
        current = getattr(record, column)
        setattr(record, column, {**current, **value} if isinstance(current, dict) and isinstance(value, dict) else value)
    if META in values:
        record.meta.update(values[META][i])
    if NOTES in values and values[NOTES][i]:
        add_note(record.meta, *values[NOTES][i])
    if TEXT in values and values[TEXT][i] is not None:
        record.text = values[TEXT][i]
