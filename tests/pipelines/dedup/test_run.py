"""The local dedup job end to end: phases and survivor rules, determinism over splits and workers, restart
after SIGKILL, bad input, the audit outputs, and the web job chaining into dedup."""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from corpusforge.errors import ConfigError
from corpusforge.record import Record, to_table
from pipelines.engines import run_job
from pipelines.jobs.dedup import DedupJobConfig

_rng = random.Random(7)
VOCAB = ["".join(_rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(_rng.randint(3, 9))) for _ in range(3000)]


def words(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [rng.choice(VOCAB) for _ in range(n)]


def corpus(n_base: int = 40, seed: int = 0) -> list[Record]:
    """Base documents, each with planted near-duplicates, exact copies and re-fetches of its URL."""
    rng = random.Random(seed)
    out = []
    for i in range(n_base):
        base = words(300, seed * 1000 + i)
        url = f"https://site{i % 7}.example/doc/{i}"
        out.append(
            Record(
                id=f"b{i:04d}",
                text=" ".join(base),
                source="t",
                url=url,
                meta={"fetch_time": f"2024-01-{i % 28 + 1:02d}"},
            )
        )
        if i % 3 == 0:  # near-duplicate: a few words replaced
            edited = base.copy()
            for j in rng.sample(range(len(edited)), 6):
                edited[j] = rng.choice(VOCAB)
            out.append(
                Record(
                    id=f"n{i:04d}",
                    text=" ".join(edited),
                    source="t",
                    url=f"https://mirror.example/{i}",
                    meta={"quality_score": "0.9"},
                )
            )
        if i % 4 == 0:  # exact copy, other case and spacing
            out.append(
                Record(id=f"x{i:04d}", text="  ".join(base).upper(), source="t", url=f"https://copy.example/{i}")
            )
        if i % 5 == 0:  # the same URL fetched again later, slightly changed
            out.append(
                Record(
                    id=f"r{i:04d}",
                    text=" ".join(base[:-3]),
                    source="t",
                    url=url + "?utm_source=feed",
                    meta={"fetch_time": "2025-06-01"},
                )
            )
    rng.shuffle(out)
    return out


def write_parts(records: list[Record], root: Path, n_parts: int) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    size = -(-len(records) // n_parts)
    for p in range(n_parts):
        pq.write_table(to_table(records[p * size : (p + 1) * size]), root / f"part-{p:05d}.parquet")
    return root


def config(inputs: Path, output: Path, **dedup) -> DedupJobConfig:
    return DedupJobConfig.parse(
        {
            "inputs": [str(inputs)],
            "output": str(output),
            "engine": {"kind": "local", "workers": 1},
            "write": {"batch_rows": 16},
            "dedup": dedup,
        }
    )


def outcome(output: Path) -> tuple[dict, dict]:
    kept = {}
    for part in sorted((output / "documents").glob("*.parquet")):
        for row in pq.read_table(part).to_pylist():
            meta = dict(row["meta"])
            kept[row["id"]] = (meta["dedup_cluster"], meta["dedup_cluster_size"])
    dropped = {}
    for part in sorted((output / "audit").glob("*.parquet")):
        for row in pq.read_table(part).to_pylist():
            dropped[row["id"]] = (row["reason"], row["detail"])
    return kept, dropped


def test_phases_survivors_and_cluster_sizes(tmp_path):
    records = corpus()
    result = run_job(config(write_parts(records, tmp_path / "in", 3), tmp_path / "out"))
    kept, dropped = outcome(tmp_path / "out")
    assert result.ledger.inputs == len(records) == len(kept) + len(dropped)
    reasons = {r for r, _ in dropped.values()}
    assert reasons == {"duplicate_url", "duplicate_exact", "duplicate_fuzzy"}
    # URL: the newest fetch survives, the older one points at it
    assert dropped["b0005"] == ("duplicate_url", "r0005")
    # exact: the upper-cased copy loses to the original (no quality score, older fetch time wins)
    assert dropped["x0004"][0] == "duplicate_exact"
    # fuzzy: the near-duplicate has quality_score 0.9 and beats its base (no score)
    assert dropped["b0003"] == ("duplicate_fuzzy", "n0003")
    # i=0 has all four kinds: b0000 (url → r0000), x0000 (exact), n0000 (fuzzy, best score) → one survivor of 4
    assert "n0000" in kept and kept["n0000"][1] == "4"
    assert {dropped[i][1] for i in ("b0000", "x0000", "r0000")} == {"n0000"}
    # every dropped document names a copy that was kept
    assert all(detail in kept for _, detail in dropped.values())
    assert sum(int(size) for _, size in kept.values()) == len(records)
    assert all(cluster <= doc for doc, (cluster, _) in kept.items())  # cluster id: the smallest member id


def test_same_survivors_for_every_split_and_worker_count(tmp_path):
    records = corpus(seed=1)
    seen = []
    for n_parts, workers in ((1, 1), (3, 2), (8, 2)):
        job = config(write_parts(records, tmp_path / f"in{n_parts}", n_parts), tmp_path / f"out{n_parts}")
        job = job.model_copy(update={"engine": job.engine.model_copy(update={"workers": workers})})
        run_job(job)
        seen.append(outcome(tmp_path / f"out{n_parts}"))
    assert seen[0] == seen[1] == seen[2]


def test_verification_drops_candidate_pairs_under_the_threshold(tmp_path):
    base = words(400, 5)
    half = base[:200] + words(200, 6)  # Jaccard ~ 1/3: candidates at times, never verified at 0.9
    records = [Record(id=f"d{i}", text=" ".join(t), source="t") for i, t in enumerate([base, base[:-1], half])]
    inputs = write_parts(records, tmp_path / "in", 1)
    run_job(config(inputs, tmp_path / "strict", fuzzy={"verify": {"enabled": True, "threshold": 0.9}}))
    _, dropped = outcome(tmp_path / "strict")
    assert set(dropped) == {"d1"}
    stats = json.loads((tmp_path / "strict" / "_work" / "decide.json").read_text())
    assert stats["verified_pairs"] <= stats["candidate_pairs"]


@pytest.mark.parametrize("engine", ["local", pytest.param("spark", marks=pytest.mark.spark)])
def test_bad_documents_are_handled_with_reasons(tmp_path, engine, request):
    if engine == "spark":
        request.getfixturevalue("spark")  # the session fixture; the job's getOrCreate() joins it
    block = words(200_000, 9)
    big = " ".join(block * 16)[: 20 * 1024 * 1024]  # one 20 MB document
    records = [
        Record(id="empty", text="", source="t"),
        Record(id="blank", text=" \n\t ", source="t"),
        Record(id="short", text="two words", source="t"),
        Record(id="short2", text="Two  words", source="t"),
        Record(id="punct", text="!!! ... ??? ---", source="t"),
        Record(id="emoji", text="😀🎉😀🎉😀🎉", source="t"),
        Record(id="emoji2", text="😀🎉😀🎉😀🎉 ", source="t", url="https://other.example/"),
        Record(id="big", text=big, source="t"),
        Record(id="big2", text=big + " tail", source="t"),
        Record(id="invisible", text="\u200b\u200b\u200b", source="t"),  # zero-width spaces: no word, not whitespace
    ]
    job = config(write_parts(records, tmp_path / "in", 2), tmp_path / "out")
    run_job(job.model_copy(update={"engine": job.engine.model_copy(update={"kind": engine})}))
    kept, dropped = outcome(tmp_path / "out")
    assert dropped["empty"] == ("empty_text", None) and dropped["blank"] == ("empty_text", None)
    assert dropped["short2"] == ("duplicate_exact", "short")
    assert dropped["emoji2"][0] == "duplicate_exact"
    assert dropped["big2"] == ("duplicate_fuzzy", "big")
    assert {"short", "punct", "emoji", "big", "invisible"} <= set(kept)
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["survivors_by_shingling"] == {"chars": 3, "short": 1, "words": 1}
    assert summary["removed"] == {"duplicate_exact": 2, "duplicate_fuzzy": 1, "empty_text": 2}


def test_audit_sample_and_summary(tmp_path):
    records = corpus(seed=2)
    run_job(config(write_parts(records, tmp_path / "in", 2), tmp_path / "out", audit={"sample_clusters": 5}))
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    kept, dropped = outcome(tmp_path / "out")
    assert sum(summary["removed"].values()) == len(dropped)
    assert sum(summary["survivors_by_cluster_size"].values()) == len(kept)
    clusters = [json.loads(line) for line in (tmp_path / "out" / "clusters.jsonl").read_text().splitlines()]
    assert len(clusters) == 5
    for c in clusters:
        assert c["size"] >= 2 and len(c["members"]) >= 2 and c["pairwise_jaccard"]
        assert sum(m["kept"] for m in c["members"]) == 1
        assert all(0 <= p["jaccard"] <= 1 for p in c["pairwise_jaccard"])


def test_inputs_not_in_the_record_schema_fail_before_any_work(tmp_path):
    (tmp_path / "in").mkdir()
    pq.write_table(pa.table({"body": ["x"]}), tmp_path / "in" / "a.parquet")
    with pytest.raises(ConfigError, match="inputs.*no column id, text, source"):
        run_job(config(tmp_path / "in", tmp_path / "out"))
    assert not (tmp_path / "out").exists()
    with pytest.raises(ConfigError, match="survivor"):
        DedupJobConfig.parse({"inputs": ["x"], "output": "y", "dedup": {"survivor": [{"field": "colour"}]}})


def _digests(output: Path) -> dict[str, str]:
    skip = {"config.yaml", "funnel.json"}
    return {
        str(p.relative_to(output)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(output.rglob("*"))
        if p.is_file() and p.name not in skip
    }


def test_restart_after_sigkill_gives_identical_outputs(tmp_path):
    records = corpus(n_base=300, seed=3)
    inputs = write_parts(records, tmp_path / "in", 12)
    reference = tmp_path / "reference"
    run_job(config(inputs, reference))
    killed = tmp_path / "killed"
    cfg = tmp_path / "job.yaml"
    cfg.write_text(config(inputs, killed).to_yaml())
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[3])}
    proc = subprocess.Popen(
        [sys.executable, "-m", "corpusforge.cli", "run", str(cfg), "-q"], env=env, start_new_session=True
    )
    deadline = time.time() + 120
    # kill it in the middle: after some fingerprints, before all documents are filed
    while time.time() < deadline and proc.poll() is None:
        done = list((killed / "_completions").glob("*")) if (killed / "_completions").exists() else []
        if 0 < len(done) < 12 or len(list((killed / "_work" / "fingerprints" / "_completions").glob("*"))) > 4:
            break
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    run_job(config(inputs, killed))
    assert _digests(killed) == _digests(reference)


def test_datatrove_backend_runs_datatrove_minhash_stages(tmp_path):
    records = [r for r in corpus(n_base=30, seed=4) if not r.id.startswith("x")]
    inputs = write_parts(records, tmp_path / "in", 3)
    ours = config(inputs, tmp_path / "ours", url={"enabled": False})
    theirs = config(inputs, tmp_path / "theirs", url={"enabled": False}, fuzzy={"backend": "datatrove"})
    run_job(ours)
    result = run_job(theirs)
    assert result.ledger.inputs == len(records)
    assert list((tmp_path / "theirs" / "_work" / "datatrove" / "clusters").glob("*.clusters"))
    # the planted near-duplicates are unmistakable: both algorithms drop the same documents for the same copies
    assert outcome(tmp_path / "ours") == outcome(tmp_path / "theirs")
    with pytest.raises(ConfigError, match="backend"):
        DedupJobConfig.parse(
            {"inputs": ["x"], "output": "y", "engine": {"kind": "spark"}, "dedup": {"fuzzy": {"backend": "datatrove"}}}
        )


def test_reference_documents_always_win_and_are_never_written(tmp_path):
    """Inputs deduplicated against a reference corpus: a copy of a reference is dropped (even when the survivor
    keys would prefer it), references are neither written nor counted, and the reasons can be renamed."""
    base = [" ".join(words(200, 900 + i)) for i in range(3)]
    refs = tmp_path / "refs"
    refs.mkdir()
    ref_records = [Record(id="r0", text=base[0], source="ref"), Record(id="r1", text=base[1], source="ref")]
    pq.write_table(to_table(ref_records), refs / "part-00000.parquet")
    inputs = tmp_path / "in"
    inputs.mkdir()
    edited = base[1].split()
    edited[50] = "changed"
    docs = [
        Record(id="a0", text=base[0], source="t", meta={"quality_score": "1.0"}),  # exact copy of r0
        Record(id="a1", text=" ".join(edited), source="t", meta={"quality_score": "1.0"}),  # near copy of r1
        Record(id="a2", text=base[2], source="t"),
        Record(id="a3", text=base[2], source="t"),  # exact copy of another input
    ]
    pq.write_table(to_table(docs), inputs / "part-00000.parquet")
    config = {"inputs": [str(inputs)], "output": str(tmp_path / "out"), "engine": {"workers": 1},
              "reference": [str(refs)], "dedup": {"url": {"enabled": False}}}  # fmt: skip
    result = run_job(DedupJobConfig.parse(config))
    assert result.ledger.inputs == 4 and result.ledger.kept == 1
    assert dict(result.ledger.dropped) == {
        "duplicate_exact_reference": 1, "duplicate_fuzzy_reference": 1, "duplicate_exact": 1
    }  # fmt: skip
    kept = pq.read_table(tmp_path / "out" / "documents").to_pylist()
    assert [r["id"] for r in kept] == ["a2"]
    audit = {r["id"]: r["detail"] for r in pq.read_table(tmp_path / "out" / "audit").to_pylist()}
    assert audit == {"a0": "r0", "a1": "r1", "a3": "a2"}

    renamed = {**config, "output": str(tmp_path / "out2"), "reasons": {"duplicate_exact_reference": "copy_of_ref"}}
    result = run_job(DedupJobConfig.parse(renamed))
    assert result.ledger.dropped["copy_of_ref"] == 1
    with pytest.raises(ConfigError, match="reasons"):
        DedupJobConfig.parse({**config, "reasons": {"duplicate_everything": "x"}})
    with pytest.raises(ConfigError, match="both an input and a reference"):
        DedupJobConfig.parse({**config, "reference": [str(inputs)]}).input_files()


def test_read_batch_size_changes_no_output_byte(tmp_path, monkeypatch):
    """Records are read in small batches (a bounded working set); fingerprint row groups stay FINGERPRINT_ROWS
    long and every output file is the same, byte for byte, whatever the read batch."""
    import pipelines.jobs.dedup as dedup_job

    inputs = write_parts(corpus(seed=2), tmp_path / "in", 1)
    files = {}
    for read_rows in (dedup_job.READ_ROWS, 7):
        monkeypatch.setattr(dedup_job, "READ_ROWS", read_rows)
        monkeypatch.setattr(dedup_job, "FINGERPRINT_ROWS", 20)
        out = tmp_path / f"out{read_rows}"
        run_job(config(inputs, out))
        files[read_rows] = {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}
        meta = pq.ParquetFile(out / "_work" / "fingerprints" / "part-00000.parquet").metadata
        groups = [meta.row_group(g).num_rows for g in range(meta.num_row_groups)]
        assert groups[:-1] == [20] * (len(groups) - 1) and 0 < groups[-1] <= 20
    assert files[dedup_job.READ_ROWS] == files[7]


def test_fingerprint_row_groups_are_bounded_in_bytes(tmp_path, monkeypatch):
    """With ``verify``, a fingerprint row holds its document's shingle hashes: a row group closes at
    FINGERPRINT_BYTES (plus at most one read batch) long before FINGERPRINT_ROWS rows, and that changes no
    output outside ``_work/fingerprints`` (``config.yaml`` names its output folder)."""
    import pipelines.jobs.dedup as dedup_job

    inputs = write_parts(corpus(n_base=600, seed=3), tmp_path / "in", 1)
    monkeypatch.setattr(dedup_job, "READ_ROWS", 32)
    files, groups, limit = {}, {}, dedup_job.FINGERPRINT_BYTES
    for bound in (limit, 1 << 40):  # the default, and rows alone
        monkeypatch.setattr(dedup_job, "FINGERPRINT_BYTES", bound)
        out = tmp_path / f"out{bound}"
        run_job(config(inputs, out, fuzzy={"verify": {"enabled": True}}))
        files[bound] = {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*"))
                        if p.is_file() and "fingerprints" not in p.parts and p.name != "config.yaml"}  # fmt: skip
        meta = pq.ParquetFile(out / "_work" / "fingerprints" / "part-00000.parquet").metadata
        groups[bound] = [(meta.row_group(g).num_rows, meta.row_group(g).total_byte_size)
                         for g in range(meta.num_row_groups)]  # fmt: skip
    bounded, rows_only = groups[limit], groups[1 << 40]
    assert len(rows_only) == 1 and rows_only[0][1] > 2 * limit  # about 1,070 rows of 300 hashes, one group
    assert len(bounded) >= 2 and sum(n for n, _ in bounded) == rows_only[0][0]
    batch = rows_only[0][1] / rows_only[0][0] * 32  # a read batch's share of the bytes
    assert all(size <= limit + 2 * batch for _, size in bounded)
    assert files[limit] == files[1 << 40]
