"""Reading web archives (WARC 1.0/1.1, ARC, WET; gzip or plain) into records of decoded HTML or text.

Every archive record becomes an outcome: kept (HTML or WET text, decoded), dropped with a named reason
(request/metadata records, revisits, non-HTML, HTTP errors, oversized or binary bodies), routed (PDF bodies
go to a side output that the OCR stage reads) or quarantined (unparseable records).
"""

from __future__ import annotations

import codecs
import gzip
import io
import os
import re
import zlib
from collections.abc import Generator, Iterator

from pydantic import Field

from corpusforge.config import Config
from corpusforge.errors import InputError
from corpusforge.fs import open_input
from corpusforge.ledger import DROPPED, QUARANTINED
from corpusforge.record import Record, record_id
from pipelines.stage import Outcome

SOURCE = "web"
HTML_TYPES = frozenset({"text/html", "application/xhtml+xml", "application/xml+html", "text/xhtml"})
PDF_TYPES = frozenset({"application/pdf", "application/x-pdf"})
TEXT_FORMAT = "text"  # meta["format"] for records whose text needs no extraction (WET)
PDF_ROUTED = "pdf_routed"

_META_CHARSET = re.compile(rb"""<meta[^>]{0,200}?charset\s*=\s*["']?\s*([A-Za-z0-9._:-]{2,40})""", re.I)
_BINARY_MAGIC = (b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"PK\x03\x04", b"\x1f\x8b", b"RIFF", b"\x00\x00\x01\x00")


class WarcConfig(Config):
    max_body_bytes: int = Field(8 * 1024 * 1024, gt=0, description="Bodies larger than this are dropped.")
    route_pdfs: bool = Field(True, description="Send application/pdf bodies to the pdfs/ side output.")
    max_pdf_bytes: int = Field(64 * 1024 * 1024, gt=0)
    keep_non_200: bool = Field(False, description="Keep responses whose HTTP status is not 2xx.")


