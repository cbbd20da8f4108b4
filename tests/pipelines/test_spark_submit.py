"""The same job under spark-submit on a real standalone cluster (a master and a worker as separate processes)."""

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pipelines.engines import run_job
from pipelines.job import WebJobConfig

REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_port(port: int, timeout: float = 90) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.5)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port}")


@pytest.fixture
def cluster(tmp_path):
    if shutil.which("java") is None:
        pytest.skip("needs Java for Spark")
    import pyspark

    home = Path(pyspark.__file__).parent
    env = {
        **os.environ,
        "SPARK_HOME": str(home),
        "SPARK_LOCAL_IP": "127.0.0.1",
        "PYSPARK_PYTHON": sys.executable,
        "SPARK_WORKER_DIR": str(tmp_path / "work"),
        "SPARK_LOG_DIR": str(tmp_path / "logs"),
    }
    port, ui, wui = _free_port(), _free_port(), _free_port()
    cls = str(home / "bin" / "spark-class")
    logs = open(tmp_path / "cluster.log", "wb")  # noqa: SIM115 - held open for the daemons the fixture yields
    master = subprocess.Popen(
        [
            cls,
            "org.apache.spark.deploy.master.Master",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--webui-port",
            str(ui),
        ],
        env=env,
        stdout=logs,
        stderr=logs,
    )
    worker = subprocess.Popen(
        [
            cls,
            "org.apache.spark.deploy.worker.Worker",
            "--cores",
            "2",
            "--memory",
            "2g",
            "--webui-port",
            str(wui),
            f"spark://127.0.0.1:{port}",
        ],
        env=env,
        stdout=logs,
        stderr=logs,
    )
    try:
        _wait_for_port(port)
        yield f"spark://127.0.0.1:{port}", env, home
    finally:
        for proc in (worker, master):
            proc.terminate()
        for proc in (worker, master):
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        logs.close()


@pytest.mark.spark
@pytest.mark.slow
def test_spark_submit_on_a_standalone_cluster_matches_local(shared_data, tmp_path, cluster):
    master, env, home = cluster
    inputs = [str(shared_data / "warc" / n) for n in ("cc_whirlwind.warc.gz", "dolma_sample-0001.warc.gz")]
    config = tmp_path / "job.yaml"
    # dedup chained: fingerprint/apply tasks on the cluster's executors, the decision as DataFrame jobs there
    config.write_text(f"name: submit\ninputs: {inputs}\noutput: {tmp_path / 'cluster'}\ndedup: {{}}\n")
    proc = subprocess.run(
        [str(home / "bin" / "spark-submit"), "--master", master, str(REPO / "pipelines" / "spark_job.py"), str(config)],
        env={**env, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=400,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "kept" in proc.stdout
    local = run_job(
        WebJobConfig.parse(
            {
                "name": "submit",
                "inputs": inputs,
                "output": str(tmp_path / "local"),
                "engine": {"workers": 1},
                "dedup": {},
            }
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
