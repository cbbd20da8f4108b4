"""Restarts: a job killed with SIGKILL and rerun ends byte-identical to one that never stopped; a finished job
reruns as a no-op; a different config on the same output is refused unless overwriting."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from corpusforge.errors import ConfigError
from pipelines.engines import run_job
from pipelines.jobs.web import WebJobConfig
from tests.pipelines import warc_factory as wf

N_FILES = 8
PAGES_PER_FILE = 40
PDF_BODY = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< >>\n%%EOF\n"
NOT_COMPARED = {"config.yaml", "funnel.json"}  # the config names its output folder; the funnel counts skips


def build_inputs(root: Path, n_files: int = N_FILES, pages: int = PAGES_PER_FILE) -> Path:
    """Archives of good pages with a few drops and a routed PDF in each, so every output folder has rows."""
    root.mkdir(parents=True)
    for f in range(n_files):
        base = f"https://restart.example.org/{f}"
        records = [wf.Page(f"{base}/page-{i}", wf.good_html(f * 1000 + i)) for i in range(pages)]
        records[pages // 2 : pages // 2] = [
            wf.Page(f"{base}/gone", wf.good_html(1), status="404 Not Found"),
            wf.Page(f"{base}/logo.png", wf.PNG_MAGIC + bytes(64), headers=(("Content-Type", "image/png"),)),
            wf.Page(f"{base}/paper.pdf", PDF_BODY, headers=(("Content-Type", "application/pdf"),)),
            wf.Page(f"{base}/short", wf.html_page("Short", ["Too short to keep."]).encode()),
        ]
        wf.write_warc(root / f"crawl-{f:02d}.warc.gz", records, version="1.1" if f % 2 else "1.0")
    return root


def job_config(inputs: Path, output: Path, **extra) -> dict:
    # small row groups, so a task is killed between two flushes of its Parquet files, not only before them
    return {
        "inputs": [str(inputs)],
        "output": str(output),
        "engine": {"kind": "local", "workers": 1},
        "write": {"batch_rows": 8},
        **extra,
    }


def digests(output: Path) -> dict[str, str]:
    return {
        str(p.relative_to(output)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(output.rglob("*"))
        if p.is_file() and p.name not in NOT_COMPARED
    }


def markers(output: Path) -> int:
    folder = output / "_completions"
    return len(list(folder.iterdir())) if folder.is_dir() else 0


def cli(config: Path, cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "corpusforge.cli", "run", str(config), "-q"],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def temporaries(output: Path) -> list[Path]:
    return list(output.rglob(".tmp-*"))


def kill_mid_run(config: Path, output: Path, cwd: Path, total: int, limit_s: float = 60) -> int:
    """Start the job and SIGKILL its process group once some but not all tasks are complete, while a task is
    half-way through writing its Parquet files; return how many tasks were complete."""
    proc = cli(config, cwd)
    deadline = time.monotonic() + limit_s
    try:
        while time.monotonic() < deadline:
            done = markers(output)
            if 1 <= done < total and temporaries(output):
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
                return done
            if proc.poll() is not None:
                out = proc.stdout.read().decode(errors="replace")
                pytest.fail(f"the job ended (rc={proc.returncode}) before it could be killed: {out[-2000:]}")
            time.sleep(0.005)
        pytest.fail(f"no task completed within {limit_s}s")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
    raise AssertionError("unreachable")


def kept_ids(output: Path) -> list[str]:
    return [
        i for p in sorted((output / "documents").glob("part-*.parquet")) for i in pq.read_table(p)["id"].to_pylist()
    ]


def test_sigkill_then_rerun_matches_an_uninterrupted_run(tmp_path):
    inputs = build_inputs(tmp_path / "inputs")
    killed_out, clean_out = tmp_path / "killed", tmp_path / "clean"
    config = tmp_path / "job.yaml"
    config.write_text(yaml.safe_dump(job_config(inputs, killed_out)))

    done = kill_mid_run(config, killed_out, tmp_path, N_FILES)
    assert 1 <= done < N_FILES
    assert markers(killed_out) < N_FILES
    assert temporaries(killed_out), "the kill should leave a half-written file for the rerun to clean"

    rerun = subprocess.run(
        [sys.executable, "-m", "corpusforge.cli", "run", str(config), "-q"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    funnel = json.loads((killed_out / "funnel.json").read_text())
    assert funnel["tasks_skipped"] >= done > 0
    assert funnel["tasks_run"] + funnel["tasks_skipped"] == N_FILES

    reference = run_job(WebJobConfig.parse(job_config(inputs, clean_out)))
    assert reference.tasks_run == N_FILES

    assert not list(killed_out.rglob(".tmp-*")), "half-written files were left behind"
    killed, clean = digests(killed_out), digests(clean_out)
    assert sorted(killed) == sorted(clean)
    assert {k for k in killed if k.startswith(("documents/", "audit/", "ledger/", "pdfs/", "_completions/"))} == set(
        killed
    )
    assert len([k for k in killed if k.startswith("documents/")]) == N_FILES
    differing = [name for name in clean if killed[name] != clean[name]]
    assert not differing, f"files differ after the restart: {differing}"

    ids = kept_ids(killed_out)
    assert len(ids) == len(set(ids)) == N_FILES * PAGES_PER_FILE
    assert ids == kept_ids(clean_out)
    clean_funnel = json.loads((clean_out / "funnel.json").read_text())
    assert funnel["ledger"] == clean_funnel["ledger"] == reference.ledger.to_dict()
    assert funnel["languages"] == clean_funnel["languages"]
    led = funnel["ledger"]
    assert led["inputs"] == led["kept"] + sum(led["dropped"].values()) + sum(led["quarantined"].values())
    assert led["dropped"]["pdf_routed"] == N_FILES


@pytest.fixture
def small_job(tmp_path) -> tuple[Path, Path]:
    return build_inputs(tmp_path / "inputs", n_files=2, pages=6), tmp_path / "out"


def test_rerunning_a_finished_job_skips_every_task(small_job):
    inputs, out = small_job
    first = run_job(WebJobConfig.parse(job_config(inputs, out)))
    assert (first.tasks_run, first.tasks_skipped) == (2, 0)
    before = digests(out)

    again = run_job(WebJobConfig.parse(job_config(inputs, out)))
    assert (again.tasks_run, again.tasks_skipped) == (0, 2)
    assert again.ledger.to_dict() == first.ledger.to_dict()
    assert digests(out) == before

    # where and how fast it runs does not define the outputs: other engine settings resume the same run
    faster = job_config(inputs, out)
    faster["engine"] = {"kind": "local", "workers": 2}
    assert run_job(WebJobConfig.parse(faster)).tasks_skipped == 2


def test_a_changed_config_on_the_same_output_is_refused_unless_overwriting(small_job):
    inputs, out = small_job
    run_job(WebJobConfig.parse(job_config(inputs, out)))
    before = digests(out)
    changed = WebJobConfig.parse(job_config(inputs, out, extract={"min_chars": 50}))

    with pytest.raises(ConfigError) as err:
        run_job(changed)
    assert err.value.field == "output"
    assert "output" in str(err.value) and str(out) in str(err.value)
    assert digests(out) == before, "a refused run must not touch the outputs"

    result = run_job(changed, overwrite=True)
    assert (result.tasks_run, result.tasks_skipped) == (2, 0)
    saved = yaml.safe_load((out / "config.yaml").read_text())
    assert saved["extract"]["min_chars"] == 50
    assert run_job(changed).tasks_skipped == 2  # the new config now owns the folder