class WarcSource:
    """Reads one archive file per task; the one place that knows about WARC record types."""

    name = "read"

    def __init__(self, config: WarcConfig):
        self.config = config

    def read(self, path: str) -> Iterator[Outcome]:
        basename = os.path.basename(path)
        kind, problem = _sniff(path)  # warcio would read any five-word line as an ARC header
        if problem:
            yield _unreadable(basename, 0, InputError(basename, problem))
            return
        arc = kind == "arc"
        with open_input(path, "rb") as stream:
            done = yield from self._read_stream(stream, basename, skip=0, arc=arc)
        if done is not None:  # one gzip stream around many records: an old layout warcio refuses
            with open_input(path, "rb") as raw, gzip.GzipFile(fileobj=raw) as stream:
                yield from self._read_stream(stream, basename, skip=done, arc=arc)

    def _read_stream(self, stream, basename: str, skip: int, arc: bool) -> Generator[Outcome, None, int | None]:
        """Yield outcomes; return how many records were read if the file must be re-read decompressed.

        Each outcome is held until the next record starts (or the file ends), so that the last record of a file
        cut in its gzip trailer, whose content reads whole, is still quarantined as truncated."""
        from warcio.archiveiterator import ArchiveIterator
        from warcio.exceptions import ArchiveLoadFailed

        it = ArchiveIterator(stream, arc2warc=True)
        seen = 0
        pending: tuple[Outcome, int] | None = None
        while True:
            offset = it.offset
            try:
                record = next(it)
            except StopIteration:
                if pending is not None:
                    yield _unless_member_cut(*pending, stream, basename)
                if left := _bytes_left(stream, it.offset):  # warcio ends quietly inside a cut header block
                    cut = EOFError(f"record truncated: the file ends inside its headers ({left} bytes)")
                    yield _unreadable(basename, it.offset, cut)
                return None
            except ArchiveLoadFailed as exc:
                if pending is not None:
                    yield pending[0]
                if "non-chunked" in str(exc) and skip == 0:
                    return seen
                yield _unreadable(basename, offset, exc)
                return None
            except Exception as exc:  # noqa: BLE001 - malformed headers, truncated gzip
                if pending is not None:
                    yield pending[0]
                yield _unreadable(basename, offset, exc)
                return None
            if pending is not None:
                yield pending[0]
                pending = None
            seen += 1
            if seen <= skip:
                continue
            offset = it.offset  # start of this record; asking warcio for it would consume the body
            try:
                outcome = self._outcome(record, basename, offset, arc)
                _check_complete(record, arc)
            except Exception as exc:  # noqa: BLE001 - broken chunking, decoding bugs
                outcome = _unreadable(basename, offset, exc, record.rec_headers.get_header("WARC-Target-URI"))
            pending = (outcome, offset)

    def _outcome(self, rec, basename: str, offset: int, arc: bool) -> Outcome:
        headers = rec.rec_headers
        # warcio invents a random WARC-Record-ID for ARC records; the location is what stays stable
        warc_id = (None if arc else headers.get_header("WARC-Record-ID")) or f"{basename}:{offset}"
        url = headers.get_header("WARC-Target-URI")
        meta = {"warc_file": basename, "warc_offset": str(offset), "warc_record_id": warc_id}
        if date := headers.get_header("WARC-Date"):
            meta["fetch_time"] = date
        record = Record(id=record_id(SOURCE, warc_id), text="", source=SOURCE, url=url, meta=meta)

        kind = rec.rec_type
        if kind == "revisit":
            return _drop(record, "revisit")
        if kind not in ("response", "resource", "conversion"):
            return _drop(record, f"warc_{kind}")

        if rec.http_headers is not None and kind == "response":
            status = rec.http_headers.get_statuscode()
            meta["http_status"] = str(status)
            if not status.startswith("2") and not self.config.keep_non_200:
                return _drop(record, f"http_{status}")
            content_type = rec.http_headers.get_header("Content-Type") or ""
        else:
            content_type = headers.get_header("Content-Type") or ""
        mime, _, params = content_type.partition(";")
        mime = mime.strip().lower()
        meta["content_type"] = mime

        declared = (headers.get_header("Content-Length") or "").strip()
        limit = self.config.max_pdf_bytes if mime in PDF_TYPES else self.config.max_body_bytes
        if declared.isdigit() and int(declared) > limit + 65536:  # headers included in the WARC length
            return _drop(record, "too_large", f"{declared} bytes")
        body = rec.content_stream().read(limit + 1)
        if len(body) > limit:
            return _drop(record, "too_large", f"over {limit} bytes")
        if not body.strip():
            return _drop(record, "empty_body")

        if mime in PDF_TYPES or body[:5] == b"%PDF-":
            if not self.config.route_pdfs:
                return _drop(record, "not_html", "application/pdf")
            return Outcome(record, DROPPED, self.name, PDF_ROUTED, None, payload=body)
        if kind == "conversion" or mime == "text/plain" and basename.endswith((".wet", ".wet.gz")):
            record.text, meta["charset"] = decode_body(body, _charset_param(params))
            meta["format"] = TEXT_FORMAT
            return Outcome(record)
        if mime and mime not in HTML_TYPES and not (mime == "text/plain" and _looks_like_html(body)):
            return _drop(record, "not_html", mime)
        if _looks_binary(body):
            return _drop(record, "binary_content", mime or "unknown type")
        record.text, meta["charset"] = decode_body(body, _charset_param(params))
        meta["format"] = "html"
        return Outcome(record)


#: names that say "archive": such a file is read (and quarantined when broken) whatever its first bytes
ARCHIVE_SUFFIXES = tuple(s + gz for s in (".warc", ".arc", ".wet", ".wat") for gz in ("", ".gz"))


def is_archive(path: str) -> bool:
    """Named as an archive, or starting like one (WARC/ARC, plain or gzip)."""
    return path.lower().endswith(ARCHIVE_SUFFIXES) or _sniff(path)[0] is not None


def _sniff(path: str) -> tuple[str | None, str | None]:
    """("warc" | "arc", None) for an archive, (None, problem) for anything else."""
    with open_input(path, "rb") as f:
        head = f.read(4096)
    if head[:2] == b"\x1f\x8b":
        try:
            head = gzip.GzipFile(fileobj=io.BytesIO(head)).read(64)
        except (OSError, EOFError):
            head = zlib.decompressobj(31).decompress(head)[:64]
    if not head.strip():
        return None, "empty file"
    if head.lstrip().startswith(b"WARC/"):
        return "warc", None
    if head.lstrip().startswith(b"filedesc://"):
        return "arc", None
    return None, f"not a WARC, ARC or WET file (starts {head[:24]!r})"


