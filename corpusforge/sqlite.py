"""The small sqlite caches (probe features, teacher answers, synth requests): one file, one table, one lock."""

from __future__ import annotations

import sqlite3
from pathlib import Path


def open_cache(path: str | Path, table: str, timeout: float = 5.0, wal: bool = False) -> sqlite3.Connection:
    """A connection the caller's threads share under the caller's lock (hence ``check_same_thread=False``), with
    its folder and ``table`` (a ``CREATE TABLE IF NOT EXISTS`` statement) made; ``wal`` lets other processes read
    while one writes."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(str(path), timeout=timeout, check_same_thread=False)
    if wal:
        db.execute("PRAGMA journal_mode=WAL")
    db.execute(table)
    return db
