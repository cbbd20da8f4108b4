"""Web path throughput against datatrove: WARC → trafilatura → language ID → Gopher quality → documents.

One WARC of HTTP responses is built from the real pages of trafilatura's eval set (repeated round-robin up to
``--records``), then each tool runs the same job on it, one worker each, in its own child process so that
wall time, CPU time and peak RSS (the whole process tree, extraction sandboxes included) are its own:

- datatrove 0.10.1: ``WarcReader → Trafilatura(favour_precision=True) → LanguageFilter(all languages, 0.65)
  → GopherQualityFilter() → ParquetWriter``, on a `LocalPipelineExecutor` with 1 task and 1 worker;
- ours: `WebJobConfig` with the local engine, 1 worker, the default extractor settings, langid min_score 0.65
  and only the Gopher quality filter enabled, run by `run_job`.

Extraction quality is scored apart from the timed runs: each tool's extractor runs over the unique pages,
decoded as its reader decodes them, and `pipelines.evaluate.score` compares the text against evaldata.json.

    python benchmarks/extract.py [--records 10000] [--pages-dir DIR] [--workdir DIR] [--json PATH]
Over 400 lines: the three sides (ours, datatrove with our settings, datatrove at its default) and the
quality scoring share one input set and one table.
"""

from __future__ import annotations

import sys

# run as a path (python benchmarks/x.py), benchmarks/ leads sys.path and its tokenize.py would shadow the standard
# library's tokenize: put the repository root there instead, before anything imports it
if sys.path[0].endswith("benchmarks"):
    sys.path[0] = sys.path[0][: -len("benchmarks")].rstrip("/") or "/"

import argparse
import io
import json
import os
import random
import time
import uuid
from pathlib import Path
from urllib.parse import quote

from benchmarks.measure import log_tail, run_measured

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PAGES = ROOT.parent / "shared" / "data" / "extraction" / "trafilatura_eval"
DEFAULT_WORKDIR = ROOT / "out" / "bench-extract"
TOOLS = ("datatrove", "ours")
LANG_THRESHOLD = 0.65
WARC_NAME = "pages.warc.gz"


# ---------------------------------------------------------------- input


def load_eval_pages(pages_dir: Path) -> list[dict]:
    from pipelines.evaluate import load_pages

    fmt, pages = load_pages(pages_dir)
    if fmt != "snippets":
        raise SystemExit(f"{pages_dir}: expected trafilatura's evaldata.json layout")
    return pages


def http_url(key: str) -> str:
    """The page's URL as an http(s) target URI: warcio parses HTTP headers only under those schemes.

    A few evaldata keys are labels, not URLs ("hard::site-name.html", "xhttps://..."); those get a stand-in.
    """
    if key.startswith(("http://", "https://")):
        return key
    at = key.find("http")
    if at >= 0 and key[at:].startswith(("http://", "https://")):
        return key[at:]
    return "https://evaldata.invalid/" + quote(key, safe="")


def text_sizes(pages: list[dict]) -> list[int]:
    """Characters the web job's default extractor (trafilatura, fast) gets from each page: a worker's memory
    follows the extracted text (the filters tokenize it), not the HTML (BENCHMARKS.md, issue 20)."""
    from pipelines.extract import TrafilaturaExtractor

    extractor = TrafilaturaExtractor()
    return [len(extractor.extract(p["html"].decode("utf-8", "replace")) or "") for p in pages]


def largest_first(pages: list[dict], seed: int = 0, sizes: list[int] | None = None) -> list[dict]:
    """The pool's largest page (by ``sizes``, default HTML bytes) first, the others in a seeded shuffle: the first
    n pages, for every n, hold the same largest document and a sample of one size distribution (the scaling
    curves' inputs, where the first k x 100 pages in file order had larger pages at 8x than at 1x)."""
    sizes = sizes or [len(p["html"]) for p in pages]
    top = max(range(len(pages)), key=sizes.__getitem__)
    rest = [p for i, p in enumerate(pages) if i != top]
    random.Random(seed).shuffle(rest)
    return [pages[top], *rest]


