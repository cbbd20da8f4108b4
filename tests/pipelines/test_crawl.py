"""`corpusforge crawl` against a local HTTP server: politeness, failures and WARC output."""

from __future__ import annotations

import gzip
import json
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

pytest.importorskip("httpx")
pytest.importorskip("protego")
pytest.importorskip("warcio")

from warcio.archiveiterator import ArchiveIterator  # noqa: E402

from corpusforge.errors import ConfigError, InputError  # noqa: E402
from pipelines.crawl import CrawlConfig  # noqa: E402
from pipelines.jobs.crawl import crawl, crawl_command  # noqa: E402

PAGE = b"<html><body><p>hello from the test server</p></body></html>"
CAP = 4096


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, *args) -> None:  # keep pytest output clean
        pass

    def _send(self, status: int, body: bytes = b"", headers: dict | None = None, length: bool = True) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        if length:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        srv = self.server
        path = self.path
        with srv.lock:
            srv.hits.append((path, time.monotonic(), self.headers.get("User-Agent")))
        if path == "/robots.txt":
            if srv.robots_status == 200:
                self._send(200, b"User-agent: *\nDisallow: /private\n", {"Content-Type": "text/plain"})
            else:
                self._send(srv.robots_status, b"no")
        elif path.startswith("/page"):
            self._send(200, PAGE)
        elif path == "/gzipped":
            self._send(200, gzip.compress(PAGE), {"Content-Encoding": "gzip"})
        elif path == "/private":
            self._send(200, b"secret")
        elif path == "/slow":
            time.sleep(0.6)
            self._send(200, PAGE)
        elif path.startswith("/chain/"):
            n = int(path.rsplit("/", 1)[1])
            if n < 3:
                self._send(302 if n % 2 else 301, b"", {"Location": f"/chain/{n + 1}"})
            else:
                self._send(200, PAGE)
        elif path == "/loop/a":
            self._send(302, b"", {"Location": "/loop/b"})
        elif path == "/loop/b":
            self._send(302, b"", {"Location": f"http://127.0.0.1:{srv.server_port}/loop/a"})
        elif path == "/to-private":
            self._send(302, b"", {"Location": "/private"})
        elif path == "/error500":
            self._send(500, b"boom")
        elif path == "/missing":
            self._send(404, b"not here")
        elif path == "/big":
            self._send(200, b"x" * (CAP * 4))
        elif path == "/big-stream":  # no Content-Length: only the streaming cap can stop it
            self._send(200, b"y" * (CAP * 4), length=False)
        else:
            self._send(404, b"unknown")


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.lock = threading.Lock()
        self.hits: list[tuple[str, float, str | None]] = []
        self.robots_status = 200

    def handle_error(self, request, client_address) -> None:  # clients hanging up on /slow are expected
        pass

    def count(self, path: str) -> int:
        with self.lock:
            return sum(1 for p, _, _ in self.hits if p == path)

    def times(self) -> list[float]:
        with self.lock:
            return [t for _, t, _ in self.hits]


@pytest.fixture(scope="module")
def _running_server():
    server = _Server()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def server(_running_server):
    _running_server.hits.clear()
    _running_server.robots_status = 200
    return _running_server


def url(server: _Server, path: str) -> str:
    return f"http://127.0.0.1:{server.server_port}{path}"


def fast(**overrides) -> CrawlConfig:
    base = dict(
        timeout_s=2.0,
        connect_timeout_s=1.0,
        per_host_delay_s=0.0,
        retries=0,
        backoff_base_s=0.01,
        max_body_bytes=CAP,
        per_host_concurrency=4,
        concurrency=8,
    )
    base.update(overrides)
    return CrawlConfig.parse(base)


def warc_records(out: Path) -> list:
    records = []
    for path in sorted(out.glob("*.warc.gz")):
        with open(path, "rb") as f:
            for rec in ArchiveIterator(f):
                body = rec.content_stream().read()
                records.append((path.name, rec.rec_type, rec.rec_headers, rec.http_headers, body))
    return records


