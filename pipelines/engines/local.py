"""The embedded default: tasks run in a pool of worker processes on this machine."""

from __future__ import annotations

import multiprocessing as mp
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
            with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn")) as pool:
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
