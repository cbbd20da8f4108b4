import json
import subprocess
import sys

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
