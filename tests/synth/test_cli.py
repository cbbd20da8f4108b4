"""`corpusforge synth`: templates, the sandbox, the answer checker and the registry from the command line."""

from __future__ import annotations

import json
import os

import pytest
from typer.testing import CliRunner

from synth.cli import app

runner = CliRunner()


def test_templates_and_check_answer():
    result = runner.invoke(app, ["templates"])
    assert result.exit_code == 0 and "textbook" in result.output
    assert runner.invoke(app, ["check-answer", "so \\boxed{\\frac{1}{2}}", "0.5"]).exit_code == 0
    assert runner.invoke(app, ["check-answer", "#### 3", "4"]).exit_code == 1


@pytest.mark.skipif(os.geteuid() != 0, reason="the namespace sandbox needs root")
def test_sandbox_command(tmp_path):
    program = tmp_path / "p.py"
    program.write_text("while True:\n    pass\n")
    result = runner.invoke(app, ["sandbox", str(program), "--timeout-s", "1"])
    assert result.exit_code == 1 and json.loads(result.output)["status"] == "timeout"


def test_decontam_command(tmp_path, shared_data):
    with (shared_data / "math_code/gsm8k/gsm8k_test.jsonl").open() as f:
        question = json.loads(f.readline())["question"]
    docs = tmp_path / "docs.jsonl"
    docs.write_text(json.dumps({"text": question}) + "\n" + json.dumps({"text": "nothing to see here"}) + "\n")
    result = runner.invoke(app, ["decontam", str(docs), "--shared-dir", str(shared_data)])
    assert result.exit_code == 0 and "2 documents" in result.output
    assert [line for line in result.output.splitlines() if "gsm8k" in line][0].rstrip(" │").endswith("1")
