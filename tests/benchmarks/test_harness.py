"""The benchmark harness measures a real child: pinned to one CPU, its CPU time, its sampled peak RSS, start-up."""

import os
import time

from benchmarks.harness import Side, compare, summarize


def burn(units: int, hold_mb: int = 0, startup_s: float = 0.0) -> dict:
    """Child side: ``startup_s`` of CPU once, then a fixed amount of CPU per unit, holding ``hold_mb`` MB."""
    held = bytearray(hold_mb * 2**20)
    for i in range(0, len(held), 4096):  # touch every page so it is resident
        held[i] = 1
    end = time.process_time() + startup_s
    while time.process_time() < end:
        pass
    total = 0
    for i in range(units * 20_000):
        total += i
    time.sleep(0.1)  # let the parent sample the held memory
    return {"units": units, "affinity": sorted(os.sched_getaffinity(0)), "held": len(held)}


def test_harness_pins_samples_and_separates_startup(tmp_path):
    sides = [
        Side("big", "tests.benchmarks.test_harness:burn", lambda n: {"units": n, "hold_mb": 150, "startup_s": 0.3}),
        Side("small", "tests.benchmarks.test_harness:burn", lambda n: {"units": n}),
    ]
    runs = compare(sides, [100], tmp_path, runs=2, tiny=10, warmup=False, echo=None)
    assert len(runs) == 2 * 2 * 2  # sides x sizes x runs
    assert all(len(r.extra["affinity"]) == 1 for r in runs)  # pinned in the child
    big = [r for r in runs if r.side == "big"]
    small = [r for r in runs if r.side == "small"]
    assert min(r.peak_rss_mb for r in big) > 150 > max(r.peak_rss_mb for r in small)
    assert all(r.cpu_s > 0 for r in runs)
    summary = summarize(runs, tiny=10)
    big100 = summary["big"][100]
    # start-up: about the 0.3 s burned once, plus the interpreter; the small side has no such fixed cost
    assert big100["startup_cpu_s"]["median"] > summary["small"][100]["startup_cpu_s"]["median"] + 0.15
    assert big100["steady_units_per_cpu_s"]["median"] > big100["units_per_cpu_s"]["median"]