def build_warc(
    pages: list[dict], records: int, path: Path, every_page: bool = True, order: str = "file", **extra: int
) -> int:
    """One gzip member per record, WARC/1.1 HTTP responses; the original bytes of each page, any charset.
    ``every_page``: at least one record per page, even when ``records`` is fewer. ``order`` names how ``pages``
    were ordered (kept in the stamp beside the largest page's HTML bytes)."""
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    stamp = path.with_suffix(".json")
    n = max(records, len(pages)) if every_page else records
    largest = max(len(pages[i % len(pages)]["html"]) for i in range(n))
    want = {"records": n, "pages": len(pages), "version": 2, "order": order, "largest_bytes": largest, **extra}
    if path.exists() and stamp.exists() and json.loads(stamp.read_text()) == want:
        return n
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as out:
        writer = WARCWriter(out, gzip=True, warc_version="1.1")
        for i in range(n):
            page = pages[i % len(pages)]
            copy = i // len(pages)
            base = http_url(page["url"])
            url = base if copy == 0 else f"{base}#copy{copy}"
            body = page["html"]
            http = StatusAndHeaders(
                "200 OK",
                [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(body)))],
                protocol="HTTP/1.1",
            )
            warc_headers = {
                "WARC-Record-ID": f"<urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, url)}>",
                "WARC-Date": "2024-01-01T00:00:00Z",
                "WARC-Identified-Payload-Type": "text/html",  # as Common Crawl writes it
            }
            rec = writer.create_warc_record(
                url,
                "response",
                payload=io.BytesIO(body),
                length=len(body),
                warc_headers_dict=warc_headers,
                http_headers=http,
            )
            writer.write_record(rec)
    tmp.replace(path)
    stamp.write_text(json.dumps(want))
    return n


# ---------------------------------------------------------------- the two pipelines (run in a child process)


#: datatrove's own default extractor settings, and the settings of ours given to datatrove's extractor (its
#: ``**kwargs`` go to ``trafilatura.extract``); the layout-table unwrapping of ours has no datatrove equivalent
DATATROVE_SETTINGS = {
    "default": {"favour_precision": True},  # deduplicate=True, timeout 1 s: its defaults
    "same": {"favour_precision": False, "deduplicate": False, "fast": True, "include_tables": True,
             "favor_recall": False},  # fmt: skip
}


def run_datatrove(warc_dir: Path, out_dir: Path, settings: str = "default") -> dict:
    import datatrove.utils.lid as lid
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.extractors import Trafilatura
    from datatrove.pipeline.filters import GopherQualityFilter, LanguageFilter
    from datatrove.pipeline.readers import WarcReader
    from datatrove.pipeline.writers import ParquetWriter

    from annotators.langid import bundled_lid176

    # datatrove downloads lid.176.bin on first use; give it the same model file ours reads, no network.
    # With workers=1 the executor runs the task in this process, so patching the module is enough.
    model = bundled_lid176()
    lid.cached_asset_path_or_download = lambda *args, **kwargs: model
    # `fasteners` only locks that download; it is not installed here and nothing needs it without one
    LanguageFilter._requires_dependencies = [("fasttext", "fasttext-numpy2-wheel")]

    executor = LocalPipelineExecutor(
        pipeline=[
            WarcReader(str(warc_dir), glob_pattern="*.warc.gz"),
            Trafilatura(**DATATROVE_SETTINGS[settings]),  # datatrove's default timeout (1 s per page)
            LanguageFilter(languages=None, language_threshold=LANG_THRESHOLD),
            GopherQualityFilter(),
            ParquetWriter(str(out_dir / "documents"), compression="zstd"),
        ],
        tasks=1,
        workers=1,
        logging_dir=str(out_dir / "logs"),
        skip_completed=False,
    )
    executor.run()
    import pyarrow.parquet as pq

    kept = sum(pq.ParquetFile(p).metadata.num_rows for p in (out_dir / "documents").glob("*.parquet"))
    stats = json.loads((out_dir / "logs" / "stats.json").read_text())
    return {"kept": kept, "stats": _compact_stats(stats)}


def _compact_stats(stats) -> list:
    out = []
    for step in stats if isinstance(stats, list) else stats.get("stats", []):
        name = step.get("name")
        kept = {k: v for k, v in (step.get("stats") or {}).items() if isinstance(v, int)}
        out.append({"name": name, **kept})
    return out


