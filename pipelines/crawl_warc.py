"""The crawl's output: WARC files published atomically when complete, and the check that an output holds no
other crawl's WARCs (or an interrupted crawl of the same URL list, which is resumed)."""

from __future__ import annotations

import contextlib
import os
import re
from io import BytesIO
from typing import Any

from corpusforge import __version__
from corpusforge.errors import InputError
from corpusforge.fs import atomic_open, filesystem, join
from pipelines.crawl import (
    CrawlConfig,
    _Capture,
)
from pipelines.crawl_state import CrawlJournal, is_local, remove_state


class _WarcFiles:
    """Writes captures into ``<prefix>-00000.warc.gz``..., each published atomically when complete.

    With a journal (local output), the WARC being written is appended to under the state directory, so a killed
    crawl keeps every record it journaled, and is renamed into place when complete.
    """

    def __init__(self, output_dir: str, cfg: CrawlConfig, journal: CrawlJournal | None = None):
        self.output_dir = output_dir
        self.cfg = cfg
        self.journal = journal
        self.paths: list[str] = []
        self._stack: contextlib.ExitStack | None = None
        self._writer: Any = None
        self._count = 0
        self._name: str | None = None
        self._file: Any = None
        if journal is not None:
            self.paths = [join(output_dir, name) for name in journal.sealed]
            if journal.open_warc is not None:  # continue the WARC the interrupted run was writing
                from warcio.warcwriter import WARCWriter

                self._name = journal.open_warc["name"]
                self._file = open(journal.open_path(self._name), "ab")  # noqa: SIM115 - closed in close()/abort()
                self._writer = WARCWriter(self._file, gzip=True, warc_version="1.1")
                self._count = journal.open_warc["records"]
                self.paths.append(join(output_dir, self._name))

    def write(self, captures: list[_Capture]) -> tuple[str | None, int | None, int | None]:
        """Append the captures; returns (WARC name, its length after them, records in it) for the journal."""
        from warcio.statusandheaders import StatusAndHeaders
        from warcio.timeutils import datetime_to_iso_date

        if not captures:
            return None, None, None
        if self._writer is None or self._count >= self.cfg.records_per_warc:
            self._roll()
        writer = self._writer
        for cap in captures:
            extra = {"WARC-Date": datetime_to_iso_date(cap.date.replace(tzinfo=None), use_micros=True)}
            if cap.ip:
                extra["WARC-IP-Address"] = cap.ip
            response = writer.create_warc_record(
                cap.url,
                "response",
                payload=BytesIO(cap.body),
                length=len(cap.body),
                http_headers=StatusAndHeaders(
                    f"{cap.status} {cap.reason_phrase}".strip(), cap.headers, protocol=cap.protocol
                ),
                warc_headers_dict=dict(extra),
            )
            request = writer.create_warc_record(
                cap.url,
                "request",
                payload=BytesIO(b""),
                length=0,
                http_headers=StatusAndHeaders(cap.request_line, cap.request_headers, is_http_request=True),
                warc_headers_dict=dict(extra),
            )
            writer.write_request_response_pair(request, response)  # sets WARC-Concurrent-To on the request
            self._count += 2
        if self._file is None:
            return None, None, None
        self._file.flush()
        return self._name, self._file.tell(), self._count

    def _roll(self) -> None:
        from warcio.warcwriter import WARCWriter

        self.close()
        name = f"{self.cfg.warc_prefix}-{len(self.paths):05d}.warc.gz"
        path = join(self.output_dir, name)
        if self.journal is not None:
            self._name = name
            self._file = open(self.journal.open_path(name), "wb")  # noqa: SIM115 - closed in close()/abort()
            stream = self._file
        else:
            self._stack = contextlib.ExitStack()
            stream = self._stack.enter_context(atomic_open(path, "wb"))
        self._writer = WARCWriter(stream, gzip=True, warc_version="1.1")
        info = {
            "software": f"corpusforge/{__version__} (warcio)",
            "format": "WARC File Format 1.1",
            "conformsTo": "https://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.1/",
            "http-header-user-agent": self.cfg.user_agent,
            "robots": "classic" if self.cfg.respect_robots else "ignore",
        }
        self._writer.write_record(self._writer.create_warcinfo_record(name, info))
        self.paths.append(path)
        self._count = 0
        if self.journal is not None:
            self._file.flush()
            self.journal.append({"kind": "warc", "name": name, "end": self._file.tell()})

    def close(self) -> None:
        if self._file is not None:  # complete: publish it, then say so
            file, name, self._file, self._writer = self._file, self._name, None, None
            file.close()
            os.replace(self.journal.open_path(name), self.journal.dir.parent / name)
            self.journal.append({"kind": "sealed", "name": name})
        if self._stack is not None:
            stack, self._stack, self._writer = self._stack, None, None
            stack.close()

    def abort(self, exc: BaseException) -> None:
        if self._file is not None:  # keep what the journal describes, for the resume
            file, self._file, self._writer = self._file, None, None
            file.close()
            return
        if self._stack is not None:
            stack, self._stack, self._writer = self._stack, None, None
            stack.__exit__(type(exc), exc, exc.__traceback__)  # removes the temporary file
            self.paths.pop()


def _existing_warcs(output_dir: str, prefix: str) -> list[str]:
    fs, path = filesystem(output_dir)
    if not fs.exists(path):
        return []
    pattern = re.compile(rf"^{re.escape(prefix)}-\d{{5,}}\.warc\.gz$")
    return sorted(p for p in fs.ls(path, detail=False) if pattern.match(p.rstrip("/").rsplit("/", 1)[-1]))


def prepare_output(output_dir: str, cfg: CrawlConfig, overwrite: bool = False, urls: list[str] | None = None) -> bool:
    """Refuse to mix with an earlier crawl's WARCs (a shorter run would leave stale files behind), unless they
    are an interrupted crawl of the same URL list, which is resumed. Returns whether there is one to resume."""
    found = _existing_warcs(output_dir, cfg.warc_prefix)
    if not overwrite and is_local(output_dir) and CrawlJournal.exists(output_dir):
        journal = CrawlJournal.load(output_dir)
        if urls is not None:
            journal.check(urls, cfg.warc_prefix, found)
        return True
    if found and not overwrite:
        raise InputError(
            output_dir,
            f"already holds {len(found)} {cfg.warc_prefix}-*.warc.gz file(s); "
            "pass overwrite (--overwrite) to replace them or pick another warc_prefix",
        )
    fs, _ = filesystem(output_dir)
    for path in found:
        fs.rm(path)
    remove_state(output_dir)
    return False
