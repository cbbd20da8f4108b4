"""Scaling of our data stages at 1×, 2×, 4× and 8× input: documents per CPU second on one core, peak RSS per worker.

Each stage runs as its job would (local engine, one worker, the job's own reading and writing) in a child pinned
to one CPU through `benchmarks/harness.py`, ``--runs`` times per size, sizes interleaved after a warm-up:

- ``extract``: the web job (`benchmarks.extract.side`, ours) on a WARC of the first ``base × k`` of trafilatura's
  eval pages, the page with the longest extracted text first and the others in a seeded shuffle
  (`benchmarks.extract.largest_first`), so every size holds the same largest document and a sample of one size
  distribution;
- ``label``: the label job (default label set: six heads, PII, quality signals) on the first ``base × k`` real
  documents of the label benchmark's corpus, ordered the same way, in Parquet parts of 1,000;
- ``dedup``: the dedup job, fuzzy only (`benchmarks.dedup.side`, ours) on ``base × k`` documents, a third planted
  near-duplicates, the longest real document in every size (`benchmarks.dedup.build_replica`'s ``longest``);
- ``shard``: the shard job (`benchmarks.tokenize.side_ours`) on ``base × k`` MB of text.

Per size: documents per CPU second over the whole run, the marginal rate between successive sizes (extra
documents over extra CPU seconds: the steady rate with start-up cancelled), and the peak RSS of the largest
single process of the child's tree (the worker; sampled every 20 ms), and the largest document of the input. Goal (DESIGN.md): memory per worker flat
as input grows, within ±10% of the 1× figure. One PNG per stage (``--plots``, default ``docs/``).

    python -m benchmarks.scaling [--stages extract,label,dedup,shard] [--runs 3] [--plots docs] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
from pathlib import Path

from benchmarks.harness import Side, compare, save, summarize

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SHARED = ROOT.parent / "shared" / "data"
SCALES = (1, 2, 4, 8)
#: stage -> (base size, unit of size, what a unit is)
BASE = {"extract": (100, "records"), "label": (1000, "documents"), "dedup": (1000, "documents"), "shard": (1, "MB")}
PART_ROWS = 1000


def side_label_job(parts: str, out: str) -> dict:
    """The label job (default `LabelConfig`) on the record Parquet parts in ``parts``; units = documents in."""
    from pipelines.engines import run_job
    from pipelines.jobs.label import LabelJobConfig

    job = LabelJobConfig.parse({"inputs": [parts], "output": out, "engine": {"kind": "local", "workers": 1}})
    result = run_job(job, overwrite=True)
    return {"units": result.ledger.inputs, "kept": result.ledger.kept}


def label_parts(shared: Path, workdir: Path, n: int) -> str:
    """``n`` real documents as record Parquet parts of `PART_ROWS` (built once per size)."""
    import pyarrow.parquet as pq

    from benchmarks.label import build_corpus, load_corpus
    from corpusforge.record import Record, to_table

    folder = workdir / f"label-{n}"
    stamp = folder / "_n.json"
    want = {"n": n, "order": "largest_first"}
    if stamp.is_file() and json.loads(stamp.read_text()) == want:
        return str(folder)
    folder.mkdir(parents=True, exist_ok=True)
    docs = largest_first(load_corpus(build_corpus(shared, workdir)))
    records = [Record(id=f"l{i}", text=docs[i % len(docs)]["text"], source=docs[i % len(docs)]["source"])
               for i in range(n)]  # fmt: skip
    for part, start in enumerate(range(0, n, PART_ROWS)):
        pq.write_table(to_table(records[start : start + PART_ROWS]), folder / f"part-{part:05d}.parquet")
    stamp.write_text(json.dumps(want))
    return str(folder)


def largest_first(docs: list[dict], seed: int = 0) -> list[dict]:
    """The corpus's longest text first, the others in a seeded shuffle: every size holds the same largest
    document and a sample of one length distribution."""
    top = max(range(len(docs)), key=lambda i: len(docs[i]["text"]))
    rest = [d for i, d in enumerate(docs) if i != top]
    random.Random(seed).shuffle(rest)
    return [docs[top], *rest]


def largest_document(stage: str, kwargs: dict) -> int:
    """The largest document of one size's input: HTML bytes of a page (extract), characters of a text (else)."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    if stage == "extract":  # the longest extracted text (what a worker's memory follows), else the largest HTML
        from benchmarks.extract import WARC_NAME

        stamp = json.loads((Path(kwargs["warc_dir"]) / WARC_NAME).with_suffix(".json").read_text())
        return stamp.get("largest_text", stamp["largest_bytes"])
    where = kwargs.get("files") or [kwargs.get("parts") or kwargs["corpus"]]
    paths = [p for w in map(Path, where) for p in (sorted(w.glob("*.parquet")) if w.is_dir() else [w])]
    return max(pc.max(pc.utf8_length(pq.read_table(p, columns=["text"]).column(0))).as_py() or 0 for p in paths)


