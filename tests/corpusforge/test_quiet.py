"""Third-party noise hidden by default and shown with --verbose; help and flags readable at 80 columns."""

import os
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from corpusforge.cli import build_app

ROOT = Path(__file__).resolve().parents[2]
NOISE = """
import logging, sys, warnings
from corpusforge.quiet import configure
configure({verbose})
logging.getLogger("megatron.core.datasets.blended_dataset").warning(
    "Cannot save the BlendedDataset indexes because path_to_cache is None")
warnings.warn_explicit("a library's UserWarning", UserWarning, "lib.py", 1, module="somelib.sub")
warnings.warn_explicit("our own warning", UserWarning, "pipelines/x.py", 1, module="pipelines.x")
import subprocess
subprocess.run([sys.executable, "-c", "import warnings; warnings.warn('a worker library warning')"])
from tqdm import tqdm
for _ in tqdm(range(3), desc="GGUF tensors"):
    pass
"""


def _run(verbose: bool) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONWARNINGS", "TQDM_DISABLE", "CORPUSFORGE_VERBOSE")}
    env.pop("HF_HUB_DISABLE_PROGRESS_BARS", None)
    env["PYTHONPATH"] = str(ROOT)
    code = NOISE.format(verbose=verbose)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stderr


def test_library_noise_is_hidden_by_default_and_ours_is_not():
    err = _run(False)
    assert "path_to_cache" not in err and "library's UserWarning" not in err and "GGUF tensors" not in err
    assert "worker library warning" not in err  # a child process inherits the quiet setting
    assert "our own warning" in err


def test_verbose_shows_it():
    err = _run(True)
    for text in ("path_to_cache is None", "library's UserWarning", "our own warning", "worker library warning"):
        assert text in err
    assert "GGUF tensors" in err


def test_help_fits_80_columns_and_shows_version_and_verbose_as_flags():
    runner = CliRunner()
    for args in (["--help"], ["run", "--help"], ["report", "--help"], ["docs", "show", "--help"]):
        result = runner.invoke(build_app(), args, env={"COLUMNS": "80", "TERM": "dumb"})
        assert result.exit_code == 0, (args, result.output)
        assert max(len(line) for line in result.output.splitlines()) <= 80, args
    top = runner.invoke(build_app(), ["--help"], env={"COLUMNS": "80"}).output
    version = next(line for line in top.splitlines() if "--version" in line)
    assert "<bool>" not in version and "Print the version" in version
    assert "--verbose" in top
    assert runner.invoke(build_app(), ["--version"]).output.strip()
