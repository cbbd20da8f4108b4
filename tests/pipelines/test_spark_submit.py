"""Spark as a user runs it: a real standalone cluster (a master and two workers, separate processes on 127.0.0.1,
1 core each) started by the module's fixture, driven by `spark-submit` and by the CLI.

The daemons get no PYSPARK_PYTHON, no PYTHONPATH and no virtualenv on their PATH (their `python3` lacks the
project): the driver alone must make the project importable on executors. A worker is killed mid-stage and
the driver is killed with SIGKILL; both runs must end with the same files as the local engine.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from corpusforge.errors import ConfigError
from pipelines.engines import run_job
from pipelines.jobs.web import WebJobConfig
from tests.pipelines.warc_factory import Page, good_html, write_warc

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = str(Path(sys.executable).parent)
N_FILES, PAGES = 6, 150  # a second or two of work per task: long enough to be killed mid-stage
pytestmark = [pytest.mark.spark, pytest.mark.slow, pytest.mark.timeout(1200)]  # JVMs start slowly on a busy machine


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(condition, timeout: float, what: str, poll: float = 0.2) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if condition():
            return
        time.sleep(poll)
    raise TimeoutError(f"timed out waiting for {what}")


def _kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL a process started with its own session, and everything it started (JVMs, Python workers)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)


class Cluster:
    """A Spark standalone master and two workers; ``ensure_workers`` restarts killed ones."""

    def __init__(self, root: Path):
        import pyspark

        self.home = Path(pyspark.__file__).parent
        self.root = root
        path = os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if p != VENV_BIN)
        drop = {"PYSPARK_PYTHON", "PYSPARK_DRIVER_PYTHON", "PYTHONPATH", "VIRTUAL_ENV"}
        self.env = {k: v for k, v in os.environ.items() if k not in drop} | {
            "PATH": path,
            "SPARK_HOME": str(self.home),
            "SPARK_LOCAL_IP": "127.0.0.1",
            "SPARK_LOG_DIR": str(root / "logs"),
        }
        self.port, self.ui = _free_port(), _free_port()
        self.url = f"spark://127.0.0.1:{self.port}"
        self.master = self._daemon(
            "master",
            "org.apache.spark.deploy.master.Master",
            ["--host", "127.0.0.1", "--port", str(self.port), "--webui-port", str(self.ui)],
        )
        self.workers: list[subprocess.Popen | None] = [None, None]

    def _daemon(self, name: str, cls: str, args: list[str], env: dict | None = None) -> subprocess.Popen:
        log = open(self.root / f"{name}.log", "ab")  # noqa: SIM115 - the daemon writes to it until it stops
        try:
            return subprocess.Popen(
                [str(self.home / "bin" / "spark-class"), cls, *args],
                env=env or self.env,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        finally:
            log.close()

    def alive_workers(self) -> int:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.ui}/json/", timeout=2) as r:
                return int(json.load(r).get("aliveworkers", 0))
        except OSError:
            return 0

    def ensure_workers(self) -> None:
        for i, proc in enumerate(self.workers):
            if proc is None or proc.poll() is not None:
                args = ["--cores", "1", "--memory", "1g", "--host", "127.0.0.1", "--webui-port", str(_free_port())]
                env = self.env | {"SPARK_WORKER_DIR": str(self.root / f"work{i}")}
                self.workers[i] = self._daemon(f"worker{i}", "org.apache.spark.deploy.worker.Worker", [*args, self.url], env)
        _wait(lambda: self.alive_workers() == 2, 120, "two alive workers", poll=0.5)

    def kill_worker(self, i: int) -> None:
        _kill_group(self.workers[i])

    def stop(self) -> None:
        for proc in [*self.workers, self.master]:
            if proc is not None and proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in [*self.workers, self.master]:
            if proc is None:
                continue
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                _kill_group(proc)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    if shutil.which("java") is None:
        pytest.skip("needs Java for Spark")
    found = Cluster(tmp_path_factory.mktemp("cluster"))
    try:
        found.ensure_workers()
        yield found
    finally:
        found.stop()


@pytest.fixture(scope="module")
def warcs(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("warcs")
    for f in range(N_FILES):
        pages = [Page(f"https://example.org/{f}/{i}", good_html(f * 1000 + i)) for i in range(PAGES)]
        write_warc(folder / f"part-{f}.warc.gz", pages)
    return folder


def _config(warcs: Path, output: Path, **engine) -> dict:
    return {"name": "cluster", "inputs": [str(warcs)], "output": str(output), "engine": engine}


@pytest.fixture(scope="module")
def local(warcs, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("local") / "out"
    run_job(WebJobConfig.parse(_config(warcs, out, kind="local", workers=1)))
    return out


def _job_file(path: Path, warcs: Path, output: Path | str, master: str, events: Path | None = None) -> Path:
    conf = {"spark.executor.memory": "512m", "spark.task.maxFailures": "4"}
    if events is not None:  # Spark's own record of every task's end, to see which were lost
        events.mkdir()
        conf |= {"spark.eventLog.enabled": "true", "spark.eventLog.dir": events.as_uri()}
        conf |= {"spark.eventLog.compress": "false", "spark.eventLog.rolling.enabled": "false"}
    path.write_text(yaml.safe_dump(_config(warcs, output, kind="spark", spark={"master": master, "conf": conf})))
    return path


def _files(out: Path) -> dict[str, bytes]:
    """Every output file but the run's config and funnel (they name the engine), by relative path."""
    return {
        str(p.relative_to(out)): p.read_bytes()
        for p in sorted(out.rglob("*"))
        if p.is_file() and p.name not in ("config.yaml", "funnel.json")
    }


