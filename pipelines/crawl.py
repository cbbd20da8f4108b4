"""`corpusforge crawl`: fetch a URL list into WARC files, politely.

Politeness is per host: robots.txt is fetched once per origin and checked on every redirect hop, requests to
one host are spaced by ``per_host_delay_s`` (or the robots.txt Crawl-delay, capped) and capped in number.
Every input URL ends in the ledger: kept (a 2xx page) or dropped with a named reason.

An interrupted crawl (killed, Ctrl-C) continues when run again with the same URL list and output: finished URLs
are not fetched again, robots.txt rules and each host's last request time are restored from the journal
(`pipelines/crawl_state.py`), so politeness holds across the restart.

(Over 400 lines: the fetcher, its WARC output and the CLI share private result types; the resume journal is
apart in `pipelines/crawl_state.py`.)

Bodies are stored decoded (gzip/deflate/br undone), the way Common Crawl does it: the original
``Content-Encoding``, ``Transfer-Encoding`` and ``Content-Length`` headers are kept as ``X-Crawler-*`` and a
``Content-Length`` matching the stored body is added, so readers never have to undo a transfer encoding.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import re
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from io import BytesIO
from pathlib import Path
from typing import Any

import typer
from pydantic import Field

from corpusforge import __version__
from corpusforge.config import Config, parse_override, set_dotted
from corpusforge.errors import DependencyError, InputError
from corpusforge.fs import atomic_open, filesystem, join, read_text, write_text
from corpusforge.ledger import DROPPED, KEPT, QUARANTINED, Ledger
from pipelines.crawl_state import CrawlJournal, is_local, remove_state

STAGE = "crawl"
REDIRECT_CODES = frozenset({301, 302, 303, 307, 308})
ROBOTS_MAX_BYTES = 500 * 1024  # RFC 9309: parse at least 500 KiB, ignore the rest
ROBOTS_MAX_REDIRECTS = 5  # RFC 9309: follow at least five
_HOST_CHARS = re.compile(r"^[A-Za-z0-9._~-]+$")


class CrawlConfig(Config):
    user_agent: str = Field(
        f"CorpusForgeBot/{__version__}",
        min_length=1,
        pattern=r"^[^\r\n]+$",
        description="Sent with every request; its product token (before '/') is matched in robots.txt.",
    )
    timeout_s: float = Field(30.0, gt=0, description="Deadline for one request: headers and whole body.")
    connect_timeout_s: float = Field(10.0, gt=0, description="Deadline for opening a connection.")
    max_redirects: int = Field(5, ge=0, description="Redirect hops followed before dropping too_many_redirects.")
    max_body_bytes: int = Field(10 * 1024 * 1024, gt=0, description="Bodies larger than this are dropped.")
    per_host_delay_s: float = Field(1.0, ge=0, description="Minimum seconds between requests to one host.")
    per_host_concurrency: int = Field(1, gt=0, description="Requests in flight to one host at most.")
    concurrency: int = Field(16, gt=0, description="Requests in flight in total at most.")
    retries: int = Field(2, ge=0, description="Extra attempts on timeouts, connection errors, 429 and 5xx.")
    backoff_base_s: float = Field(1.0, ge=0, description="Retry n waits about base * 2**n seconds (jittered).")
    max_backoff_s: float = Field(60.0, ge=0, description="Cap on one retry wait, Retry-After included.")
    respect_robots: bool = Field(True, description="Fetch robots.txt per origin and obey it.")
    max_crawl_delay_s: float = Field(
        30.0, ge=0, description="Honour a robots.txt Crawl-delay up to this many seconds (0: ignore it)."
    )
    record_http_errors: bool = Field(True, description="Also write final 4xx/5xx responses to the WARCs.")
    records_per_warc: int = Field(
        10_000, gt=0, description="Start a new WARC file once this many records are in one (pairs not split)."
    )
    warc_prefix: str = Field("crawl", pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$", description="WARC file name prefix.")


# ---------------------------------------------------------------------------------------------- results


@dataclass
class _Capture:
    """One request/response exchange, as it will be written to the WARC."""

    url: str
    date: datetime
    ip: str | None
    request_line: str
    request_headers: list[tuple[str, str]]
    protocol: str
    status: int
    reason_phrase: str
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        name = name.lower()
        return next((v for k, v in self.headers if k.lower() == name), None)


@dataclass
class _Result:
    url: str
    status: str
    reason: str | None = None
    detail: str | None = None
    captures: list[_Capture] = field(default_factory=list)


class _Fail(Exception):
    """Ends one URL as dropped; ``retry`` says whether another attempt may help."""

    def __init__(self, reason: str, detail: str, retry: bool = False):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.retry = retry


def _parse_url(text: str) -> Any:
    """Return the fetchable ``httpx.URL`` (no fragment) or raise ``_Fail('invalid_url')``."""
    import httpx

    try:
        url = httpx.URL(text.strip())
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise _Fail("invalid_url", str(exc)) from None
    if url.scheme not in ("http", "https"):
        raise _Fail("invalid_url", f"scheme {url.scheme or '(none)'!r} is not http or https")
    if not url.host:
        raise _Fail("invalid_url", "no host")
    if ":" not in url.host and not _HOST_CHARS.match(url.host):  # IPv6 hosts contain ':'
        raise _Fail("invalid_url", f"host {url.host!r} is not a valid host name")
    return url.copy_with(fragment=None)  # also drops a default port, so the URL is its own dedup key


# ---------------------------------------------------------------------------------------------- politeness


class _Host:
    """Rate limit and concurrency cap of one host name; ``last_at`` (epoch seconds) carries a restart over."""

    def __init__(
        self,
        delay: float,
        concurrency: int,
        last_at: float | None = None,
        note: Callable[[float], None] | None = None,
    ):
        self.delay = delay
        self.slots = asyncio.Semaphore(concurrency)
        self.lock = asyncio.Lock()
        self.next_at = 0.0
        self.last_at = last_at
        self.note = note

    async def wait_turn(self) -> None:
        async with self.lock:
            if self.last_at is not None:  # the previous run's last request, with the delay known now
                self.next_at = max(self.next_at, time.monotonic() + self.last_at + self.delay - time.time())
                self.last_at = None
            wait = self.next_at - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            self.next_at = time.monotonic() + self.delay
            if self.note is not None:
                self.note(time.time())

    def finished(self) -> None:
        # Measured from the end too, so a slow response does not let the next request follow at once.
        self.next_at = max(self.next_at, time.monotonic() + self.delay)
        if self.note is not None:
            self.note(time.time())


@dataclass
class _Robots:
    parser: Any | None  # protego.Protego, or None for a blanket rule
    allow_all: bool
    detail: str = ""
    text: str | None = None  # the robots.txt the parser read, kept for a resume


def _product_token(user_agent: str) -> str:
    match = re.match(r"\s*([^/\s]+)", user_agent)
    return match.group(1) if match else user_agent


def _backoff(cfg: CrawlConfig, attempt: int, retry_after: float | None, rng: random.Random) -> float:
    """Equal jitter: at least half the exponential step, so retries really back off."""
    step = min(cfg.max_backoff_s, cfg.backoff_base_s * 2**attempt)
    delay = step / 2 + rng.uniform(0, step / 2)
    if retry_after is not None:
        delay = max(delay, min(retry_after, cfg.max_backoff_s))
    return delay


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _stored_headers(raw: list[tuple[bytes, bytes]], body_len: int) -> list[tuple[str, str]]:
    """Headers describing the decoded body we store (see the module docstring)."""
    from httpx._decoders import SUPPORTED_DECODERS

    headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in raw]
    encodings = [
        e.strip().lower() for k, v in headers if k.lower() == "content-encoding" for e in v.split(",") if e.strip()
    ]
    decoded = all(e in SUPPORTED_DECODERS for e in encodings)
    renamed = {"transfer-encoding", "content-length"} | ({"content-encoding"} if decoded else set())
    out = [(f"X-Crawler-{k}" if k.lower() in renamed else k, v) for k, v in headers]
    out.append(("Content-Length", str(body_len)))
    return out


class _Crawler:
    def __init__(self, cfg: CrawlConfig, journal: CrawlJournal | None = None):
        import httpx

        self.cfg = cfg
        self.journal = journal
        self.rng = random.Random()
        self.token = _product_token(cfg.user_agent)
        self.hosts: dict[str, _Host] = {}
        self.robots: dict[str, _Robots] = {}
        self.robots_locks: dict[str, asyncio.Lock] = {}
        self.slots = asyncio.Semaphore(cfg.concurrency)
        self.client = httpx.AsyncClient(
            headers={"User-Agent": cfg.user_agent},
            timeout=httpx.Timeout(cfg.timeout_s, connect=cfg.connect_timeout_s, pool=None),
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=cfg.concurrency),
            follow_redirects=False,
        )

    async def aclose(self) -> None:
        await self.client.aclose()

    def _host(self, url: Any) -> _Host:
        host = self.hosts.get(url.host)
        if host is None:
            name, journal = url.host, self.journal
            host = self.hosts[name] = _Host(
                self.cfg.per_host_delay_s,
                self.cfg.per_host_concurrency,
                last_at=journal.hosts.get(name) if journal else None,
                note=(lambda at: journal.note_host(name, at)) if journal else None,
            )
        return host

    # ---- one URL, redirects followed by hand

    async def process(self, url: Any) -> _Result:
        cfg = self.cfg
        result = _Result(url=str(url), status=DROPPED)
        current, chain = url, [str(url)]
        while True:
            if cfg.respect_robots:
                allowed, why = await self._allowed(current)
                if not allowed:
                    where = "" if current is url else f"redirect target {current} "
                    return self._drop(result, "robots_disallowed", f"{where}{why}".strip())
            try:
                capture = await self._fetch_with_retries(current, cfg.max_body_bytes)
            except _Fail as exc:
                return self._drop(result, exc.reason, exc.detail)
            result.captures.append(capture)
            status = capture.status
            if status in REDIRECT_CODES:
                location = capture.header("location")
                try:
                    if not location:
                        raise _Fail("invalid_redirect", f"HTTP {status} without a Location header")
                    target = _parse_url(str(current.join(location.strip())))
                except _Fail as exc:
                    return self._drop(result, "invalid_redirect", f"{location!r} from {current}: {exc.detail}")
                except Exception as exc:  # noqa: BLE001 - httpx rejects some Location values outright
                    return self._drop(result, "invalid_redirect", f"{location!r} from {current}: {exc}")
                if str(target) in chain:
                    return self._drop(result, "redirect_loop", " -> ".join([*chain, str(target)]))
                if len(chain) > cfg.max_redirects:
                    return self._drop(
                        result, "too_many_redirects", f"more than {cfg.max_redirects}: {' -> '.join(chain)}"
                    )
                chain.append(str(target))
                current = target
                continue
            if 200 <= status < 300:
                result.status = KEPT
                return result
            if not cfg.record_http_errors:
                result.captures.pop()
            return self._drop(result, f"http_{status}", f"{current} answered {status} {capture.reason_phrase}")

    @staticmethod
    def _drop(result: _Result, reason: str, detail: str) -> _Result:
        result.status, result.reason, result.detail = DROPPED, reason, detail
        return result

    # ---- fetching

    async def _fetch_with_retries(self, url: Any, limit: int, truncate: bool = False) -> _Capture:
        attempt = 0
        while True:
            retry_after = None
            try:
                capture = await self._fetch_once(url, limit, truncate)
            except _Fail as exc:
                if not exc.retry or attempt >= self.cfg.retries:
                    raise
            else:
                if capture.status != 429 and capture.status < 500 or attempt >= self.cfg.retries:
                    return capture
                retry_after = _retry_after(capture.header("retry-after"))
            await asyncio.sleep(_backoff(self.cfg, attempt, retry_after, self.rng))
            attempt += 1

    async def _fetch_once(self, url: Any, limit: int, truncate: bool) -> _Capture:
        import httpx

        host = self._host(url)
        async with host.slots:
            await host.wait_turn()
            try:
                async with self.slots, asyncio.timeout(self.cfg.timeout_s):
                    return await self._exchange(url, limit, truncate)
            except (TimeoutError, httpx.TimeoutException) as exc:
                raise _Fail("timeout", f"{url}: no complete answer within {self.cfg.timeout_s}s", True) from exc
            except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
                raise _Fail("invalid_url", f"{url}: {exc}") from exc
            except httpx.TransportError as exc:
                raise _Fail("connection_error", f"{url}: {type(exc).__name__}: {exc}", True) from exc
            except httpx.DecodingError as exc:
                raise _Fail("decoding_error", f"{url}: {exc}") from exc
            finally:
                host.finished()

    async def _exchange(self, url: Any, limit: int, truncate: bool) -> _Capture:
        date = datetime.now(UTC)
        async with self.client.stream("GET", url) as resp:
            ip = None  # ask now: once the body is read the connection may be gone
            stream = resp.extensions.get("network_stream")
            if stream is not None:
                addr = stream.get_extra_info("server_addr")
                ip = addr[0] if isinstance(addr, tuple) and addr else None
            declared = resp.headers.get("content-length", "")
            if not truncate and declared.isdigit() and int(declared) > limit:
                raise _Fail("too_large", f"{url}: Content-Length {declared} over max_body_bytes={limit}")
            body = bytearray()
            async for chunk in resp.aiter_bytes():
                body += chunk
                if len(body) > limit:
                    if truncate:
                        del body[limit:]
                        break
                    raise _Fail("too_large", f"{url}: body over max_body_bytes={limit}")
            request = resp.request
            protocol = resp.http_version or "HTTP/1.1"
            return _Capture(
                url=str(url),
                date=date,
                ip=ip,
                request_line=f"GET {request.url.raw_path.decode('ascii')} {protocol}",
                request_headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw],
                protocol=protocol,
                status=resp.status_code,
                reason_phrase=resp.reason_phrase,
                headers=_stored_headers(resp.headers.raw, len(body)),
                body=bytes(body),
            )

    # ---- robots.txt

    async def _allowed(self, url: Any) -> tuple[bool, str]:
        origin = f"{url.scheme}://{url.netloc.decode('ascii')}"
        lock = self.robots_locks.setdefault(origin, asyncio.Lock())
        async with lock:  # one fetch per origin; the others wait for it
            if origin not in self.robots:
                saved = self.journal.robots.get(origin) if self.journal else None
                if saved is not None:
                    self.robots[origin] = self._parse_robots(url, saved["text"]) if saved["text"] is not None else (
                        _Robots(None, saved["allow_all"], saved["detail"])
                    )
                else:
                    robots = self.robots[origin] = await self._fetch_robots(url, origin)
                    if self.journal:
                        self.journal.note_robots(origin, robots.text, robots.allow_all, robots.detail)
        robots = self.robots[origin]
        if robots.parser is None:
            return robots.allow_all, robots.detail
        if robots.parser.can_fetch(str(url), self.token):
            return True, ""
        return False, f"{url} disallowed by {origin}/robots.txt"

    async def _fetch_robots(self, url: Any, origin: str) -> _Robots:
        target, seen = _parse_url(origin + "/robots.txt"), set()
        for _ in range(ROBOTS_MAX_REDIRECTS + 1):
            seen.add(str(target))
            try:
                capture = await self._fetch_with_retries(target, ROBOTS_MAX_BYTES, truncate=True)
            except _Fail as exc:  # unreachable: assume everything is disallowed
                return _Robots(None, False, f"{origin}/robots.txt unreachable: {exc.reason} ({exc.detail})")
            status = capture.status
            if status in REDIRECT_CODES and capture.header("location"):
                try:
                    target = _parse_url(str(target.join(capture.header("location").strip())))
                except Exception:  # noqa: BLE001 - a broken redirect means "unavailable"
                    break
                if str(target) in seen:
                    break
                continue
            if 200 <= status < 300:
                text = capture.body.decode("utf-8", errors="replace").lstrip("\ufeff")
                return self._parse_robots(url, text, fetched_now=True)
            if status == 429 or status >= 500:
                return _Robots(None, False, f"{origin}/robots.txt unreachable: HTTP {status}")
            return _Robots(None, True)  # 4xx (and odd 3xx/1xx): robots.txt unavailable, all allowed
        return _Robots(None, True)  # too many robots.txt redirects: unavailable per RFC 9309

    def _parse_robots(self, url: Any, text: str, fetched_now: bool = False) -> _Robots:
        from protego import Protego

        try:
            parser = Protego.parse(text)
        except Exception:  # noqa: BLE001 - unparseable rules are no rules
            return _Robots(None, True)
        delay = parser.crawl_delay(self.token) if self.cfg.max_crawl_delay_s > 0 else None
        if delay:
            host = self._host(url)
            host.delay = max(host.delay, min(float(delay), self.cfg.max_crawl_delay_s))
            if fetched_now:  # the robots.txt request itself is the first the Crawl-delay counts from
                host.next_at = max(host.next_at, time.monotonic() + host.delay)
        return _Robots(parser, True, text=text)


# ---------------------------------------------------------------------------------------------- output


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


# ---------------------------------------------------------------------------------------------- driver


def _require_deps() -> None:
    for module, package in (("httpx", "httpx"), ("protego", "protego"), ("warcio", "warcio")):
        try:
            __import__(module)
        except ImportError:
            raise DependencyError("crawl", package, "web") from None


def _triage(urls: list[str]) -> list[Any]:
    """Per input: a fetchable URL, or an already dropped `_Result` (invalid or duplicate)."""
    seen: set[str] = set()
    items: list[Any] = []
    for raw in urls:
        try:
            url = _parse_url(raw)
        except _Fail as exc:
            items.append(_Result(url=raw, status=DROPPED, reason=exc.reason, detail=f"{raw!r}: {exc.detail}"))
            continue
        if str(url) in seen:
            items.append(_Result(url=raw, status=DROPPED, reason="duplicate_url", detail=f"same as {url}"))
            continue
        seen.add(str(url))
        items.append(url)
    return items


async def _crawl_async(
    items: list[tuple[int, Any]], cfg: CrawlConfig, sink: Callable[[int, _Result], None], journal: Any = None
) -> None:
    """Fetch concurrently but hand ``(index, result)`` to ``sink`` in input order, holding a bounded window."""
    crawler = _Crawler(cfg, journal)
    window: asyncio.Queue = asyncio.Queue(maxsize=max(64, 8 * cfg.concurrency))

    async def guarded(url: Any) -> _Result:
        try:
            return await crawler.process(url)
        except Exception as exc:  # noqa: BLE001 - a bug on one URL must not lose the others
            return _Result(url=str(url), status=QUARANTINED, reason=type(exc).__name__, detail=str(exc))

    async def produce() -> None:
        for index, item in items:
            await window.put((index, asyncio.create_task(guarded(item)) if not isinstance(item, _Result) else item))
        await window.put(None)

    producer = asyncio.create_task(produce())
    try:
        while (entry := await window.get()) is not None:
            index, item = entry
            result = await item if isinstance(item, asyncio.Task) else item
            await asyncio.to_thread(sink, index, result)
        await producer
    finally:
        producer.cancel()
        while not window.empty():
            entry = window.get_nowait()
            if entry is not None and isinstance(entry[1], asyncio.Task):
                entry[1].cancel()
        await crawler.aclose()


def _run(coro_factory: Callable[[], Any]) -> Any:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro_factory())
    with ThreadPoolExecutor(1) as pool:  # called from inside an event loop (a notebook): use a fresh one
        return pool.submit(lambda: asyncio.run(coro_factory())).result()


def crawl(
    urls: list[str], output_dir: str, config: CrawlConfig, progress: bool = False, overwrite: bool = False
) -> Ledger:
    """Fetch ``urls`` into WARCs in ``output_dir``, with ``ledger.json`` and ``dropped.jsonl`` beside them.

    Resumes an interrupted crawl of the same URL list in a local ``output_dir`` (see the module docstring)."""
    _require_deps()
    output_dir = str(output_dir)
    journal = None
    if prepare_output(output_dir, config, overwrite, urls):
        journal = CrawlJournal.load(output_dir)
        journal.reopen()
    elif is_local(output_dir):
        journal = CrawlJournal.start(output_dir, urls, config.warc_prefix)
    warcs = _WarcFiles(output_dir, config, journal)
    finished: dict[int, dict] = dict(journal.done) if journal else {}
    bar = _progress_bar(len(urls)) if progress else None
    if bar is not None and finished:
        bar[0].advance(bar[1], len(finished))

    def sink(index: int, result: _Result) -> None:
        warc, end, records = warcs.write(result.captures)
        if journal is not None:
            journal.note_done(index, result, warc, end, records)
        finished[index] = {"url": result.url, "status": result.status, "reason": result.reason}
        finished[index]["detail"] = result.detail
        if bar is not None:
            bar[0].advance(bar[1])

    items = [(i, item) for i, item in enumerate(_triage(urls)) if i not in finished]
    try:
        with bar[0] if bar is not None else contextlib.nullcontext():
            _run(lambda: _crawl_async(items, config, sink, journal))
    except BaseException as exc:
        warcs.abort(exc)
        if journal is not None:
            journal.close()
        raise
    warcs.close()
    ledger = Ledger(stage=STAGE)
    dropped_lines: list[str] = []
    quarantined_lines: list[str] = []
    for index in sorted(finished):
        done = finished[index]
        line = json.dumps({"url": done["url"], "reason": done["reason"], "detail": done["detail"]}, ensure_ascii=False)
        if done["status"] == KEPT:
            ledger.record(KEPT)
        elif done["status"] == DROPPED:
            ledger.record(DROPPED, done["reason"])
            dropped_lines.append(line)
        else:
            ledger.record(QUARANTINED, done["reason"])
            quarantined_lines.append(line)
    ledger.check()
    write_text(join(output_dir, "dropped.jsonl"), "".join(line + "\n" for line in dropped_lines))
    if quarantined_lines:
        write_text(join(output_dir, "quarantined.jsonl"), "".join(line + "\n" for line in quarantined_lines))
    write_text(join(output_dir, "ledger.json"), ledger.to_json() + "\n")
    if journal is not None:
        journal.finish()
    return ledger


def _progress_bar(total: int):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(TextColumn("crawl"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    return bar, bar.add_task("crawl", total=total)


# ---------------------------------------------------------------------------------------------- CLI


def read_url_list(path: str) -> list[str]:
    try:
        text = read_text(path)
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(path, f"cannot read the URL list: {exc}") from None
    urls = [line.strip() for line in text.splitlines()]
    urls = [u for u in urls if u and not u.startswith("#")]
    if not urls:
        raise InputError(path, "holds no URLs (one per line; '#' starts a comment line)")
    return urls


def load_config(config: Path | None, overrides: list[str]) -> CrawlConfig:
    pairs = dict(parse_override(s) for s in overrides)
    if config is not None:
        return CrawlConfig.load(config, pairs)
    data: dict[str, Any] = {}
    for key, value in pairs.items():
        set_dotted(data, key, value)
    return CrawlConfig.parse(data, source="--set")


def crawl_command(
    urls_file: Path = typer.Argument(
        ..., help="Text file of URLs, one per line; blank lines and '#' lines are skipped.", dir_okay=False
    ),
    output: Path = typer.Argument(..., help="Directory for the WARCs, ledger.json, dropped.jsonl, config.yaml."),
    config: Path | None = typer.Option(None, "--config", "-c", help="Crawl config (YAML) with CrawlConfig fields."),
    set_: list[str] = typer.Option(
        [], "--set", help="Override a config field, e.g. --set per_host_delay_s=2 (repeatable)."
    ),
    overwrite: bool = typer.Option(False, help="Replace WARC files an earlier crawl left in OUTPUT."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar or summary table."),
) -> None:
    """Fetch a URL list into WARC files, obeying robots.txt and per-host rate limits."""
    cfg = load_config(config, set_)
    urls = read_url_list(str(urls_file))
    # before config.yaml, so a refusal leaves the old run intact
    if prepare_output(str(output), cfg, overwrite, urls) and not quiet:
        done = len(CrawlJournal.load(str(output)).done)
        typer.echo(f"resuming the interrupted crawl in {output}: {done} of {len(urls)} URLs already done")
    write_text(join(str(output), "config.yaml"), cfg.to_yaml())
    ledger = crawl(urls, str(output), cfg, progress=not quiet, overwrite=overwrite)
    if not quiet:
        print_summary(ledger, str(output))


def print_summary(ledger: Ledger, output: str, console: Any = None) -> None:
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    table = Table(title=f"crawl: {output}")
    table.add_column("outcome")
    table.add_column("URLs", justify="right")
    table.add_row("input", f"{ledger.inputs:,}")
    table.add_row("[green]fetched (2xx)[/green]", f"{ledger.kept:,}")
    for reason, n in sorted(ledger.dropped.items(), key=lambda kv: (-kv[1], kv[0])):
        table.add_row(f"dropped: {reason}", f"{n:,}")
    for reason, n in sorted(ledger.quarantined.items(), key=lambda kv: (-kv[1], kv[0])):
        table.add_row(f"[red]quarantined: {reason}[/red]", f"{n:,}")
    console.print(table)
