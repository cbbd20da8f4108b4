"""`corpusforge eval dedup` and the near-duplicate generator: metrics that make sense on synthetic and real
pairs, the outputs written, bad lines and configs named, edits that are seeded and realistic."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from typer.testing import CliRunner

from corpusforge.cli import build_app
from corpusforge.errors import ConfigError, InputError
from pipelines.dedup.edits import EDITS, load_real_documents, near_duplicate
from pipelines.dedup.evaluate import THRESHOLDS, load_minhash_config, load_pairs, score_pairs
from pipelines.dedup.minhash import MinHashConfig, MinHasher, jaccard

runner = CliRunner()
_rng = random.Random(3)
VOCAB = ["".join(_rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(_rng.randint(3, 9))) for _ in range(4000)]

ARTICLE = (
    "The city council met on Tuesday to discuss the new budget. Members argued for three hours about road repairs.\n"
    "The mayor said 12 new buses would arrive in 2024, costing $4.5 million. Critics called the plan too expensive.\n"
    "Residents can comment on the proposal until March 15. A final vote is expected next month after the hearings."
)


def text(n: int, seed: int) -> str:
    rng = random.Random(seed)
    return " ".join(rng.choice(VOCAB) for _ in range(n))


def write_pairs(path: Path, pairs: list[dict]) -> Path:
    path.write_text("".join(json.dumps(p) + "\n" for p in pairs))
    return path


def synthetic_pairs() -> list[dict]:
    pairs = []
    for i in range(15):
        doc = text(200, i)
        pairs.append({"a": doc, "b": doc, "label": 1, "kind": "identical"})
        words = doc.split()
        for j in random.Random(i).sample(range(len(words)), 2):  # two words replaced: Jaccard about 0.9
            words[j] = "changed"
        pairs.append({"a": doc, "b": " ".join(words), "label": 1, "kind": "light"})
        pairs.append({"a": doc, "b": text(200, 1000 + i), "label": 0, "kind": "unrelated"})
    return pairs


def test_synthetic_pairs_identical_found_unrelated_not():
    result = score_pairs(synthetic_pairs(), MinHashConfig())
    scores = result.pop("scores")
    kinds = [p["kind"] for p in synthetic_pairs()]
    assert all(s["lsh"] and s["true"] == 1.0 for s, k in zip(scores, kinds, strict=True) if k == "identical")
    assert not any(s["lsh"] for s, k in zip(scores, kinds, strict=True) if k == "unrelated")
    assert result["lsh"]["precision"] == 1.0 and result["lsh"]["recall"] >= 0.9
    assert [m["threshold"] for m in result["lsh_verify"]] == list(THRESHOLDS) and THRESHOLDS[-1] == 0.95
    # the true Jaccard separates these perfectly; verification can only remove candidates
    assert result["best"]["true_jaccard"]["f1"] == 1.0
    for v, t in zip(result["lsh_verify"], result["true_jaccard"], strict=True):
        assert v["tp"] <= t["tp"] and v["fp"] <= t["fp"]
    assert result["by_kind"]["unrelated"]["lsh_rate"] == 0.0 and result["by_kind"]["identical"]["lsh_rate"] == 1.0
    assert 0 < result["cost"]["verify_s_per_pair"] < 0.01


def test_cli_prints_the_table_and_writes_metrics_and_curve(tmp_path):
    pairs = write_pairs(tmp_path / "pairs.jsonl", synthetic_pairs())
    out = tmp_path / "eval"
    result = runner.invoke(build_app(), ["eval", "dedup", "--pairs", str(pairs), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "LSH alone" in result.output and "true Jaccard" in result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["pairs"] == 45 and metrics["positives"] == 30 and metrics["config"]["bands"] == 14
    assert (out / "curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len((out / "scores.jsonl").read_text().splitlines()) == 45


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("{not json", "not valid JSON"),
        ('["a", "b", 1]', "not a JSON object"),
        ('{"a": "x", "label": 1}', "'b' must be a string"),
        ('{"a": "x", "b": "y", "label": 2}', "'label' must be 0 or 1"),
        ('{"a": "x", "b": "y", "label": true}', "'label' must be 0 or 1"),
    ],
)
def test_a_bad_line_is_named_by_its_number(tmp_path, line, problem):
    path = tmp_path / "pairs.jsonl"
    path.write_text('{"a": "one two", "b": "one two", "label": 1}\n\n' + line + "\n")
    with pytest.raises(InputError, match=rf"pairs\.jsonl, line 3: {problem}"):
        load_pairs(path)
    result = runner.invoke(build_app(), ["eval", "dedup", "--pairs", str(path), "--out", str(tmp_path / "o")])
    assert result.exit_code != 0 and isinstance(result.exception, InputError)
    assert not (tmp_path / "o" / "metrics.json").exists()


def test_empty_pair_file_is_refused(tmp_path):
    with pytest.raises(InputError, match="no pairs"):
        load_pairs(write_pairs(tmp_path / "pairs.jsonl", []))


def test_config_is_read_alone_or_inside_a_job(tmp_path):
    job = tmp_path / "job.yaml"
    job.write_text("kind: dedup\ndedup:\n  fuzzy:\n    minhash: {ngram: 3, bands: 20, rows: 5}\n")
    assert load_minhash_config(job) == MinHashConfig(ngram=3, bands=20, rows=5)
    alone = tmp_path / "minhash.yaml"
    alone.write_text("ngram: 4\n")
    assert load_minhash_config(alone).ngram == 4
    bad = tmp_path / "bad.yaml"
    bad.write_text("fuzzy: {minhash: {bands: 0}}\n")
    with pytest.raises(ConfigError, match=r"fuzzy\.minhash\.bands"):
        load_minhash_config(bad)

    pairs = write_pairs(tmp_path / "pairs.jsonl", synthetic_pairs())
    out = tmp_path / "eval"
    result = runner.invoke(
        build_app(), ["eval", "dedup", "--pairs", str(pairs), "--config", str(job), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert json.loads((out / "metrics.json").read_text())["config"]["bands"] == 20


def test_empty_texts_are_never_duplicates():
    result = score_pairs([{"a": "", "b": "   ", "label": 1}, {"a": "x y z", "b": "x y z", "label": 1}], MinHashConfig())
    assert result["unshingled_pairs"] == 1 and result["lsh"]["tp"] == 1 and result["lsh"]["fn"] == 1


# ---------------------------------------------------------------------------------------- edits


@pytest.mark.parametrize("name", sorted(EDITS))
def test_every_edit_changes_the_text_a_little(name):
    donors = ["A completely different article talks about football results from the weekend games."]
    rng = random.Random(1)
    edited = EDITS[name](ARTICLE, rng, donors, 0.3) if name == "insert" else EDITS[name](ARTICLE, rng, 0.3)
    assert edited != ARTICLE
    hasher = MinHasher()
    similarity = jaccard(hasher.shingles(ARTICLE).hashes, hasher.shingles(edited).hashes)
    assert similarity >= (0.99 if name == "whitespace" else 0.3)


def test_near_duplicate_is_seeded_and_scaled_by_strength():
    donors = [text(80, 7)]
    a = near_duplicate(ARTICLE, random.Random(5), donors, 0.5)
    assert a == near_duplicate(ARTICLE, random.Random(5), donors, 0.5) and a != ARTICLE
    applied: list[str] = []
    near_duplicate(ARTICLE, random.Random(6), donors, 0.9, applied)
    assert 1 <= len(applied) <= 4 and set(applied) <= set(EDITS)
    with pytest.raises(ValueError, match="strength"):
        near_duplicate(ARTICLE, random.Random(0), donors, 0)
    hasher = MinHasher()
    long_doc = text(2000, 11)

    def mean_similarity(strength: float) -> float:
        rng = random.Random(0)
        base = hasher.shingles(long_doc).hashes
        return (
            sum(
                jaccard(base, hasher.shingles(near_duplicate(long_doc, rng, donors, strength)).hashes)
                for _ in range(20)
            )
            / 20
        )

    assert mean_similarity(0.1) > mean_similarity(0.9)


# ---------------------------------------------------------------------------------------- real text


@pytest.mark.shared_data
def test_real_pairs_light_edits_found_other_documents_not(shared_data, tmp_path):
    docs = load_real_documents(shared_data, sources=["ag_news", "gsm8k", "webtext"], min_words=30)
    assert {d["source"] for d in docs} == {"ag_news", "gsm8k", "webtext"}
    assert all(len(d["text"].split()) >= 30 and d["topic"] for d in docs)
    assert any(d["topic"] == "news/Sports" for d in docs)
    rng = random.Random(0)
    sample = rng.sample(docs, 60)
    donors = [d["text"] for d in docs[:200]]
    pairs = [{"a": d["text"], "b": d["text"], "label": 1, "kind": "identical"} for d in sample[:10]]
    pairs += [
        {"a": d["text"], "b": near_duplicate(d["text"], rng, donors, 0.1), "label": 1, "kind": "light"}
        for d in sample[10:30]
    ]
    pairs += [
        {"a": a["text"], "b": b["text"], "label": 0, "kind": "other"}
        for a, b in zip(sample[30:45], sample[45:60], strict=True)
    ]
    path = write_pairs(tmp_path / "pairs.jsonl", pairs)
    out = tmp_path / "eval"
    result = runner.invoke(build_app(), ["eval", "dedup", "--pairs", str(path), "--out", str(out)])
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["by_kind"]["identical"]["lsh_rate"] == 1.0
    assert metrics["by_kind"]["other"]["lsh_rate"] == 0.0 and metrics["lsh"]["precision"] == 1.0
    assert metrics["best"]["true_jaccard"]["f1"] >= 0.9
    assert (out / "curve.png").stat().st_size > 10_000
