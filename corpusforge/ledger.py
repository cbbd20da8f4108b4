"""The ledger: every input record ends kept, dropped with a named reason, or quarantined with its error."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field

from corpusforge.errors import CorpusForgeError

KEPT, DROPPED, QUARANTINED = "kept", "dropped", "quarantined"
#: a kept record's meta key listing (comma-separated) events the ledger counts as notes
NOTES_KEY = "ledger_notes"


def record_notes(meta: dict[str, str]) -> list[str]:
    return [n for n in meta.get(NOTES_KEY, "").split(",") if n]


def add_note(meta: dict[str, str], *notes: str) -> None:
    """Mark an event on a record that stays kept (a rejected refinement, a page whose OCR failed)."""
    if notes:
        meta[NOTES_KEY] = ",".join([*record_notes(meta), *notes])


class LedgerError(CorpusForgeError):
    """A task's counts do not balance: a record was lost or counted twice."""


@dataclass
class Ledger:
    """Counts of one task (or, merged, of a whole stage). ``inputs == kept + dropped + quarantined``."""

    stage: str
    task: str = "all"
    inputs: int = 0
    kept: int = 0
    dropped: Counter = field(default_factory=Counter)
    quarantined: Counter = field(default_factory=Counter)
    #: events on records that stay kept (a refinement rejected, a page whose OCR failed): counted, not filed
    notes: Counter = field(default_factory=Counter)

    def record(self, status: str, reason: str | None = None, n: int = 1) -> None:
        self.inputs += n
        if status == KEPT:
            self.kept += n
        elif status == DROPPED:
            self.dropped[reason or "unspecified"] += n
        elif status == QUARANTINED:
            self.quarantined[reason or "error"] += n
        else:
            raise LedgerError(f"unknown record status {status!r} in stage {self.stage}")

    @property
    def dropped_total(self) -> int:
        return sum(self.dropped.values())

    @property
    def quarantined_total(self) -> int:
        return sum(self.quarantined.values())

    def check(self) -> Ledger:
        total = self.kept + self.dropped_total + self.quarantined_total
        if total != self.inputs:
            raise LedgerError(
                f"ledger of stage {self.stage} task {self.task} does not balance: inputs={self.inputs} "
                f"but kept+dropped+quarantined={total}"
            )
        return self

    def merge(self, other: Ledger) -> Ledger:
        return Ledger(
            stage=self.stage,
            task="all",
            inputs=self.inputs + other.inputs,
            kept=self.kept + other.kept,
            dropped=self.dropped + other.dropped,
            quarantined=self.quarantined + other.quarantined,
            notes=self.notes + other.notes,
        )

    def to_dict(self) -> dict:
        return {
            "stage": self.stage,
            "task": self.task,
            "inputs": self.inputs,
            "kept": self.kept,
            "dropped": dict(sorted(self.dropped.items())),
            "quarantined": dict(sorted(self.quarantined.items())),
            **({"notes": dict(sorted(self.notes.items()))} if self.notes else {}),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict) -> Ledger:
        return cls(
            stage=data["stage"],
            task=data.get("task", "all"),
            inputs=data["inputs"],
            kept=data["kept"],
            dropped=Counter(data.get("dropped", {})),
            quarantined=Counter(data.get("quarantined", {})),
            notes=Counter(data.get("notes", {})),
        )

    @classmethod
    def total(cls, stage: str, ledgers: list[Ledger]) -> Ledger:
        out = cls(stage=stage)
        for led in ledgers:
            out = out.merge(led)
        return out
