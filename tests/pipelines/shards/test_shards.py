"""The shard job end to end: cells, exact token accounting, the ledger, the sidecar, long documents, bad input,
verify and inspect, and the refusal to mix tokenizers."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from corpusforge.record import Record
from pipelines.engines import run_job
from pipelines.jobs.shard import ShardConfig, ShardJobConfig, shard_records
from pipelines.shards.cells import CellsConfig, merge_cells
from pipelines.shards.manifest import blend, build_manifest, load_manifest, same_tokenizer
from pipelines.shards.tokenizer import Tokenizer, TokenizerConfig, TokenizerError
from tests.pipelines.shards import factory
from tests.pipelines.shards.test_tokenizer import tiny_tokenizer


@pytest.fixture(scope="module")
def qwen() -> Tokenizer:
    return Tokenizer.load()


@pytest.fixture(scope="module")
def sharded(tmp_path_factory):
    """Three input parts over five label cells (one of them small), a few long documents, some bad ones."""
    root = tmp_path_factory.mktemp("shards")
    parts = [factory.records(seed, 120, long_every=60) for seed in range(3)]
    rare = ("fr", "sports", 0.5, "synth")
    parts = [[r for r in p if (r.lang, r.domain) != rare[:2]] for p in parts]
    parts[0] += factory.records(99, 4, cells=[rare])  # a cell of 4 documents: merged
    parts[1] += [
        Record(id="empty", text="", source="web"),
        Record(id="blank", text=" \n\t ", source="web"),
        Record(id="huge", text="word " * 100_000, source="web"),
    ]
    inputs = factory.write_parts(root / "in", parts)
    job = ShardJobConfig(
        inputs=[str(inputs)],
        output=str(root / "out"),
        engine={"kind": "local", "workers": 2},
        shard=ShardConfig(cells=CellsConfig(min_documents=10, gate=False), max_chars=300_000, batch_docs=50),
    )
    result = run_job(job)
    return job, result, parts


def _tokens(prefix: str) -> list[np.ndarray]:
    from megatron.core.datasets.indexed_dataset import IndexedDataset

    ds = IndexedDataset(prefix)
    return [np.array(ds[i]) for i in range(len(ds))]  # copies: the views die with the mmap


def test_cells_and_merge_rule():
    config = CellsConfig(keys=["lang", "domain"], min_documents=10)
    counts = Counter({("en", "news"): 50, ("en", "sports"): 3, ("en", "tech"): 4, ("de", "news"): 5, ("fr", "x"): 2})
    assert merge_cells(counts, config) == {
        ("en", "news"): ("en", "news"),
        ("en", "sports"): ("other", "other"),  # en/other has 7 < 10: coarsened again, with de and fr
        ("en", "tech"): ("other", "other"),
        ("de", "news"): ("other", "other"),
        ("fr", "x"): ("other", "other"),
    }
    counts[("en", "tech")] = 8  # en/other now has 11: stays
    assert merge_cells(counts, config)[("en", "sports")] == ("en", "other")
    with pytest.raises(ValueError, match="unknown cell key"):
        CellsConfig(keys=["lang", "colour"])


def test_exact_token_accounting(sharded, qwen):
    job, result, parts = sharded
    out = Path(job.output)
    m = load_manifest(out)
    kept = {r.id: r for p in parts for r in p if r.text.strip() and len(r.text) <= 300_000}
    # the sum over shards equals the tokens counted when encoding, the sidecar, the .idx and an independent encode
    encoded = sum(json.loads(p.read_text())["encoded_tokens"] for p in (out / "_work" / "tasks").glob("*.json"))
    sidecar = pq.read_table(out / "index").to_pylist()
    main = [s for s in m["shards"] if s["kind"] == "cell"]
    on_disk = sum(int(sum(len(t) for t in _tokens(str(out / s["path"])))) for s in main)
    independent = sum(len(qwen.encode(r.text)) + 1 for r in kept.values())
    assert m["totals"]["tokens"] == sum(s["tokens"] for s in main) == encoded == on_disk == independent
    assert sum(r["tokens"] for r in sidecar) == independent
    assert sum(c["tokens"] for c in m["cells"].values()) == m["totals"]["tokens"]
    # documents in = written + dropped, with named reasons
    led = result.ledger
    assert led.inputs == sum(len(p) for p in parts) == led.kept + led.dropped_total
    assert led.kept == len(kept) == m["totals"]["documents"] == len(sidecar)
    assert dict(led.dropped) == {"empty": 2, "too_long": 1}
    audit = pq.read_table(out / "audit").to_pylist()
    assert sorted((a["id"], a["reason"]) for a in audit) == [
        ("blank", "empty"),
        ("empty", "empty"),
        ("huge", "too_long"),
    ]


def test_sidecar_points_at_each_document(sharded, qwen):
    job, _, parts = sharded
    out = Path(job.output)
    by_id = {r.id: r for p in parts for r in p}
    shards = {}
    for row in pq.read_table(out / "index").to_pylist():
        if row["shard"] not in shards:
            shards[row["shard"]] = _tokens(str(out / row["shard"]))
        tokens = shards[row["shard"]][row["doc_index"]]
        rec = by_id[row["id"]]
        assert tokens.tolist() == [*qwen.encode(rec.text).tolist(), qwen.eod]
        assert len(tokens) == row["tokens"] and row["lang"] == rec.lang and row["source"] == rec.source
        assert row["shard"].startswith(f"cells/{row['cell']}/part-")
        if row["long_shard"]:
            assert _tokens(str(out / row["long_shard"]))[row["long_index"]].tolist() == tokens.tolist()


def test_manifest_cells_and_long_documents(sharded):
    job, _, _ = sharded
    m = load_manifest(job.output)
    assert m["tokenizer"]["name"] == "qwen3" and m["tokenizer"]["dtype"] == "int32"
    assert m["cell_keys"] == ["lang", "domain", "edu", "source"]
    assert "lang=en/domain=science_tech/edu=high/source=web" in m["cells"]
    assert not any("fr" in c for c in m["cells"])  # the 4-document cell was merged into a coarser one
    assert any("other" in c for c in m["cells"])
    for s in m["shards"]:
        assert s["tokenizer_hash"] == m["tokenizer"]["hash"] and s["bytes"] == s["bin_bytes"] + s["idx_bytes"]
        assert sum(v["documents"] for v in s["sources"].values()) == s["documents"]
        assert sum(v["tokens"] for v in s["sources"].values()) == s["tokens"]
    long = [s for s in m["shards"] if s["kind"] == "long"]
    assert long and m["totals"]["long_documents"] == sum(s["documents"] for s in long) >= 3
    for s in long:
        lengths = [len(t) - 1 for t in _tokens(f"{m['root']}/{s['path']}")]
        assert all(16_384 <= n <= 32_768 for n in lengths)


def test_verify_and_inspect(sharded, tmp_path):
    from pipelines.shards.inspect import app, verify

    job, _, _ = sharded
    assert verify(job.output) == []
    runner = CliRunner()
    res = runner.invoke(app, ["verify", job.output])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["inspect", job.output, "--sample", "2"])
    assert res.exit_code == 0, res.output
    assert "lang=en/domain=science_tech/edu=high/source=web" in res.output and "total" in res.output
    assert "document length" in res.output and "#0" in res.output
    # a corrupted copy is caught
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(job.output, bad)
    shard = load_manifest(bad)["shards"][0]["path"]
    with open(bad / f"{shard}.bin", "r+b") as f:
        f.truncate(8)
    (bad / "cells" / "stray.bin").write_bytes(b"")
    problems = verify(str(bad))
    assert any(".bin has 8 bytes" in p for p in problems) and any("stray.bin" in p for p in problems)
    assert runner.invoke(app, ["verify", str(bad)]).exit_code == 1
    # the real command exits non-zero too (the root used to drop typer.Exit's code and exit 0)
    import subprocess
    import sys

    code = "from corpusforge.cli import main; main()"
    proc = subprocess.run([sys.executable, "-c", code, "shards", "verify", str(bad)], capture_output=True, text=True)
    assert proc.returncode == 1 and ".bin has 8 bytes" in " ".join(proc.stdout.split()), proc.stdout + proc.stderr
    proc = subprocess.run([sys.executable, "-c", code, "shards", "verify", job.output], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_bad_input_is_dropped_with_reasons(tmp_path):
    """Empty, whitespace-only, over max_chars, lone surrogates, text encoding to zero tokens; 10M characters kept."""
    big = ("Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 180_000)[:10_000_000]
    recs = [
        Record(id="ok", text="Hello world!", source="web"),
        Record(id="empty", text="", source="web"),
        Record(id="blank", text="   \n", source="web"),
        Record(id="surrogate", text="broken \ud800 text", source="web"),
        Record(id="ten-million", text=big, source="web"),
    ]
    m = shard_records(recs, str(tmp_path / "out"), ShardConfig(cells=CellsConfig(keys=["source"], min_documents=0)))
    assert m["ledger"]["dropped"] == {"empty": 2, "invalid_unicode": 1}
    assert m["ledger"]["kept"] == 2
    tok = Tokenizer.load()
    assert m["totals"]["tokens"] == 4 + len(tok.encode(big)) + 1  # never truncated
    capped = shard_records(
        recs, str(tmp_path / "capped"), ShardConfig(cells=CellsConfig(keys=["source"]), max_chars=1_000_000)
    )
    assert capped["ledger"]["dropped"] == {"empty": 2, "invalid_unicode": 1, "too_long": 1}
    # a tokenizer that encodes blank text to no token: zero_tokens
    tiny = tiny_tokenizer(tmp_path / "tiny")
    config = ShardConfig(tokenizer=TokenizerConfig(path=str(tiny), eod="<eod>"), cells=CellsConfig(keys=["source"]))
    m = shard_records(
        [Record(id="a", text="hello", source="x"), Record(id="z", text="\u3000\u2003x", source="x")],
        str(tmp_path / "tiny-out"),
        config,
    )
    assert m["ledger"]["dropped"] == {} and m["totals"]["tokens"] == 2 + 2 and m["tokenizer"]["dtype"] == "uint16"
    m = shard_records([Record(id="z", text="\u200b", source="x")], str(tmp_path / "tiny-zero"), config)
    assert m["ledger"]["dropped"] == {"zero_tokens": 1}


def test_mixing_tokenizers_is_refused(sharded, tmp_path):
    job, _, _ = sharded
    tiny = tiny_tokenizer(tmp_path / "tiny")
    config = ShardConfig(tokenizer=TokenizerConfig(path=str(tiny), eod="<eod>"), cells=CellsConfig(keys=["source"]))
    other = shard_records([Record(id="a", text="hello world", source="x")], str(tmp_path / "o"), config)
    qwen = load_manifest(job.output)
    other = load_manifest(tmp_path / "o")
    with pytest.raises(TokenizerError, match="different tokenizers"):
        same_tokenizer([qwen, other])
    with pytest.raises(TokenizerError, match="different tokenizers"):
        blend([qwen, other])
    header = {"tokenizer": qwen["tokenizer"], "cell_keys": [], "merge": {}, "long_docs": None}
    with pytest.raises(TokenizerError, match="not mixed"):
        build_manifest(header, [{"task": 0, "tokenizer_hash": other["tokenizer"]["hash"], "shards": []}], {})
    prefixes, weights = blend(qwen)
    assert len(prefixes) == len([s for s in qwen["shards"] if s["kind"] == "cell"])
    assert sum(weights) == qwen["totals"]["tokens"]


def test_batched_builder_writes_what_megatron_writes(tmp_path):
    from megatron.core.datasets.indexed_dataset import IndexedDatasetBuilder

    from pipelines.shards.megatron import ShardBuilder

    docs = [np.arange(n, dtype=np.int32) + 150_000 for n in (3, 1, 7, 2)]
    ref = IndexedDatasetBuilder(str(tmp_path / "ref.bin"), dtype=np.int32)
    for d in docs:
        ref.add_document(d, [len(d)])
    ref.finalize(str(tmp_path / "ref.idx"))
    ours = ShardBuilder(str(tmp_path / "ours.bin"), dtype=np.int32)
    ours.add_documents(np.concatenate(docs[:2]), np.array([3, 1]))
    ours.add_documents(np.concatenate(docs[2:]), np.array([7, 2]))
    ours.finalize(str(tmp_path / "ours.idx"))
    for ext in ("bin", "idx"):
        assert (tmp_path / f"ours.{ext}").read_bytes() == (tmp_path / f"ref.{ext}").read_bytes()