def dropped(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "dropped.jsonl").read_text().splitlines()]


def test_normal_page_is_written_as_request_and_response(server, tmp_path):
    ledger = crawl([url(server, "/page"), url(server, "/gzipped")], str(tmp_path), fast())
    assert ledger.kept == 2 and ledger.inputs == 2
    records = warc_records(tmp_path)
    assert [r[1] for r in records] == ["warcinfo", "response", "request", "response", "request"]
    _, _, resp_h, resp_http, body = records[1]
    _, _, req_h, req_http, _ = records[2]
    assert resp_h.get_header("WARC-Target-URI") == url(server, "/page")
    assert req_h.get_header("WARC-Target-URI") == url(server, "/page")
    assert req_h.get_header("WARC-Concurrent-To") == resp_h.get_header("WARC-Record-ID")
    assert resp_h.get_header("WARC-IP-Address") == "127.0.0.1"
    assert resp_h.get_header("WARC-Date").startswith("20")
    assert resp_h.protocol == "WARC/1.1"
    assert resp_http.get_statuscode() == "200"
    assert body == PAGE
    assert req_http.protocol == "GET" and req_http.statusline.startswith("/page ")
    assert req_http.get_header("User-Agent").startswith("CorpusForgeBot/")
    # The gzipped page is stored decoded, its encoding header renamed so readers do not decode it again.
    gz_http, gz_body = records[3][3], records[3][4]
    assert gz_body == PAGE
    assert gz_http.get_header("Content-Encoding") is None
    assert gz_http.get_header("X-Crawler-Content-Encoding") == "gzip"
    assert gz_http.get_header("Content-Length") == str(len(PAGE))
    assert (tmp_path / "dropped.jsonl").read_text() == ""
    assert json.loads((tmp_path / "ledger.json").read_text())["kept"] == 2
    assert not list(tmp_path.glob(".tmp-*"))


def test_robots_disallowed_path_is_never_requested(server, tmp_path):
    urls = [url(server, "/private"), url(server, "/to-private"), url(server, "/page")]
    ledger = crawl(urls, str(tmp_path), fast())
    assert ledger.kept == 1
    assert ledger.dropped == Counter({"robots_disallowed": 2})
    assert server.count("/private") == 0
    assert server.count("/robots.txt") == 1  # cached for the run
    assert "redirect target" in dropped(tmp_path)[1]["detail"]


def test_robots_ignored_when_configured(server, tmp_path):
    ledger = crawl([url(server, "/private")], str(tmp_path), fast(respect_robots=False))
    assert ledger.kept == 1
    assert server.count("/robots.txt") == 0


@pytest.mark.parametrize(("status", "kept"), [(404, 1), (503, 0)])
def test_robots_unavailable_allows_unreachable_disallows(server, tmp_path, status, kept):
    server.robots_status = status
    ledger = crawl([url(server, "/page")], str(tmp_path), fast())
    assert ledger.kept == kept
    if not kept:
        assert ledger.dropped == Counter({"robots_disallowed": 1})
        assert "unreachable" in dropped(tmp_path)[0]["detail"]
        assert server.count("/page") == 0


def test_slow_page_times_out_after_retries(server, tmp_path):
    ledger = crawl([url(server, "/slow")], str(tmp_path), fast(timeout_s=0.2, retries=1))
    assert ledger.dropped == Counter({"timeout": 1})
    assert server.count("/slow") == 2
    assert warc_records(tmp_path) == []


def test_refused_connection_is_retried_then_dropped(tmp_path):
    import socket

    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens there
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    target = f"http://127.0.0.1:{port}/page"
    ledger = crawl([target], str(tmp_path), fast(retries=1))
    assert ledger.dropped == Counter({"robots_disallowed": 1})  # robots.txt unreachable: nothing allowed
    assert "connection_error" in dropped(tmp_path)[0]["detail"]
    ledger = crawl([target], str(tmp_path / "again"), fast(respect_robots=False))
    assert ledger.dropped == Counter({"connection_error": 1})