def _check_complete(rec, arc: bool = False) -> None:
    """A file cut mid-record gives a short body without an error; the unread length gives it away, and a
    header block cut before its Content-Length (which WARC requires of every record) reads as headers alone."""
    if not arc and not (rec.rec_headers.get_header("Content-Length") or "").strip().isdigit():
        raise EOFError("record truncated or malformed: its headers end without a Content-Length")
    stream = rec.raw_stream
    while stream.read(1 << 16):
        pass
    missing = getattr(stream, "limit", 0)
    if missing:
        raise EOFError(f"record truncated: the file ends {missing} bytes before the record does")


def _unless_member_cut(outcome: Outcome, offset: int, stream, basename: str) -> Outcome:
    """The last record's outcome, or its quarantine when its gzip member ends before the end-of-stream marker."""
    try:
        stream.seek(offset)
        if stream.read(2) != b"\x1f\x8b":
            return outcome
        stream.seek(offset)
        member = zlib.decompressobj(31)
        while not member.eof and (chunk := stream.read(1 << 20)):
            member.decompress(chunk, 1 << 20)
            while member.unconsumed_tail and not member.eof:
                member.decompress(member.unconsumed_tail, 1 << 20)
    except (OSError, ValueError, EOFError, zlib.error):
        return outcome
    if member.eof:
        return outcome
    cut = EOFError("record truncated: the file ends inside its gzip member")
    return _unreadable(basename, offset, cut, outcome.record.url)


def _bytes_left(stream, offset: int) -> int:
    """Bytes of content after where the archive reader stopped: 0 at a clean end of file."""
    try:
        stream.seek(offset)
        rest = stream.read(1 << 20)
    except (OSError, ValueError, EOFError):
        return 0
    if rest[:2] == b"\x1f\x8b":  # a gzip member: cut short, or holding content, it is a lost record
        member = zlib.decompressobj(31)
        try:
            content = member.decompress(rest)
        except zlib.error:
            return len(rest)
        return len(rest) if content.strip() or not member.eof else 0
    return len(rest) if rest.strip() else 0


def decode_body(body: bytes, declared: str | None) -> tuple[str, str]:
    """Decode by evidence: valid UTF-8 wins, then a declared charset that decodes cleanly, then detection.

    Declared charsets are often wrong (UTF-8 pages labelled ISO-8859-1), and ISO-8859-1 decodes any bytes,
    so strict UTF-8 goes first: random non-UTF-8 bytes almost never form valid UTF-8.
    """
    try:
        return body.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    head = _META_CHARSET.search(body[:4096])
    candidates = [declared, head.group(1).decode("ascii", "ignore") if head else None]
    for name in candidates:
        codec = _codec(name)
        if codec and codec != "utf-8":
            try:
                return body.decode(codec), codec
            except (UnicodeDecodeError, LookupError):
                continue
    import cchardet

    guess = _codec((cchardet.detect(body[:65536]) or {}).get("encoding"))
    if guess:
        return body.decode(guess, errors="replace"), guess
    return body.decode("utf-8", errors="replace"), "utf-8-replaced"


def _codec(name: str | None) -> str | None:
    if not name:
        return None
    try:
        return codecs.lookup(name.strip().strip("\"'")).name
    except LookupError:
        return None


def _charset_param(params: str) -> str | None:
    for part in params.split(";"):
        key, _, value = part.partition("=")
        if key.strip().lower() == "charset":
            return value.strip()
    return None


def _looks_binary(body: bytes) -> bool:
    head = body[:2048]
    return head.startswith(_BINARY_MAGIC) or head.count(b"\x00") > 0


def _looks_like_html(body: bytes) -> bool:
    head = body[:1024].lstrip().lower()
    return head.startswith((b"<!doctype html", b"<html"))


def _drop(record: Record, reason: str, detail: str | None = None) -> Outcome:
    return Outcome(record, DROPPED, WarcSource.name, reason, detail)


def _unreadable(basename: str, offset: int, exc: Exception, url: str | None = None) -> Outcome:
    location = f"{basename}:{offset}:unreadable"
    record = Record(
        id=record_id(SOURCE, location),
        text="",
        source=SOURCE,
        url=url,
        meta={"warc_file": basename, "warc_offset": str(offset)},
    )
    err = InputError(f"{basename} at byte {offset}", f"{type(exc).__name__}: {exc}")
    return Outcome(record, QUARANTINED, WarcSource.name, type(exc).__name__, str(err)[:2000])
