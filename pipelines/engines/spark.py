"""Spark engine: Spark schedules the tasks (one partition per input file) and retries them on a lost executor;
each task is the same `run_task` the local engine runs, so outputs are the same files, byte for byte.

Executors read their file, run the stages and write their part files, ledger and completion marker through
fsspec; only a boolean per task comes back to the driver, never data. A rerun skips the tasks with a marker,
so a killed driver resumes where it stopped. The same function runs under `spark-submit`
(pipelines/spark_job.py).

Executors need the project importable. The driver gives them its own interpreter (``PYSPARK_PYTHON``, unless
the user set it or ``spark.pyspark.python``) and, when the project is imported from a source checkout, that
checkout on their ``PYTHONPATH``: right on one machine and on clusters that mount the project at the same
path on every node (docker-compose.yml); elsewhere set both in ``engine.spark.conf``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from corpusforge.heap import ARROW_POOL_ENV
from pipelines.task import clean_temporaries, run_task

PYTHON_CONF = "spark.pyspark.python"
EXECUTOR_PATH_CONF = "spark.executorEnv.PYTHONPATH"


def project_root() -> str | None:
    """The source checkout this code runs from (it has the pyproject.toml), or None for an installed package."""
    root = Path(__file__).resolve().parents[2]
    return str(root) if (root / "pyproject.toml").is_file() and (root / "corpusforge").is_dir() else None


def executor_settings(conf: dict[str, str], environ) -> dict[str, str]:
    """The settings that make the project importable on executors, and their Arrow pool the one the CLI sets,
    unless the user already chose them."""
    out = {}
    if PYTHON_CONF not in conf and "PYSPARK_PYTHON" not in environ:
        out[PYTHON_CONF] = sys.executable
    root = project_root()
    if root and EXECUTOR_PATH_CONF not in conf:
        out[EXECUTOR_PATH_CONF] = os.pathsep.join(p for p in (root, environ.get("PYTHONPATH", "")) if p)
    for key, value in ARROW_POOL_ENV.items():  # Arrow's buffers in the heap a task's trims reach (corpusforge.heap)
        if f"spark.executorEnv.{key}" not in conf:
            out[f"spark.executorEnv.{key}"] = environ.get(key, value)
    return out


def spark_session(options):
    """A session on ``options.master`` (unless spark-submit already chose the master), logging at
    ``options.log_level``, whose executors import this project."""
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    from pyspark import SparkConf, SparkContext
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName(options.app_name)
    if "PYSPARK_GATEWAY_PORT" in os.environ:  # spark-submit started this process and its JVM, with its master
        SparkContext._ensure_initialized()  # connect to that JVM: SparkConf() then reads what spark-submit set
        submitted = dict(SparkConf().getAll())
    else:
        builder = builder.master(options.master)
        submitted = {}
    conf = {"spark.ui.showConsoleProgress": "false", **options.conf}
    given = submitted | conf
    conf |= executor_settings(given, os.environ)
    python = conf.get(PYTHON_CONF) or given.get(PYTHON_CONF)
    if python and "PYSPARK_PYTHON" not in os.environ:  # SparkContext reads the executors' Python from here only
        os.environ["PYSPARK_PYTHON"] = python
    for key, value in conf.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel(options.log_level)
    return session


def run_tasks_spark(session, fn, job, files: list[str]) -> int:
    """Run ``fn(job, task, path)`` once per input file on the executors (one partition per file); returns how
    many ran. ``fn`` writes its own outputs and marker, so a retried or resumed task is redone from scratch or
    skipped; only its booleans come back."""
    if not files:
        return 0
    if "://" not in job.output:  # executors run in their own folders: a relative output would land there
        job = job.model_copy(update={"output": os.path.abspath(job.output)})

    def run(item):
        task, path = item
        return bool(fn(job, task, path))

    session.sparkContext.setJobDescription(f"{job.name}: {fn.__name__} over {len(files)} files")
    tasks = session.sparkContext.parallelize(list(enumerate(files)), numSlices=len(files))
    return sum(tasks.map(run).collect())


class SparkEngine:
    """Tasks run as Spark tasks (one partition per input file); the session starts on first use and is the one
    `getOrCreate` returns, so chained jobs and global steps (``engine.session``) share it."""

    kind = "spark"

    def __init__(self, job, progress: bool = False, session=None):
        self.options, self.progress, self._session = job.engine.spark, progress, session

    @property
    def session(self):
        if self._session is None:
            self._session = spark_session(self.options)
        return self._session

    def run_stages(self, job, files: list[str], label: str = "records") -> int:
        return self.run_files(run_task, job, files, label)

    def run_files(self, fn, job, files: list[str], label: str = "files") -> int:
        ran = run_tasks_spark(self.session, fn, job, files)
        clean_temporaries(job.output)  # what attempts on lost executors left half-written
        return ran