def test_redirect_chain_is_followed_and_recorded(server, tmp_path):
    ledger = crawl([url(server, "/chain/0")], str(tmp_path), fast())
    assert ledger.kept == 1
    responses = [r for r in warc_records(tmp_path) if r[1] == "response"]
    assert [r[2].get_header("WARC-Target-URI") for r in responses] == [url(server, f"/chain/{n}") for n in range(4)]
    assert [r[3].get_statuscode() for r in responses] == ["301", "302", "301", "200"]
    assert responses[-1][4] == PAGE


def test_too_many_redirects(server, tmp_path):
    ledger = crawl([url(server, "/chain/0")], str(tmp_path), fast(max_redirects=2))
    assert ledger.dropped == Counter({"too_many_redirects": 1})
    assert server.count("/chain/3") == 0


def test_redirect_loop(server, tmp_path):
    ledger = crawl([url(server, "/loop/a")], str(tmp_path), fast())
    assert ledger.dropped == Counter({"redirect_loop": 1})
    assert server.count("/loop/a") == 1 and server.count("/loop/b") == 1
    assert "/loop/a -> " in dropped(tmp_path)[0]["detail"]


def test_server_error_is_retried_with_backoff_then_dropped(server, tmp_path):
    cfg = fast(retries=2, backoff_base_s=0.1)
    ledger = crawl([url(server, "/error500"), url(server, "/missing")], str(tmp_path), cfg)
    assert ledger.dropped == Counter({"http_500": 1, "http_404": 1})
    assert server.count("/error500") == 3  # 1 + retries
    assert server.count("/missing") == 1  # 4xx is not retried
    times = [t for p, t, _ in server.hits if p == "/error500"]
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert gaps[0] >= 0.05 * 0.9 and gaps[1] >= 0.1 * 0.9  # equal jitter: at least half of base * 2**n
    statuses = [r[3].get_statuscode() for r in warc_records(tmp_path) if r[1] == "response"]
    assert statuses == ["500", "404"]  # final error responses are archived (record_http_errors)


def test_oversized_body_is_dropped(server, tmp_path):
    ledger = crawl([url(server, "/big"), url(server, "/big-stream")], str(tmp_path), fast())
    assert ledger.dropped == Counter({"too_large": 2})
    details = [d["detail"] for d in dropped(tmp_path)]
    assert "Content-Length" in details[0] and "body over max_body_bytes" in details[1]
    assert warc_records(tmp_path) == []


def test_per_host_rate_limit(server, tmp_path):
    delay = 0.15
    urls = [url(server, f"/page{i}") for i in range(4)]
    # One request at a time per host: the delay then runs from the end of the previous response, so
    # server-side arrival times are spaced too, not just the client's send times.
    ledger = crawl(urls, str(tmp_path), fast(per_host_delay_s=delay, per_host_concurrency=1))
    assert ledger.kept == 4
    times = sorted(server.times())  # robots.txt and the four pages
    assert len(times) == 5
    assert min(b - a for a, b in zip(times, times[1:], strict=False)) >= delay


def test_invalid_config_field_names_it(tmp_path):
    with pytest.raises(ConfigError) as exc:
        CrawlConfig.parse({"per_host_delay_s": -1})
    assert exc.value.field == "per_host_delay_s"
    with pytest.raises(ConfigError, match="max_redirect"):
        CrawlConfig.parse({"max_redirect": 3})
    yaml_file = tmp_path / "crawl.yaml"
    yaml_file.write_text("max_body_bytes: 0\n")
    with pytest.raises(ConfigError) as exc:
        CrawlConfig.load(yaml_file)
    assert exc.value.field == "max_body_bytes" and exc.value.source == str(yaml_file)


