"""Crawl throughput per host politeness setting, against a local HTTP server this benchmark starts and stops.

The server (a separate process, so its CPU is not counted against the crawler) listens on 127.0.0.1 and serves a
robots.txt that allows everything and, at ``/p/<n>``, a 20 KB HTML page. Every URL is on that one host, so the
per-host settings bound the rate: ``per_host_delay_s`` d spaces requests (at most 1/d pages/s whatever the CPU),
``per_host_concurrency`` caps requests in flight. Each setting runs `pipelines.jobs.crawl.crawl` (WARC output, ledger,
resume journal) in a child pinned to one CPU through `benchmarks/harness.py`; the peer is a plain loop of
``httpx.Client.get`` writing the same responses with warcio, no robots.txt, no politeness, no journal.

    python -m benchmarks.crawl [--pages 200] [--tiny 20] [--runs 3] [--workdir out/bench-crawl] [--json PATH]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_WORKDIR = ROOT / "out" / "bench-crawl"
PARAGRAPH = "<p>" + "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor. " * 5 + "</p>\n"
PAGE = ("<html><head><title>bench</title></head><body>\n" + PARAGRAPH * 50 + "</body></html>\n").encode()
#: (name, per_host_delay_s, per_host_concurrency)
SETTINGS = (
    ("delay 0, 1 in flight", 0.0, 1),
    ("delay 0, 8 in flight", 0.0, 8),
    ("delay 0.02 s, 1 in flight", 0.02, 1),
    ("delay 0.1 s, 1 in flight", 0.1, 1),
)


# ---------------------------------------------------------------- the server (its own process)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms delayed-ACK stall between

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        body = b"User-agent: *\nAllow: /\n" if self.path == "/robots.txt" else PAGE
        kind = "text/plain" if self.path == "/robots.txt" else "text/html; charset=utf-8"
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


def serve(port_file: Path) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    tmp = port_file.with_suffix(".tmp")
    tmp.write_text(str(server.server_port))
    tmp.replace(port_file)
    server.serve_forever()


@contextlib.contextmanager
def running_server(workdir: Path) -> Iterator[int]:
    """Start the server process, yield its port, stop it (always)."""
    workdir.mkdir(parents=True, exist_ok=True)
    port_file = workdir / "server.port"
    port_file.unlink(missing_ok=True)
    proc = subprocess.Popen([sys.executable, "-m", "benchmarks.crawl", "--serve", str(port_file)], cwd=ROOT)
    try:
        deadline = time.monotonic() + 30
        while not port_file.is_file():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the benchmark's HTTP server did not start (exit {proc.poll()})")
            time.sleep(0.05)
        yield int(port_file.read_text())
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# ---------------------------------------------------------------- harness sides


def urls(port: int, n: int) -> list[str]:
    return [f"http://127.0.0.1:{port}/p/{i}" for i in range(n)]


def side_ours(port: int, pages: int, out: str, delay: float, concurrency: int) -> dict:
    from pipelines.crawl import CrawlConfig
    from pipelines.jobs.crawl import crawl

    cfg = CrawlConfig(per_host_delay_s=delay, per_host_concurrency=concurrency, concurrency=max(16, concurrency))
    start = time.perf_counter()
    ledger = crawl(urls(port, pages), out, cfg, overwrite=True)
    return {"units": ledger.kept, "inputs": ledger.inputs, "crawl_wall_s": time.perf_counter() - start}


def side_httpx(port: int, pages: int, out: str) -> dict:
    """The peer: sequential ``httpx.Client.get`` and warcio's ``WARCWriter``, nothing else."""
    import io

    import httpx
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    Path(out).mkdir(parents=True, exist_ok=True)
    kept = 0
    start = time.perf_counter()
    with httpx.Client() as client, open(Path(out) / "peer.warc.gz", "wb") as f:
        writer = WARCWriter(f, gzip=True)
        for url in urls(port, pages):
            r = client.get(url)
            headers = StatusAndHeaders(f"{r.status_code} {r.reason_phrase}", list(r.headers.items()), protocol="HTTP/1.1")
            writer.write_record(writer.create_warc_record(url, "response", payload=io.BytesIO(r.content),
                                                          http_headers=headers))  # fmt: skip
            kept += r.status_code == 200
    return {"units": kept, "inputs": pages, "crawl_wall_s": time.perf_counter() - start}


def harness_sides(workdir: Path, port: int) -> list:
    from benchmarks.harness import Side

    sides = [
        Side(name, "benchmarks.crawl:side_ours",
             lambda n, d=delay, c=conc: {"port": port, "pages": n, "out": str(workdir / "out-ours"), "delay": d,
                                         "concurrency": c})
        for name, delay, conc in SETTINGS
    ]  # fmt: skip
    sides.append(Side("httpx + warcio loop", "benchmarks.crawl:side_httpx",
                      lambda n: {"port": port, "pages": n, "out": str(workdir / "out-peer")}))  # fmt: skip
    return sides


def table(summary: dict, pages: int) -> str:
    lines = ["| setting | pages | pages/s (wall, whole run) | pages/s (in the crawl call) | ceiling 1/delay | "
             "pages/CPU s (steady) | peak RSS MB |", "|---|---|---|---|---|---|---|"]  # fmt: skip
    ceilings = {name: (f"{1 / d:,.0f}" if d else "–") for name, d, _ in SETTINGS}
    for name in [n for n, _, _ in SETTINGS] + [n for n in summary if n not in ceilings]:
        row = summary[name][pages]
        steady = row.get("steady_units_per_cpu_s", row["units_per_cpu_s"])
        lines.append(f"| {name} | {row['units']:,.0f} | {row['units_per_wall_s']['median']:,.1f} | "
                     f"{row.get('in_call', float('nan')):,.1f} | {ceilings.get(name, '–')} | "
                     f"{steady['median']:,.0f} ({steady['min']:,.0f}–{steady['max']:,.0f}) | "
                     f"{row['peak_rss_mb']['median']:,.0f} |")  # fmt: skip
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pages", type=int, default=200)
    ap.add_argument("--tiny", type=int, default=20)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--serve", type=Path, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.serve:
        serve(args.serve)
        return
    from benchmarks.harness import compare, save, summarize

    workdir = args.workdir.resolve()
    print(f"load average {os.getloadavg()[0]:.1f}")
    with running_server(workdir) as port:
        runs = compare(harness_sides(workdir, port), [args.pages], workdir / "runs", args.runs, tiny=args.tiny)
    summary = summarize(runs, tiny=args.tiny)
    for name in summary:
        walls = [r.extra["crawl_wall_s"] for r in runs if r.side == name and r.size == args.pages]
        summary[name][args.pages]["in_call"] = args.pages / sorted(walls)[len(walls) // 2]
    print(table(summary, args.pages))
    if args.json:
        save(args.json, runs, summary)


if __name__ == "__main__":
    main()
