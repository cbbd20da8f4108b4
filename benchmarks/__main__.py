"""`python -m benchmarks`: every side-by-side benchmark through one harness, one table of ratios.

    python -m benchmarks [--only extract,label,dedup,tokenize,pdf,crawl] [--full | --smoke] [--runs 3]
        [--shared ../shared/data] [--workdir out/bench-all] [--json PATH]

Default sizes run in a few minutes on an idle core; ``--full`` uses the sizes of BENCHMARKS.md; ``--smoke`` is the
smallest path of each (one run, no warm-up, no start-up run) for the test that keeps this command from rotting.
Each comparison is ours over the peer in documents (pages, records) per CPU second of a child pinned to one CPU,
steady state (the tiny run's cost subtracted) where there is a tiny run, with the range over runs; whole-run CPU,
wall and peak-RSS ratios beside it, and the load average while it ran (the machine is shared: CPU time is the
figure to trust, wall time moves with the load). Method: `benchmarks/harness.py`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks.harness import compare, pair_ratios, save, summarize

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SHARED = ROOT.parent / "shared" / "data"
BENCHES = ("extract", "label", "dedup", "tokenize", "pdf", "crawl")


@dataclass(frozen=True)
class Sizes:
    size: int
    tiny: int | None


#: per benchmark: smoke, default, full (units: records, documents, documents, MB of text, copies of the PDF
#: set, pages per politeness setting)
SIZES = {
    "extract": (Sizes(20, None), Sizes(300, 30), Sizes(3000, 100)),
    "label": (Sizes(200, None), Sizes(3000, 300), Sizes(10000, 500)),
    "dedup": (Sizes(500, None), Sizes(4000, 500), Sizes(50000, 2000)),
    "tokenize": (Sizes(1, None), Sizes(4, 1), Sizes(40, 2)),
    "pdf": (Sizes(1, None), Sizes(3, 1), Sizes(24, 2)),
    "crawl": (Sizes(20, None), Sizes(100, 10), Sizes(1000, 50)),
}


def plan(name: str, shared: Path, workdir: Path, stack: contextlib.ExitStack) -> tuple[list, list[tuple[str, str]]]:
    """(sides, comparisons as (a, b) side names) of one benchmark; a server it needs is entered into ``stack``."""
    if name == "extract":
        from benchmarks.extract import harness_sides

        sides = harness_sides(shared / "extraction" / "trafilatura_eval", workdir)
        return sides, [(sides[0].name, sides[1].name), (sides[0].name, sides[2].name)]
    if name == "label":
        from benchmarks.label import build_corpus, harness_sides, resolve_models

        corpus = build_corpus(shared, workdir)
        models, _ = resolve_models(workdir, corpus, None)
        sides = harness_sides(corpus, models, "equal")
        names = [s.name for s in sides]
        return sides, [(names[1], names[2]), (names[3], names[4]), (names[0], names[2])]
    if name == "dedup":
        from benchmarks.dedup import harness_sides

        sides = harness_sides(shared, workdir)
        return sides, [(sides[0].name, sides[1].name), (sides[0].name, sides[2].name)]
    if name == "tokenize":
        from benchmarks.tokenize import sides as tokenize_sides

        sides = tokenize_sides(shared, workdir)
        return sides, [(sides[0].name, sides[1].name)]
    if name == "pdf":
        from benchmarks.pdf import harness_sides

        sides = harness_sides(shared, workdir)
        return sides, [(sides[0].name, sides[2].name), (sides[1].name, sides[2].name)]
    if name == "crawl":
        from benchmarks.crawl import harness_sides, running_server

        sides = harness_sides(workdir, stack.enter_context(running_server(workdir)))
        return sides, [(s.name, sides[-1].name) for s in sides[:-1]]
    raise ValueError(name)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", default=",".join(BENCHES), help="Comma-separated: " + ",".join(BENCHES))
    size = ap.add_mutually_exclusive_group()
    size.add_argument("--full", action="store_true", help="The sizes of BENCHMARKS.md (long).")
    size.add_argument("--smoke", action="store_true", help="Smallest path: one run each, no warm-up.")
    ap.add_argument("--runs", type=int, default=None, help="Runs per side (default 3; 1 with --smoke).")
    ap.add_argument("--shared", type=Path, default=DEFAULT_SHARED)
    ap.add_argument("--workdir", type=Path, default=ROOT / "out" / "bench-all")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = [n for n in names if n not in BENCHES]
    if unknown:
        print(f"--only: no benchmark {', '.join(unknown)}; choose from {', '.join(BENCHES)}", file=sys.stderr)
        return 2
    if not args.shared.is_dir() and any(n != "crawl" for n in names):
        print(f"--shared {args.shared}: not a folder (the benchmarks read the shared data)", file=sys.stderr)
        return 2
    tier = 0 if args.smoke else 2 if args.full else 1
    runs = args.runs or (1 if args.smoke else 3)
    rows, everything = [], {}
    for name in names:
        sizes = SIZES[name][tier]
        workdir = (args.workdir / name).resolve()
        workdir.mkdir(parents=True, exist_ok=True)
        print(f"== {name}: size {sizes.size:,}, tiny {sizes.tiny}, {runs} runs; load {os.getloadavg()[0]:.1f}",
              flush=True)  # fmt: skip
        start = time.perf_counter()
        with contextlib.ExitStack() as stack:
            sides, pairs = plan(name, args.shared, workdir, stack)
            result = compare(sides, [sizes.size], workdir / "runs", runs, tiny=sizes.tiny, warmup=not args.smoke)
        summary = summarize(result, tiny=sizes.tiny)
        everything[name] = {"sizes": sizes.__dict__, "summary": summary, "seconds": time.perf_counter() - start}
        if args.json:
            save(args.json.with_name(f"{args.json.stem}-{name}.json"), result, summary, sizes=sizes.__dict__)
        for a, b in pairs:
            r = pair_ratios(summary, sizes.size, a, b)
            load = summary[a][sizes.size]["load"] + summary[b][sizes.size]["load"]
            rows.append((name, f"{a} / {b}", r, f"{min(load):.1f}–{max(load):.1f}"))
    print()
    print("| benchmark | comparison | ratio (range) | basis | whole-run CPU | wall | peak RSS | load |")
    print("|---|---|---|---|---|---|---|---|")
    for name, what, r, load in rows:
        print(f"| {name} | {what} | {r['ratio']:.2f}× ({r['low']:.2f}–{r['high']:.2f}) | {r['basis']} | "
              f"{r['whole_run_cpu']:.2f}× | {r['wall']:.2f}× | {r['rss']:.2f}× | {load} |")  # fmt: skip
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"runs": runs, "tier": tier, "benchmarks": everything,
                                         "ratios": [(n, w, r) for n, w, r, _ in rows]}, indent=2))  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
