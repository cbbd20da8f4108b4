"""Run a command in a fresh process and measure it: wall and CPU time, and peak RSS of its process tree.

Shared by the benchmarks that run each tool in a child process of its own (``extract.py``, ``dedup.py``).
RSS is polled every ``poll_s`` seconds (50 ms by default) over the child and all its descendants, so a peak of
the tree shorter than that can be missed. ``max_single_rss_mb`` is the largest high-water mark the kernel keeps
for each process (``VmHWM``), read at every poll: it misses only growth in a process's last ``poll_s`` seconds.
(``ru_maxrss`` from ``wait4`` would be simpler but is wrong here: a child started by ``subprocess`` inherits its
parent's high-water mark through fork/vfork and exec, so a benchmark parent holding a corpus sets a floor under
every child's figure.) CPU time is the child's own rusage from ``wait4``, which includes its descendants that
were reaped (worker processes, extraction sandboxes).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

MB = 2**20


@dataclass(frozen=True)
class Measurement:
    rc: int  # exit code (negative: killed by that signal)
    wall_s: float  # from start to exit, interpreter start included
    cpu_s: float  # user + system of the child and its reaped descendants (wait4 rusage)
    peak_rss_mb: float  # the largest sum of RSS over the whole process tree, polled
    max_single_rss_mb: float  # the largest single process of the tree (its kernel high-water mark, VmHWM)
    driver_peak_rss_mb: float  # the root process alone, polled
    worker_peak_rss_mb: float  # the largest descendant (worker process), polled; 0 when it has none


def _high_water_kb(pid: int) -> int:
    """The process's peak RSS so far (VmHWM, kB), or 0 when it is gone or not readable."""
    try:
        with open(f"/proc/{pid}/status", "rb") as f:
            for line in f:
                if line.startswith(b"VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def run_measured(
    cmd: list[str], log_path: Path, cwd: Path | None = None, poll_s: float = 0.05, env: dict | None = None
) -> Measurement:
    """Run ``cmd`` with stdout and stderr to ``log_path``; wait for it while polling its process tree's RSS.
    An interrupt or error in the waiting kills the whole tree first, so no child outlives the benchmark."""
    import psutil

    start = time.perf_counter()
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=cwd, env=env)
        root = psutil.Process(proc.pid)
        peak = driver_peak = worker_peak = high_water_kb = 0
        try:
            while True:
                # wait4 reaps this child alone and gives its own rusage (its reaped descendants included)
                pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
                if pid:
                    break
                with contextlib.suppress(psutil.Error):
                    total = 0
                    for p in [root, *root.children(recursive=True)]:
                        with contextlib.suppress(psutil.Error):  # a process may exit between listing and reading
                            rss = p.memory_info().rss
                            total += rss
                            high_water_kb = max(high_water_kb, _high_water_kb(p.pid))
                            if p.pid == root.pid:
                                driver_peak = max(driver_peak, rss)
                            else:
                                worker_peak = max(worker_peak, rss)
                    peak = max(peak, total)
                time.sleep(poll_s)
        except BaseException:  # Ctrl-C or an error here: leave no child running
            with contextlib.suppress(psutil.Error):
                for p in [*root.children(recursive=True), root]:
                    p.kill()
            proc.wait()
            raise
        proc.returncode = rc = os.waitstatus_to_exitcode(status)
    return Measurement(
        rc=rc,
        wall_s=time.perf_counter() - start,
        cpu_s=usage.ru_utime + usage.ru_stime,
        peak_rss_mb=peak / MB,
        max_single_rss_mb=high_water_kb / 1024,
        driver_peak_rss_mb=driver_peak / MB,
        worker_peak_rss_mb=worker_peak / MB,
    )


def log_tail(log_path: Path, chars: int = 4000) -> str:
    """The end of a child's log, for an error message."""
    return log_path.read_text(errors="replace")[-chars:]
