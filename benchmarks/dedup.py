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
global decision holds about 1 KB per document. With one worker both happen in one process, so
``--worker-check`` also runs ours on worker processes to read a worker's peak apart from the driver's.

Extra runs: ours with verification (``--verify``, default 0.7), a cProfile of our 1x run (``--profile``), and
both tools at 1x with other permutation seeds (``--minhash-seeds 1,2,3``: datatrove's ``MinhashConfig(seed=...)``,
our ``dedup.fuzzy.minhash.seed``). A document pair near the LSH S-curve's 50% point (Jaccard about 0.72 at 14 x 8)
is found or missed by chance, so F1 moves with the seed; the seed runs give each tool's mean and standard
deviation of F1, the noise against which a difference between the tools is judged.

Quality, the same definition for both tools. Each planted cluster of size k should lose exactly k - 1
members, whichever survives. A removed document is a true positive when another member of its planted
cluster survives; when a whole planted cluster is removed, k - 1 of its members are true positives and one
is a false positive; every other removed document (an original with no planted copy) is a false positive.
Precision = true positives / removed documents, recall = true positives / sum over clusters of (k - 1).
Recall by strength counts a planted copy as found when the copy or its seed was removed and the cluster
still has a survivor.

    python benchmarks/dedup.py [--docs 50000] [--scale-max 8] [--shared ../shared/data] [--workdir DIR]
        [--json PATH] [--skip-datatrove] [--verify 0.7] [--worker-check 2] [--profile] [--minhash-seeds 1,2,3,4,5]
Over 400 lines: both sides' set-ups, the planted-duplicate corpus, quality scoring and the scaling runs share
one corpus and one result table; split, each part would re-read the same corpus definitions.
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
import re
import statistics
import time
from collections import Counter, defaultdict
from functools import partial
from pathlib import Path

from benchmarks.measure import log_tail, run_measured

ROOT = Path(__file__).resolve().parent.parent

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


def build_replica(originals: list[dict], docs: int, replica: int, seed: int, longest: bool = False) -> tuple[list, dict]:
    """(records, truth): ``docs`` shuffled records; truth maps id → (cluster, strength or None for a seed).
    ``longest``: the longest original is always among them (the scaling curves: every size holds the same largest
    document, so a worker's peak measures the count, not which documents a size happened to draw)."""
    from corpusforge.record import Record
    from pipelines.dedup.edits import near_duplicate

    rng = random.Random(seed * 1000 + replica)
    if replica:
        tag = _tag(replica)
        originals = [{**d, "text": _LETTERS.sub(lambda m: m.group() + tag, d["text"])} for d in originals]
    n_base = min(len(originals), round(docs * (1 - PLANTED_SHARE)))
    if longest:
        top = max(originals, key=lambda d: len(d["text"]))
        base = [top, *rng.sample([d for d in originals if d is not top], n_base - 1)]
    else:
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


