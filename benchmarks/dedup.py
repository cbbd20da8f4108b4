"""Fuzzy dedup against datatrove on one corpus with planted near-duplicates, then our scaling from 1x to 8x.

Corpus. Real documents from `load_real_documents` (trafilatura's eval pages, AG News, MATH, GSM8K, tweets,
webtext; already-similar ones left out) are the originals. Clusters are planted: seeds are drawn from the
originals of at least 30 words, and each gets 1-4 near-duplicates (`near_duplicate`, strength 0.1, 0.3, 0.6
or 0.9, drawn evenly), until the corpus has ``--docs`` documents (about a third of them planted copies).
Documents are shuffled and written once, as Parquet in our record schema (4 parts); datatrove reads the same
parts with its own `ParquetReader`. The planted cluster of every document is the ground truth.

Replicas for scaling: replica r > 0 appends a replica tag to every word of every original (so replicas
share no shingle, not even with each other) and draws new seeds and new edits; scale k is replicas 0..k-1.

Tools, each in a fresh child process, one worker, fuzzy dedup only, 5-grams, 14 bands x 8 rows:

- datatrove 0.10.1: ``ParquetReader → MinhashDedupSignature`` (1 task), ``MinhashDedupBuckets`` (14 tasks,
  one per band, 1 worker), ``MinhashDedupCluster`` (1 task), ``ParquetReader → MinhashDedupFilter →
  ParquetWriter`` (1 task), on `LocalPipelineExecutor`;
- ours: `DedupJobConfig` with URL and exact dedup disabled, the local engine, 1 worker, run by `run_job`
  (fingerprints, decision, documents/ + audit/ + ledger, summary and cluster sample).

Timing: wall time of the job inside the child (interpreter start excluded, the tool's imports included);
docs/s per core = documents / wall s / workers. Memory: peak RSS of the child's process tree, polled every
50 ms, and of each step of our job. Our job's per-task steps (fingerprint, apply) hold a bounded batch; its
global decision holds a few hundred bytes per document. With one worker both happen in one process, so
``--worker-check`` also runs ours on worker processes to read a worker's peak apart from the driver's.

Extra runs: ours with verification (``--verify``, default 0.7), and a cProfile of our 1x run (``--profile``).

Quality, the same definition for both tools. Each planted cluster of size k should lose exactly k - 1
members, whichever survives. A removed document is a true positive when another member of its planted
cluster survives; when a whole planted cluster is removed, k - 1 of its members are true positives and one
is a false positive; every other removed document (an original with no planted copy) is a false positive.
Precision = true positives / removed documents, recall = true positives / sum over clusters of (k - 1).
Recall by strength counts a planted copy as found when the copy or its seed was removed and the cluster
still has a survivor.

    python benchmarks/dedup.py [--docs 50000] [--scale-max 8] [--shared ../shared/data] [--workdir DIR]
        [--json PATH] [--skip-datatrove] [--verify 0.7] [--worker-check 2] [--profile]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import subprocess
import sys
import time
from collections import Counter, defaultdict
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from anywhere: the repo's packages first
    sys.path.insert(0, str(ROOT))

DEFAULT_SHARED = ROOT.parent / "shared" / "data"
DEFAULT_WORKDIR = ROOT / "out" / "bench-dedup"
NGRAM, BANDS, ROWS = 5, 14, 8
STRENGTHS = (0.1, 0.3, 0.6, 0.9)
COPIES = {1: 0.55, 2: 0.25, 3: 0.12, 4: 0.08}  # planted copies per seed
SEED_MIN_WORDS = 30
PARTS = 4  # Parquet parts per replica: our job runs one task per part
PLANTED_SHARE = 0.35
_LETTERS = re.compile(r"[^\W\d_]+")


# ---------------------------------------------------------------- corpus


def _tag(r: int) -> str:
    """Replica r's word suffix: letters only, so number normalisation leaves it alone."""
    out = "q"
    while r:
        r, d = divmod(r, 26)
        out += chr(ord("a") + d)
    return out


