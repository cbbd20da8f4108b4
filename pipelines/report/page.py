"""The report page: sections built from `collect` data, plots inline, one file that opens offline."""

from __future__ import annotations

import datetime as dt
from html import escape
from pathlib import Path

from corpusforge import __version__
from pipelines.report import collect
from pipelines.report.outputs import DEDUP, MIXTURE, RECORDS, SHARDS, TRAINING, Output, is_synthetic
from pipelines.report.plots import Figures

CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#222;background:#f6f7f9}
header{background:#1f2d3d;color:#fff;padding:14px 24px}header h1{margin:0;font-size:20px}
header p{margin:4px 0 0;color:#c8d3df;font-size:12px}nav a{color:#9cc3ff;margin-right:12px}
main{padding:8px 24px 40px;max-width:1400px}section{background:#fff;border:1px solid #e1e4e8;border-radius:6px;
margin:16px 0;padding:12px 18px}h2{font-size:17px;margin:4px 0 8px}h3{font-size:14px;margin:12px 0 4px}
.grid{display:flex;flex-wrap:wrap;gap:8px}.grid>div{flex:0 1 420px}.grid>div.wide{flex:0 1 620px}svg{max-width:100%;height:auto}
table{border-collapse:collapse;font-size:12px}td,th{border-bottom:1px solid #eee;padding:3px 8px;text-align:left;
vertical-align:top}th{background:#fafbfc}.num{text-align:right;font-variant-numeric:tabular-nums}
.muted{color:#777;font-size:12px}summary{cursor:pointer;margin:8px 0;font-weight:600}.cluster{display:flex;gap:8px;overflow-x:auto}.doc{flex:1 1 0;min-width:220px;
border:1px solid #ddd;border-radius:4px;padding:6px;font-size:12px;white-space:pre-wrap;max-height:220px;
overflow:auto}.doc.kept{border-color:#5cb85c}.doc.dropped{border-color:#d9534f}.stat{display:inline-block;
margin-right:22px}.stat b{font-size:18px;display:block}.path{background:#fff;border:1px solid #e1e4e8;
border-radius:6px;margin:16px 0 0;padding:10px 18px}.arrow{color:#999;font-size:20px;margin-right:18px}
"""
# records script errors on the page itself, so a headless browser's --dump-dom shows them (tests read it)
ERROR_HOOK = (
    "<script>window.addEventListener('error',function(e){var d=document.documentElement;"
    "d.setAttribute('data-errors',(d.getAttribute('data-errors')||'')+(e.message||'error')+';')});</script>"
)
READY = (
    "<script>document.documentElement.setAttribute('data-sections',"
    "document.querySelectorAll('section[data-section]').length);</script>"
)


def build(outputs: list[Output], title: str = "CorpusForge report", max_rows: int = 20_000) -> str:
    """The whole page for ``outputs`` (in pipeline order)."""
    figs = Figures()
    path: list[tuple[str, object]] = []  # the run end to end, filled by the sections: (label, value)
    sections: list[tuple[str, str, str]] = []  # (id, title, html)
    records = [o for o in outputs if RECORDS in o.kinds]
    if records:
        sections.append(("funnel", "Funnel", "".join(_funnel(figs, o, path) for o in records)))
        # the last record output of a run is its corpus (after dedup); a synth step's samples only join it
        corpus = next((o for o in reversed(records) if not is_synthetic(o)), records[-1])
        sections.append(("distributions", "Labels and lengths", _distributions(figs, corpus, max_rows)))
    for o in outputs:
        if DEDUP in o.kinds:
            sections.append(("dedup", "Deduplication", _dedup(figs, o)))
        if SHARDS in o.kinds:
            sections.append(("shards", "Token shards", _shards(figs, o, max_rows, path)))
        if TRAINING in o.kinds:
            sections.append(("training", "Training", _training(figs, o, path)))
        if MIXTURE in o.kinds:
            sections.append(("mixture", "Mixture", _mixture(figs, o)))
    seen: dict[str, int] = {}
    body = []
    for sid, name, html in sections:
        seen[sid] = seen.get(sid, 0) + 1
        anchor = sid if seen[sid] == 1 else f"{sid}-{seen[sid]}"
        body.append(f'<section id="{anchor}" data-section="{sid}"><h2>{escape(name)}</h2>{html}</section>')
    nav = " ".join(f'<a href="#{sid}">{escape(name)}</a>' for sid, name in dict.fromkeys((i, n) for i, n, _ in sections))
    steps = " <span class='arrow'>→</span> ".join(_stat(label, value) for label, value in path)
    summary = f"<div class='path'>{steps}</div>" if path else ""
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    covered = ", ".join(escape(o.name) for o in outputs)
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">{ERROR_HOOK}'
        f'<meta name="viewport" content="width=device-width,initial-scale=1"><title>{escape(title)}</title>'
        f"<style>{CSS}</style></head><body><header><h1>{escape(title)}</h1>"
        f"<p>{covered} · corpusforge {escape(__version__)} · {when}</p><nav>{nav}</nav></header>"
        f"<main>{summary}{''.join(body)}</main>{READY}</body></html>\n"
    )


def _table(headers: list[str], rows: list[list], numeric: set[int] = frozenset()) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    out = []
    for row in rows:
        cells = []
        for i, v in enumerate(row):
            text = f"{v:,}" if isinstance(v, int) else (f"{v:.3g}" if isinstance(v, float) else str(v or ""))
            cells.append(f'<td class="num">{escape(text)}</td>' if i in numeric else f"<td>{escape(text)}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(out)}</table>"


def _stat(label: str, value) -> str:
    text = f"{value:,}" if isinstance(value, int) else str(value)
    return f'<span class="stat"><b>{escape(text)}</b>{escape(label)}</span>'


def _funnel(figs: Figures, output: Output, path: list) -> str:
    f = collect.funnel(output.path)
    if not path:
        path.append(("documents read", f["inputs"]))
    path.append((f"kept by {output.path.name}", f["kept"]))
    parts = [
        f"<h3>{escape(output.name)}</h3>",
        _stat("read", f["inputs"]),
        _stat("kept", f["kept"]),
        _stat("dropped", sum(s["removed"] for s in f["stages"]) - f["quarantined"]),
        _stat("quarantined", f["quarantined"]),
    ]
    if f["stages"]:
        plot = figs.waterfall(f["stages"], f["kept"], f"documents through the stages of {output.path.name}")
        rows = [
            [s["stage"], reason, n]
            for s in f["stages"]
            for reason, n in sorted(s["reasons"].items(), key=lambda kv: -kv[1])
        ]
        table = _table(["stage", "reason", "documents"], rows, {2})
        parts.append(f"<div class='grid'><div class='wide'>{plot}</div><div>{table}</div></div>")
    if f["notes"]:
        parts.append(f"<p class='muted'>notes on kept documents: {escape(_counts(f['notes']))}</p>")
    if f["samples"]:
        rows = [[reason, s["stage"], s["url"] or s["id"], s["detail"]] for reason, ss in f["samples"].items() for s in ss]
        parts.append(
            "<details><summary>Sampled dropped documents of the top reasons</summary>"
            f"{_table(['reason', 'stage', 'document', 'detail'], rows)}</details>"
        )
    return "".join(parts)


def _counts(counts: dict) -> str:
    return ", ".join(f"{k} {v:,}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1]))


def _distributions(figs: Figures, output: Output, max_rows: int) -> str:
    d = collect.distributions(output.path, max_rows)
    if not d["sampled"]:
        return f"<p class='muted'>{escape(output.name)} holds no documents.</p>"
    note = f"{escape(output.name)}: {d['documents']:,} documents"
    note += f", plotted from a sample of {d['sampled']:,}" if d["sampled"] < d["documents"] else ""
    plots = [figs.bars(counts, column) for column, counts in d["categorical"].items()]
    plots += [figs.histogram(v, column, column) for column, v in d["scores"].items()]
    plots.append(figs.histogram(d["length_chars"], "document length", "characters", log=True))
    plots += [figs.histogram(v, f"quality: {k}", k) for k, v in d["quality"].items()]
    return f"<p class='muted'>{note}</p><div class='grid'>{''.join(f'<div>{p}</div>' for p in plots)}</div>"


def _dedup(figs: Figures, output: Output) -> str:
    d = collect.dedup(output.path)
    parts = [f"<h3>{escape(output.name)}</h3>", _stat("removed", sum(d["removed"].values()))]
    plots = []
    if d["removed"]:
        plots.append(figs.bars(d["removed"], "removed by kind"))
    if d["cluster_sizes"]:
        plots.append(figs.bars(dict(reversed(list(d["cluster_sizes"].items()))), "survivors by cluster size"))
    parts.append(f"<div class='grid'>{''.join(f'<div>{p}</div>' for p in plots)}</div>")
    if not d["clusters"]:
        parts.append("<p class='muted'>no duplicate cluster in this output.</p>")
    for c in d["clusters"]:
        pairs = ", ".join(f"{p['a'][:8]}–{p['b'][:8]}: {p['jaccard']:.2f}" for p in c["pairwise_jaccard"])
        parts.append(f"<h3>cluster of {c['size']} (pairwise Jaccard {escape(pairs or 'n/a')})</h3>")
        docs = "".join(
            f"<div class='doc {'kept' if m['kept'] else 'dropped'}'><b>{'kept' if m['kept'] else escape(m['reason'] or '')}"
            f"</b> {escape(m['id'][:8])} {escape(m['url'] or '')}\n{escape(m['text'])}</div>"
            for m in c["members"]
        )
        parts.append(f"<div class='cluster'>{docs}</div>")
    return "".join(parts)


def _shards(figs: Figures, output: Output, max_rows: int, path: list) -> str:
    s = collect.shards(output.path, max_rows)
    t = s["totals"]
    path.append((f"tokens in {t.get('cells', 0)} cells", t.get("tokens", 0)))
    parts = [
        f"<h3>{escape(output.name)}</h3>",
        _stat("tokens", t.get("tokens", 0)),
        _stat("documents", t.get("documents", 0)),
        _stat("cells", t.get("cells", 0)),
        _stat("long-document token share", f"{100 * s['long_share']:.1f}%"),
    ]
    keys = "/".join(k.split("=", 1)[0] for k in s["cells"][0]["cell"].split("/")) if s["cells"] else ""
    plots = [
        figs.bars({_cell(c["cell"]): c["tokens"] for c in s["cells"]}, f"tokens per cell ({keys})", "tokens"),
        figs.bars({_cell(c["cell"]): c["documents"] for c in s["cells"]}, f"documents per cell ({keys})"),
    ]
    if s["doc_tokens"]:
        plots.append(figs.histogram(s["doc_tokens"], "document length", "tokens", log=True))
    parts.append(f"<div class='grid'>{''.join(f'<div>{p}</div>' for p in plots)}</div>")
    rows = [[c["cell"], c["documents"], c["tokens"], c["long_documents"], c["long_tokens"]] for c in s["cells"]]
    parts.append(_table(["cell", "documents", "tokens", "long documents", "long tokens"], rows, {1, 2, 3, 4}))
    return "".join(parts)


def _cell(name: str) -> str:
    """``lang=en/domain=news/edu=high`` as ``en/news/high`` (the keys go in the plot's title)."""
    return "/".join(part.split("=", 1)[-1] for part in name.split("/"))


def _training(figs: Figures, output: Output, path: list) -> str:
    stages = collect.training(output.path)["stages"]
    last = [s["loss"][-1][1] for s in stages.values() if s.get("loss")]
    if last:
        path.append((f"final loss after {len(stages)} stages", f"{last[-1]:.3f}"))
    parts = [f"<h3>{escape(output.name)}</h3>"]
    plots = []
    for key, label, log in (
        ("loss", "loss", False),
        ("lr", "learning rate", False),
        ("tokens_per_s", "tokens/s", False),
        ("mfu", "MFU", False),
        ("valid_loss", "validation loss", False),
    ):
        series = {name: s[key] for name, s in stages.items() if s.get(key)}
        if series:
            plots.append(figs.lines(series, label, label, log))
    if not plots:
        parts.append("<p class='muted'>no training metrics logged.</p>")
    parts.append(f"<div class='grid'>{''.join(f'<div>{p}</div>' for p in plots)}</div>")
    rows = []
    for name, s in stages.items():
        loss = s.get("loss") or []
        tps = [v for _, v in s.get("tokens_per_s") or []]
        rows.append(
            [name, len(loss), loss[0][1] if loss else None, loss[-1][1] if loss else None, sum(tps) / len(tps) if tps else None]
        )  # fmt: skip
    parts.append(_table(["stage", "steps", "first loss", "last loss", "mean tokens/s"], rows, {1, 2, 3, 4}))
    return "".join(parts)


def _mixture(figs: Figures, output: Output) -> str:
    m = collect.mixture(output.path)
    parts = [f"<h3>{escape(output.name)}</h3>"]
    plots = [
        figs.bars(w, f"weights: {name}", "share of tokens", reference=m["natural"].get(name))
        for name, w in m["weights"].items()
        if w
    ]
    plots += [figs.scatter(f["predicted"], f["measured"], f"predicted vs measured: {f['name']}") for f in m["fits"]]
    parts.append(f"<div class='grid'>{''.join(f'<div>{p}</div>' for p in plots)}</div>")
    return "".join(parts)


def write(outputs: list[Output], destination: Path, title: str = "CorpusForge report", max_rows: int = 20_000) -> Path:
    """Write the page atomically (a reader never sees half a report)."""
    html = build(outputs, title, max_rows)
    destination.parent.mkdir(parents=True, exist_ok=True)
    tmp = destination.with_name(f".tmp-{destination.name}")
    tmp.write_text(html, encoding="utf-8")
    tmp.replace(destination)
    return destination
