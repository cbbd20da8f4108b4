"""PDF stage throughput on one core: text-layer reading and routing, rendering, OCR, and the whole `pdf` job.

Why: the PDF job spends its time in two very different places. Text-layer pages cost PyMuPDF's extraction plus
our per-span routing features; scanned pages cost a render and an OCR engine, two to three orders of magnitude
more. This script gives each its own pages/s and peak RSS, so a change to either shows up on its own.

Measurements, each in a fresh child process (``--only NAME``) pinned to one CPU, so that one measurement's
memory and threads (onnxruntime, Tesseract's OpenMP) do not reach into another's:

- ``text_ours``: `pipelines.pdf.routing.read_page` + `route` on every page of the digital PDFs
  (``pdf/docling/pdf``), repeated passes for at least ``--min-seconds``;
- ``text_gettext``: the peer baseline, plain PyMuPDF ``page.get_text()`` on the same pages, the same way;
  the report gives the ratio ours/peer in pages/s;
- ``render``: `PdfStage.render` (pixmap at ``--dpi``, lowered only past ``max_render_pixels``, then PNG) of the
  scanned pages (``pdf/docling/ocr_scanned``, at most ``--max-pages``), repeated passes;
- ``ocr_<engine>``: render + ``build_ocr(OcrConfig(engine=..., dpi=...)).read(png)`` on the same pages, the
  engine's own rotation handling included (a rotated scan costs extra reads). Model loading is timed apart
  (a warm-up read of a blank image) and left out of pages/s. An engine that cannot be built is skipped;
- ``job``: `recipes/pdf-sample.yaml` as ``corpusforge run`` loads it (`load_job`), with both input directories,
  ``engine: local, workers: 1``, the first available engine of ``--engines``, run in-process by `run_job`;
  all pages of both directories (OCR pages uncapped), model loading and output writing included.

Time: wall seconds of the measured part (interpreter start and imports left out), and CPU seconds of the child
and its reaped children (Tesseract) over the same part. On a shared machine other processes stretch wall time
but hardly CPU time, so pages per CPU second is the steadier figure and the ratio is given in both.

Memory: the child reads its own ``ru_maxrss`` (RUSAGE_SELF) and its ``VmHWM``, and ``ru_maxrss`` of its reaped
children (Tesseract processes); `measure.run_measured` also polls the RSS of the child's whole process tree.
The table shows ``VmHWM`` (exact for the child's own address space) and the polled tree peak; ``ru_maxrss`` is
kept in the JSON, and it can only be higher, since it inherits the benchmark parent's peak through fork + exec.

    python benchmarks/pdf.py [--shared ../shared/data] [--dpi 200] [--max-pages 20] [--engines rapidocr,tesseract]
        [--min-seconds 3] [--workdir out/bench-pdf] [--json PATH]
Over 400 lines: one corpus of PDFs timed per phase (text layer, routing, rendering, OCR, whole job) and
against plain PyMuPDF, each phase's side beside the others.
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
import resource
import time
from collections import Counter
from pathlib import Path

from benchmarks.measure import log_tail, run_measured

ROOT = Path(__file__).resolve().parent.parent

DEFAULT_SHARED = ROOT.parent / "shared" / "data"
DEFAULT_WORKDIR = ROOT / "out" / "bench-pdf"
DEFAULT_ENGINES = ("rapidocr", "tesseract")
TEXT_DIR = Path("pdf/docling/pdf")
SCANNED_DIR = Path("pdf/docling/ocr_scanned")
RECIPE = ROOT / "recipes" / "pdf-sample.yaml"


# ---------------------------------------------------------------- in the child


def pin_one_cpu() -> int:
    """Pin this process (and what it starts: Tesseract) to one CPU, before any thread pool exists."""
    cpu = max(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    return cpu


def quiet_mupdf():
    """As `PdfStage.setup` does: repairs and warnings are not printed."""
    import pymupdf

    pymupdf.TOOLS.mupdf_display_errors(False)
    pymupdf.TOOLS.mupdf_display_warnings(False)
    return pymupdf


def load_pdfs(directory: Path) -> list[tuple[str, bytes]]:
    files = sorted(directory.glob("*.pdf"))
    if not files:
        raise SystemExit(f"no PDF under {directory}")
    return [(f.name, f.read_bytes()) for f in files]


def each_page(pdfs: list[tuple[str, bytes]], limit: int | None = None):
    """(file name, page number, page) for the PDFs' pages in order, documents opened from bytes in memory."""
    pymupdf = quiet_mupdf()
    n = 0
    for name, data in pdfs:
        doc = pymupdf.open(stream=data, filetype="pdf")
        try:
            for number in range(doc.page_count):
                if limit is not None and n >= limit:
                    return
                yield name, number, doc.load_page(number)
                n += 1
        finally:
            doc.close()