def run_ours(warc_dir: Path, out_dir: Path) -> dict:
    from pipelines.engines import run_job
    from pipelines.jobs.web import WebJobConfig

    job = WebJobConfig.parse(
        {
            "name": "bench-extract",
            "inputs": [str(warc_dir / WARC_NAME)],
            "output": str(out_dir),
            "engine": {"kind": "local", "workers": 1},
            "langid": {"min_score": LANG_THRESHOLD, "thresholds": {}},
            "filters": {
                "url_blocklist": {"enabled": False},
                "gopher_repetition": {"enabled": False},
                "gopher_quality": {"enabled": True},
                "c4": {"enabled": False},
                "fineweb": {"enabled": False},
            },
        }
    )
    result = run_job(job, overwrite=True)
    ledger = result.ledger
    languages = dict(result.languages.most_common(10))
    return {"kept": ledger.kept, "ledger": ledger.to_dict(), "languages": languages}


def child(tool: str, workdir: Path, result_path: Path) -> None:
    """Entry of ``--only``: run one tool, write its counts and in-process timings as JSON."""
    import shutil

    out_dir = workdir / f"out-{tool}"
    shutil.rmtree(out_dir, ignore_errors=True)
    start, cpu = time.perf_counter(), time.process_time()
    result = (run_datatrove if tool == "datatrove" else run_ours)(workdir / "warc", out_dir)
    result["wall_s"] = time.perf_counter() - start
    result["cpu_self_s"] = time.process_time() - cpu
    result_path.write_text(json.dumps(result, indent=2))


# ---------------------------------------------------------------- harness sides (benchmarks/harness.py)


def side(tool: str, warc_dir: str, out_dir: str, settings: str = "default") -> dict:
    """One tool on the WARC in ``warc_dir`` (one task, one worker); units = WARC records read."""
    import shutil

    shutil.rmtree(out_dir, ignore_errors=True)
    warc, out = Path(warc_dir), Path(out_dir)
    result = run_datatrove(warc, out, settings) if tool == "datatrove" else run_ours(warc, out)
    records = json.loads((warc / WARC_NAME).with_suffix(".json").read_text())["records"]
    return {"units": records, "kept": result["kept"]}


def harness_sides(pages_dir: Path, workdir: Path, order: str = "file") -> list:
    """Ours; datatrove given our trafilatura settings; datatrove at its default (favour_precision). Size =
    WARC records, the pages repeated round-robin (built in the parent, cached per size); ``order``: the eval
    set's ``file`` order, or ``longest_text_first`` (`largest_first` by `text_sizes`, for the scaling curves)."""
    from benchmarks.harness import Side

    pages: list[dict] = []

    def kwargs(tool: str, settings: str = "default"):
        def at(n: int) -> dict:
            warc_dir = workdir / f"warc-{n}"
            stamp = (warc_dir / WARC_NAME).with_suffix(".json")
            have = json.loads(stamp.read_text()) if stamp.is_file() else {}
            if have.get("records") != n or have.get("order", "file") != order:
                pages[:] = pages or load_eval_pages(pages_dir)
                extra = {}
                if order == "longest_text_first":
                    sizes = [p.setdefault("text_chars", t) for p, t in zip(pages, text_sizes(pages), strict=True)]
                    ordered = largest_first(pages, sizes=sizes)
                    extra["largest_text"] = max(p["text_chars"] for p in ordered[:n])
                else:
                    ordered = pages
                build_warc(ordered, n, warc_dir / WARC_NAME, every_page=False, order=order, **extra)
            return {"tool": tool, "warc_dir": str(warc_dir), "out_dir": str(workdir / f"out-{tool}-{settings}"),
                    "settings": settings}  # fmt: skip

        return at

    return [
        Side("ours (trafilatura fast)", "benchmarks.extract:side", kwargs("ours")),
        Side("datatrove, our settings", "benchmarks.extract:side", kwargs("datatrove", "same")),
        Side("datatrove, its default", "benchmarks.extract:side", kwargs("datatrove", "default")),
    ]


# ---------------------------------------------------------------- measuring a child


