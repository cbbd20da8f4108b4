"""Every task writes its own shard files atomically: Spark and the local engine write the same bytes, and a run
killed with SIGKILL and rerun ends byte-identical to one that never stopped."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from pipelines.engines import run_job
from pipelines.jobs.shard import ShardJobConfig
from tests.pipelines.shards import factory

NOT_COMPARED = {"config.yaml", "funnel.json"}


def digests(output: Path) -> dict[str, str]:
    return {
        str(p.relative_to(output)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(output.rglob("*"))
        if p.is_file() and p.name not in NOT_COMPARED
    }


def config(inputs: Path, output: Path, engine: str = "local") -> dict:
    return {
        "kind": "shard",
        "inputs": [str(inputs)],
        "output": str(output),
        "engine": {"kind": engine, "workers": 1},
        "write": {"batch_rows": 16},
        "shard": {"cells": {"keys": ["lang", "edu", "source"], "min_documents": 20}, "batch_docs": 16},
    }


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("engines")
    return factory.write_parts(root / "in", [factory.records(seed, 150, long_every=75) for seed in range(6)])


@pytest.mark.spark
def test_spark_and_local_write_the_same_shards(spark, inputs, tmp_path):
    local = ShardJobConfig.parse(config(inputs, tmp_path / "local"))
    run_job(local)
    on_spark = ShardJobConfig.parse(config(inputs, tmp_path / "spark", "spark"))
    run_job(on_spark)
    a, b = digests(tmp_path / "local"), digests(tmp_path / "spark")
    assert any(k.endswith(".bin") for k in a) and a == b


def test_restart_after_kill_gives_identical_shards(inputs, tmp_path):
    clean = ShardJobConfig.parse(config(inputs, tmp_path / "clean"))
    run_job(clean)
    killed = tmp_path / "killed"
    path = tmp_path / "killed.yaml"
    path.write_text(yaml.safe_dump(config(inputs, killed)))
    cwd = Path(__file__).resolve().parents[3]
    cmd = [sys.executable, "-m", "corpusforge.cli", "run", str(path), "-q"]
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 240
    markers = killed / "_completions"
    while time.monotonic() < deadline and proc.poll() is None:
        if markers.is_dir() and len(list(markers.iterdir())) >= 2:
            break
        time.sleep(0.02)
    assert proc.poll() is None, "the run ended before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done = len(list(markers.iterdir()))
    assert 2 <= done < 6
    rerun = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert not [p for p in killed.rglob("*") if p.name.startswith(".tmp-")]
    assert digests(killed) == digests(tmp_path / "clean")
