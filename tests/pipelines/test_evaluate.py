import gzip
import json

import pytest
from typer.testing import CliRunner

from corpusforge.cli import build_app
from corpusforge.errors import InputError
from pipelines.evaluate import load_pages, score

BODY = " ".join(
    f"Sentence {i} tells how the harbour of the small town was rebuilt after the storm of that winter."
    for i in range(6)
)
PAGE = (
    f"<html><body><nav>Menu Login Subscribe</nav><article><p>{BODY}</p></article><footer>Imprint</footer></body></html>"
)


def _aeb(tmp_path):
    (tmp_path / "html").mkdir(parents=True)
    (tmp_path / "html" / "p1.html.gz").write_bytes(gzip.compress(PAGE.encode()))
    (tmp_path / "ground-truth.json").write_text(json.dumps({"p1": {"articleBody": BODY, "url": "https://x.test/1"}}))
    return tmp_path


def _snippets(tmp_path):
    (tmp_path / "html").mkdir(parents=True)
    (tmp_path / "html" / "page.html").write_text(PAGE)
    gold = {"https://x.test/1": {"file": "page.html", "with": ["harbour of the small town"], "without": ["Login"]}}
    (tmp_path / "evaldata.json").write_text(json.dumps(gold))
    return tmp_path


def test_token_scores_are_exact_for_a_perfect_and_a_half_output(tmp_path):
    fmt, pages = load_pages(_aeb(tmp_path))
    assert fmt == "aeb" and len(pages) == 1
    assert score(fmt, pages, [BODY])["f1"] == pytest.approx(1.0)
    half = score(fmt, pages, [" ".join(BODY.split()[: len(BODY.split()) // 2])])
    assert half["precision"] == pytest.approx(1.0) and half["recall"] == pytest.approx(0.5, abs=0.02)
    noisy = score(fmt, pages, [BODY + " Menu Login Subscribe Imprint"])
    assert noisy["recall"] == pytest.approx(1.0) and noisy["precision"] < 1.0


def test_snippet_scores(tmp_path):
    fmt, pages = load_pages(_snippets(tmp_path))
    assert fmt == "snippets"
    assert score(fmt, pages, ["harbour of the small town"])["f1"] == 1.0
    assert score(fmt, pages, ["harbour of the small town Login"])["precision"] == 0.5
    assert score(fmt, pages, ["nothing"])["f1"] == 0.0


@pytest.mark.parametrize("build", [_aeb, _snippets])
def test_cli_writes_json_for_both_formats(tmp_path, build):
    data = build(tmp_path / "data")
    out = tmp_path / "r.json"
    result = CliRunner().invoke(build_app(), ["eval", "extraction", str(data), "--json", str(out)])
    assert result.exit_code == 0, result.output
    results = json.loads(out.read_text())["results"]
    assert {r["extractor"] for r in results} == {"trafilatura", "resiliparse"}
    assert all(r["f1"] > 0.5 for r in results)


def test_unknown_directory_layout_is_named(tmp_path):
    with pytest.raises(InputError) as err:
        load_pages(tmp_path)
    assert str(tmp_path) in str(err.value)


def test_on_the_shared_trafilatura_eval_set(shared_data):
    fmt, pages = load_pages(shared_data / "extraction" / "trafilatura_eval")
    assert fmt == "snippets" and len(pages) == 990


def test_layout_tables_option_is_recorded_and_checked(tmp_path):
    data = _snippets(tmp_path / "data")
    out = tmp_path / "r.json"
    args = ["eval", "extraction", str(data), "--extractor", "trafilatura", "--json", str(out)]
    result = CliRunner().invoke(build_app(), [*args, "--layout-tables", "keep"])
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["results"][0]["layout_tables"] == "keep"
    bad = CliRunner().invoke(build_app(), [*args, "--layout-tables", "sideways"])
    assert bad.exit_code != 0 and "layout-tables" in str(bad.exception or bad.output)
