"""The Spark dedup engine: large-star/small-star components against scipy, and decisions identical to the local
engine's row for row, for any shuffle partitioning, with and without verification."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from corpusforge.record import Record, to_table
from pipelines.dedup.spark import connected_components
from pipelines.engines import run_job
from pipelines.jobs.dedup import DedupJobConfig

pytestmark = pytest.mark.spark

# ids whose order differs between UTF-16 (Java strings) and code points (Spark, numpy, Python)
ALPHABET = ["a", "b", "B", "z", "0", "9", "-", "é", "ß", "中", "ｚ", "\U0001f600", "\U00010348"]


def _names(rng: random.Random, n: int) -> list[str]:
    names: set[str] = set()
    while len(names) < n:
        names.add("".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, 4))))
    out = sorted(names)
    rng.shuffle(out)
    return out


def _graph(seed: int) -> list[tuple[str, str]]:
    """A chain, a star, a random sparse graph and isolated edges, on shuffled names; repeated and reversed
    edges included."""
    rng = random.Random(seed)
    names = iter(_names(rng, 260))
    edges = []
    chain = [next(names) for _ in range(rng.randint(20, 60))]
    edges += list(zip(chain, chain[1:], strict=False))
    star = [next(names) for _ in range(rng.randint(5, 25))]
    edges += [(star[0], leaf) for leaf in star[1:]]
    nodes = [next(names) for _ in range(80)]
    edges += [tuple(rng.sample(nodes, 2)) for _ in range(rng.randint(40, 110))]
    edges += [(next(names), next(names)) for _ in range(10)]
    edges += [(v, u) for u, v in rng.sample(edges, 10)] + rng.sample(edges, 5)
    rng.shuffle(edges)
    return edges


def _scipy_components(edges: list[tuple[str, str]]) -> dict[str, str]:
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components as scipy_components

    nodes = sorted({n for e in edges for n in e})
    index = {n: i for i, n in enumerate(nodes)}
    rows = [index[u] for u, _ in edges]
    cols = [index[v] for _, v in edges]
    graph = coo_matrix((np.ones(len(edges)), (rows, cols)), shape=(len(nodes), len(nodes)))
    _, labels = scipy_components(graph, directed=False)
    smallest: dict[int, str] = {}
    for node, label in zip(nodes, labels, strict=True):
        smallest[label] = min(smallest.get(label, node), node)
    return {node: smallest[label] for node, label in zip(nodes, labels, strict=True)}


def test_connected_components_match_scipy(spark):
    edges = [(f"{u}{seed}", f"{v}{seed}") for seed in range(4) for u, v in _graph(seed)]  # four disjoint graphs
    rows = connected_components(spark.createDataFrame(edges, "u string, v string"), partitions=3).collect()
    got = {r["node"]: r["component"] for r in rows}
    assert len(rows) == len(got)  # one label per node
    assert got == _scipy_components(edges)


def test_connected_components_of_no_edges(spark):
    assert connected_components(spark.createDataFrame([], "u string, v string"), partitions=2).count() == 0


# -- the decision against the local engine ----------------------------------------------------------------------
_rng = random.Random(11)
VOCAB = ["".join(_rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(_rng.randint(3, 8))) for _ in range(2000)]


def _edit(rng: random.Random, words: list[str], edits: int) -> list[str]:
    out = list(words)
    for _ in range(edits):
        if rng.random() < 0.5 and len(out) > 10:
            del out[rng.randrange(len(out))]
        else:
            out.insert(rng.randrange(len(out) + 1), rng.choice(VOCAB))
    return out


def corpus(seed: int = 5) -> list[list[Record]]:
    """Records in four files (and an empty fifth): families of near-duplicates at every distance, chains of
    edits, exact copies in other case and spacing, re-fetched URLs, repeated ids, empty and punctuation-only
    texts, unicode ids, quality scores with ties, signed zeros, NaN, infinities and junk."""
    rng = random.Random(seed)
    scores = ["0.5", "0.9", "0.9", "-0.0", "0.0", "nan", "inf", "-inf", "junk", "1e-3", None, None, None]
    out: list[Record] = []

    def add(rid: str, text: str, url: str | None = None, **meta) -> Record:
        score = rng.choice(scores)
        if score is not None:
            meta.setdefault("quality_score", score)
        if rng.random() < 0.6:
            meta.setdefault("fetch_time", f"2024-0{rng.randint(1, 3)}-{rng.randint(10, 12)}")
        record = Record(id=rid, text=text, source="t", url=url, meta={k: v for k, v in meta.items() if v is not None})
        out.append(record)
        return record

    prefixes = ["d", "D", "é", "ｚ", "\U0001f600", "中"]
    for f in range(14):
        base = [rng.choice(VOCAB) for _ in range(rng.randint(40, 90))]
        name = f"{prefixes[f % len(prefixes)]}{f}"
        add(f"{name}-0", " ".join(base), f"https://site{f % 3}.example/{f}")
        current = base
        for v in range(1, rng.randint(3, 7)):
            source = current if rng.random() < 0.5 else base  # chains and stars of edits
            current = _edit(rng, source, rng.choice([1, 2, 4, 8, 14, 22]))
            add(f"{name}-{v}", " ".join(current), f"https://mirror{v}.example/{f}?utm_source=x&v={v}")
        if f % 3 == 0:  # exact copy in other case and spacing
            add(f"{name}-x", "  ".join(base).upper() + "\n", f"https://copy.example/{f}")
        if f % 4 == 0:  # the same URL fetched again, changed a little, and once with no fetch time
            add(f"{name}-r", " ".join(base[:-2]), f"https://www.site{f % 3}.example/{f}/", fetch_time="2025-06-01")
            add(f"{name}-s", " ".join(base[2:]), f"http://site{f % 3}.example/{f}?fbclid=1", fetch_time=None)
    add("empty", "", "https://empty.example/")
    add("blank", "  \n\t ", None)
    add("punct", "!!! ??? ... ---", "https://punct.example/")
    add("punct-copy", "!!!   ???   ...  ---", "https://punct.example/2")
    add("short", "hello there", None)
    add("short2", "Hello there", None)
    # a trailing NUL makes another string (numpy's fixed-width strings would drop it)
    add("nul-a", "first page behind one address", "https://nul.example/a", fetch_time="2024-05-01", quality_score="5")
    add("nul-b", "second page behind another one", "https://nul.example/a\x00", fetch_time="2024-05-01\x00")
    add("nul-c", "third page here", "https://nul.example/a", fetch_time="2024-05-01\x00", quality_score="2")
    rng.shuffle(out)
    files = [out[i::4] for i in range(4)]
    # one id read twice: the same record in two files, and an id reused for another text (also an empty one)
    files[3].append(files[0][0])
    files[2].append(Record(id=files[1][0].id, text="something else entirely", source="t", meta={"quality_score": "9"}))
    files[1].append(Record(id=files[2][1].id, text=" ", source="t"))
    files[0].append(Record(id="empty", text="not empty this time at all", source="t"))
    return [*files, []]


def _write(files: list[list[Record]], root: Path) -> Path:
    root.mkdir(parents=True)
    for i, records in enumerate(files):
        pq.write_table(to_table(records), root / f"part-{i:05d}.parquet")
    return root


def _job(inputs: Path, output: Path, kind: str, verify: bool, partitions: int | None = None, **rules) -> DedupJobConfig:
    dedup = {
        "fuzzy": {"minhash": {"bands": 12, "rows": 2, "ngram": 3}, "verify": {"enabled": verify, "threshold": 0.5}},
        "partitions": partitions,
        "audit": {"sample_clusters": 3},
        **rules,
    }
    return DedupJobConfig.parse(
        {
            "inputs": [str(inputs)],
            "output": str(output),
            "engine": {"kind": kind, "workers": 1},
            "write": {"batch_rows": 8},
            "dedup": dedup,
        }
    )


def _outcome(output: Path) -> dict:
    decisions = []
    for directory in (output / "_work" / "decisions").glob("task=*"):
        task = int(directory.name.split("=")[1])
        for part in directory.glob("*.parquet"):
            table = pq.read_table(part)
            assert "task" not in table.column_names
            decisions += [(task, *row.values()) for row in table.to_pylist()]
    kept = []
    for part in (output / "documents").glob("*.parquet"):
        for row in pq.read_table(part).to_pylist():
            meta = dict(row["meta"])
            kept.append((row["id"], row["text"], meta["dedup_cluster"], meta["dedup_cluster_size"]))
    audit = [tuple(r.values()) for p in (output / "audit").glob("*.parquet") for r in pq.read_table(p).to_pylist()]
    return {
        "decisions": sorted(decisions, key=repr),
        "kept": sorted(kept),
        "audit": sorted(audit, key=repr),
        "stats": json.loads((output / "_work" / "decide.json").read_text()),
        "summary": json.loads((output / "summary.json").read_text()),
    }


@pytest.mark.parametrize("verify", [False, True], ids=["lsh", "verified"])
def test_spark_decides_exactly_as_local(spark, tmp_path, verify):
    files = corpus()
    n_records = sum(len(f) for f in files)
    inputs = _write(files, tmp_path / "in")
    local = run_job(_job(inputs, tmp_path / "local", "local", verify), overwrite=True)
    expected = _outcome(tmp_path / "local")
    assert local.ledger.inputs == n_records == len(expected["decisions"])
    reasons = {row[4] for row in expected["decisions"]}
    assert reasons == {None, "empty_text", "duplicate_id", "duplicate_url", "duplicate_exact", "duplicate_fuzzy"}
    stats = expected["stats"]
    assert stats["candidate_pairs"] > stats["duplicate_fuzzy"] > 0
    by_id = {row[1]: row for row in expected["decisions"]}  # (task, id, row, status, reason, kept_id, ...)
    assert by_id["nul-b"][3] == "kept"  # another URL than nul-a's, by a trailing NUL
    assert by_id["nul-a"][4:6] == ("duplicate_url", "nul-c")  # nul-c's fetch time is later, by a trailing NUL
    if verify:  # the corpus has candidates below the threshold, so verification changes the outcome
        assert 0 < stats["verified_pairs"] < stats["candidate_pairs"]

    for partitions in (1, 3, 8):
        output = tmp_path / f"spark{partitions}"
        result = run_job(_job(inputs, output, "spark", verify, partitions), overwrite=True)
        assert result.ledger.to_dict() == local.ledger.to_dict()
        assert result.ledger.inputs == result.ledger.kept + result.ledger.dropped_total
        got = _outcome(output)
        for key in expected:
            assert got[key] == expected[key], (partitions, key)
        assert (output / "_work" / "decisions" / "_SUCCESS").read_text() == "done\n"


OTHER_RULES = {
    # oldest fetch wins; the survivor keys end without the id (it is appended); a length key typed as a string
    # (compared as text); a float key ascending; punctuation ignored by the exact key
    "keys": {
        "url": {"keep": "oldest"},
        "exact": {"strip_punctuation": True},
        "survivor": [{"field": "length", "order": "desc"}, {"field": "meta.quality_score", "type": "float"}],
    },
    # phases switched off: exact duplicates alone
    "exact-only": {"url": {"enabled": False}, "fuzzy": {"enabled": False}},
}


@pytest.mark.parametrize("rules", OTHER_RULES.values(), ids=OTHER_RULES.keys())
def test_spark_follows_other_rules_as_local(spark, tmp_path, rules):
    inputs = _write(corpus(seed=6), tmp_path / "in")
    local = run_job(_job(inputs, tmp_path / "local", "local", True, **rules), overwrite=True)
    result = run_job(_job(inputs, tmp_path / "spark", "spark", True, 2, **rules), overwrite=True)
    assert result.ledger.to_dict() == local.ledger.to_dict()
    assert _outcome(tmp_path / "spark") == _outcome(tmp_path / "local")