def build_replica(originals: list[dict], docs: int, replica: int, seed: int) -> tuple[list, dict]:
    """(records, truth): ``docs`` shuffled records; truth maps id → (cluster, strength or None for a seed)."""
    from corpusforge.record import Record
    from pipelines.dedup.edits import near_duplicate

    rng = random.Random(seed * 1000 + replica)
    if replica:
        tag = _tag(replica)
        originals = [{**d, "text": _LETTERS.sub(lambda m: m.group() + tag, d["text"])} for d in originals]
    n_base = min(len(originals), round(docs * (1 - PLANTED_SHARE)))
    base = rng.sample(originals, n_base)
    n_planted = docs - n_base
    by_topic: dict[str, list[str]] = defaultdict(list)
    for d in base:
        by_topic[d["topic"]].append(d["text"])
    candidates = [i for i, d in enumerate(base) if len(d["text"].split()) >= SEED_MIN_WORDS]
    rng.shuffle(candidates)
    copies, weights = zip(*COPIES.items(), strict=True)
    texts = [(d["text"], d, i, None) for i, d in enumerate(base)]  # (text, original, cluster, strength)
    for i in candidates:
        if len(texts) >= docs:
            break
        d = base[i]
        donors = rng.sample(by_topic[d["topic"]], min(5, len(by_topic[d["topic"]])))
        for _ in range(min(rng.choices(copies, weights)[0], docs - len(texts))):
            strength = rng.choice(STRENGTHS)
            texts.append((near_duplicate(d["text"], rng, donors, strength), d, i, strength))
    if len(texts) < docs:
        raise SystemExit(f"only {len(texts)} documents for --docs {docs}: {n_planted} planted copies do not fit")
    rng.shuffle(texts)
    records, truth = [], {}
    for k, (text, d, cluster, strength) in enumerate(texts):
        rid = f"r{replica:02d}-{k:07d}"
        records.append(Record(id=rid, text=text, source=d["source"], url=None, lang=d.get("lang")))
        truth[rid] = (f"r{replica:02d}-c{cluster:06d}", strength)
    return records, truth


