import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from corpusforge.cli import build_app

runner = CliRunner()


@pytest.mark.parametrize("args", [[], ["run"], ["crawl"], ["eval"], ["eval", "extraction"], ["eval", "langid"]])
def test_help_everywhere(args):
    result = runner.invoke(build_app(), [*args, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


def test_run_prints_funnel_and_writes_outputs(shared_data, tmp_path):
    config = tmp_path / "job.yaml"
    config.write_text(
        f"inputs: ['{shared_data}/warc/cc_whirlwind.warc.gz', '{shared_data}/warc/dolma_sample-0000.warc.gz']\n"
        f"output: {tmp_path}/out\nengine: {{workers: 1}}\n"
    )
    result = runner.invoke(build_app(), ["run", str(config)])
    assert result.exit_code == 0, result.output
    assert "kept" in result.output and "dropped: warc_request" in result.output
    funnel = json.loads((tmp_path / "out" / "funnel.json").read_text())
    assert funnel["ledger"]["kept"] > 0
    assert (tmp_path / "out" / "config.yaml").exists()


def test_invalid_config_exits_with_the_field_named(tmp_path):
    config = tmp_path / "job.yaml"
    config.write_text("inputs: [x]\noutput: o\nengine: {kind: hadoop}\n")
    code = "from corpusforge.cli import main; main()"
    proc = subprocess.run([sys.executable, "-c", code, "run", str(config)], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "engine.kind" in proc.stderr


# ---- exit codes and messages a scheduler can trust (issue 13) ---------------------------------------------

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples" / "warc"


def corpusforge(*args: str, cwd: Path, **kwargs) -> subprocess.CompletedProcess:
    """The real command, run from ``cwd`` with this checkout's code first on the path."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    code = "from corpusforge.cli import main; main()"
    return subprocess.run(
        [sys.executable, "-c", code, *args], cwd=cwd, env=env, capture_output=True, text=True, **kwargs
    )


def _tree(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def _job(folder: Path, inputs: list[str], output: str = "out/job") -> Path:
    path = folder / "job.yaml"
    path.write_text(f"name: job\ninputs: {inputs!r}\noutput: {output}\nengine: {{workers: 1}}\n")
    return path


USAGE_MISTAKES = {
    "run without a recipe": (["run"], "'config'"),
    "missing recipe": (["run", "no-such-recipe.yaml"], "no-such-recipe.yaml"),
    "unknown option": (["run", "job.yaml", "--bogus"], "--bogus"),
    "unknown command": (["bogus"], "'bogus'"),
    "workers not a number": (["run", "job.yaml", "--workers", "two"], "--workers"),
    "shards inspect on a missing folder": (["shards", "inspect", "no-such-folder"], "no-such-folder"),
    "shards verify on a missing folder": (["shards", "verify", "no-such-folder"], "no-such-folder"),
    "missing input file": (["run", "job.yaml"], "no-such-input.warc.gz"),
    "invalid override": (["run", "job.yaml", "--set", "engine.kind=hadoop"], "engine.kind"),
    "no command": ([], "missing command"),
    "group without its command": (["shards"], "corpusforge shards: missing command"),
}


@pytest.mark.parametrize("args, culprit", USAGE_MISTAKES.values(), ids=USAGE_MISTAKES.keys())
def test_a_usage_or_input_mistake_is_one_line_exit_2_and_writes_nothing(tmp_path, args, culprit):
    _job(tmp_path, [str(SAMPLES / "cc_whirlwind.warc.gz"), "no-such-input.warc.gz"])
    before = _tree(tmp_path)
    proc = corpusforge(*args, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert culprit in lines[0] and lines[0].startswith("error: "), lines[0]
    assert "Traceback" not in proc.stderr + proc.stdout
    assert _tree(tmp_path) == before, "a failed check wrote files"


def test_debug_shows_the_traceback(tmp_path):
    _job(tmp_path, ["no-such-input.warc.gz"])
    proc = corpusforge("--debug", "run", "job.yaml", cwd=tmp_path)
    assert proc.returncode == 2
    assert "Traceback" in proc.stderr and proc.stderr.strip().splitlines()[-1].startswith("error: ")
    assert not (tmp_path / "out").exists()


def test_success_exits_0(tmp_path):
    _job(tmp_path, [str(SAMPLES / "cc_whirlwind.warc.gz")])
    proc = corpusforge("run", "job.yaml", "-q", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "out" / "job" / "funnel.json").is_file()


@pytest.mark.slow
@pytest.mark.skipif(sys.platform != "linux", reason="signals to a process group")
@pytest.mark.parametrize("to_group", [False, True], ids=["process", "group"])
def test_ctrl_c_exits_130_and_marks_nothing_done_that_is_not(tmp_path, to_group):
    """SIGINT while tasks run: exit 130, no funnel.json, no dedup, and every completion marker belongs to a task
    whose outputs are complete; a rerun then finishes the job."""
    recipe = tmp_path / "job.yaml"
    inputs = sorted(str(p) for p in SAMPLES.glob("*.warc*"))
    recipe.write_text(
        f"name: job\ninputs: {inputs!r}\noutput: out\nengine: {{workers: 2}}\n"
        "dedup: {fuzzy: {verify: {enabled: true}}}\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    code = "from corpusforge.cli import main; main()"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "run", str(recipe), "-q"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    out = tmp_path / "out"
    deadline = time.monotonic() + 300
    while not list((out / "_completions").glob("*")) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, "the job ended before it could be interrupted"
    if to_group:
        os.killpg(proc.pid, signal.SIGINT)
    else:
        os.kill(proc.pid, signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert stderr.strip().splitlines() == ["error: interrupted"], stderr
    assert not (out / "funnel.json").exists() and not (out / "dedup").exists()
    done = sorted(int(p.name) for p in (out / "_completions").iterdir())
    assert len(done) < len(inputs), "every task finished: the interrupt came too late to test anything"
    for task in done:  # a marker only where the task's ledger and parts are there
        assert (out / "ledger" / f"part-{task:05d}.json").is_file()
        assert (out / "documents" / f"part-{task:05d}.parquet").is_file()
    assert not list(out.rglob(".tmp-*"))
    if not to_group:
        return
    rerun = corpusforge("run", str(recipe), "-q", cwd=tmp_path, timeout=600)
    assert rerun.returncode == 0, rerun.stderr
    funnel = json.loads((out / "funnel.json").read_text())
    assert funnel["tasks_skipped"] == len(done) and funnel["tasks_run"] == len(inputs) - len(done)
