"""What an interrupted crawl needs to continue: an append-only journal beside its WARCs.

``<output>/_crawl/journal.jsonl`` holds one JSON object a line, each flushed as it is written (a process killed
at any instant leaves at most a torn last line, which a resume cuts off):

- ``{"kind": "start", "urls": sha256 of the URL list, "n": count, "prefix": warc_prefix}``: first line;
- ``{"kind": "host", "host": h, "at": epoch seconds}``: a request to host ``h`` started or ended then, so the
  per-host delay is kept across a restart;
- ``{"kind": "robots", "origin": o, "text": robots.txt or null, "allow_all": bool, "detail": str}``: the rules
  of an origin, so robots.txt is neither fetched again nor forgotten;
- ``{"kind": "warc", "name": n, "end": offset}``: WARC ``n`` was opened (its warcinfo record ends at ``end``);
- ``{"kind": "done", "i": input index, "url", "status", "reason", "detail", "warc": n, "end": offset,
  "records": records in n}``: the URL is finished and its records are in WARC ``n`` up to ``end``;
- ``{"kind": "sealed", "name": n}``: WARC ``n`` is complete and was renamed into the output directory.

The WARC being written lives at ``_crawl/<name>.open`` and is appended to; a resume cuts it back to the last
journaled ``end``, so a record written but not journaled (the process died between the two) is dropped and its
URL is fetched again: the only refetch a restart can cause, besides requests that were in flight. The directory
is removed when the crawl completes. Resume needs a local output directory (object stores cannot append).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import threading
from pathlib import Path
from typing import Any, BinaryIO

from corpusforge.errors import InputError

STATE_DIR = "_crawl"
JOURNAL = "journal.jsonl"


def url_digest(urls: list[str]) -> str:
    return hashlib.sha256("\n".join(urls).encode("utf-8")).hexdigest()


class CrawlJournal:
    """Loads, checks and appends to one output directory's journal; safe to append from several threads."""

    def __init__(self, output_dir: str):
        self.dir = Path(output_dir.removeprefix("file://")) / STATE_DIR
        self.path = self.dir / JOURNAL
        self.done: dict[int, dict] = {}
        self.hosts: dict[str, float] = {}
        self.robots: dict[str, dict] = {}
        self.sealed: list[str] = []
        self.open_warc: dict | None = None  # {"name", "end", "records"} of the WARC being written
        self._start: dict | None = None
        self._lock = threading.Lock()
        self._file: BinaryIO | None = None
        self._good_bytes = 0

    # ---- reading

    @classmethod
    def exists(cls, output_dir: str) -> bool:
        return (Path(output_dir.removeprefix("file://")) / STATE_DIR / JOURNAL).is_file()

    @classmethod
    def load(cls, output_dir: str) -> CrawlJournal:
        journal = cls(output_dir)
        data = journal.path.read_bytes()
        good = 0
        for line in data.splitlines(keepends=True):
            if not line.endswith(b"\n"):
                break  # torn by a kill mid-write
            try:
                journal._apply(json.loads(line))
            except (ValueError, KeyError, TypeError):
                break
            good += len(line)
        if journal._start is None:
            raise InputError(str(journal.path), "is not a crawl journal; pass --overwrite to start the crawl over")
        journal._good_bytes = good
        return journal

    def _apply(self, entry: dict) -> None:
        kind = entry["kind"]
        if kind == "start":
            self._start = entry
        elif kind == "host":
            self.hosts[entry["host"]] = max(self.hosts.get(entry["host"], 0.0), float(entry["at"]))
        elif kind == "robots":
            self.robots[entry["origin"]] = entry
        elif kind == "warc":
            self.open_warc = {"name": entry["name"], "end": int(entry["end"]), "records": 0}
        elif kind == "done":
            self.done[int(entry["i"])] = entry
            if entry.get("warc") and self.open_warc and entry["warc"] == self.open_warc["name"]:
                self.open_warc.update(end=int(entry["end"]), records=int(entry["records"]))
        elif kind == "sealed":
            self.sealed.append(entry["name"])
            if self.open_warc and self.open_warc["name"] == entry["name"]:
                self.open_warc = None

    def check(self, urls: list[str], prefix: str, existing: list[str]) -> None:
        """Refuse to resume into a different crawl: another URL list, WARC prefix, or WARCs it did not write."""
        start = self._start or {}
        culprit = str(self.path.parent.parent)
        if start.get("urls") != url_digest(urls):
            raise InputError(
                culprit,
                f"holds an interrupted crawl of another URL list ({start.get('n')} URLs, not {len(urls)}); "
                "rerun with that list to resume it, or pass --overwrite to start over",
            )
        if start.get("prefix") != prefix:
            raise InputError(
                culprit,
                f"holds an interrupted crawl with warc_prefix {start.get('prefix')!r}, not {prefix!r}; "
                "resume with the same prefix or pass --overwrite",
            )
        known = set(self.sealed) | ({self.open_warc["name"]} if self.open_warc else set())
        stray = sorted(n for n in (p.rstrip("/").rsplit("/", 1)[-1] for p in existing) if n not in known)
        if stray:
            raise InputError(culprit, f"holds WARCs the interrupted crawl did not write ({', '.join(stray)})")

    # ---- writing

    @classmethod
    def start(cls, output_dir: str, urls: list[str], prefix: str) -> CrawlJournal:
        journal = cls(output_dir)
        journal.dir.mkdir(parents=True, exist_ok=True)
        journal._file = open(journal.path, "wb")  # noqa: SIM115 - held open for the crawl
        journal.append({"kind": "start", "urls": url_digest(urls), "n": len(urls), "prefix": prefix})
        return journal

    def reopen(self) -> None:
        """Continue after `load`: cut a torn last line, and the open WARC back to its last journaled record."""
        with open(self.path, "r+b") as f:
            f.truncate(self._good_bytes)
        if self.open_warc is not None:
            part = self.open_path(self.open_warc["name"])
            if part.exists():
                with open(part, "r+b") as f:
                    f.truncate(self.open_warc["end"])
            elif (self.dir.parent / self.open_warc["name"]).exists():  # renamed, then killed before journaling it
                self.sealed.append(self.open_warc["name"])
                self.open_warc = None
            else:
                raise InputError(str(part), "the WARC the interrupted crawl was writing is gone; pass --overwrite")
        self._file = open(self.path, "ab")  # noqa: SIM115 - held open for the crawl

    def append(self, entry: dict) -> None:
        line = (json.dumps(entry, ensure_ascii=False) + "\n").encode("utf-8")
        with self._lock:
            if self._file is None:
                return
            self._file.write(line)
            self._file.flush()

    def note_host(self, host: str, at: float) -> None:
        self.append({"kind": "host", "host": host, "at": at})

    def note_robots(self, origin: str, text: str | None, allow_all: bool, detail: str) -> None:
        self.append({"kind": "robots", "origin": origin, "text": text, "allow_all": allow_all, "detail": detail})

    def note_done(self, index: int, result: Any, warc: str | None, end: int | None, records: int | None) -> None:
        entry = {"kind": "done", "i": index, "url": result.url, "status": result.status, "reason": result.reason}
        entry.update(detail=result.detail, warc=warc, end=end, records=records)
        self.done[index] = entry
        self.append(entry)

    def open_path(self, name: str) -> Path:
        return self.dir / f"{name}.open"

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None

    def finish(self) -> None:
        """The crawl is complete: the state goes, the output looks like an uninterrupted crawl's."""
        self.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def is_local(path: str) -> bool:
    return "://" not in path or path.startswith("file://")


def remove_state(output_dir: str) -> None:
    if is_local(output_dir):
        shutil.rmtree(os.path.join(output_dir.removeprefix("file://"), STATE_DIR), ignore_errors=True)