def build_corpora(shared: Path, workdir: Path, docs: int, replicas: int, seed: int) -> list[list[Path]]:
    """Each replica's Parquet parts (and its truth), reused when a previous run built the same ones."""
    import pyarrow.parquet as pq

    from corpusforge.record import to_table
    from pipelines.dedup.edits import load_real_documents

    corpus = workdir / "corpus"
    stamp = {"docs": docs, "seed": seed, "parts": PARTS, "version": 2}
    dirs = [corpus / f"replica-{r:02d}" for r in range(replicas)]
    paths = [[d / f"part-{i:05d}.parquet" for i in range(PARTS)] for d in dirs]
    stamp_path = corpus / "stamp.json"
    if stamp_path.exists() and json.loads(stamp_path.read_text()) == stamp and all(p.exists() for p in sum(paths, [])):
        return paths
    start = time.perf_counter()
    originals = load_real_documents(shared)
    print(f"{len(originals)} distinct real documents ({time.perf_counter() - start:.0f} s)", flush=True)
    corpus.mkdir(parents=True, exist_ok=True)
    stamp_path.unlink(missing_ok=True)
    for r, (folder, parts) in enumerate(zip(dirs, paths, strict=True)):
        t = time.perf_counter()
        records, truth = build_replica(originals, docs, r, seed)
        folder.mkdir(parents=True, exist_ok=True)
        step = -(-len(records) // PARTS)
        for i, path in enumerate(parts):
            pq.write_table(to_table(records[i * step : (i + 1) * step]), path, compression="zstd")
        (folder / "truth.json").write_text(json.dumps(truth))
        print(f"  replica {r}: {len(records)} documents ({time.perf_counter() - t:.0f} s)", flush=True)
    stamp_path.write_text(json.dumps(stamp))
    return paths


# ---------------------------------------------------------------- the two jobs (run in a child process)


def run_datatrove(files: list[Path], out: Path) -> set[str]:
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.dedup.minhash import (
        MinhashConfig,
        MinhashDedupBuckets,
        MinhashDedupCluster,
        MinhashDedupFilter,
        MinhashDedupSignature,
    )
    from datatrove.pipeline.readers import ParquetReader
    from datatrove.pipeline.writers import ParquetWriter

    if len({f.parent for f in files}) != 1:
        raise SystemExit("the datatrove run reads the parts of one replica")
    config = MinhashConfig(n_grams=NGRAM, num_buckets=BANDS, hashes_per_bucket=ROWS)
    listing = out / "inputs.txt"  # one task reads every part, in order
    listing.write_text("".join(f.name + "\n" for f in files))

    def reader():
        return ParquetReader(str(files[0].parent), paths_file=str(listing))

    stages = [
        ([reader(), MinhashDedupSignature(str(out / "signatures"), config=config)], 1),
        ([MinhashDedupBuckets(str(out / "signatures"), str(out / "buckets"), config=config)], BANDS),
        ([MinhashDedupCluster(str(out / "buckets"), str(out / "remove_ids"), config=config)], 1),
        (
            [
                reader(),
                MinhashDedupFilter(str(out / "remove_ids")),
                ParquetWriter(str(out / "documents"), compression="zstd"),
            ],
            1,
        ),
    ]
    for i, (pipeline, tasks) in enumerate(stages):
        LocalPipelineExecutor(
            pipeline=pipeline, tasks=tasks, workers=1, logging_dir=str(out / f"logs-{i}"), skip_completed=False
        ).run()
    import pyarrow.parquet as pq

    kept = set()
    for path in (out / "documents").glob("*.parquet"):
        kept.update(pq.read_table(path, columns=["id"]).column("id").to_pylist())
    return kept


class Phases:
    """Wall time and peak RSS of each step of our job: the per-task steps (what one worker holds) apart from
    the global decision (what the machine running it holds). The steps are wrapped where `run_dedup` looks
    them up, and a thread samples this process's RSS every 20 ms."""

    STEPS = ("fingerprint_task", "decide_local", "apply_task", "write_review")

    def __init__(self, in_process: bool = True):
        import threading

        import psutil

        self.process = psutil.Process()
        self.current: str | None = None
        # task steps sent to worker processes are pickled by name: those cannot be wrapped
        self.steps = self.STEPS if in_process else ("decide_local", "write_review")
        self.stats = {name: {"s": 0.0, "peak_rss_mb": 0.0} for name in self.steps}
        self.baseline_mb = self._rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _rss(self) -> float:
        return self.process.memory_info().rss / 2**20

    def _note(self) -> None:
        name = self.current
        if name:
            self.stats[name]["peak_rss_mb"] = max(self.stats[name]["peak_rss_mb"], self._rss())

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            self._note()

    def wrap(self, name: str, fn):
        def timed(*args, **kwargs):
            self.current = name
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self._note()
                self.stats[name]["s"] += time.perf_counter() - start
                self.current = None

        return timed

    def __enter__(self) -> Phases:
        import pipelines.dedup.run as dedup_run

        self._saved = {name: getattr(dedup_run, name) for name in self.steps}
        for name, fn in self._saved.items():
            setattr(dedup_run, name, self.wrap(name, fn))
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        import pipelines.dedup.run as dedup_run

        self._stop.set()
        self._thread.join()
        for name, fn in self._saved.items():
            setattr(dedup_run, name, fn)


def run_ours(
    files: list[Path], out: Path, phases: dict | None = None, workers: int = 1, verify: float | None = None
) -> set[str]:
    import pyarrow.parquet as pq

    from corpusforge.ledger import KEPT
    from pipelines.dedup.run import DedupJobConfig
    from pipelines.engines import run_job

    job = DedupJobConfig.parse(
        {
            "name": "bench-dedup",
            "inputs": [str(f) for f in files],
            "output": str(out),
            "engine": {"kind": "local", "workers": workers},
            "dedup": {
                "url": {"enabled": False},
                "exact": {"enabled": False},
                "fuzzy": {
                    "minhash": {"ngram": NGRAM, "bands": BANDS, "rows": ROWS},
                    "verify": {"enabled": verify is not None, "threshold": verify or 0.7},
                },
            },
        }
    )
    with Phases(in_process=workers <= 1) as steps:
        run_job(job, overwrite=True)
    if phases is not None:
        decided = json.loads((out / "_work" / "decide.json").read_text())
        phases.update(steps.stats, baseline_rss_mb=steps.baseline_mb, decide=decided)
    kept = set()
    for path in (out / "_work" / "decisions").glob("task=*/*.parquet"):
        table = pq.read_table(path, columns=["id", "status"])
        kept.update(i for i, s in zip(*(c.to_pylist() for c in table.columns), strict=True) if s == KEPT)
    return kept


def child(
    tool: str, files: list[Path], out: Path, result_path: Path, profile: Path | None, workers: int, verify: float | None
) -> None:
    """Entry of ``--only``: run one job, write the kept ids and in-process timings as JSON."""
    import shutil

    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    phases: dict = {}
    fn = run_datatrove if tool == "datatrove" else partial(run_ours, phases=phases, workers=workers, verify=verify)
    start, cpu = time.perf_counter(), time.process_time()
    if profile:
        import cProfile

        profiler = cProfile.Profile()
        kept = profiler.runcall(fn, files, out)
        profiler.dump_stats(profile)
    else:
        kept = fn(files, out)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    result_path.write_text(json.dumps({"wall_s": wall, "cpu_self_s": cpu, "phases": phases, "kept": sorted(kept)}))


# ---------------------------------------------------------------- measuring a child


def measure(
    tool: str,
    files: list[Path],
    workdir: Path,
    label: str,
    profile: bool = False,
    workers: int = 1,
    verify: float | None = None,
) -> dict:
    """Run one job in a fresh interpreter; poll the RSS of its whole process tree and of each worker process."""
    import psutil

    out = workdir / f"out-{label}"
    result_path = workdir / f"result-{label}.json"
    result_path.unlink(missing_ok=True)
    log_path = workdir / f"{label}.log"
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--only",
        tool,
        "--out",
        str(out),
        "--result",
        str(result_path),
    ]
    cmd += ["--workers", str(workers), "--inputs", *map(str, files)]
    if verify is not None:
        cmd += ["--verify-at", str(verify)]
    if profile:
        cmd += ["--profile-to", str(workdir / f"{label}.prof")]
    start = time.perf_counter()
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
        ps = psutil.Process(proc.pid)
        peak = worker_peak = driver_peak = 0
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            with contextlib.suppress(psutil.Error):
                rss = 0
                for p in [ps, *ps.children(recursive=True)]:
                    with contextlib.suppress(psutil.Error):
                        one = p.memory_info().rss
                        rss += one
                        if p.pid != ps.pid:  # worker processes (workers > 1 spawns them)
                            worker_peak = max(worker_peak, one)
                        else:
                            driver_peak = max(driver_peak, one)
                peak = max(peak, rss)
            time.sleep(0.05)
        rc = os.waitstatus_to_exitcode(status)
    if rc != 0 or not result_path.exists():
        tail = log_path.read_text(errors="replace")[-4000:]
        raise SystemExit(f"{label} failed (exit {rc}); log {log_path}:\n{tail}")
    result = json.loads(result_path.read_text())
    result.update(
        tool=tool,
        process_wall_s=time.perf_counter() - start,
        cpu_s=usage.ru_utime + usage.ru_stime,
        peak_rss_mb=peak / 2**20,
        max_single_rss_mb=usage.ru_maxrss / 1024,
        worker_peak_rss_mb=worker_peak / 2**20,
        driver_peak_rss_mb=driver_peak / 2**20,
    )
    return result


