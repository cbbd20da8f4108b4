"""A task whose output cannot be written (disk full, a file-size limit) fails the run clearly and leaves no part."""

import json
import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "samples" / "warc"
LIMIT = 6000  # bytes: the small first task's files fit, the second task's documents do not


def _run(recipe: Path, limit: int | None) -> subprocess.CompletedProcess:
    def preexec():  # EFBIG on the write that crosses the limit, instead of death by SIGXFSZ
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run(
        [sys.executable, "-c", "from corpusforge.cli import main; main()", "run", str(recipe), "-q"],
        env=env,
        capture_output=True,
        text=True,
        preexec_fn=preexec if limit else None,
        timeout=300,
    )


@pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_FSIZE and SIGXFSZ")
@pytest.mark.parametrize("workers", [1, 2])
def test_a_full_disk_fails_the_task_clearly_and_leaves_no_partial_part(tmp_path, workers):
    out = tmp_path / "out"
    inputs = [str(SAMPLES / "cc_whirlwind.warc.gz"), str(SAMPLES / "dolma_sample-0000.warc.gz")]
    recipe = tmp_path / "job.yaml"
    recipe.write_text(
        f"name: full\ninputs: {inputs!r}\noutput: {out}\nengine: {{workers: {workers}}}\nwrite: {{batch_rows: 2}}\n"
    )
    proc = _run(recipe, LIMIT)
    assert proc.returncode == 1, proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("error: task 1 (dolma_sample-0000.warc.gz)") and "File too large" in line, line
    assert "Traceback" not in proc.stderr
    files = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert not [f for f in files if "part-00001" in f or ".tmp-" in f], files
    assert "_completions/00001" not in files and "funnel.json" not in files
    assert "_completions/00000" in files  # the task that fitted is done, and stays done
    rerun = _run(recipe, None)
    assert rerun.returncode == 0, rerun.stderr
    funnel = json.loads((out / "funnel.json").read_text())
    assert (funnel["tasks_run"], funnel["tasks_skipped"]) == (1, 1)
