"""`corpusforge crawl`: fetch a URL list into WARC files, politely.

Politeness is per host: robots.txt is fetched once per origin and checked on every redirect hop, requests to
one host are spaced by ``per_host_delay_s`` (or the robots.txt Crawl-delay, capped) and capped in number.
Every input URL ends in the ledger: kept (a 2xx page) or dropped with a named reason.

An interrupted crawl (killed, Ctrl-C) continues when run again with the same URL list and output: finished URLs
are not fetched again, robots.txt rules and each host's last request time are restored from the journal
(`pipelines/crawl_state.py`), so politeness holds across the restart.

The crawl is four modules: this one (the config and the result and politeness types), the fetcher
(`pipelines/crawl_fetch.py`), the WARC output (`pipelines/crawl_warc.py`), the resume journal
(`pipelines/crawl_state.py`); `pipelines/jobs/crawl.py` drives them (``kind: crawl`` and `corpusforge crawl`).

Bodies are stored decoded (gzip/deflate/br undone), the way Common Crawl does it: the original
``Content-Encoding``, ``Transfer-Encoding`` and ``Content-Length`` headers are kept as ``X-Crawler-*`` and a
``Content-Length`` matching the stored body is added, so readers never have to undo a transfer encoding.
"""

from __future__ import annotations

import asyncio
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from pydantic import Field

from corpusforge import __version__
from corpusforge.config import Config

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