# ---------------------------------------------------------------- quality


def score(truth: dict[str, tuple[str, float | None]], kept: set[str]) -> dict:
    """Precision, recall and F1 of the removals against the planted clusters (module docstring)."""
    members: dict[str, list[str]] = defaultdict(list)
    for doc, (cluster, _) in truth.items():
        members[cluster].append(doc)
    tp = fp = expected = 0
    survives: dict[str, bool] = {}
    for cluster, docs in members.items():
        removed = sum(d not in kept for d in docs)
        expected += len(docs) - 1
        survives[cluster] = removed < len(docs)
        if survives[cluster]:
            tp += removed if len(docs) > 1 else 0
            fp += removed if len(docs) == 1 else 0
        else:
            tp += len(docs) - 1
            fp += 1
    removed_total = sum(d not in kept for d in truth)
    p = tp / removed_total if removed_total else 0.0
    r = tp / expected if expected else 0.0
    seed_of = {truth[d][0]: d for d in truth if truth[d][1] is None}
    found: Counter = Counter()
    planted: Counter = Counter()
    for doc, (cluster, strength) in truth.items():
        if strength is None:
            continue
        planted[strength] += 1
        seed = seed_of[cluster]
        if survives[cluster] and (doc not in kept or seed not in kept):
            found[strength] += 1
    return {
        "precision": p,
        "recall": r,
        "f1": 2 * p * r / (p + r) if p + r else 0.0,
        "removed": removed_total,
        "true_positives": tp,
        "false_positives": fp,
        "expected_removals": expected,
        "recall_by_strength": {str(s): found[s] / planted[s] for s in sorted(planted)},
    }


