"""An interrupted crawl continues where it stopped: a real server on 127.0.0.1 counts every answered request."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

pytest.importorskip("httpx")
pytest.importorskip("protego")
pytest.importorskip("warcio")

from warcio.archiveiterator import ArchiveIterator  # noqa: E402

from corpusforge.errors import InputError  # noqa: E402
from pipelines.crawl import CrawlConfig  # noqa: E402
from pipelines.crawl_state import STATE_DIR  # noqa: E402
from pipelines.jobs.crawl import crawl  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
DELAY = 2.0  # well above the time a restart takes, so a forgotten last request shows
PAGES = 4
BEFORE_KILL = 1


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        srv = self.server
        with srv.lock:
            srv.arrivals.append((self.path, time.monotonic()))
            pages_served = sum(1 for p in srv.served if p.startswith("/page"))
            hold = self.path.startswith("/page") and srv.hold_after is not None and pages_served >= srv.hold_after
        if hold:  # the crawler is killed while this request waits: it is never answered
            srv.holding.set()
            srv.release.wait(30)
            self.close_connection = True
            return
        if self.path == "/robots.txt":
            body = b"User-agent: *\nDisallow: /private\n" + srv.robots_extra
        else:
            body = f"<html><body><p>page {self.path}</p></body></html>".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain" if self.path == "/robots.txt" else "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()
        with srv.lock:
            srv.served.append(self.path)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.lock = threading.Lock()
        self.arrivals: list[tuple[str, float]] = []
        self.served: list[str] = []
        self.hold_after: int | None = None
        self.robots_extra = b""
        self.holding = threading.Event()
        self.release = threading.Event()

    def handle_error(self, request, client_address) -> None:  # the killed crawler hangs up
        pass


@pytest.fixture
def server():
    srv = _Server()
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield srv
    srv.release.set()
    srv.shutdown()
    srv.server_close()


def _urls(srv: _Server) -> list[str]:
    base = f"http://127.0.0.1:{srv.server_port}"
    return [f"{base}/page{i}" for i in range(3)] + [f"{base}/private"] + [f"{base}/page{i}" for i in range(3, PAGES)]


def _journal_done(out: Path) -> int:
    path = out / STATE_DIR / "journal.jsonl"
    if not path.exists():
        return 0
    return sum(1 for line in path.read_text().splitlines() if '"kind": "done"' in line)


def _responses(out: Path) -> list[str]:
    targets = []
    for path in sorted(out.glob("*.warc.gz")):
        with open(path, "rb") as f:
            targets += [r.rec_headers.get_header("WARC-Target-URI") for r in ArchiveIterator(f) if r.rec_type == "response"]
    return targets


@pytest.mark.parametrize(
    ("sig", "delay_from"),
    [(signal.SIGKILL, "config"), (signal.SIGINT, "robots")],
    ids=["kill-9,per_host_delay_s", "ctrl-c,robots-crawl-delay"],
)
def test_killed_crawl_resumes_without_refetching_and_stays_polite(server, tmp_path, sig, delay_from):
    urls = _urls(server)
    (tmp_path / "urls.txt").write_text("\n".join(urls) + "\n")
    out = tmp_path / "out"
    # the delay comes from the config, or from robots.txt's Crawl-delay, which the restart must restore unfetched
    if delay_from == "robots":
        server.robots_extra = f"Crawl-delay: {DELAY}\n".encode()
    per_host = DELAY if delay_from == "config" else 0
    settings = {"per_host_delay_s": per_host, "per_host_concurrency": 1, "retries": 0, "timeout_s": 60}
    settings["records_per_warc"] = 6
    sets = [arg for key, value in settings.items() for arg in ("--set", f"{key}={value}")]
    # run 1: the real command in its own process, stopped while a page is in flight (SIGKILL: no cleanup at all;
    # SIGINT: Ctrl-C, which must exit 130)
    server.hold_after = BEFORE_KILL
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-c", "from corpusforge.cli import main; main()", "crawl", str(tmp_path / "urls.txt")]
    proc = subprocess.Popen([*cmd, str(out), "-q", *sets], env=env, cwd=tmp_path, stderr=subprocess.PIPE)
    try:
        assert server.holding.wait(60), proc.stderr.read().decode() if proc.poll() is not None else "no held request"
        deadline = time.monotonic() + 30
        while _journal_done(out) < BEFORE_KILL and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        proc.send_signal(sig)
        code = proc.wait(30)
    assert code == (130 if sig == signal.SIGINT else -signal.SIGKILL), proc.stderr.read().decode()
    assert _journal_done(out) == BEFORE_KILL  # /private waits behind the held page: results go out in input order
    assert not (out / "ledger.json").exists()
    killed_at = time.monotonic()

    # run 2, at once: the same list into the same folder continues the crawl
    server.hold_after = None
    server.release.set()
    ledger = crawl(urls, str(out), CrawlConfig.parse(settings))
    assert time.monotonic() - killed_at < 30

    served = [p for p in server.served if p.startswith("/page")]
    assert sorted(served) == sorted(f"/page{i}" for i in range(PAGES)), "each page answered exactly once"
    assert server.served.count("/robots.txt") == 1, "robots.txt comes from the journal after the restart"
    assert all(p != "/private" for p, _ in server.arrivals), "the disallowed page is never requested"
    assert ledger.inputs == len(urls) and ledger.kept == PAGES and dict(ledger.dropped) == {"robots_disallowed": 1}
    assert sorted(_responses(out)) == sorted(u for u in urls if "/page" in u), "every page in the WARCs, once"
    # run 1 left crawl-00000 open with one page; run 2 appended two more to it, then started crawl-00001
    assert [p.name for p in sorted(out.glob("*.warc.gz"))] == ["crawl-00000.warc.gz", "crawl-00001.warc.gz"]
    assert not (out / STATE_DIR).exists()
    assert [json.loads(line)["reason"] for line in (out / "dropped.jsonl").read_text().splitlines()] == [
        "robots_disallowed"
    ]
    # the per-host delay holds across the restart: the first request of run 2 waited for the one run 1 left in flight
    times = sorted(t for _, t in server.arrivals)
    assert len(times) == 1 + PAGES + 1  # robots.txt, the pages, and the request run 1 left unanswered
    assert min(b - a for a, b in zip(times, times[1:], strict=False)) >= DELAY - 0.05


def test_resume_refuses_another_url_list(server, tmp_path):
    urls = _urls(server)
    out = tmp_path / "out"
    (out / STATE_DIR).mkdir(parents=True)
    from pipelines.crawl_state import CrawlJournal

    CrawlJournal.start(str(out), urls, "crawl").close()  # what a run killed at once leaves
    with pytest.raises(InputError, match="another URL list"):
        crawl(urls[:2], str(out), CrawlConfig.parse({"per_host_delay_s": 0}))
    ledger = crawl(urls[:2], str(out), CrawlConfig.parse({"per_host_delay_s": 0}), overwrite=True)
    assert ledger.kept == 2 and not (out / STATE_DIR).exists()
