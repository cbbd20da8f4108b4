"""The crawl's fetcher: per-host politeness (robots.txt, delays, concurrency caps), redirects checked hop by
hop, retries with backoff; every URL ends in one `_Result`."""

from __future__ import annotations

import asyncio
import random
import time
from datetime import UTC, datetime
from typing import Any

from corpusforge.ledger import DROPPED, KEPT
from pipelines.crawl import (
    REDIRECT_CODES,
    ROBOTS_MAX_BYTES,
    ROBOTS_MAX_REDIRECTS,
    CrawlConfig,
    _backoff,
    _Capture,
    _Fail,
    _Host,
    _parse_url,
    _product_token,
    _Result,
    _retry_after,
    _Robots,
    _stored_headers,
)
from pipelines.crawl_state import CrawlJournal


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