def load_truth(files: list[Path]) -> dict:
    truth = {}
    for folder in sorted({f.parent for f in files}):
        truth.update({k: tuple(v) for k, v in json.loads((folder / "truth.json").read_text()).items()})
    return truth


# ---------------------------------------------------------------- report


def table(head: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(head)]

    def line(cells) -> str:
        return "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    return "\n".join([line(head), line(tuple("-" * w for w in widths)), *(line(r) for r in rows)])


def side_by_side(runs: dict[str, dict]) -> str:
    head = ("tool", "docs", "wall s", "CPU s", "docs/s/core", "removed", "peak RSS MB", "P", "R", "F1")
    rows = [
        (
            tool,
            f"{r['docs']:,}",
            f"{r['wall_s']:.1f}",
            f"{r['cpu_s']:.1f}",
            f"{r['docs_per_s_core']:.0f}",
            f"{r['quality']['removed']:,}",
            f"{r['peak_rss_mb']:.0f}",
            f"{r['quality']['precision']:.3f}",
            f"{r['quality']['recall']:.3f}",
            f"{r['quality']['f1']:.3f}",
        )
        for tool, r in runs.items()
    ]
    out = [table(head, rows)]
    out.append(
        "recall by edit strength: "
        + "; ".join(
            f"{tool} " + ", ".join(f"{s}: {v:.3f}" for s, v in r["quality"]["recall_by_strength"].items())
            for tool, r in runs.items()
        )
    )
    if "datatrove" in runs and "ours" in runs:  # ours alone, without verification
        ratio = runs["ours"]["docs_per_s_core"] / runs["datatrove"]["docs_per_s_core"]
        df1 = runs["ours"]["quality"]["f1"] - runs["datatrove"]["quality"]["f1"]
        mem = runs["ours"]["peak_rss_mb"] / runs["datatrove"]["peak_rss_mb"]
        out += [
            f"throughput ratio ours/datatrove: {ratio:.2f}x   (target >= 2)",
            f"F1 ours - datatrove: {df1:+.3f}   (target >= 0)",
            f"peak RSS ours/datatrove: {mem:.2f}x",
        ]
    return "\n".join(out)


def scaling(rows: list[dict]) -> str:
    base = rows[0]
    head = ("scale", "docs", "wall s", "docs/s/core", "time / 1x", "peak RSS MB", "RSS / 1x")
    head += ("task steps MB", "decide MB", "F1")
    body = []
    for r in rows:
        ph = r["phases"]
        worker = max(ph["fingerprint_task"]["peak_rss_mb"], ph["apply_task"]["peak_rss_mb"])
        body.append(
            (
                f"{r['scale']}x",
                f"{r['docs']:,}",
                f"{r['wall_s']:.1f}",
                f"{r['docs_per_s_core']:.0f}",
                f"{r['wall_s'] / base['wall_s']:.2f}",
                f"{r['peak_rss_mb']:.0f}",
                f"{r['peak_rss_mb'] / base['peak_rss_mb']:.2f}",
                f"{worker:.0f}",
                f"{ph['decide_local']['peak_rss_mb']:.0f}",
                f"{r['quality']['f1']:.3f}",
            )
        )
    steps = "; ".join(
        f"{r['scale']}x " + ", ".join(f"{name.split('_')[0]} {r['phases'][name]['s']:.1f}" for name in Phases.STEPS)
        for r in rows
    )
    return table(head, body) + "\nseconds per step: " + steps


