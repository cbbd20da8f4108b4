"""The ledger: counts that must balance (inputs == kept + dropped + quarantined), merged across tasks."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from corpusforge.errors import CorpusForgeError
from corpusforge.ledger import DROPPED, KEPT, QUARANTINED, Ledger, LedgerError


def filled(task: str = "00000") -> Ledger:
    led = Ledger(stage="web", task=task)
    led.record(KEPT)
    led.record(KEPT, n=2)
    led.record(DROPPED, "too_large")
    led.record(DROPPED, "not_html", n=3)
    led.record(DROPPED, "too_large")
    led.record(QUARANTINED, "ArchiveLoadFailed")
    return led


def test_record_counts_inputs_and_outcomes_by_reason():
    led = filled()
    assert led.inputs == 9
    assert led.kept == 3
    assert led.dropped == Counter({"not_html": 3, "too_large": 2})
    assert led.quarantined == Counter({"ArchiveLoadFailed": 1})
    assert (led.dropped_total, led.quarantined_total) == (5, 1)
    assert led.check() is led


def test_missing_reasons_get_a_name():
    led = Ledger(stage="s")
    led.record(DROPPED)
    led.record(QUARANTINED, None)
    assert led.dropped == Counter({"unspecified": 1})
    assert led.quarantined == Counter({"error": 1})
    led.check()


def test_unknown_status_is_refused_without_counting():
    led = Ledger(stage="extract")
    with pytest.raises(LedgerError, match="unknown record status 'lost' in stage extract"):
        led.record("lost", "why")
    assert led.kept == led.dropped_total == led.quarantined_total == 0
    # the input was counted before the status was refused, so the ledger no longer balances
    assert led.inputs == 1
    with pytest.raises(LedgerError):
        led.check()


def test_empty_ledger_balances():
    assert Ledger(stage="web").check().to_dict() == {
        "stage": "web",
        "task": "all",
        "inputs": 0,
        "kept": 0,
        "dropped": {},
        "quarantined": {},
    }


@pytest.mark.parametrize(
    ("change", "inputs", "total"),
    [
        (lambda led: setattr(led, "inputs", led.inputs + 1), 10, 9),  # a record read but never filed
        (lambda led: setattr(led, "kept", led.kept + 1), 9, 10),  # a record filed twice
        (lambda led: led.dropped.update({"too_large": 1}), 9, 10),
        (lambda led: led.quarantined.update({"ValueError": 2}), 9, 11),
    ],
)
def test_check_raises_when_unbalanced(change, inputs, total):
    led = filled(task="00007")
    change(led)
    with pytest.raises(LedgerError) as err:
        led.check()
    message = str(err.value)
    assert "stage web task 00007" in message
    assert f"inputs={inputs}" in message and f"kept+dropped+quarantined={total}" in message
    assert isinstance(err.value, CorpusForgeError)


def test_merge_adds_counts_and_leaves_both_sides_alone():
    a = filled("00000")
    b = Ledger(stage="web", task="00001")
    b.record(KEPT, n=4)
    b.record(DROPPED, "not_html")
    b.record(DROPPED, "revisit", n=2)
    b.record(QUARANTINED, "UnicodeDecodeError")
    a_before, b_before = a.to_dict(), b.to_dict()

    merged = a.merge(b)
    assert merged.stage == "web" and merged.task == "all"
    assert merged.inputs == a.inputs + b.inputs == 17
    assert merged.kept == 7
    assert merged.dropped == Counter({"not_html": 4, "too_large": 2, "revisit": 2})
    assert merged.quarantined == Counter({"ArchiveLoadFailed": 1, "UnicodeDecodeError": 1})
    merged.check()
    assert (a.to_dict(), b.to_dict()) == (a_before, b_before)
    assert merged.dropped is not a.dropped and merged.quarantined is not b.quarantined
    assert b.merge(a).to_dict() == merged.to_dict()


def test_total_sums_every_task():
    tasks = [filled(f"{i:05d}") for i in range(3)]
    total = Ledger.total("web", tasks)
    assert (total.stage, total.task) == ("web", "all")
    assert total.inputs == 27 and total.kept == 9
    assert total.dropped == Counter({"not_html": 9, "too_large": 6})
    assert total.check() is total
    assert Ledger.total("web", []).to_dict() == Ledger(stage="web").to_dict()


def test_to_dict_from_dict_round_trip():
    led = filled("00003")
    data = led.to_dict()
    assert data == {
        "stage": "web",
        "task": "00003",
        "inputs": 9,
        "kept": 3,
        "dropped": {"not_html": 3, "too_large": 2},
        "quarantined": {"ArchiveLoadFailed": 1},
    }
    assert list(data["dropped"]) == sorted(data["dropped"])  # stable order, so ledger files are reproducible
    back = Ledger.from_dict(data)
    assert back == led
    assert isinstance(back.dropped, Counter) and isinstance(back.quarantined, Counter)
    assert Ledger.from_dict(json.loads(json.dumps(data))) == led
    assert json.loads(led.to_json()) == data


def test_from_dict_fills_optional_fields():
    led = Ledger.from_dict({"stage": "label", "inputs": 2, "kept": 2})
    assert (led.task, led.dropped, led.quarantined) == ("all", Counter(), Counter())
    led.check()


def test_from_dict_of_an_unbalanced_ledger_is_caught_by_check():
    data = {**filled().to_dict(), "kept": 0}
    with pytest.raises(LedgerError):
        Ledger.from_dict(data).check()
