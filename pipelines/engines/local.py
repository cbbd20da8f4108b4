"""The embedded default: tasks run in a pool of worker processes on this machine."""

from __future__ import annotations

import ctypes
import multiprocessing as mp
import os
import signal
import sys
from concurrent.futures import ProcessPoolExecutor, as_completed

from pipelines.engines import JobResult, summarize
from pipelines.task import clean_temporaries, read_summaries, run_task


def run_local(job, files: list[str], progress: bool = False) -> JobResult:
    clean_temporaries(job.output)
    ran = run_tasks(run_task, job, files, progress=progress)
    result = summarize(job.name, read_summaries(job.output))
    result.tasks_run, result.tasks_skipped = ran, len(files) - ran
    return result


def run_tasks(fn, job, files: list[str], progress: bool = False, label: str = "tasks") -> int:
    """Run ``fn(job, task, path)`` for every input file on ``job.engine.workers`` processes; returns how many
    ran (``fn`` returns a falsy value for a task a previous run finished)."""
    workers = min(job.engine.workers, len(files))
    ran = 0
    with _progress(progress, len(files), label) as advance:
        if workers <= 1:
            for task, path in enumerate(files):
                ran += bool(fn(job, task, path))
                advance()
        else:
            # spawn: the parent may hold threads (progress bar, Spark) that fork would copy half-locked
            ctx = mp.get_context("spawn")
            with ProcessPoolExecutor(
                workers, mp_context=ctx, initializer=die_with_parent, initargs=(os.getpid(),)
            ) as pool:
                futures = [pool.submit(fn, job, task, path) for task, path in enumerate(files)]
                for future in as_completed(futures):
                    ran += bool(future.result())
                    advance()
    return ran


class _progress:
    """A rich progress bar over tasks, or nothing when output is not for a person."""

    def __init__(self, enabled: bool, total: int, label: str = "tasks"):
        self.enabled, self.total, self.label = enabled, total, label

    def __enter__(self):
        if not self.enabled:
            return lambda: None
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.bar = Progress(
            TextColumn(self.label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), transient=True
        )
        self.bar.__enter__()
        tid = self.bar.add_task("tasks", total=self.total)
        return lambda: self.bar.advance(tid)

    def __exit__(self, *exc):
        if self.enabled:
            self.bar.__exit__(*exc)


def die_with_parent(parent: int) -> None:
    """A worker ends when the run that started it is killed: otherwise it finishes its task (an OCR'd PDF, an LLM
    call) into an output a rerun with --overwrite has already cleared. Linux only (prctl); a no-op elsewhere."""
    if sys.platform != "linux":
        return
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the parent died before the signal was armed
        os._exit(1)