def cpu_now() -> float:
    """CPU seconds of this process and its reaped children (Tesseract): unlike wall time, not inflated by
    other processes on a shared machine."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def repeated(pdfs, per_page, min_seconds: float, limit: int | None = None) -> dict:
    """One warm-up pass, then passes (at least 3) until ``min_seconds``; pages/s over the timed passes."""
    for _, _, page in each_page(pdfs, limit):
        per_page(page)
    passes, pages, times = 0, 0, []
    start, cpu = time.perf_counter(), cpu_now()
    while passes < 3 or time.perf_counter() - start < min_seconds:
        t0, n = time.perf_counter(), 0
        for _, _, page in each_page(pdfs, limit):
            per_page(page)
            n += 1
        times.append(time.perf_counter() - t0)
        passes += 1
        pages += n
    cpu_s = cpu_now() - cpu
    seconds = sum(times)
    per_pass = pages // passes
    return {
        "pages": per_pass,
        "passes": passes,
        "seconds": seconds,
        "pages_per_s": pages / seconds,
        "cpu_s": cpu_s,
        "pages_per_cpu_s": pages / cpu_s,
        "best_pass_pages_per_s": per_pass / min(times),
    }


def measure_text(shared: Path, ours: bool, min_seconds: float) -> dict:
    """Our reading + routing, or PyMuPDF's plain ``get_text()``, on every text-layer sample page."""
    pdfs = load_pdfs(shared / TEXT_DIR)
    routes: Counter = Counter()
    chars = [0]

    if ours:  # the peer's child does not import our code: its RSS is PyMuPDF's alone
        from pipelines.pdf.routing import RoutingConfig, read_page, route

        config = RoutingConfig()

    def ours_page(page) -> None:
        read = read_page(page)
        method, _ = route(read.features, config)
        routes[method] += 1
        chars[0] += len(read.text)

    def peer_page(page) -> None:
        chars[0] += len(page.get_text())

    result = repeated(pdfs, ours_page if ours else peer_page, min_seconds)
    runs = result["passes"] + 1  # the warm-up pass counted too
    result["chars_per_pass"] = chars[0] // runs
    if ours:
        result["routes"] = {k: v // runs for k, v in sorted(routes.items())}
    return result


def stage_for(engine: str, dpi: int):
    from pipelines.pdf.ocr import OcrConfig
    from pipelines.pdf.stage import PdfConfig, PdfStage

    stage = PdfStage(PdfConfig(ocr=OcrConfig(engine=engine, dpi=dpi)))
    stage.setup()
    return stage


def measure_render(shared: Path, dpi: int, max_pages: int, min_seconds: float) -> dict:
    """What every OCR page pays before the engine sees it: pixmap at the dpi, then PNG encoding."""
    stage = stage_for("rapidocr", dpi)  # the engine is not built: render only reads ocr.dpi
    sizes = []

    def render(page) -> None:
        sizes.append(len(stage.render(page)))

    result = repeated(load_pdfs(shared / SCANNED_DIR), render, min_seconds, max_pages)
    result["png_kb_mean"] = sum(sizes) / len(sizes) / 1024
    return result


def _blank_png() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (200, 100), "white").save(out, "PNG")
    return out.getvalue()


def measure_ocr(shared: Path, engine: str, dpi: int, max_pages: int) -> dict:
    """Render + OCR of each scanned page, one pass; the engine's model loading is timed apart."""
    from corpusforge.errors import DependencyError
    from pipelines.pdf.routing import read_page, route

    stage = stage_for(engine, dpi)
    t0 = time.perf_counter()
    try:
        ocr = stage.ocr_engine()
    except DependencyError as exc:
        return {"skipped": str(exc)}
    ocr.read(_blank_png())  # loads the model (RapidOCR) or warms the binary's files (Tesseract)
    setup_s = time.perf_counter() - t0
    languages = list(stage.config.ocr.languages)
    pages, routes, per_page, cpu_s = 0, Counter(), [], 0.0
    for name, number, page in each_page(load_pdfs(shared / SCANNED_DIR), max_pages):
        t, cpu = time.perf_counter(), cpu_now()
        result = ocr.read(stage.render(page), languages)
        seconds = time.perf_counter() - t
        cpu_s += cpu_now() - cpu
        pages += 1
        routes[route(read_page(page).features, stage.config.routing)[0]] += 1  # untimed: a check, not a cost
        per_page.append(
            {
                "file": name,
                "page": number,
                "seconds": round(seconds, 3),
                "angle": result.angle,
                "confidence": None if result.confidence is None else round(result.confidence, 3),
                "chars": len(result.text),
            }
        )
    seconds = sum(p["seconds"] for p in per_page)  # render + read; the route check left out
    return {
        "engine": engine,
        "version": ocr.version,
        "pages": pages,
        "seconds": seconds,
        "pages_per_s": pages / seconds,
        "cpu_s": cpu_s,
        "pages_per_cpu_s": pages / cpu_s,
        "setup_s": setup_s,
        "routes": dict(routes),
        "per_page": per_page,
    }


