"""datatrove's executors run our tasks: Ray in its one-machine mode; Slurm by the sbatch script it generates and
the pickled executor its array tasks load (nothing is submitted: no Slurm here); and any job kind's task
functions (dedup's fingerprint and apply steps), not only per-document stages."""

import importlib.util
import os

import pytest

from pipelines.engines import run_job
from pipelines.engines.datatrove import build_executor, build_pipeline
from pipelines.jobs.dedup import DedupJobConfig
from pipelines.jobs.web import WebJobConfig

SAMPLES = ["cc_whirlwind.warc.wet.gz", "warcio_example-iana.org-chunked.warc"]


def _web(shared_data, out, engine: dict) -> WebJobConfig:
    return WebJobConfig.parse(
        {
            "name": "executors",
            "inputs": [str(shared_data / "warc" / name) for name in SAMPLES],
            "output": str(out),
            "engine": {"workers": 1, **engine},
            "langid": {"enabled": False},
        }
    )


def _files(out, sub: str) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((out / sub).iterdir())}


def test_slurm_sbatch_script(shared_data, tmp_path):
    options = {
        "partition": "cpu",
        "time": "02:00:00",
        "cpus_per_task": 2,
        "mem_per_cpu_gb": 3,
        "qos": "high",
        "sbatch_args": {"account": "corpus"},
        "env_command": "source /opt/venv/bin/activate",
    }
    job = _web(shared_data, tmp_path / "slurm", {"kind": "datatrove", "datatrove": {"executor": "slurm", "slurm": options}})
    files = job.input_files()
    logs = str(tmp_path / "slurm" / "datatrove")
    executor = build_executor(job, build_pipeline(job, files), len(files), logs)

    args = executor.get_sbatch_args(max_array=len(files))
    assert args["partition"] == "cpu" and args["time"] == "02:00:00" and args["qos"] == "high"
    assert args["cpus-per-task"] == 2 and args["mem-per-cpu"] == "3G" and args["account"] == "corpus"
    assert args["array"] == "0-1%1" and args["job-name"] == "executors"  # one array task per file, workers at once
    script = executor.get_launch_file_contents(args, "launch_pickled_pipeline executor.pik")
    assert script.startswith("#!/bin/bash\n#SBATCH --cpus-per-task=2\n")
    assert "#SBATCH --partition=cpu" in script and "#SBATCH --account=corpus" in script
    assert "source /opt/venv/bin/activate" in script and "launch_pickled_pipeline executor.pik" in script

    # what sbatch's array tasks load: the executor as launch_job pickles it (dill), with our steps in it
    import dill

    loaded = dill.loads(dill.dumps(executor))
    assert [step.name for step in loaded.pipeline] == ["corpusforge read", *(f"corpusforge {s.name}" for s in
                                                        job.build_stages()), "corpusforge write"]  # fmt: skip
    assert loaded.tasks == len(files) and loaded.skip_completed


def test_slurm_needs_its_options(shared_data, tmp_path):
    from corpusforge.errors import ConfigError

    job = _web(shared_data, tmp_path / "x", {"kind": "datatrove", "datatrove": {"executor": "slurm"}})
    with pytest.raises(ConfigError, match="engine.datatrove.slurm"):
        build_executor(job, [], 1, str(tmp_path / "logs"))


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="ray is not installed")
def test_ray_one_machine_gives_the_local_engines_files(shared_data, tmp_path):
    os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
    ray_job = _web(shared_data, tmp_path / "ray", {"kind": "datatrove", "datatrove": {"executor": "ray"}})
    result = run_job(ray_job)
    run_job(_web(shared_data, tmp_path / "local", {"kind": "local"}))
    for sub in ("documents", "audit", "ledger"):
        assert _files(tmp_path / "ray", sub) == _files(tmp_path / "local", sub)
    assert result.tasks_run == 2
    import ray

    assert not ray.is_initialized()  # the engine stops the Ray it started


def test_datatrove_runs_a_dedup_jobs_task_functions(shared_data, tmp_path):
    """Per-file task functions (fingerprint, apply) run as datatrove tasks: same files as the local engine."""
    run_job(_web(shared_data, tmp_path / "web", {"kind": "local"}))
    outs = {}
    for kind in ("local", "datatrove"):
        job = DedupJobConfig(
            inputs=[str(tmp_path / "web" / "documents")], output=str(tmp_path / kind), engine={"kind": kind, "workers": 1}
        )
        outs[kind] = run_job(job)
    for sub in ("documents", "audit", "ledger"):
        assert _files(tmp_path / "datatrove", sub) == _files(tmp_path / "local", sub)
    assert outs["datatrove"].ledger.to_dict() == outs["local"].ledger.to_dict()
    assert (tmp_path / "datatrove" / "_work" / "datatrove" / "dedup" / "completions").is_dir()
    again = run_job(DedupJobConfig(inputs=[str(tmp_path / "web" / "documents")], output=str(tmp_path / "datatrove"),
                                   engine={"kind": "datatrove", "workers": 1}))  # fmt: skip
    assert again.tasks_skipped == 2 and again.tasks_run == 0
