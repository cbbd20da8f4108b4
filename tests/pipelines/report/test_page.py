"""The report page: one self-contained file with every section, and the report a pipeline run ends with."""

import json
import re

from typer.testing import CliRunner

from pipelines.report.cli import report
from pipelines.report.outputs import resolve
from pipelines.report.page import build

SECTIONS = ("funnel", "distributions", "dedup", "shards", "training", "mixture")


def _page(run_dir) -> str:
    return build(resolve([run_dir / d for d in ("web", "shards", "train", "mix")]))


def test_every_section_is_on_one_self_contained_page(run_dir):
    html = _page(run_dir)
    for section in SECTIONS:
        body = re.search(rf'<section id="{section}" data-section="{section}">(.*?)</section>', html, re.S)
        assert body and "<svg" in body.group(1), section
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)  # nothing fetched from elsewhere
    assert "<link" not in html and "@import" not in html
    assert len(html.encode()) < 1_500_000
    assert "mirror0.example.net" in html  # a cluster's members side by side
    assert "https://example.org/stub/0" in html  # a sampled dropped document
    path = re.search(r"<div class='path'>(.*?)</div>", html).group(1)  # the run end to end, in order
    read = json.loads((run_dir / "web" / "funnel.json").read_text())["ledger"]["inputs"]
    tokens = json.loads((run_dir / "shards" / "manifest.json").read_text())["totals"]["tokens"]
    labels = re.findall(r"<b>([^<]+)</b>([^<]+)</span>", path)
    assert labels[0] == (f"{read:,}", "documents read") and labels[-2][0] == f"{tokens:,}"
    assert labels[-1][1] == "final loss after 2 stages"


def test_the_pipeline_run_ended_with_its_report(run_dir):
    log = (run_dir / "run.log").read_text()
    assert f"report: {run_dir / 'report.html'}" in log.replace("\n", "")
    html = (run_dir / "report.html").read_text()
    assert all(f'data-section="{s}"' in html for s in ("funnel", "distributions", "dedup", "shards"))


def test_report_command_writes_the_page(run_dir, tmp_path):
    import typer

    app = typer.Typer()
    app.command()(report)
    out = tmp_path / "r.html"
    result = CliRunner().invoke(app, [str(run_dir / "train"), str(run_dir / "mix"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.is_file() and "report:" in result.output
    html = out.read_text()
    assert 'data-section="training"' in html and 'data-section="mixture"' in html
    result = CliRunner().invoke(app, [str(tmp_path / "nothing-here")])
    assert result.exit_code != 0 and "nothing-here" in str(result.exception)
