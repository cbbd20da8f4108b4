"""One document's lineage: in which outputs it was kept, dropped (stage, reason, detail) or sharded, and the
annotators and stages its ``meta`` records. Reads only the rows with its id (Parquet row-group statistics)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.parquet as pq

from corpusforge.record import LABEL_COLUMNS, Record


@dataclass
class Event:
    output: str
    outcome: str  # kept | dropped | quarantined | sharded
    stage: str = ""
    detail: str = ""


@dataclass
class Lineage:
    doc_id: str
    record: Record | None = None
    events: list[Event] = field(default_factory=list)


def _rows(folder: Path, doc_id: str, columns: list[str] | None = None) -> list[dict]:
    rows = []
    for path in sorted(folder.glob("part-*.parquet")) if folder.is_dir() else []:
        table = pq.read_table(path, columns=columns, filters=[("id", "=", doc_id)])
        rows += table.to_pylist()
    return rows


def _stages_of(output: Path) -> str:
    """The stages of an output's job, from its resolved config where it says (web: extract, langid, filters)."""
    import yaml

    cfg_path = output / "config.yaml"
    if not cfg_path.is_file():
        return "dedup: url → exact → fuzzy" if (output / "summary.json").is_file() else ""
    cfg = yaml.safe_load(cfg_path.read_text()) or {}
    kind = cfg.get("kind", "web")
    if kind != "web":
        return kind
    names = ["read", "extract"]
    if (cfg.get("langid") or {}).get("enabled", True):
        names.append("langid")
    filters = cfg.get("filters") or {}
    names += [n for n in ("url_blocklist", "gopher_quality", "gopher_repetition", "fineweb", "c4")
              if (filters.get(n) or {}).get("enabled", True)]  # fmt: skip
    if (cfg.get("labels") or {}).get("enabled", cfg.get("labels") is not None):
        names.append("label")
    return " → ".join(names)


def lineage(doc_id: str, outputs: list[Path]) -> Lineage:
    found = Lineage(doc_id)
    for output in outputs:
        name = str(output)
        for row in _rows(output / "documents", doc_id):
            found.record = Record.from_row(row)  # the latest output's copy: the most labels and meta
            found.events.append(Event(name, "kept", _stages_of(output)))
        for row in _rows(output / "audit", doc_id):
            detail = row.get("detail") or ""
            if row.get("stage") == "dedup" and detail:
                detail = f"duplicate of {detail}"
            found.events.append(Event(name, row["status"], row.get("stage") or "", f"{row.get('reason')} {detail}".strip()))
        for row in _rows(output / "index", doc_id):
            where = f"{row.get('shard')} #{row.get('doc_index')}, {row.get('tokens')} tokens"
            found.events.append(Event(name, "sharded", "shard", where))
    return found


def print_lineage(found: Lineage, width: int = 1200, console=None) -> None:
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    rec = found.record
    console.print(f"[bold]{found.doc_id}[/bold]")
    if rec is not None:
        labels = Table(show_header=False, box=None, pad_edge=False)
        labels.add_column(style="cyan")
        labels.add_column(overflow="fold")
        for name in ("source", "url", "lang", "lang_score", *LABEL_COLUMNS):
            value = getattr(rec, name)
            if value is not None and value != "":
                labels.add_row(name, f"{value:.3f}" if isinstance(value, float) else str(value))
        for key, value in sorted(rec.quality.items()):
            labels.add_row(f"quality.{key}", f"{value:.4g}")
        for key, value in sorted(rec.meta.items()):
            labels.add_row(f"meta.{key}", value)
        console.print(labels)
    table = Table(title="lineage", show_lines=False)
    table.add_column("output", overflow="fold")
    table.add_column("outcome")
    table.add_column("stages / detail", overflow="fold")
    for e in found.events:
        table.add_row(e.output, e.outcome, " ".join(x for x in (e.stage, e.detail) if x))
    console.print(table)
    if rec is not None:
        text = rec.text if width == 0 or len(rec.text) <= width else rec.text[:width] + f" … ({len(rec.text):,} chars)"
        console.print(text, markup=False, highlight=False)
