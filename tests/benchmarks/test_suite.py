"""`python -m benchmarks` cannot rot: its smallest path runs here, and every benchmark's sides run on a few records."""

import json

import pyarrow.parquet as pq
import pytest

from benchmarks.__main__ import main


def test_suite_smoke_crawl_end_to_end(tmp_path, capsys):
    """The command itself, on the benchmark that needs no shared data: a local server, five sides, one table."""
    assert main(["--smoke", "--only", "crawl", "--workdir", str(tmp_path), "--json", str(tmp_path / "r.json")]) == 0
    out = capsys.readouterr().out
    assert "| crawl | delay 0, 1 in flight / httpx + warcio loop |" in out
    ratios = json.loads((tmp_path / "r.json").read_text())["ratios"]
    assert len(ratios) == 4 and all(r[2]["ratio"] > 0 for r in ratios)


def test_suite_rejects_an_unknown_benchmark(tmp_path, capsys):
    assert main(["--only", "nope", "--workdir", str(tmp_path)]) == 2
    assert "no benchmark nope" in capsys.readouterr().err


def test_every_side_runs_on_a_few_records(shared_data, tmp_path):
    """Each benchmark's sides, in-process on the tiniest input its builder makes: each reads all it was given."""
    from benchmarks import dedup, extract, label, pdf, tokenize

    sides = extract.harness_sides(shared_data / "extraction" / "trafilatura_eval", tmp_path / "extract")
    for side in sides[:2]:
        assert extract.side(**side.kwargs(4))["units"] == 4

    corpus = tmp_path / "label" / "corpus.jsonl"
    corpus.parent.mkdir()
    webtext = sorted((shared_data / "webtext").glob("*.jsonl"))[0].read_text().splitlines()[:5]
    corpus.write_text("".join(json.dumps({"id": str(i), "text": json.loads(t)["text"], "source": "webtext"}) + "\n"
                              for i, t in enumerate(webtext)))  # fmt: skip
    models, _ = label.resolve_models(tmp_path / "label", corpus, None)
    for side in label.harness_sides(corpus, models, "equal")[::2]:
        module, _, fn = side.call.partition(":")
        assert getattr(label, fn)(**side.kwargs(12))["units"] == 12

    originals = [{"id": f"o{i}", "topic": "t", "source": "bench", "text": " ".join(f"w{(i * 7 + j) % 97}x{i}" for j in range(60))}
                 for i in range(30)]  # fmt: skip
    records, truth = dedup.build_replica(originals, 40, 0, 0)
    folder = tmp_path / "dedup" / "replica-00"
    folder.mkdir(parents=True)
    from corpusforge.record import to_table

    pq.write_table(to_table(records), folder / "part-00000.parquet")
    (folder / "truth.json").write_text(json.dumps(truth))
    for tool in ("ours", "datatrove"):
        got = dedup.side(tool, [str(folder / "part-00000.parquet")], str(tmp_path / "dedup" / tool), "close")
        assert got["units"] == 40 and got["removed"] > 0 and got["f1"] > 0.5

    small = tmp_path / "pdf" / "in"
    small.mkdir(parents=True)
    (small / "a.pdf").write_bytes((shared_data / pdf.TEXT_DIR / "code_and_formula.pdf").read_bytes())
    assert pdf.side_job(str(small), str(tmp_path / "pdf" / "job"), ocr=False)["units"] == 2
    assert pdf.side_pymupdf(str(small), str(tmp_path / "pdf" / "peer"))["units"] == 2

    tok = tokenize.sides(shared_data, tmp_path / "tokenize")
    kwargs = tok[1].kwargs(1)
    assert tokenize.side_datatrove(**kwargs)["units"] > 100


@pytest.mark.parametrize("name", ["extract", "label", "dedup", "tokenize", "pdf", "crawl"])
def test_every_benchmark_has_sizes_and_a_plan(name):
    from benchmarks.__main__ import SIZES

    smoke, default, full = SIZES[name]
    assert smoke.size <= default.size <= full.size and default.tiny and full.tiny
