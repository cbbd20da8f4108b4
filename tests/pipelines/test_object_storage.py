"""The web, dedup and shard jobs and the trainer's data reads against a real S3-compatible server (moto, started
on 127.0.0.1 by the `s3` fixture): the same files as on local disk, resume from markers in the bucket, and a
store that goes away mid-job fails the job clearly with nothing half-written."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from corpusforge.fs import BACKOFF_ENV, TRIES_ENV, exists, filesystem
from pipelines.engines import run_job
from pipelines.jobs.shard import ShardJobConfig
from pipelines.jobs.web import WebJobConfig
from tests.pipelines.warc_factory import Page, good_html, write_warc
from tests.s3_server import free_port

REPO = Path(__file__).resolve().parents[2]
UNCOMPARED = ("config.yaml", "funnel.json")


def _warcs(folder: Path, files: int, pages: int) -> Path:
    folder.mkdir(parents=True)
    for f in range(files):
        # page 0 of every file is the same text: dedup has work to do
        batch = [Page(f"https://example.org/{f}/{i}", good_html(f * 1000 + i if i else 7)) for i in range(pages)]
        write_warc(folder / f"part-{f}.warc.gz", batch)
    return folder


def _upload(local: Path, url: str) -> None:
    fs, root = filesystem(url)
    for path in sorted(local.iterdir()):
        fs.put_file(str(path), f"{root}/{path.name}")


def _files(url: str) -> dict[str, bytes]:
    """Every file of an output (local folder or bucket URL) by relative path, but the config and funnel."""
    fs, root = filesystem(url)
    out = {}
    for path in fs.find(root):
        rel = path[len(root.rstrip("/")) + 1 :]
        if rel.rsplit("/", 1)[-1] not in UNCOMPARED:
            out[rel] = fs.cat_file(path)
    return out


def _web(inputs: str, output: str, **more) -> WebJobConfig:
    return WebJobConfig.parse(
        {"name": "s3", "inputs": [inputs], "output": output, "engine": {"workers": 1}, "dedup": {}, **more}
    )


def _shard(inputs: str, output: str) -> ShardJobConfig:
    return ShardJobConfig.parse(
        {"kind": "shard", "inputs": [inputs], "output": output, "engine": {"workers": 1}, "shard": {"batch_docs": 16}}
    )


def test_web_dedup_shard_jobs_and_training_reads_on_s3_match_local_disk(s3, tmp_path, monkeypatch, request):
    monkeypatch.chdir(tmp_path)  # nothing may land in the working folder (e.g. an "s3:" folder of caches)
    warcs = _warcs(tmp_path / "warcs", files=2, pages=12)
    bucket = s3.bucket()
    _upload(warcs, f"{bucket}/warcs")

    on_s3 = run_job(_web(f"{bucket}/warcs", f"{bucket}/web"))
    local = run_job(_web(str(warcs), str(tmp_path / "web")))
    assert on_s3.ledger.kept == local.ledger.kept > 0
    assert on_s3.then["dedup"].ledger.dropped == local.then["dedup"].ledger.dropped != {}
    s3_files, local_files = _files(f"{bucket}/web"), _files(str(tmp_path / "web"))
    assert "documents/part-00000.parquet" in s3_files and "dedup/documents/part-00001.parquet" in s3_files
    assert "_completions/00001" in s3_files and "dedup/_completions/00001" in s3_files
    same = {k for k in local_files if not k.startswith("dedup/_work/") and not k.startswith("dedup/review")}
    assert {k: s3_files.get(k) for k in same} == {k: local_files[k] for k in same}

    again = run_job(_web(f"{bucket}/warcs", f"{bucket}/web"))  # markers in the bucket: nothing redone
    assert again.tasks_skipped == 2 and again.then["dedup"].tasks_skipped == 2

    run_job(_shard(f"{bucket}/web/dedup/documents", f"{bucket}/shards"))
    run_job(_shard(str(tmp_path / "web" / "dedup" / "documents"), str(tmp_path / "shards")))
    s3_shards, local_shards = _files(f"{bucket}/shards"), _files(str(tmp_path / "shards"))
    assert any(k.endswith(".bin") for k in s3_shards)
    assert {k: v for k, v in s3_shards.items() if not k.startswith("_work/")} == {
        k: v for k, v in local_shards.items() if not k.startswith("_work/")
    }

    pytest.importorskip("megatron.core")
    import torch.distributed as dist

    from training.data import build_datasets, load_blend

    if not dist.is_initialized():  # as the trainer does: Megatron's index caching asks for the rank
        dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{free_port()}", rank=0, world_size=1)
        request.addfinalizer(dist.destroy_process_group)

    def first_samples(where: str) -> list[list[int]]:
        blend = load_blend(where, None)
        train, _ = build_datasets(
            blend, seq_length=16, train_samples=8, valid_samples=2, split="80,20,0", index_cache=str(tmp_path / "idx")
        )
        return [train[i]["tokens"].tolist() for i in range(8)]

    remote = load_blend(f"{bucket}/shards", None)
    assert all(p.startswith(f"{bucket}/shards/") for p in remote.prefixes)
    assert first_samples(f"{bucket}/shards") == first_samples(str(tmp_path / "shards"))
    assert not (tmp_path / "s3:").exists()
    assert not any(k.startswith("cells/") and "/cache/" in k for k in _files(f"{bucket}/shards"))


def _cli(config: Path, env: dict, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(Path(sys.executable).parent / "corpusforge"), "run", str(config), "--quiet"],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _env(endpoint: str) -> dict:
    return os.environ | {
        "PYTHONPATH": str(REPO),
        "AWS_ENDPOINT_URL": endpoint,
        TRIES_ENV: "3",
        BACKOFF_ENV: "0.1",
    }


def test_an_unreachable_store_fails_the_job_in_one_line_before_any_work(tmp_path):
    warcs = _warcs(tmp_path / "warcs", files=1, pages=2)
    url = "s3://corpusforge/out"
    config = tmp_path / "job.yaml"
    config.write_text(yaml.safe_dump({"inputs": [str(warcs)], "output": url, "engine": {"workers": 1}}))
    dead = f"http://127.0.0.1:{free_port()}"
    env = _env(dead) | {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    done = _cli(config, env, timeout=120)
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and url in lines[0] and "did not answer after 3 tries" in lines[0], done.stderr
    assert "Traceback" not in done.stderr


def test_a_store_lost_mid_job_fails_it_and_a_rerun_resumes_to_the_same_files(s3, tmp_path):
    warcs = _warcs(tmp_path / "warcs", files=6, pages=120)
    bucket = s3.bucket()
    output = f"{bucket}/web"
    config = tmp_path / "job.yaml"
    config.write_text(yaml.safe_dump({"name": "s3", "inputs": [str(warcs)], "output": output, "engine": {"workers": 1}}))
    env = _env(s3.endpoint)
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "corpusforge"), "run", str(config), "--quiet"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.time() + 240
        while not exists(f"{output}/_completions/00000") and proc.poll() is None and time.time() < deadline:
            time.sleep(0.05)
        s3.stop()  # the store goes away while the job runs
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
        if s3.server is None:
            s3.start()
    assert proc.returncode != 0
    assert bucket in err.strip().splitlines()[-1] and "did not answer" in err, err[-2000:]
    fs, root = filesystem(output)
    finished = {p.rsplit("/", 1)[-1] for p in fs.find(f"{root}/_completions")}
    assert 1 <= len(finished) < 6
    for part in fs.find(f"{root}/documents"):  # nothing half-written: every part there is whole
        with fs.open(part, "rb") as f:
            assert pq.ParquetFile(f).metadata.num_rows > 0, part

    rerun = _cli(config, env)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert json.loads(fs.cat_file(f"{root}/funnel.json"))["tasks_skipped"] == len(finished)
    run_job(WebJobConfig.parse({"name": "s3", "inputs": [str(warcs)], "output": str(tmp_path / "local")}))
    assert _files(output) == _files(str(tmp_path / "local"))