def build_corpora(shared: Path, workdir: Path, docs: int, replicas: int, seed: int, longest: bool = False) -> list[list[Path]]:  # fmt: skip
    """Each replica's Parquet parts (and its truth), reused when a previous run built the same ones."""
    import hashlib

    import pyarrow.parquet as pq

    from corpusforge.record import to_table
    from pipelines.dedup.edits import load_real_documents

    corpus = workdir / "corpus"
    start = time.perf_counter()
    # which real documents count as distinct depends on the shingling rules (`drop_near_duplicates`), so the
    # stamp names the originals themselves: a corpus built under other rules or other data is rebuilt
    originals = load_real_documents(shared)
    digest = hashlib.sha256()
    for d in originals:
        digest.update(f"{d['id']}\0{d['text']}\0".encode())
    stamp = {"docs": docs, "seed": seed, "parts": PARTS, "version": 3, "originals": digest.hexdigest()[:16]}
    stamp |= {"longest": True} if longest else {}
    dirs = [corpus / f"replica-{r:02d}" for r in range(replicas)]
    paths = [[d / f"part-{i:05d}.parquet" for i in range(PARTS)] for d in dirs]
    stamp_path = corpus / "stamp.json"
    if stamp_path.exists() and json.loads(stamp_path.read_text()) == stamp and all(p.exists() for p in sum(paths, [])):
        return paths
    print(f"{len(originals)} distinct real documents ({time.perf_counter() - start:.0f} s)", flush=True)
    corpus.mkdir(parents=True, exist_ok=True)
    stamp_path.unlink(missing_ok=True)
    for r, (folder, parts) in enumerate(zip(dirs, paths, strict=True)):
        t = time.perf_counter()
        records, truth = build_replica(originals, docs, r, seed, longest)
        folder.mkdir(parents=True, exist_ok=True)
        step = -(-len(records) // PARTS)
        for i, path in enumerate(parts):
            pq.write_table(to_table(records[i * step : (i + 1) * step]), path, compression="zstd")
        (folder / "truth.json").write_text(json.dumps(truth))
        print(f"  replica {r}: {len(records)} documents ({time.perf_counter() - t:.0f} s)", flush=True)
    stamp_path.write_text(json.dumps(stamp))
    return paths


# ---------------------------------------------------------------- the two jobs (run in a child process)


#: datatrove 0.10.1's hashing at its default (64-bit xxhash of each 5-gram, 64-bit permutations modulo 2^61 - 1,
#: its spaCy English word tokenizer after `simplify_text`) and the closest it comes to ours (32-bit values; the
#: tokenizer has no regex option). Ours: xxh3-64 per word, a 64-bit polynomial over the 5 words, the top 32
#: bits kept, 32-bit permutation values; words by the regex `\w+` (`[\w\p{M}]+` off ASCII) after lower-casing,
#: accent stripping and numbers to 0 (`pipelines/dedup/minhash.py`).
DATATROVE_HASHING = {"default": {}, "close": {"precision": 32, "hash_fc": "xxhash"}}


def run_datatrove(files: list[Path], out: Path, seed: int | None = None, hashing: str = "default") -> set[str]:
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
    seeded = {} if seed is None else {"seed": seed}
    from datatrove.utils.hashing import HashConfig

    hashed = {"hash_config": HashConfig(**DATATROVE_HASHING[hashing])} if DATATROVE_HASHING[hashing] else {}
    config = MinhashConfig(n_grams=NGRAM, num_buckets=BANDS, hashes_per_bucket=ROWS, **seeded, **hashed)
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
    the global decision (what the machine running it holds). The steps are wrapped where the dedup job's
    `tasks()` looks them up, and a thread samples this process's RSS every 20 ms."""

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
        import pipelines.jobs.dedup as dedup_run

        self._saved = {name: getattr(dedup_run, name) for name in self.steps}
        for name, fn in self._saved.items():
            setattr(dedup_run, name, self.wrap(name, fn))
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        import pipelines.jobs.dedup as dedup_run

        self._stop.set()
        self._thread.join()
        for name, fn in self._saved.items():
            setattr(dedup_run, name, fn)


def run_ours(
    files: list[Path],
    out: Path,
    phases: dict | None = None,
    workers: int = 1,
    verify: float | None = None,
    seed: int | None = None,
) -> set[str]:
    import pyarrow.parquet as pq

    from corpusforge.ledger import KEPT
    from pipelines.engines import run_job
    from pipelines.jobs.dedup import DedupJobConfig

    minhash = {"ngram": NGRAM, "bands": BANDS, "rows": ROWS} | ({} if seed is None else {"seed": seed})
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
                    "minhash": minhash,
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
    tool: str,
    files: list[Path],
    out: Path,
    result_path: Path,
    profile: Path | None,
    workers: int,
    verify: float | None,
    seed: int | None = None,
) -> None:
    """Entry of ``--only``: run one job, write the kept ids and in-process timings as JSON."""
    import shutil

    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    phases: dict = {}
    if tool == "datatrove":
        fn = partial(run_datatrove, seed=seed)
    else:
        fn = partial(run_ours, phases=phases, workers=workers, verify=verify, seed=seed)
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