def _lost_tasks(events: Path) -> int:
    """Tasks Spark's event log says ended with their executor lost (and so ran again elsewhere)."""
    lost = 0
    for log in events.iterdir():
        for line in log.read_text().splitlines():
            event = json.loads(line)
            if event["Event"] == "SparkListenerTaskEnd":
                lost += event["Task End Reason"]["Reason"] == "ExecutorLostFailure"
    return lost


def _markers(out: Path) -> int:
    folder = out / "_completions"
    return len(list(folder.iterdir())) if folder.is_dir() else 0


def _same_as_local(out: Path, local: Path) -> None:
    files, expected = _files(out), _files(local)
    assert sorted(files) == sorted(expected)  # our part names, _completions/, no .crc or _SUCCESS
    assert files == expected  # byte for byte
    schema = pq.read_schema(out / "documents" / "part-00000.parquet")
    assert str(schema.field("text").type) == "large_string"
    assert b"corpusforge.schema_version" in schema.metadata
    assert yaml.safe_load((out / "config.yaml").read_text())["engine"]["kind"] == "spark"


def test_spark_submit_survives_a_killed_worker_with_the_local_engines_files(cluster, warcs, local, tmp_path):
    cluster.ensure_workers()
    out = tmp_path / "out"
    # the recipe says local[1]: spark-submit's --master must win
    config = _job_file(tmp_path / "job.yaml", warcs, out, "local[1]", events=tmp_path / "events")
    # as a user with the project's virtualenv active: `python3` is the venv's; nothing else is set
    env = cluster.env | {"PATH": VENV_BIN + os.pathsep + cluster.env["PATH"], "PYTHONPATH": str(REPO)}
    spark_submit = str(cluster.home / "bin" / "spark-submit")
    with open(tmp_path / "stderr.log", "wb") as err:
        proc = subprocess.Popen(
            [spark_submit, "--master", cluster.url, str(REPO / "pipelines" / "spark_job.py"), str(config)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=err,
            start_new_session=True,
        )
        try:
            _wait(lambda: _markers(out) >= 1 or proc.poll() is not None, 400, "the first finished task")
            assert _markers(out) < N_FILES, "every task finished before a worker could be killed"
            cluster.kill_worker(1)
            stdout, _ = proc.communicate(timeout=600)
        finally:
            if proc.poll() is None:
                _kill_group(proc)
    log = (tmp_path / "stderr.log").read_text(errors="replace")
    assert proc.returncode == 0, log[-3000:]
    assert "kept" in stdout.decode()
    assert "Lost executor" in log
    assert _lost_tasks(tmp_path / "events") >= 1, "the worker died with no task running"
    print(f"spark-submit logged {len(log.splitlines())} lines, {log.count(' INFO ')} at INFO")
    assert len(log.splitlines()) < 300, f"{len(log.splitlines())} lines of logs"
    _same_as_local(out, local)


def test_a_driver_killed_with_sigkill_resumes_with_finished_tasks_skipped(cluster, warcs, local, tmp_path):
    cluster.ensure_workers()
    out = tmp_path / "out"
    config = _job_file(tmp_path / "job.yaml", warcs, "out", cluster.url)  # relative, as recipes have it
    command = [str(Path(VENV_BIN) / "corpusforge"), "run", str(config), "--quiet"]
    env = cluster.env | {"PYTHONPATH": str(REPO)}
    first = subprocess.Popen(
        command, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
    )
    try:
        _wait(lambda: _markers(out) >= 1 or first.poll() is not None, 400, "the first finished task")
    finally:
        _kill_group(first)  # kill -9 of the driver (and its JVM)
    done = _markers(out)
    assert 1 <= done < N_FILES, f"{done} tasks finished before the kill"
    assert not (out / "funnel.json").exists()

    second = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stderr[-3000:]
    funnel = json.loads((out / "funnel.json").read_text())
    assert funnel["tasks_skipped"] >= done and funnel["tasks_run"] + funnel["tasks_skipped"] == N_FILES
    _same_as_local(out, local)


def test_an_output_written_by_one_engine_is_refused_by_another(warcs, local):
    job = WebJobConfig.parse(_config(warcs, local, kind="spark", spark={"master": "spark://127.0.0.1:1"}))
    with pytest.raises(ConfigError, match="written by the local engine"):
        run_job(job)  # refused before any Spark session is asked for
    on_local = WebJobConfig.parse(_config(warcs, local, kind="local", workers=1))
    assert run_job(on_local).tasks_skipped == N_FILES  # the same engine resumes


def test_spark_submit_with_shared_data_and_dedup_matches_local(shared_data, tmp_path, cluster):
    cluster.ensure_workers()
    inputs = [str(shared_data / "warc" / n) for n in ("cc_whirlwind.warc.gz", "dolma_sample-0001.warc.gz")]
    config = tmp_path / "job.yaml"
    # dedup chained: fingerprint/apply tasks on the cluster's executors, the decision as DataFrame jobs there
    config.write_text(f"name: submit\ninputs: {inputs}\noutput: {tmp_path / 'cluster'}\ndedup: {{}}\n")
    env = cluster.env | {"PATH": VENV_BIN + os.pathsep + cluster.env["PATH"], "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [str(cluster.home / "bin" / "spark-submit"), "--master", cluster.url, str(REPO / "pipelines" / "spark_job.py"), str(config)],
        env=env,
        capture_output=True,
        text=True,
        timeout=400,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "kept" in proc.stdout
    local = run_job(
        WebJobConfig.parse(
            {"name": "submit", "inputs": inputs, "output": str(tmp_path / "local"), "engine": {"workers": 1}, "dedup": {}}
        )
    )
    by_id = lambda path: sorted(pq.read_table(path).to_pylist(), key=lambda r: r["id"])  # noqa: E731
    cluster_docs, local_docs = by_id(tmp_path / "cluster" / "documents"), by_id(tmp_path / "local" / "documents")
    assert len(local_docs) == local.ledger.kept > 0
    assert [(r["id"], r["text"], r["lang"]) for r in cluster_docs] == [
        (r["id"], r["text"], r["lang"]) for r in local_docs
    ]
    deduped = lambda out: sorted(  # noqa: E731
        (r["id"], dict(r["meta"])["dedup_cluster_size"]) for r in pq.read_table(out / "dedup" / "documents").to_pylist()
    )
    assert deduped(tmp_path / "cluster") == deduped(tmp_path / "local")
    assert local.then["dedup"].ledger.inputs == local.ledger.kept