def worker_check(rows: list[dict]) -> str:
    head = ("scale", "docs", "tasks", "workers", "wall s", "largest worker MB", "driver MB", "tree MB")
    body = [
        (
            f"{r['scale']}x",
            f"{r['docs']:,}",
            str(r["tasks"]),
            str(r["workers"]),
            f"{r['wall_s']:.1f}",
            f"{r['worker_peak_rss_mb']:.0f}",
            f"{r['driver_peak_rss_mb']:.0f}",
            f"{r['peak_rss_mb']:.0f}",
        )
        for r in rows
    ]
    return table(head, body)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--docs", type=int, default=50_000, help="Documents at 1x (a third of them planted copies).")
    ap.add_argument("--scale-max", type=int, default=8, help="Largest scale of our run (1, 2, 4, ... up to it).")
    ap.add_argument("--shared", type=Path, default=DEFAULT_SHARED, help="The shared data folder.")
    ap.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR, help="Corpus and outputs go here.")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path, default=None, help="Also write every figure as JSON here.")
    ap.add_argument("--skip-datatrove", action="store_true", help="Only our runs.")
    ap.add_argument(
        "--verify", type=float, default=0.7, help="Also run ours at 1x with verification at this threshold (0: skip)."
    )
    ap.add_argument(
        "--worker-check",
        type=int,
        default=2,
        help="Also run ours at 1x and the largest scale on this many worker processes, to read each worker's "
        "peak RSS apart from the driver's (0: skip).",
    )
    ap.add_argument("--profile", action="store_true", help="cProfile our 1x run; print where its time goes.")
    # child mode
    ap.add_argument("--only", choices=("datatrove", "ours"), help=argparse.SUPPRESS)
    ap.add_argument("--inputs", nargs="*", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--workers", type=int, default=1, help=argparse.SUPPRESS)
    ap.add_argument("--verify-at", type=float, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--profile-to", type=Path, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.only:
        child(args.only, args.inputs, args.out, args.result, args.profile_to, args.workers, args.verify_at)
        return

    workdir = args.workdir.resolve()
    scales = [s for s in (1, 2, 4, 8, 16, 32) if s <= max(args.scale_max, 1)]
    paths = build_corpora(args.shared, workdir, args.docs, scales[-1], args.seed)

    def run(tool: str, scale: int, profile: bool = False, workers: int = 1, verify: float | None = None) -> dict:
        files = [f for parts in paths[:scale] for f in parts]
        label = f"{tool}-{scale}x" + ("-profile" if profile else "")
        label += f"-{workers}workers" if workers > 1 else ""
        label += f"-verify{verify}" if verify else ""
        print(f"running {label} ...", flush=True)
        r = measure(tool, files, workdir, label, profile=profile, workers=workers, verify=verify)
        truth = load_truth(files)
        r["quality"] = score(truth, set(r.pop("kept")))
        r.update(scale=scale, docs=len(truth), tasks=len(files), workers=workers)
        r["docs_per_s_core"] = len(truth) / r["wall_s"] / workers
        print(f"  {label}: {r['wall_s']:.1f} s, {r['peak_rss_mb']:.0f} MB, F1 {r['quality']['f1']:.3f}", flush=True)
        return r

    runs = {}
    if not args.skip_datatrove:
        runs["datatrove"] = run("datatrove", 1)
    runs["ours"] = run("ours", 1)
    scale_rows = [runs["ours"]] + [run("ours", s) for s in scales[1:]]
    if args.verify:
        runs[f"ours+verify {args.verify}"] = run("ours", 1, verify=args.verify)
    checks = []
    if args.worker_check > 1:
        checks = [run("ours", s, workers=args.worker_check) for s in sorted({1, scales[-1]})]

    print()
    print(side_by_side(runs))
    print()
    print("ours, scaling (1 worker):")
    print(scaling(scale_rows))
    if checks:
        print()
        print(f"ours on {args.worker_check} worker processes (fingerprint and apply tasks; the driver decides):")
        print(worker_check(checks))
    if args.profile:  # a run of its own: the profiler's overhead stays out of the figures above
        run("ours", 1, profile=True)
        import pstats

        print()
        stats = pstats.Stats(str(workdir / "ours-1x-profile.prof"))
        print("where our 1x time goes: our functions by cumulative time")
        stats.sort_stats("cumulative").print_stats(r"pipelines/|corpusforge/", 25)
        print("and every function by own time")
        stats.sort_stats("tottime").print_stats(15)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "docs": args.docs,
            "cpu_count": os.cpu_count(),
            "runs": runs,
            "scaling": scale_rows,
            "worker_check": checks,
        }
        if "datatrove" in runs:
            payload["ratio_docs_per_s"] = runs["ours"]["docs_per_s_core"] / runs["datatrove"]["docs_per_s_core"]
        args.json.write_text(json.dumps(payload, indent=2))


if __name__ == "__main__":
    main()
