"""`kind: pipeline`: steps run in order on each other's outputs; a bad step fails before any step runs."""

import json

from typer.testing import CliRunner

from corpusforge.cli import build_app

runner = CliRunner()


def _write(path, text):
    path.write_text(text)
    return path


def _recipes(tmp_path, shared_data, dedup_extra=""):
    web = _write(
        tmp_path / "web.yaml",
        f"inputs: ['{shared_data}/warc/cc_whirlwind.warc.gz', '{shared_data}/warc/dolma_sample-0000.warc.gz']\n"
        f"output: {tmp_path}/web\nengine: {{workers: 1}}\n",
    )
    dedup = _write(
        tmp_path / "dedup.yaml",
        f"kind: dedup\ninputs: ['{tmp_path}/web/documents']\noutput: {tmp_path}/dedup\n{dedup_extra}",
    )
    return web, dedup


def test_steps_run_in_order_on_each_others_outputs(shared_data, tmp_path):
    web, dedup = _recipes(tmp_path, shared_data)
    pipeline = _write(
        tmp_path / "p.yaml", f"kind: pipeline\nsteps:\n  - {web}\n  - recipe: {dedup}\n    set: {{engine.workers: 1}}\n"
    )
    result = runner.invoke(build_app(), ["run", str(pipeline), "--engine", "local"])
    assert result.exit_code == 0, result.output
    web_funnel = json.loads((tmp_path / "web" / "funnel.json").read_text())
    dedup_funnel = json.loads((tmp_path / "dedup" / "funnel.json").read_text())
    assert dedup_funnel["ledger"]["inputs"] == web_funnel["ledger"]["kept"] > 0
    assert result.output.count("funnel:") == 2


def test_a_bad_later_step_fails_before_the_first_runs(shared_data, tmp_path):
    web, dedup = _recipes(tmp_path, shared_data, dedup_extra="fuzzy: {minhash: {bands: 0}}\n")
    pipeline = _write(tmp_path / "p.yaml", f"kind: pipeline\nsteps: ['{web}', '{dedup}']\n")
    result = runner.invoke(build_app(), ["run", str(pipeline)])
    assert result.exit_code != 0
    assert "dedup.yaml" in str(result.exception) or "dedup.yaml" in result.output
    assert not (tmp_path / "web").exists()


def test_a_missing_step_recipe_is_named(tmp_path):
    pipeline = _write(tmp_path / "p.yaml", "kind: pipeline\nsteps: [nowhere.yaml]\n")
    result = runner.invoke(build_app(), ["run", str(pipeline)])
    assert result.exit_code != 0
    assert "steps.0.recipe" in str(result.exception) + result.output
