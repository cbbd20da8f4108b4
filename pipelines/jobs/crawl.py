"""``kind: crawl`` and `corpusforge crawl`: a URL list fetched into WARC files, politely (the fetcher is
`pipelines/crawl_fetch.py`, the output `pipelines/crawl_warc.py`, the resume journal `pipelines/crawl_state.py`).

Every input URL ends in the crawl's ledger (``ledger.json``): kept (a 2xx page), dropped with a named reason
(``dropped.jsonl``) or quarantined. An interrupted crawl resumes when run again with the same URL list."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Literal

import typer
from pydantic import Field

from corpusforge.config import parse_override, set_dotted
from corpusforge.errors import DependencyError, InputError
from corpusforge.fs import join, read_text, write_text
from corpusforge.job import DriverJob
from corpusforge.ledger import DROPPED, KEPT, QUARANTINED, Ledger
from pipelines.crawl import STAGE, CrawlConfig, _Fail, _parse_url, _Result
from pipelines.crawl_fetch import _Crawler
from pipelines.crawl_state import CrawlJournal, is_local
from pipelines.crawl_warc import _WarcFiles, prepare_output


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


class CrawlJobConfig(DriverJob):
    """``kind: crawl``: ``urls`` (a text file, one URL a line) → WARC files in ``output``; a later web job
    reads them."""

    kind: Literal["crawl"] = "crawl"
    name: str = "crawl"
    urls: str = Field(description="Text file of URLs, one per line; blank lines and '#' lines are skipped.")
    output: str = Field(description="Directory for the WARCs, ledger.json, dropped.jsonl, config.yaml.")
    crawl: CrawlConfig = CrawlConfig()

    def input_files(self) -> list[str]:
        read_url_list(self.urls)  # an unreadable or empty list fails before any work
        return [self.urls]

    def run_step(self, progress: bool = True, overwrite: bool = False) -> Ledger:
        ledger = crawl(read_url_list(self.urls), self.output, self.crawl, progress=progress, overwrite=overwrite)
        if progress:
            print_summary(ledger, self.output)
        return ledger
