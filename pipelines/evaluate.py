"""`corpusforge eval extraction`: score main-text extractors on a labelled page directory.

Two formats are recognised from the directory's contents:
- article-extraction-benchmark: ``ground-truth.json`` = ``{id: {"articleBody": ..., "url": ...}}`` and pages
  ``html/<id>.html.gz``; scored by token-level precision / recall / F1 (bags of whitespace tokens, per page,
  averaged over pages, as that benchmark does);
- trafilatura's evaldata: ``evaldata.json`` = ``{url: {"file": ..., "with": [...], "without": [...]}}`` and pages
  ``html/<file>[.gz]``; a snippet from "with" found in the output is a true positive, one from "without" a
  false positive.
"""

from __future__ import annotations

import gzip
import json
import time
from collections import Counter
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import track
from rich.table import Table

from corpusforge.errors import InputError
from pipelines.extract import ExtractConfig, TrafilaturaOptions, build_extractor
from pipelines.web import decode_body

EXTRACTORS = ("trafilatura", "resiliparse")


def _read_page(path: Path) -> bytes:
    if path.exists():
        data = path.read_bytes()
    elif path.with_name(path.name + ".gz").exists():
        data = path.with_name(path.name + ".gz").read_bytes()
    else:
        raise InputError(str(path), "page listed in the gold file is missing")
    return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data


def load_pages(data: Path) -> tuple[str, list[dict]]:
    """(format, pages): each page has ``html`` (bytes), ``url`` and its gold fields."""
    if (data / "ground-truth.json").exists():
        gold = json.loads((data / "ground-truth.json").read_text())
        pages = [
            {
                "id": pid,
                "url": g.get("url"),
                "html": _read_page(data / "html" / f"{pid}.html"),
                "body": g.get("articleBody") or "",
            }
            for pid, g in sorted(gold.items())
        ]
        return "aeb", pages
    if (data / "evaldata.json").exists():
        gold = json.loads((data / "evaldata.json").read_text())
        pages = []
        for url, g in gold.items():
            path = data / "html" / g["file"]
            if not path.exists() and not path.with_name(path.name + ".gz").exists():
                continue  # the eval set lists a few pages it does not ship
            pages.append(
                {
                    "id": g["file"],
                    "url": url,
                    "html": _read_page(path),
                    "with": g.get("with", []),
                    "without": g.get("without", []),
                }
            )
        return "snippets", pages
    raise InputError(str(data), "expected ground-truth.json (article-extraction-benchmark) or evaldata.json")


def _prf(tp: float, fp: float, fn: float) -> tuple[float, float, float]:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def score(fmt: str, pages: list[dict], outputs: list[str]) -> dict:
    if fmt == "snippets":
        tp = fp = fn = tn = 0
        for page, out in zip(pages, outputs, strict=True):
            for s in page["with"]:
                tp, fn = (tp + 1, fn) if s in out else (tp, fn + 1)
            for s in page["without"]:
                fp, tn = (fp + 1, tn) if s in out else (fp, tn + 1)
        p, r, f = _prf(tp, fp, fn)
        return {"precision": p, "recall": r, "f1": f, "accuracy": (tp + tn) / max(tp + tn + fp + fn, 1)}
    precisions, recalls = [], []
    for page, out in zip(pages, outputs, strict=True):
        pred, gold = Counter(out.split()), Counter(page["body"].split())
        common = sum((pred & gold).values())
        precisions.append(common / sum(pred.values()) if pred else (1.0 if not gold else 0.0))
        recalls.append(common / sum(gold.values()) if gold else 1.0)
    p, r = sum(precisions) / len(pages), sum(recalls) / len(pages)
    return {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0}


def evaluate_extractor(
    name: str, fmt: str, pages: list[dict], progress: bool = False, unwrap_layout_tables: bool = True
) -> dict:
    options = TrafilaturaOptions(unwrap_layout_tables=unwrap_layout_tables)
    extractor = build_extractor(ExtractConfig(extractor=name, trafilatura=options))
    start = time.perf_counter()
    outputs = []
    for page in track(pages, description=f"{name}", transient=True, disable=not progress):
        html, _ = decode_body(page["html"], None)
        outputs.append((extractor.extract(html, page["url"]) or "").strip())
    seconds = time.perf_counter() - start
    result = score(fmt, pages, outputs)
    result.update(extractor=name, pages=len(pages), pages_per_s=len(pages) / seconds if seconds else 0.0)
    return result


def eval_extraction(
    data: Path = typer.Argument(..., help="Directory with evaldata.json or ground-truth.json and html/.", exists=True),
    extractor: list[str] = typer.Option(list(EXTRACTORS), help="Extractor(s) to score (repeatable)."),
    json_path: Path | None = typer.Option(None, "--json", help="Also write the results as JSON here."),
    layout_tables: str = typer.Option(
        "unwrap", help="unwrap (the default: layout tables become divs before trafilatura) or keep (as tables)."
    ),
) -> None:
    """Precision, recall and F1 of main-text extraction against gold text or snippets."""
    if layout_tables not in ("unwrap", "keep"):
        raise InputError(f"--layout-tables {layout_tables}", "choose unwrap or keep")
    for name in extractor:
        if name not in EXTRACTORS:
            raise InputError(f"--extractor {name}", f"unknown extractor; choose from {', '.join(EXTRACTORS)}")
    fmt, pages = load_pages(data)
    unwrap = layout_tables == "unwrap"
    results = [evaluate_extractor(name, fmt, pages, True, unwrap) for name in extractor]
    for r in results:
        r["layout_tables"] = layout_tables if r["extractor"] == "trafilatura" else "n/a"
    table = Table(title=f"extraction ({'snippets' if fmt == 'snippets' else 'token-level'}) on {data}")
    for col in ("extractor", "pages", "precision", "recall", "F1", "pages/s"):
        table.add_column(col, justify="left" if col == "extractor" else "right")
    for r in results:
        table.add_row(
            r["extractor"],
            str(r["pages"]),
            f"{r['precision']:.3f}",
            f"{r['recall']:.3f}",
            f"{r['f1']:.3f}",
            f"{r['pages_per_s']:.1f}",
        )
    Console().print(table)
    if json_path:
        json_path.write_text(json.dumps({"format": fmt, "data": str(data), "results": results}, indent=2))
