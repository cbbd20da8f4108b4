"""The embedded default: tasks run in a pool of worker processes on this machine."""

from __future__ import annotations

import ctypes
import multiprocessing as mp
import os
import signal
import sys
from concurrent.futures import ProcessPoolExecutor, as_completed

from pipelines.task import clean_temporaries, run_task


class LocalEngine:
    """Tasks run in a pool of ``engine.workers`` processes on this machine (in this process for one worker)."""

    kind = "local"

    def __init__(self, job, progress: bool = False):
        self.progress = progress

    def run_stages(self, job, files: list[str], label: str = "records") -> int:
        return run_tasks(run_task, job, files, progress=self.progress, label=label)

    def run_files(self, fn, job, files: list[str], label: str = "files") -> int:
        return run_tasks(fn, job, files, progress=self.progress, label=label)


def run_tasks(fn, job, files: list[str], progress: bool = False, label: str = "records") -> int:
    """Run ``fn(job, task, path)`` for every input file on ``job.engine.workers`` processes; returns how many
    ran (``fn`` returns a falsy value for a task a previous run finished)."""
    workers = min(job.engine.workers, len(files))
    ran = 0
    with _progress(progress, job, files, label) as done:
        if workers <= 1:
            for task, path in enumerate(files):
                result = fn(job, task, path)
                ran += bool(result)
                done(task, result)
        else:
            # spawn: the parent may hold threads (progress bar, Spark) that fork would copy half-locked
            ctx = mp.get_context("spawn")
            pool = ProcessPoolExecutor(workers, mp_context=ctx, initializer=init_worker, initargs=(os.getpid(),))
            try:
                futures = {pool.submit(fn, job, task, path): task for task, path in enumerate(files)}
                for future in as_completed(futures):
                    result = future.result()
                    ran += bool(result)
                    done(futures[future], result)
            except KeyboardInterrupt:
                stop_pool(pool)
                clean_temporaries(job.output)
                raise
            finally:
                pool.shutdown(wait=True)  # a no-op after stop_pool
    return ran


def stop_pool(pool: ProcessPoolExecutor) -> None:
    """Stop at once on Ctrl-C: queued tasks are cancelled and running ones killed, not waited for; a killed
    task leaves no completion marker, only temporaries (removed once the workers are gone)."""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    manager = getattr(pool, "_executor_manager_thread", None)  # shutdown() forgets it
    pool.shutdown(wait=False, cancel_futures=True)
    for proc in processes:
        if proc.is_alive():
            proc.terminate()
    for proc in processes:
        proc.join(timeout=10)
    # Python < 3.12 races at exit: its hook wakes the pool's manager thread through a pipe the thread may be
    # closing that instant ("Exception ignored in: <module 'threading'>"); a finished thread leaves none to race.
    if manager is not None:
        manager.join(timeout=10)


class _progress:
    """A rich progress line per stage: records done and records/s (from each finished task's ledger), and an
    ETA weighted by input bytes, so one large file does not make the estimate jump; nothing when output is not
    for a person."""

    def __init__(self, enabled: bool, job, files: list[str], label: str = "records"):
        self.enabled, self.job, self.files, self.label = enabled, job, files, label

    def __enter__(self):
        if not self.enabled:
            return lambda task, result: None
        from rich.progress import (
            BarColumn,
            Progress,
            TaskProgressColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.sizes = [_size(p) for p in self.files]
        self.bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(bar_width=20),
            TaskProgressColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            transient=True,
        )
        self.bar.__enter__()
        self.records, self.tasks = 0, 0
        name = f"{self.job.name} {self.label}"
        self.tid = self.bar.add_task(name, total=sum(self.sizes) or len(self.files), rate="")
        return self.done

    def done(self, task: int, result) -> None:
        self.tasks += 1
        self.records += _records(self.job, task, result)
        elapsed = self.bar.tasks[0].elapsed or 1e-9
        rate = f"{self.records:,} rec {self.records / elapsed:,.0f}/s" if self.records else (
            f"{self.tasks}/{len(self.files)} files")  # fmt: skip
        self.bar.update(self.tid, advance=self.sizes[task] or 1, rate=rate)

    def __exit__(self, *exc):
        if self.enabled:
            self.bar.__exit__(*exc)
            elapsed = self.bar.tasks[0].elapsed or 0.0
            if self.records and exc[0] is None:
                rate = self.records / elapsed if elapsed else 0.0
                self.bar.console.print(
                    f"{self.job.name} {self.label}: {self.records:,} in {elapsed:,.1f} s ({rate:,.0f}/s)"
                )


def _size(path: str) -> int:
    from corpusforge.fs import filesystem

    try:
        fs, p = filesystem(path)
        return int(fs.size(p) or 0)
    except (OSError, ValueError):
        return 0


def _records(job, task: int, result) -> int:
    """Records a finished task read: from its returned summary, else from the ledger file it wrote."""
    import json

    if isinstance(result, dict) and "ledger" in result:
        return int(result["ledger"].get("inputs", 0))
    if not result:
        return 0
    from corpusforge.fs import exists, join, read_text

    path = join(job.output, "ledger", f"part-{task:05d}.json")
    try:
        return int(json.loads(read_text(path))["ledger"]["inputs"]) if exists(path) else 0
    except (OSError, ValueError, KeyError):
        return 0


def init_worker(parent: int) -> None:
    """A pool worker: ends with its parent, and keeps the parent's quiet or verbose setting."""
    from corpusforge.quiet import configure

    configure()
    die_with_parent(parent)


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