def measure_job(shared: Path, workdir: Path, engine: str, dpi: int) -> dict:
    """The `pdf` job as ``corpusforge run recipes/pdf-sample.yaml`` runs it, on one local worker."""
    import pyarrow.parquet as pq

    from corpusforge.job import load_job
    from pipelines.engines import run_job

    output = workdir / "job"
    overrides = {
        "inputs": [str(shared / TEXT_DIR), str(shared / SCANNED_DIR)],
        "output": str(output),
        "engine.kind": "local",
        "engine.workers": 1,
        "pdf.ocr.engine": engine,
        "pdf.ocr.dpi": dpi,
    }
    start, cpu = time.perf_counter(), cpu_now()
    job = load_job(RECIPE, overrides)
    result = run_job(job, overwrite=True)
    seconds, cpu_s = time.perf_counter() - start, cpu_now() - cpu
    pages, methods = 0, Counter()
    for row in pq.read_table(output / "documents", columns=["meta"]).column("meta").to_pylist():
        meta = dict(row)
        pages += int(meta["pdf_page_count"])
        methods.update(json.loads(meta["pdf_methods"]))
    ledger = result.ledger
    return {
        "engine": engine,
        "documents": ledger.inputs,
        "kept": ledger.kept,
        "pages": pages,  # of kept documents: all of them here (a dropped one would leave its pages out)
        "methods": dict(sorted(methods.items())),
        "seconds": seconds,
        "pages_per_s": pages / seconds,
        "cpu_s": cpu_s,
        "pages_per_cpu_s": pages / cpu_s,
    }


# ---------------------------------------------------------------- harness sides (benchmarks/harness.py)


def side_job(pdf_dir: str, out: str, ocr: bool = True) -> dict:
    """Our `pdf` job (recipes/pdf-sample.yaml, local engine, one worker, Tesseract for any page routed to OCR;
    ``ocr=False``: ``pdf.ocr: null``, every page from its text layer) on the digital PDFs; units = pages written."""
    import pyarrow.parquet as pq

    from pipelines.cli import load_job
    from pipelines.engines import run_job

    overrides = {"inputs": [pdf_dir], "output": out, "engine.kind": "local", "engine.workers": 1,
                 "pdf.ocr.engine": "tesseract"}  # fmt: skip
    job = load_job(RECIPE, overrides)
    if not ocr:
        job = job.model_copy(update={"pdf": job.pdf.model_copy(update={"ocr": None})})
    run_job(job, overwrite=True)
    metas = pq.read_table(Path(out) / "documents", columns=["meta"]).column("meta").to_pylist()
    tried = sum("ocr" in p.get("route", "") for m in metas for p in json.loads(dict(m)["pdf_pages"]))
    ocr = sum(json.loads(dict(m)["pdf_methods"]).get("ocr", 0) for m in metas)
    pages = sum(int(dict(m)["pdf_page_count"]) for m in metas)
    return {"units": pages, "documents": len(metas), "ocr_pages": ocr, "routed_to_ocr": tried}


