"""The embedded default: tasks run in a pool of worker processes on this machine."""

from __future__ import annotations

import multiprocessing as mp
from concurrent.futures import ProcessPoolExecutor, as_completed

from pipelines.engines import JobResult, summarize
from pipelines.task import clean_temporaries, read_summaries, run_task


def run_local(job, files: list[str], progress: bool = False) -> JobResult:
    clean_temporaries(job.output)
    workers = min(job.engine.workers, len(files))
    ran = 0
    with _progress(progress, len(files)) as advance:
        if workers <= 1:
            for task, path in enumerate(files):
                ran += run_task(job, task, path) is not None
                advance()
        else:
            # spawn: the parent may hold threads (progress bar, Spark) that fork would copy half-locked
            with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn")) as pool:
                futures = [pool.submit(run_task, job, task, path) for task, path in enumerate(files)]
                for future in as_completed(futures):
                    ran += future.result() is not None
                    advance()
    result = summarize(job.name, read_summaries(job.output))
    result.tasks_run, result.tasks_skipped = ran, len(files) - ran
    return result


class _progress:
    """A rich progress bar over tasks, or nothing when output is not for a person."""

    def __init__(self, enabled: bool, total: int):
        self.enabled, self.total = enabled, total

    def __enter__(self):
        if not self.enabled:
            return lambda: None
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.bar = Progress(TextColumn("tasks"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), transient=True)
        self.bar.__enter__()
        tid = self.bar.add_task("tasks", total=self.total)
        return lambda: self.bar.advance(tid)

    def __exit__(self, *exc):
        if self.enabled:
            self.bar.__exit__(*exc)