def stage_side(stage: str, shared: Path, workdir: Path) -> Side:
    if stage == "extract":
        from benchmarks.extract import harness_sides

        return harness_sides(shared / "extraction" / "trafilatura_eval", workdir, order="longest_text_first")[0]
    if stage == "dedup":
        from benchmarks.dedup import harness_sides

        return harness_sides(shared, workdir, longest=True)[0]
    if stage == "shard":
        from benchmarks.tokenize import sides

        return sides(shared, workdir)[0]
    if stage == "label":
        return Side("ours: label job", "benchmarks.scaling:side_label_job",
                    lambda n: {"parts": label_parts(shared, workdir, n), "out": str(workdir / "out-label")})  # fmt: skip
    raise ValueError(stage)


def curve(summary: dict, side: str) -> list[dict]:
    rows, previous = [], None
    for size in sorted(summary[side]):
        row = summary[side][size]
        cpu = row["cpu_s"]["median"]
        point = {
            "size": size,
            "units": row["units"],
            "cpu_s": row["cpu_s"],
            "wall_s": row["wall_s"],
            "units_per_cpu_s": row["units_per_cpu_s"],
            "worker_rss_mb": row["worker_rss_mb"],
            "peak_rss_mb": row["peak_rss_mb"],
            "load": row["load"],
        }
        if previous and cpu > previous["cpu"]:
            point["marginal_units_per_cpu_s"] = (row["units"] - previous["units"]) / (cpu - previous["cpu"])
        rows.append(point)
        previous = {"cpu": cpu, "units": row["units"]}
    base = rows[0]["worker_rss_mb"]["median"]
    for p in rows:
        p["rss_vs_1x"] = p["worker_rss_mb"]["median"] / base - 1
    return rows


