"""Extension points: a per-document `Stage` is one method; a `Filter` is one method returning keep or a reason.

The same stage object runs under every engine (local processes, Spark's mapInArrow, datatrove steps):
engines only decide where `apply` is called.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from corpusforge.errors import Drop
from corpusforge.ledger import DROPPED, KEPT, QUARANTINED
from corpusforge.plugin import Plugin
from corpusforge.record import Record


@dataclass(slots=True)
class Outcome:
    """Where one input record ended: kept, or dropped/quarantined by ``stage`` with ``reason``."""

    record: Record
    status: str = KEPT
    stage: str | None = None
    reason: str | None = None
    detail: str | None = None
    payload: bytes | None = None  # a side output's bytes, e.g. a PDF routed to the OCR stage


class Stage(Plugin, ABC):
    """A per-document step. Raise `Drop(reason)` to drop; any other exception quarantines the record. Name,
    version, ``requires`` and ``setup`` (called before the first `apply`) come from `corpusforge.plugin.Plugin`."""

    name: str = "stage"

    @abstractmethod
    def apply(self, record: Record) -> Record: ...


class Filter(Stage):
    """A stage that only decides: return True to keep, or ``(False, reason)`` to drop."""

    @abstractmethod
    def filter(self, record: Record) -> bool | tuple[bool, str]: ...

    def apply(self, record: Record) -> Record:
        result = self.filter(record)
        if result is True:
            return record
        reason = result[1] if isinstance(result, tuple) else self.name
        raise Drop(reason)


def apply_stages(outcomes: Iterable[Outcome], stages: list[Stage]) -> Iterator[Outcome]:
    """Run kept records through ``stages``; outcomes already decided pass through untouched."""
    for outcome in outcomes:
        if outcome.status == KEPT:
            outcome = run_one(outcome.record, stages)
        yield outcome


def run_one(record: Record, stages: list[Stage]) -> Outcome:
    for stage in stages:
        try:
            record = stage.apply(record)
        except Drop as drop:
            return Outcome(record, DROPPED, stage.name, drop.reason, drop.detail)
        except Exception as exc:  # noqa: BLE001 - a bad record must not stop the job
            return Outcome(record, QUARANTINED, stage.name, type(exc).__name__, str(exc)[:2000])
    return Outcome(record)