def measure(tool: str, workdir: Path) -> dict:
    """Run one tool in a fresh interpreter; poll the RSS of its whole process tree."""
    result_path = workdir / f"result-{tool}.json"
    result_path.unlink(missing_ok=True)
    log_path = workdir / f"{tool}.log"
    cmd = [sys.executable, str(Path(__file__).resolve()), "--only", tool, "--workdir", str(workdir)]
    m = run_measured(cmd, log_path, cwd=ROOT)
    if m.rc != 0 or not result_path.exists():
        raise SystemExit(f"{tool} failed (exit {m.rc}); log {log_path}:\n{log_tail(log_path)}")
    result = json.loads(result_path.read_text())
    result.update(
        tool=tool,
        process_wall_s=m.wall_s,  # interpreter start included
        # the whole tree: reaped grandchildren (datatrove's extraction sandboxes) count into their parent
        cpu_s=m.cpu_s,
        peak_rss_mb=m.peak_rss_mb,  # sum over the tree, polled every 50 ms
        max_single_rss_mb=m.max_single_rss_mb,  # the largest single process of the tree
    )
    return result


# ---------------------------------------------------------------- extraction quality


def _datatrove_decode(body: bytes) -> str | None:
    """datatrove's WarcReader decoding: UTF-8, else cchardet's guess, else the record is skipped."""
    import cchardet

    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        enc = cchardet.detect(body)["encoding"]
        if not enc or enc == "UTF-8":
            return None
        try:
            return body.decode(enc)
        except (UnicodeDecodeError, LookupError):
            return None


def extraction_quality(pages: list[dict]) -> dict[str, dict]:
    from datatrove.pipeline.extractors import Trafilatura

    from pipelines.evaluate import score
    from pipelines.extract import ExtractConfig, build_extractor
    from pipelines.web import decode_body

    ours = build_extractor(ExtractConfig())
    theirs = Trafilatura(**DATATROVE_SETTINGS["default"])
    theirs_same = Trafilatura(**DATATROVE_SETTINGS["same"])

    def run_ours(page):
        html, _ = decode_body(page["html"], "utf-8")  # the charset our benchmark WARC declares
        return ours.extract(html, http_url(page["url"]))

    def run_theirs(page):
        html = _datatrove_decode(page["html"])
        return theirs.extract(html) if html is not None else None

    def run_theirs_same(page):
        html = _datatrove_decode(page["html"])
        return theirs_same.extract(html) if html is not None else None

    results = {}
    for tool, fn in (("datatrove", run_theirs), ("datatrove-same", run_theirs_same), ("ours", run_ours)):
        start = time.perf_counter()
        outputs = []
        for page in pages:
            try:
                text = fn(page)
            except Exception:  # noqa: BLE001 - an extractor error counts as no text, as both pipelines do
                text = None
            outputs.append((text or "").strip())
        seconds = time.perf_counter() - start
        results[tool] = {**score("snippets", pages, outputs), "pages_per_s": len(pages) / seconds}
    return results


# ---------------------------------------------------------------- report


def report(records: int, runs: dict[str, dict], quality: dict[str, dict]) -> str:
    head = ("tool", "records", "wall s", "CPU s", "docs/s/core", "kept docs", "peak RSS MB", "F1", "P", "R")
    rows = []
    for tool in TOOLS:
        r, q = runs[tool], quality[tool]
        rows.append(
            (
                tool,
                str(records),
                f"{r['wall_s']:.1f}",
                f"{r['cpu_s']:.1f}",
                f"{r['docs_per_s_core']:.1f}",
                str(r["kept"]),
                f"{r['peak_rss_mb']:.0f}",
                f"{q['f1']:.3f}",
                f"{q['precision']:.3f}",
                f"{q['recall']:.3f}",
            )
        )
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(head)]

    def line(cells) -> str:
        pairs = enumerate(zip(cells, widths, strict=True))
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in pairs)

    out = [line(head), line(tuple("-" * w for w in widths)), *(line(r) for r in rows)]
    ratio = runs["ours"]["docs_per_s_core"] / runs["datatrove"]["docs_per_s_core"]
    df1 = quality["ours"]["f1"] - quality["datatrove"]["f1"]
    out.append("")
    out.append(f"throughput ratio ours/datatrove: {ratio:.2f}x   (target >= 1.5)")
    out.append(f"F1 ours - datatrove: {df1:+.3f}   (target >= 0)")
    out.append(
        "extractor alone on the unique pages (pages/s): "
        + ", ".join(f"{t} {quality[t]['pages_per_s']:.1f}" for t in TOOLS)
    )
    return "\n".join(out)