def plot(stage: str, unit: str, points: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scale = [p["size"] / points[0]["size"] for p in points]
    fig, (a, b) = plt.subplots(1, 2, figsize=(8, 3), dpi=80)
    rate = [p["units_per_cpu_s"]["median"] for p in points]
    err = [[r - p["units_per_cpu_s"]["min"] for r, p in zip(rate, points, strict=True)],
           [p["units_per_cpu_s"]["max"] - r for r, p in zip(rate, points, strict=True)]]  # fmt: skip
    a.errorbar(scale, rate, yerr=err, marker="o", capsize=3, label="whole run")
    marginal = [(s, p["marginal_units_per_cpu_s"]) for s, p in zip(scale, points, strict=True) if "marginal_units_per_cpu_s" in p]
    if marginal:
        a.plot(*zip(*marginal, strict=True), marker="s", linestyle="--", label="marginal (start-up cancelled)")
    a.set(xscale="log", xticks=scale, xticklabels=[f"{s:g}×" for s in scale], xlabel=f"input (1× = {points[0]['size']:,} {unit})",
          ylabel="docs per CPU second (1 core)", title=f"{stage}: throughput")  # fmt: skip
    a.set_ylim(bottom=0)
    a.minorticks_off()
    a.legend(fontsize=7)
    rss = [p["worker_rss_mb"]["median"] for p in points]
    b.plot(scale, rss, marker="o")
    b.axhspan(rss[0] * 0.9, rss[0] * 1.1, alpha=0.15, color="green", label="1× ± 10%")
    b.set(xscale="log", xticks=scale, xticklabels=[f"{s:g}×" for s in scale], xlabel="input",
          ylabel="peak RSS per worker (MB)", title=f"{stage}: memory")  # fmt: skip
    b.set_ylim(bottom=0)
    b.minorticks_off()
    b.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def table(stage: str, unit: str, points: list[dict]) -> str:
    big = "longest extracted text (chars)" if stage == "extract" else "largest document (chars)"
    lines = [f"| {stage} scale | {unit} | docs | {big} | CPU s | wall s | docs/CPU s | marginal docs/CPU s | worker "
             "peak RSS MB | vs 1× | load |", "|---|---|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for p in points:
        m = p.get("marginal_units_per_cpu_s")
        w = p["worker_rss_mb"]
        lines.append(
            f"| {p['size'] / points[0]['size']:g}× | {p['size']:,} | {p['units']:,.0f} | {p.get('largest', 0):,} | "
            f"{p['cpu_s']['median']:.2f} "
            f"({p['cpu_s']['min']:.2f}–{p['cpu_s']['max']:.2f}) | {p['wall_s']['median']:.2f} | "
            f"{p['units_per_cpu_s']['median']:,.0f} | {f'{m:,.0f}' if m else '–'} | {w['median']:.0f} "
            f"({w['min']:.0f}–{w['max']:.0f}) | {p['rss_vs_1x']:+.0%} | {p['load'][0]:.1f}–{p['load'][1]:.1f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--stages", default="extract,label,dedup,shard")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--base", default=None, help="Override the 1× sizes: stage=n,stage=n.")
    ap.add_argument("--shared", type=Path, default=DEFAULT_SHARED)
    ap.add_argument("--workdir", type=Path, default=ROOT / "out" / "bench-scaling")
    ap.add_argument("--plots", type=Path, default=ROOT / "docs")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--replot", type=Path, default=None, help="Only redraw the PNGs from a --json file of a run.")
    args = ap.parse_args(argv)
    if args.replot:
        for stage, points in json.loads(args.replot.read_text()).items():
            plot(stage, BASE[stage][1], points, args.plots / f"scaling-{stage}.png")
        return
    bases = {k: v[0] for k, v in BASE.items()}
    for item in filter(None, (args.base or "").split(",")):
        k, _, v = item.partition("=")
        bases[k] = int(v)
    out = {}
    for stage in args.stages.split(","):
        unit = BASE[stage][1]
        workdir = (args.workdir / stage).resolve()
        print(f"== {stage}: 1× = {bases[stage]:,} {unit}; load {os.getloadavg()[0]:.1f}", flush=True)
        side = stage_side(stage, args.shared, workdir)
        runs = compare([side], [bases[stage] * k for k in SCALES], workdir / "runs", args.runs)
        points = curve(summarize(runs), side.name)
        for p in points:
            p["largest"] = largest_document(stage, side.kwargs(p["size"]))
        print(table(stage, unit, points))
        spread = max(abs(p["rss_vs_1x"]) for p in points)
        print(f"worker RSS within ±10% of 1×: {spread <= 0.10} (largest change {spread:+.0%}); median rate "
              f"{statistics.median(p['units_per_cpu_s']['median'] for p in points):,.0f} docs/CPU s")  # fmt: skip
        plot(stage, unit, points, args.plots / f"scaling-{stage}.png")
        out[stage] = points
        if args.json:
            save(args.json.with_name(f"{args.json.stem}-{stage}.json"), runs, {"points": points})
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