def side_pymupdf(pdf_dir: str, out: str) -> dict:
    """The peer: plain PyMuPDF, ``page.get_text()`` of every page joined per document, written as Parquet
    (id, text) with zstd like ours; no routing, no ledger, no OCR fallback."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    pymupdf = quiet_mupdf()
    ids, texts, pages = [], [], 0
    for path in sorted(Path(pdf_dir).glob("*.pdf")):
        with pymupdf.open(path) as doc:
            texts.append("\n\n".join(page.get_text() for page in doc))
            pages += doc.page_count
        ids.append(path.name)
    Path(out).mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({"id": ids, "text": texts}), Path(out) / "part-00000.parquet", compression="zstd")
    return {"units": pages, "documents": len(ids)}


def harness_sides(shared: Path, workdir: Path) -> list:
    """Size = copies of the 12 digital PDFs (hard links, or copies across file systems) in one folder."""
    import shutil

    from benchmarks.harness import Side

    def folder(n: int) -> str:
        target = workdir / f"pdfs-{n}"
        sources = sorted((shared / TEXT_DIR).glob("*.pdf"))
        if len(list(target.glob("*.pdf"))) != n * len(sources):
            shutil.rmtree(target, ignore_errors=True)
            target.mkdir(parents=True)
            for copy in range(n):
                for src in sources:
                    dst = target / f"{copy:03d}-{src.name}"
                    try:
                        os.link(src, dst)
                    except OSError:
                        shutil.copyfile(src, dst)
        return str(target)

    return [
        Side("ours: pdf job", "benchmarks.pdf:side_job", lambda n: {"pdf_dir": folder(n), "out": str(workdir / "out-job")}),
        Side("ours: pdf job, OCR off", "benchmarks.pdf:side_job",
             lambda n: {"pdf_dir": folder(n), "out": str(workdir / "out-job-text"), "ocr": False}),
        Side("PyMuPDF get_text", "benchmarks.pdf:side_pymupdf",
             lambda n: {"pdf_dir": folder(n), "out": str(workdir / "out-pymupdf")}),
    ]  # fmt: skip


def _vm_hwm_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def child(args) -> None:
    """Entry of ``--only``: one measurement in this process, its figures and memory as JSON."""
    cpu = pin_one_cpu()
    name, cpu_start = args.only, time.process_time()
    if name in ("text_ours", "text_gettext"):
        result = measure_text(args.shared, name == "text_ours", args.min_seconds)
    elif name == "render":
        result = measure_render(args.shared, args.dpi, args.max_pages, args.min_seconds)
    elif name.startswith("ocr_"):
        result = measure_ocr(args.shared, name.removeprefix("ocr_"), args.dpi, args.max_pages)
    elif name.startswith("job_"):
        result = measure_job(args.shared, args.workdir, name.removeprefix("job_"), args.dpi)
    else:
        raise SystemExit(f"unknown measurement {name}")
    result.update(
        cpu=cpu,
        cpu_self_s=time.process_time() - cpu_start,
        ru_maxrss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,  # kB on Linux
        children_maxrss_mb=resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
        vm_hwm_mb=_vm_hwm_mb(),
    )
    args.result.write_text(json.dumps(result, indent=2))


# ---------------------------------------------------------------- in the parent


def measure(name: str, args) -> dict:
    """Run one measurement in a fresh interpreter; poll its process tree's RSS (Tesseract children included)."""
    workdir = args.workdir
    result_path = workdir / f"result-{name}.json"
    result_path.unlink(missing_ok=True)
    log_path = workdir / f"{name}.log"
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--only",
        name,
        "--result",
        str(result_path),
        "--shared",
        str(args.shared),
        "--workdir",
        str(workdir),
        "--dpi",
        str(args.dpi),
        "--max-pages",
        str(args.max_pages),
        "--min-seconds",
        str(args.min_seconds),
    ]
    m = run_measured(cmd, log_path, cwd=ROOT)
    if m.rc != 0 or not result_path.exists():
        raise SystemExit(f"{name} failed (exit {m.rc}); log {log_path}:\n{log_tail(log_path)}")
    result = json.loads(result_path.read_text())
    result.update(
        name=name,
        process_wall_s=m.wall_s,  # interpreter start and imports included
        process_cpu_s=m.cpu_s,  # reaped children (Tesseract) included
        tree_peak_rss_mb=m.peak_rss_mb,  # sum over the process tree, polled every 50 ms
        max_single_rss_mb=m.max_single_rss_mb,
    )
    return result


LABELS = {
    "text_ours": "text layer: read_page + route (ours)",
    "text_gettext": "text layer: page.get_text() (PyMuPDF)",
    "render": "render only at {dpi} dpi → PNG",
}


def label(name: str, dpi: int) -> str:
    if name in LABELS:
        return LABELS[name].format(dpi=dpi)
    if name.startswith("ocr_"):
        return f"OCR {name.removeprefix('ocr_')}: render + read"
    return f"pdf job end to end ({name.removeprefix('job_')})"