def run_harness(args, workdir: Path) -> dict:
    from benchmarks.harness import compare, ratio_table, save, summarize

    print(f"load average {os.getloadavg()[0]:.1f}")
    sides = harness_sides(args.pages_dir, workdir)
    runs = compare(sides, [args.records], workdir / "harness", args.runs, tiny=args.tiny)
    summary = summarize(runs, tiny=args.tiny)
    names = [s.name for s in sides]
    print(ratio_table(summary, args.records, names[0], names[1:], unit="records"))
    quality = {}
    if not args.no_f1:
        quality = extraction_quality(load_eval_pages(args.pages_dir))
        for tool, q in quality.items():
            print(f"extraction F1 {tool}: {q['f1']:.3f} (P {q['precision']:.3f}, R {q['recall']:.3f}), "
                  f"{q['pages_per_s']:.1f} pages/s in-process")  # fmt: skip
    if args.json:
        save(args.json, runs, summary, extraction=quality)
    return summary


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--records", type=int, default=10_000, help="WARC records (pages repeated round-robin).")
    ap.add_argument("--pages-dir", type=Path, default=DEFAULT_PAGES, help="trafilatura's eval set.")
    ap.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR, help="WARC and outputs go here.")
    ap.add_argument("--json", type=Path, default=None, help="Also write every figure as JSON here.")
    ap.add_argument("--only", choices=TOOLS, default=None, help="Run one tool on the built WARC, in-process.")
    ap.add_argument("--no-f1", action="store_true", help="Skip the extraction-quality pass.")
    ap.add_argument("--harness", action="store_true",
                    help="Run through benchmarks/harness.py: ours, datatrove with our settings, datatrove's default.")  # fmt: skip
    ap.add_argument("--runs", type=int, default=3, help="With --harness: runs per side.")
    ap.add_argument("--tiny", type=int, default=50, help="With --harness: records of the start-up run.")
    args = ap.parse_args(argv)
    workdir = args.workdir.resolve()
    if args.harness:
        run_harness(args, workdir)
        return

    if args.only:
        if not (workdir / "warc" / WARC_NAME).exists():
            raise SystemExit(f"no WARC under {workdir}/warc: run without --only first")
        child(args.only, workdir, workdir / f"result-{args.only}.json")
        return

    pages = load_eval_pages(args.pages_dir)
    start = time.perf_counter()
    records = build_warc(pages, args.records, workdir / "warc" / WARC_NAME)
    size = (workdir / "warc" / WARC_NAME).stat().st_size
    print(
        f"WARC: {records} records from {len(pages)} pages, {size / 2**20:.0f} MiB "
        f"({time.perf_counter() - start:.0f} s) at {workdir / 'warc' / WARC_NAME}",
        flush=True,
    )

    runs = {}
    for tool in TOOLS:
        print(f"running {tool} ...", flush=True)
        r = measure(tool, workdir)
        r["records"] = records
        r["docs_per_s_core"] = records / r["wall_s"] / 1
        runs[tool] = r
        print(f"  {tool}: {r['wall_s']:.1f} s wall, {r['kept']} kept", flush=True)

    if args.no_f1:
        quality = {
            t: {"f1": float("nan"), "precision": float("nan"), "recall": float("nan"), "pages_per_s": float("nan")}
            for t in TOOLS
        }
    else:
        print(f"scoring extraction on {len(pages)} pages ...", flush=True)
        quality = extraction_quality(pages)

    print()
    print(report(records, runs, quality))
    if args.json:
        payload = {
            "records": records,
            "pages": len(pages),
            "workers": 1,
            "cpu_count": os.cpu_count(),
            "runs": runs,
            "extraction": quality,
            "ratio_docs_per_s": runs["ours"]["docs_per_s_core"] / runs["datatrove"]["docs_per_s_core"],
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(payload, indent=2))


if __name__ == "__main__":
    main()