# ---------------------------------------------------------------- harness sides (benchmarks/harness.py)


def side(tool: str, files: list[str], out: str, hashing: str = "default", truth: bool = True) -> dict:
    """One tool's fuzzy dedup of ``files`` (one worker); units = documents in; F1 against the planted truth."""
    import shutil

    import pyarrow.parquet as pq

    shutil.rmtree(out, ignore_errors=True)
    Path(out).mkdir(parents=True)
    paths = [Path(f) for f in files]
    kept = run_datatrove(paths, Path(out), hashing=hashing) if tool == "datatrove" else run_ours(paths, Path(out))
    units = sum(pq.ParquetFile(f).metadata.num_rows for f in paths)
    quality = score(load_truth(paths), kept) if truth else {}
    return {"units": units, "removed": units - len(kept), "f1": quality.get("f1"), "precision": quality.get("precision"),
            "recall": quality.get("recall")}  # fmt: skip


def harness_sides(shared: Path, workdir: Path, seed: int = 0, longest: bool = False) -> list:
    """Ours; datatrove at 32-bit xxhash (as close to ours as it allows); datatrove at its default. Size =
    documents of one replica (the corpus of each size is built once in the parent, in its own folder)."""
    from benchmarks.harness import Side

    built: dict[int, list[str]] = {}

    def kwargs(tool: str, hashing: str = "default"):
        def at(n: int) -> dict:
            if n not in built:
                built[n] = [str(f) for f in build_corpora(shared, workdir / f"docs-{n}", n, 1, seed, longest)[0]]
            return {"tool": tool, "files": built[n], "out": str(workdir / f"out-{tool}-{hashing}"), "hashing": hashing}

        return at

    return [
        Side("ours (32-bit, regex words)", "benchmarks.dedup:side", kwargs("ours")),
        Side("datatrove 32-bit xxhash", "benchmarks.dedup:side", kwargs("datatrove", "close")),
        Side("datatrove default (64-bit)", "benchmarks.dedup:side", kwargs("datatrove", "default")),
    ]


# ---------------------------------------------------------------- measuring a child


