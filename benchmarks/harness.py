"""One method for every side-by-side benchmark, so that a ratio means the same thing everywhere.

Each side runs in a fresh child process (``python -m benchmarks.harness --child module:function``) pinned to one
CPU (``os.sched_setaffinity`` in the child, before it imports anything heavy; thread pools told to use one thread),
so a side cannot borrow a second core and an earlier side's memory cannot leak into a later one. Every child, ours
or a peer's, gets Arrow's default memory pool as the ``corpusforge`` CLI sets it (`corpusforge.heap.ARROW_POOL_ENV`:
the system allocator), unless the environment names one. Sides are
interleaved (run 1 of every side in a shuffled order, then run 2, ...), after a discarded warm-up run of each side
that fills the page cache and any on-disk cache both sides share. Per run the parent takes:

- CPU time: user + system of the child and its reaped descendants (``os.wait4`` rusage), the primary figure on a
  shared machine, where wall time moves with other people's load;
- wall time, interpreter start included;
- peak RSS by sampling the child's process tree with psutil every ``poll_s`` (20 ms): the sum over the tree and
  the largest single process ("per worker"), never ``ru_maxrss`` of the parent, which a forked child inherits;
- the 1-minute load average at the start and end of the run.

Start-up apart from steady state: every side also runs on a tiny input (``tiny`` units, same runs, same
interleaving). Steady-state throughput is the extra units over the extra CPU seconds,
``(units - units_tiny) / (cpu - cpu_tiny)`` per run pair; start-up is the tiny run's CPU time less its units at
that steady rate (imports, model loading, executor set-up). Medians and ranges (min-max over runs) are reported.

The function a side names is called in the child as ``function(**kwargs)`` and returns a dict with at least
``units`` (documents, pages or tokens it processed); anything else it returns is kept in the JSON.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import random
import statistics
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from benchmarks.measure import log_tail, run_measured
from corpusforge.heap import ARROW_POOL_ENV

ROOT = Path(__file__).resolve().parent.parent
ONE_THREAD = {
    "TOKENIZERS_PARALLELISM": "false",
    "RAYON_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "POLARS_MAX_THREADS": "1",
    "ARROW_NUM_THREADS": "1",  # not read by pyarrow itself; set below in the child with set_cpu_count
}


@dataclass(frozen=True)
class Side:
    """One tool (or one setting of a tool): the child function and its keyword arguments for a given size."""

    name: str
    call: str  # "package.module:function", imported in the child
    kwargs: Callable[[int], dict]  # size (units asked for) -> JSON-able keyword arguments


@dataclass
class Run:
    side: str
    size: int
    run: int  # -1: warm-up
    units: int
    cpu_s: float
    wall_s: float
    peak_rss_mb: float  # sum over the child's process tree, sampled
    worker_rss_mb: float  # the largest single process of the tree, sampled
    load_start: float
    load_end: float
    cpu: int  # the CPU the child was pinned to
    extra: dict = field(default_factory=dict)

    @property
    def units_per_cpu_s(self) -> float:
        return self.units / self.cpu_s if self.cpu_s else float("nan")


class BenchmarkFailed(RuntimeError):
    """A side's child exited non-zero; the message carries its log's tail."""


# ---------------------------------------------------------------- the child


def child_main(call: str, kwargs_json: str, result: Path, cpu: int) -> None:
    os.sched_setaffinity(0, {cpu})  # first: before any library starts a thread pool
    with contextlib.suppress(ImportError):
        import pyarrow

        pyarrow.set_cpu_count(1)
        pyarrow.set_io_thread_count(1)
    module, _, name = call.partition(":")
    fn = getattr(importlib.import_module(module), name)
    out = fn(**json.loads(kwargs_json))
    if not isinstance(out, dict) or "units" not in out:
        raise SystemExit(f"{call} returned {type(out).__name__}, not a dict with 'units'")
    result.write_text(json.dumps(out))


# ---------------------------------------------------------------- the parent


def pick_cpu() -> int:
    """The last CPU this process may use (the benchmark's own parent loop is cheap; it may share it)."""
    return max(os.sched_getaffinity(0))


def measure(side: Side, size: int, run: int, workdir: Path, cpu: int, poll_s: float = 0.02) -> Run:
    """Run one side once in a fresh pinned child; sample its process tree's RSS until it exits."""
    workdir.mkdir(parents=True, exist_ok=True)
    tag = f"{side.name}-{size}-{run}".replace(" ", "_").replace("/", "_")
    result, log_path = workdir / f"result-{tag}.json", workdir / f"{tag}.log"
    result.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "benchmarks.harness", "--child", side.call, "--kwargs", json.dumps(side.kwargs(size)),
           "--result", str(result), "--cpu", str(cpu)]  # fmt: skip
    env = {**ARROW_POOL_ENV, **os.environ, **ONE_THREAD, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    load_start = os.getloadavg()[0]
    m = run_measured(cmd, log_path, cwd=ROOT, poll_s=poll_s, env=env)
    rc, wall = m.rc, m.wall_s
    if rc != 0 or not result.is_file():
        raise BenchmarkFailed(f"{side.name} at size {size} exited {rc}; log {log_path}:\n{log_tail(log_path, 3000)}")
    extra = json.loads(result.read_text())
    units = int(extra.pop("units"))
    worker = max(m.driver_peak_rss_mb, m.worker_peak_rss_mb)  # the largest single process of the tree, polled
    return Run(side.name, size, run, units, m.cpu_s, wall, m.peak_rss_mb, worker,
               load_start, os.getloadavg()[0], cpu, extra)  # fmt: skip


def compare(
    sides: list[Side],
    sizes: list[int],
    workdir: Path,
    runs: int = 3,
    tiny: int | None = None,
    warmup: bool = True,
    seed: int = 0,
    echo: Callable[[str], None] | None = print,
) -> list[Run]:
    """Every side at every size (and at ``tiny``), interleaved, ``runs`` times each after a warm-up."""
    cpu = pick_cpu()
    all_sizes = ([tiny] if tiny else []) + sizes
    out: list[Run] = []
    rng = random.Random(seed)
    plan: list[tuple[int, int, Side]] = []
    if warmup:
        plan += [(-1, min(all_sizes), s) for s in sides]
    for r in range(runs):
        for size in all_sizes:
            order = list(sides)
            rng.shuffle(order)
            plan += [(r, size, s) for s in order]
    for r, size, side in plan:
        run = measure(side, size, r, workdir, cpu)
        if echo:
            what = "warm-up" if r < 0 else f"run {r}"
            echo(f"  {side.name:28s} size {size:>9,} {what}: {run.units:,} units, CPU {run.cpu_s:.2f} s, wall "
                 f"{run.wall_s:.2f} s, peak RSS {run.peak_rss_mb:.0f} MB, load {run.load_start:.1f}-{run.load_end:.1f}")  # fmt: skip
        if r >= 0:
            out.append(run)
    return out


# ---------------------------------------------------------------- summaries


def spread(values: list[float]) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def summarize(runs: list[Run], tiny: int | None = None) -> dict[str, dict[int, dict]]:
    """side -> size -> medians and ranges; with ``tiny``, steady-state throughput and start-up per side and size."""
    out: dict[str, dict[int, dict]] = {}
    for side in dict.fromkeys(r.side for r in runs):
        mine = [r for r in runs if r.side == side]
        small = {r.run: r for r in mine if r.size == tiny} if tiny else {}
        out[side] = {}
        for size in sorted({r.size for r in mine}):
            at = [r for r in mine if r.size == size]
            row = {
                "units": statistics.median(r.units for r in at),
                "cpu_s": spread([r.cpu_s for r in at]),
                "wall_s": spread([r.wall_s for r in at]),
                "units_per_cpu_s": spread([r.units_per_cpu_s for r in at]),
                "units_per_wall_s": spread([r.units / r.wall_s for r in at]),
                "peak_rss_mb": spread([r.peak_rss_mb for r in at]),
                "worker_rss_mb": spread([r.worker_rss_mb for r in at]),
                "load": [min(r.load_start for r in at), max(r.load_end for r in at)],
            }
            if small and size != tiny:
                steady, startup = [], []
                for r in at:
                    t = small.get(r.run)
                    if t and r.cpu_s > t.cpu_s and r.units > t.units:
                        rate = (r.units - t.units) / (r.cpu_s - t.cpu_s)
                        steady.append(rate)
                        startup.append(max(0.0, t.cpu_s - t.units / rate))
                if steady:
                    row["steady_units_per_cpu_s"] = spread(steady)
                    row["startup_cpu_s"] = spread(startup)
            out[side][size] = row
    return out


def fmt_spread(s: dict, digits: int = 0) -> str:
    f = f"{{:,.{digits}f}}"
    return f"{f.format(s['median'])} ({f.format(s['min'])}–{f.format(s['max'])})"


def ratio_table(summary: dict, size: int, ours: str, peers: list[str], unit: str = "docs") -> str:
    """Markdown: one row per side at ``size``; ratios ours/side on steady CPU throughput (or whole-run)."""
    head = (f"| side | {unit} | CPU s | wall s | {unit}/CPU s (whole run) | steady {unit}/CPU s | start-up CPU s | "
            f"peak RSS MB | ours / side (steady CPU) | load |")  # fmt: skip
    lines = [head, "|" + "---|" * 10]
    base = summary[ours][size]

    def rate(row):
        return (row.get("steady_units_per_cpu_s") or row["units_per_cpu_s"])["median"]

    for name in [ours, *peers]:
        row = summary[name][size]
        steady = row.get("steady_units_per_cpu_s")
        start = row.get("startup_cpu_s")
        ratio = "1.00×" if name == ours else f"{rate(base) / rate(row):.2f}×"
        lines.append(
            f"| {name} | {row['units']:,.0f} | {fmt_spread(row['cpu_s'], 2)} | {fmt_spread(row['wall_s'], 2)} | "
            f"{fmt_spread(row['units_per_cpu_s'])} | {fmt_spread(steady) if steady else '–'} | "
            f"{fmt_spread(start, 2) if start else '–'} | {fmt_spread(row['peak_rss_mb'])} | {ratio} | "
            f"{row['load'][0]:.1f}–{row['load'][1]:.1f} |"
        )
    return "\n".join(lines)


def pair_ratios(summary: dict, size: int, a: str, b: str) -> dict:
    """a over b in units per CPU second: steady state when both have it (else whole run), median and the range
    from the extremes (a's slowest over b's fastest, and the reverse); also the whole-run and wall ratios."""
    ra, rb = summary[a][size], summary[b][size]
    steady = "steady_units_per_cpu_s" in ra and "steady_units_per_cpu_s" in rb
    key = "steady_units_per_cpu_s" if steady else "units_per_cpu_s"
    out = {
        "basis": "steady CPU" if steady else "whole-run CPU",
        "ratio": ra[key]["median"] / rb[key]["median"],
        "low": ra[key]["min"] / rb[key]["max"],
        "high": ra[key]["max"] / rb[key]["min"],
        "whole_run_cpu": ra["units_per_cpu_s"]["median"] / rb["units_per_cpu_s"]["median"],
        "wall": ra["units_per_wall_s"]["median"] / rb["units_per_wall_s"]["median"],
        "rss": ra["peak_rss_mb"]["median"] / rb["peak_rss_mb"]["median"],
    }
    out["text"] = f"{out['ratio']:.2f}× ({out['low']:.2f}–{out['high']:.2f}) on {out['basis']}"
    return out


def save(path: Path, runs: list[Run], summary: dict, **meta) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({**meta, "runs": [asdict(r) for r in runs], "summary": summary}, indent=2))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="The child entry of the benchmark harness (internal).")
    ap.add_argument("--child", required=True)
    ap.add_argument("--kwargs", default="{}")
    ap.add_argument("--result", type=Path, required=True)
    ap.add_argument("--cpu", type=int, required=True)
    args = ap.parse_args(argv)
    child_main(args.child, args.kwargs, args.result, args.cpu)


if __name__ == "__main__":
    main()