def report(runs: dict[str, dict], dpi: int) -> str:
    """A Markdown table: pages/s, ratio to plain get_text where it applies, peak RSS of each child."""
    peer = runs.get("text_gettext", {})
    rows = [
        "| measurement | pages | wall s | pages/s | CPU s | pages/CPU s | vs get_text (wall, CPU) | setup s "
        "| peak RSS MB | tree peak RSS MB |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in runs.items():
        if "skipped" in r:
            rows.append(f"| {label(name, dpi)} | skipped: {r['skipped']} | | | | | | | | |")
            continue
        pages = f"{r['pages']} × {r['passes']}" if "passes" in r else str(r["pages"])
        ratio = ""
        if peer and name.startswith("text_"):
            ratio = (
                f"{r['pages_per_s'] / peer['pages_per_s']:.2f}×, {r['pages_per_cpu_s'] / peer['pages_per_cpu_s']:.2f}×"
            )
        setup = f"{r['setup_s']:.2f}" if "setup_s" in r else ""
        rows.append(
            f"| {label(name, dpi)} | {pages} | {r['seconds']:.2f} | {r['pages_per_s']:.2f} | {r['cpu_s']:.2f} "
            f"| {r['pages_per_cpu_s']:.2f} | {ratio} | {setup} "
            f"| {r['vm_hwm_mb']:.0f} | {r['tree_peak_rss_mb']:.0f} |"
        )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shared", type=Path, default=DEFAULT_SHARED, help="The shared data folder.")
    ap.add_argument("--dpi", type=int, default=200, help="Render resolution for OCR (the job's ocr.dpi).")
    ap.add_argument("--max-pages", type=int, default=20, help="At most this many scanned pages for render and OCR.")
    ap.add_argument("--engines", default=",".join(DEFAULT_ENGINES), help="OCR engines to measure, comma-separated.")
    ap.add_argument("--min-seconds", type=float, default=3.0, help="Repeat text and render passes this long.")
    ap.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR, help="Logs and the job's output go here.")
    ap.add_argument("--skip-job", action="store_true", help="Leave out the end-to-end job.")
    ap.add_argument("--json", type=Path, default=None, help="Also write every figure as JSON here.")
    ap.add_argument("--only", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--result", type=Path, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    args.shared, args.workdir = args.shared.resolve(), args.workdir.resolve()

    if args.only:
        child(args)
        return

    args.workdir.mkdir(parents=True, exist_ok=True)
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    runs: dict[str, dict] = {}
    for name in ["text_ours", "text_gettext", "render", *(f"ocr_{e}" for e in engines)]:
        print(f"running {name} ...", flush=True)
        runs[name] = r = measure(name, args)
        if "skipped" in r:
            print(f"  {name}: skipped: {r['skipped']}", flush=True)
        else:
            print(f"  {name}: {r['pages_per_s']:.2f} pages/s, peak RSS {r['vm_hwm_mb']:.0f} MB", flush=True)
    available = [e for e in engines if "skipped" not in runs[f"ocr_{e}"]]
    if args.skip_job:
        pass
    elif not available:
        print("job: skipped, no OCR engine available", flush=True)
    else:
        name = f"job_{available[0]}"
        print(f"running {name} ...", flush=True)
        runs[name] = r = measure(name, args)
        print(f"  {name}: {r['pages']} pages, {r['pages_per_s']:.2f} pages/s, {r['methods']}", flush=True)

    print()
    print(report(runs, args.dpi))
    ours, peer = runs["text_ours"], runs["text_gettext"]
    ratio = ours["pages_per_s"] / peer["pages_per_s"]
    ratio_cpu = ours["pages_per_cpu_s"] / peer["pages_per_cpu_s"]
    print()
    print(
        f"text layer, ours/get_text: {ratio:.3f}x in pages/s, {ratio_cpu:.3f}x in pages/CPU s "
        f"({ours['pages']} pages, routes {ours['routes']})"
    )
    for name, r in runs.items():
        if name.startswith("ocr_") and "per_page" in r:
            slow = max(r["per_page"], key=lambda p: p["seconds"])
            print(
                f"{name}: slowest page {slow['file']} p{slow['page']} {slow['seconds']:.2f} s "
                f"(angle {slow['angle']}, confidence {slow['confidence']})"
            )
    if args.json:
        payload = {
            "dpi": args.dpi,
            "max_pages": args.max_pages,
            "cpu_count": os.cpu_count(),
            "cores_used": 1,
            "runs": runs,
            "ratio_text_ours_vs_gettext": ratio,
            "ratio_text_ours_vs_gettext_cpu": ratio_cpu,
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(payload, indent=2))


if __name__ == "__main__":
    main()