def test_ledger_balances_and_outputs_are_in_input_order(server, tmp_path):
    urls = [
        url(server, "/page1"),
        "not a url",
        "ftp://example.com/file",
        url(server, "/page1#fragment"),  # the same page
        url(server, "/missing"),
        url(server, "/page2"),
        url(server, "/private"),
        url(server, "/page3"),
    ]
    ledger = crawl(urls, str(tmp_path), fast(records_per_warc=2))
    assert ledger.inputs == len(urls) == ledger.kept + ledger.dropped_total
    assert ledger.kept == 3
    assert ledger.dropped == Counter({"invalid_url": 2, "duplicate_url": 1, "http_404": 1, "robots_disallowed": 1})
    assert [d["reason"] for d in dropped(tmp_path)] == [
        "invalid_url",
        "invalid_url",
        "duplicate_url",
        "http_404",
        "robots_disallowed",
    ]
    assert json.loads((tmp_path / "ledger.json").read_text())["inputs"] == len(urls)
    records = warc_records(tmp_path)
    assert sorted({r[0] for r in records}) == [f"crawl-{i:05d}.warc.gz" for i in range(4)]
    targets = [r[2].get_header("WARC-Target-URI") for r in records if r[1] == "response"]
    assert targets == [url(server, p) for p in ("/page1", "/missing", "/page2", "/page3")]
    with pytest.raises(InputError, match="overwrite"):  # a second run must not mix with stale WARCs
        crawl(urls[:1], str(tmp_path), fast())
    crawl(urls[:1], str(tmp_path), fast(), overwrite=True)
    assert [p.name for p in tmp_path.glob("*.warc.gz")] == ["crawl-00000.warc.gz"]


def test_cli(server, tmp_path):
    app = typer.Typer()
    app.command()(crawl_command)
    urls_file = tmp_path / "urls.txt"
    urls_file.write_text(f"# test list\n\n{url(server, '/page')}\n{url(server, '/missing')}\n")
    cfg_file = tmp_path / "crawl.yaml"
    cfg_file.write_text("per_host_delay_s: 0\ntimeout_s: 2\nretries: 0\n")
    out = tmp_path / "out"
    result = CliRunner().invoke(app, [str(urls_file), str(out), "--config", str(cfg_file), "--set", "warc_prefix=test"])
    assert result.exit_code == 0, result.output
    assert "fetched" in result.output and "http_404" in result.output
    assert (out / "test-00000.warc.gz").exists()
    resolved = CrawlConfig.load(out / "config.yaml")
    assert resolved.warc_prefix == "test" and resolved.retries == 0
    assert json.loads((out / "ledger.json").read_text())["inputs"] == 2

    bad = CliRunner().invoke(app, [str(urls_file), str(out), "--set", "retries=-1", "--overwrite"])
    assert isinstance(bad.exception, ConfigError) and bad.exception.field == "retries"
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing\n")
    none = CliRunner().invoke(app, [str(empty), str(tmp_path / "out2"), "-q"])
    assert isinstance(none.exception, InputError) and str(empty) in str(none.exception)


def test_crawl_is_a_job_kind_run_like_every_other(server, tmp_path):
    """``kind: crawl`` through `corpusforge run`'s loader and runner: inputs checked first, the config saved."""
    from corpusforge.job import load_job
    from pipelines.engines import run_job

    (tmp_path / "urls.txt").write_text(f"{url(server, '/page1')}\n{url(server, '/missing')}\n")
    recipe = tmp_path / "crawl.yaml"
    settings = fast().model_dump(mode="json")
    recipe.write_text(
        f"kind: crawl\nurls: {tmp_path / 'urls.txt'}\noutput: {tmp_path / 'out'}\ncrawl: {json.dumps(settings)}\n"
    )
    job = load_job(recipe)
    ledger = run_job(job).value
    assert ledger.kept == 1 and ledger.dropped == Counter({"http_404": 1})
    assert (tmp_path / "out" / "config.yaml").read_text() == job.to_yaml()
    with pytest.raises(InputError, match="overwrite"):  # a finished crawl's WARCs are not mixed with a new one's
        run_job(job)
    assert run_job(job, overwrite=True).value.to_dict() == ledger.to_dict()
    with pytest.raises(InputError, match="none.txt"):
        run_job(load_job(recipe, {"urls": str(tmp_path / "none.txt")}))
    assert (tmp_path / "out" / "ledger.json").is_file()  # the bad list failed before the output was touched
