"""Extension points: a per-document `Stage` is one method; a `Filter` is one method returning keep or a reason.

The same stage object runs under every engine (local processes, Spark's mapInArrow, datatrove steps):
engines only decide where `apply` is called.
"""

from __future__ import annotations

import importlib.util
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from corpusforge.errors import DependencyError, Drop
from corpusforge.ledger import DROPPED, KEPT, QUARANTINED
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


class Stage(ABC):
    """A per-document step. Raise `Drop(reason)` to drop; any other exception quarantines the record."""

    name: str = "stage"
    version: str = "1"
    #: (module, extra) pairs checked at construction so a missing package fails early with a hint
    requires: tuple[tuple[str, str], ...] = ()

    def __init__(self) -> None:
        for module, extra in self.requires:
            if importlib.util.find_spec(module) is None:
                raise DependencyError(type(self).__name__, module, extra)

    def setup(self) -> None:  # noqa: B027 - an optional hook, not an abstract method
        """Load models once per worker process; called before the first `apply`."""

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