def measure(
    tool: str,
    files: list[Path],
    workdir: Path,
    label: str,
    profile: bool = False,
    workers: int = 1,
    verify: float | None = None,
    seed: int | None = None,
) -> dict:
    """Run one job in a fresh interpreter; poll the RSS of its whole process tree and of each worker process."""
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
    if seed is not None:
        cmd += ["--seed-at", str(seed)]
    if profile:
        cmd += ["--profile-to", str(workdir / f"{label}.prof")]
    m = run_measured(cmd, log_path, cwd=ROOT)
    if m.rc != 0 or not result_path.exists():
        raise SystemExit(f"{label} failed (exit {m.rc}); log {log_path}:\n{log_tail(log_path)}")
    result = json.loads(result_path.read_text())
    result.update(
        tool=tool,
        process_wall_s=m.wall_s,
        cpu_s=m.cpu_s,
        peak_rss_mb=m.peak_rss_mb,
        max_single_rss_mb=m.max_single_rss_mb,
        worker_peak_rss_mb=m.worker_peak_rss_mb,  # worker processes (workers > 1 spawns them)
        driver_peak_rss_mb=m.driver_peak_rss_mb,
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


def default_seeds() -> dict[str, int]:
    """Each tool's default permutation seed: a seed run at it would repeat the default run."""
    import dataclasses

    from datatrove.pipeline.dedup.minhash import MinhashConfig

    from pipelines.dedup.minhash import MinHashConfig

    datatrove = next(f.default for f in dataclasses.fields(MinhashConfig) if f.name == "seed")
    return {"datatrove": datatrove, "ours": MinHashConfig.model_fields["seed"].default}


def _mean_sd(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (n - 1; nan for a single value)."""
    return statistics.mean(values), statistics.stdev(values) if len(values) > 1 else float("nan")


def seed_summary(seeds: list[int], runs: dict[str, list[dict]]) -> dict:
    """Per-seed quality of each tool, each tool's mean and sd of F1, and the difference of the means."""
    out: dict = {"seeds": seeds}
    for tool, rows in runs.items():
        per_seed = [
            {
                "seed": seed,
                "f1": r["quality"]["f1"],
                "precision": r["quality"]["precision"],
                "recall": r["quality"]["recall"],
                "removed": r["quality"]["removed"],
                "wall_s": r["wall_s"],
            }
            for seed, r in zip(seeds, rows, strict=True)
        ]
        mean, sd = _mean_sd([x["f1"] for x in per_seed])
        out[tool] = {"runs": per_seed, "f1_mean": mean, "f1_sd": sd}
    if "datatrove" in out and "ours" in out:
        n = len(seeds)
        out["f1_mean_diff"] = out["ours"]["f1_mean"] - out["datatrove"]["f1_mean"]
        # standard error of the difference of two independent means (the tools' permutations are unrelated)
        out["f1_mean_diff_se"] = (out["ours"]["f1_sd"] ** 2 / n + out["datatrove"]["f1_sd"] ** 2 / n) ** 0.5
    return out


def seed_table(summary: dict) -> str:
    tools = [t for t in ("datatrove", "ours") if t in summary]
    head = ("seed", *(f"{t} {c}" for t in tools for c in ("P", "R", "F1", "removed")))
    body = []
    for i, seed in enumerate(summary["seeds"]):
        cells = [str(seed)]
        for t in tools:
            x = summary[t]["runs"][i]
            cells += [f"{x['precision']:.3f}", f"{x['recall']:.3f}", f"{x['f1']:.4f}", f"{x['removed']:,}"]
        body.append(tuple(cells))
    mean_row = ["mean ± sd"]
    for t in tools:
        runs = summary[t]["runs"]
        p, r, removed = (statistics.mean(x[k] for x in runs) for k in ("precision", "recall", "removed"))
        mean_row += [
            f"{p:.3f}",
            f"{r:.3f}",
            f"{summary[t]['f1_mean']:.4f} ± {summary[t]['f1_sd']:.4f}",
            f"{removed:,.0f}",
        ]
    body.append(tuple(mean_row))
    out = [table(head, body)]
    if "f1_mean_diff" in summary:
        out.append(
            f"F1 ours - datatrove, mean over {len(summary['seeds'])} seeds: {summary['f1_mean_diff']:+.4f} "
            f"(standard error {summary['f1_mean_diff_se']:.4f}; sd of one run: "
            + ", ".join(f"{t} {summary[t]['f1_sd']:.4f}" for t in tools)
            + ")"
        )
    return "\n".join(out)


def run_harness(args) -> dict:
    from benchmarks.harness import compare, ratio_table, save, summarize

    print(f"load average {os.getloadavg()[0]:.1f}")
    sides = harness_sides(args.shared, args.workdir.resolve(), args.seed)
    runs = compare(sides, [args.docs], args.workdir.resolve() / "harness", args.runs, tiny=args.tiny)
    summary = summarize(runs, tiny=args.tiny)
    names = [s.name for s in sides]
    print(ratio_table(summary, args.docs, names[0], names[1:]))
    for name in names:
        f1 = [r.extra["f1"] for r in runs if r.side == name and r.size == args.docs]
        removed = [r.extra["removed"] for r in runs if r.side == name and r.size == args.docs]
        print(f"{name}: F1 {statistics.median(f1):.3f} ({min(f1):.3f}-{max(f1):.3f}), removed {removed[0]:,}")
    if args.json:
        save(args.json, runs, summary)
    return summary


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
    ap.add_argument(
        "--minhash-seeds",
        default="",
        help="Comma-separated permutation seeds (e.g. 1,2,3,4,5): run both tools at 1x with each and report F1 per "
        "seed and each tool's mean ± sd, the noise an F1 difference is judged against (empty: skip). A seed equal "
        "to a tool's default reuses its default run.",
    )
    # child mode
    ap.add_argument("--only", choices=("datatrove", "ours"), help=argparse.SUPPRESS)
    ap.add_argument("--inputs", nargs="*", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--workers", type=int, default=1, help=argparse.SUPPRESS)
    ap.add_argument("--verify-at", type=float, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--profile-to", type=Path, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--seed-at", type=int, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--harness", action="store_true",
                    help="Run through benchmarks/harness.py: ours, datatrove at 32-bit xxhash, datatrove's default.")  # fmt: skip
    ap.add_argument("--runs", type=int, default=3, help="With --harness: runs per side.")
    ap.add_argument("--tiny", type=int, default=500, help="With --harness: documents of the start-up run.")
    args = ap.parse_args(argv)
    if args.harness:
        run_harness(args)
        return

    if args.only:
        child(
            args.only, args.inputs, args.out, args.result, args.profile_to, args.workers, args.verify_at, args.seed_at
        )
        return
    try:
        seeds = [int(x) for x in args.minhash_seeds.split(",") if x.strip()]
    except ValueError:
        ap.error(f"--minhash-seeds: comma-separated integers, not {args.minhash_seeds!r}")
    if len(set(seeds)) != len(seeds) or any(x < 0 for x in seeds):
        ap.error("--minhash-seeds: distinct seeds >= 0")

    workdir = args.workdir.resolve()
    scales = [s for s in (1, 2, 4, 8, 16, 32) if s <= max(args.scale_max, 1)]
    paths = build_corpora(args.shared, workdir, args.docs, scales[-1], args.seed)

    def run(
        tool: str,
        scale: int,
        profile: bool = False,
        workers: int = 1,
        verify: float | None = None,
        seed: int | None = None,
    ) -> dict:
        files = [f for parts in paths[:scale] for f in parts]
        label = f"{tool}-{scale}x" + ("-profile" if profile else "")
        label += f"-{workers}workers" if workers > 1 else ""
        label += f"-verify{verify}" if verify else ""
        label += f"-seed{seed}" if seed is not None else ""
        print(f"running {label} ...", flush=True)
        r = measure(tool, files, workdir, label, profile=profile, workers=workers, verify=verify, seed=seed)
        truth = load_truth(files)
        r["quality"] = score(truth, set(r.pop("kept")))
        r.update(scale=scale, docs=len(truth), tasks=len(files), workers=workers, minhash_seed=seed)
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
    seeded = {}
    if seeds:
        defaults = default_seeds()
        tools = ("ours",) if args.skip_datatrove else ("datatrove", "ours")
        runs_by_seed = {
            tool: [runs[tool] if seed == defaults[tool] else run(tool, 1, seed=seed) for seed in seeds]
            for tool in tools
        }
        seeded = seed_summary(seeds, runs_by_seed)

    print()
    print(side_by_side(runs))
    if seeded:
        print()
        defaults_note = ", ".join(f"{t} {s}" for t, s in default_seeds().items() if t in seeded)
        print(f"permutation seeds at 1x (default seeds, whose runs are those above: {defaults_note}):")
        print(seed_table(seeded))
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
        if seeded:
            payload["minhash_seeds"] = seeded
        if "datatrove" in runs:
            payload["ratio_docs_per_s"] = runs["ours"]["docs_per_s_core"] / runs["datatrove"]["docs_per_s_core"]
        args.json.write_text(json.dumps(payload, indent=2))


if __name__ == "__main__":
    main()
