"""The synth job's global dedup: samples against each other across tasks and against the whole seed corpus, exact
and fuzzy, on every engine; planted copies are dropped with named reasons and the ledgers balance."""

from __future__ import annotations

import json
import random

import pyarrow.parquet as pq
import pytest

from pipelines.engines import run_job
from pipelines.jobs.synth import SynthJobConfig
from tests.chat_server import ChatServer

WORDS = [
    "river", "mountain", "teacher", "garden", "window", "village", "market", "bridge", "candle", "forest", "harbor",
    "lantern", "meadow", "orchard", "pencil", "quarry", "ribbon", "saddle", "tunnel", "valley", "wagon", "anchor",
    "basket", "castle", "desert", "engine", "feather", "glacier", "hammer", "island", "jacket", "kettle", "ladder",
    "mirror", "needle", "ocean", "palace", "rabbit", "shadow", "temple", "violin", "whistle", "yellow", "zebra",
    "carries", "builds", "paints", "follows", "watches", "gathers", "measures", "repairs", "describes", "explains",
    "quietly", "slowly", "gently", "bright", "ancient", "narrow", "heavy", "golden", "silent", "distant",
]  # fmt: skip


def prose(seed: int, words: int = 120) -> str:
    """A distinct, non-repetitive passage (random words; language is not judged in this test)."""
    rng = random.Random(seed)
    return " ".join(rng.choice(WORDS) for _ in range(words)) + "."


def near(text: str) -> str:
    """The same passage with one word changed: word 5-gram Jaccard about 0.92, far above the LSH threshold."""
    words = text.split()
    words[60] = "unmistakably"
    return " ".join(words)


# seeds of two tasks (files); each seed's first word names it in the prompt
SEEDS = {
    "a.jsonl": {f"sa{i}": f"seed{i}a " + prose(100 + i) for i in (1, 2, 3)},
    "b.jsonl": {f"sb{i}": f"seed{i}b " + prose(200 + i) for i in (1, 2, 3, 4)},
}
T1, T2, T3 = (prose(300 + i) for i in (1, 2, 3))
ANSWERS = {
    "seed1a": T1,  # distinct: kept
    "seed2a": T2,  # distinct: kept
    "seed3a": T3,  # distinct: kept
    "seed1b": SEEDS["a.jsonl"]["sa1"],  # a copy of a seed document of the OTHER task: dup_exact_seed
    "seed2b": near(SEEDS["a.jsonl"]["sa2"]),  # a near copy of a seed of the other task: dup_fuzzy_seed
    "seed3b": T1,  # the same text as another task's sample: dup_exact_synth
    "seed4b": near(T3),  # a near copy of another task's sample: dup_fuzzy_synth
}


def answer(prompt: str) -> str:
    for marker, text in ANSWERS.items():
        if marker in prompt:
            return text
    return "?"


@pytest.fixture
def seeds(tmp_path):
    paths = []
    for name, docs in SEEDS.items():
        path = tmp_path / name
        path.write_text("".join(json.dumps({"id": i, "text": t, "lang": "en"}) + "\n" for i, t in docs.items()))
        paths.append(str(path))
    return paths


def job(tmp_path, server, seeds, engine: str) -> SynthJobConfig:
    return SynthJobConfig.parse(
        {
            "inputs": seeds,
            "output": str(tmp_path / f"out-{engine}"),
            "engine": {"kind": engine, "workers": 1},
            "llm": {"backend": "openai", "model": "scripted", "base_url": server.base_url},
            "generators": [{"kind": "textbook"}],
            "text": {"check_language": False},
            "decontam": None,
            "cache": "",
        }
    )


def check(tmp_path, engine: str, result) -> list[tuple[str, str]]:
    assert result.ledger.inputs == 7 and result.ledger.kept == 7  # every planted copy passes the verifiers
    dedup = result.then["dedup"].ledger
    assert dedup.inputs == 7 and dedup.kept == 3
    assert dict(dedup.dropped) == {"dup_exact_seed": 1, "dup_fuzzy_seed": 1, "dup_exact_synth": 1, "dup_fuzzy_synth": 1}
    out = tmp_path / f"out-{engine}"
    kept = pq.read_table(out / "dedup" / "documents").to_pylist()
    texts = sorted(r["text"] for r in kept)  # of a near pair the survivor is the smaller id: either one
    assert texts in (sorted([T1, T2, T3]), sorted([T1, T2, near(T3)]))
    assert not any(r["source"] != "synthetic/textbook" for r in kept)  # seed documents are never written
    audit = {r["reason"]: r for r in pq.read_table(out / "dedup" / "audit").to_pylist()}
    seed_ids = {i for docs in SEEDS.values() for i in docs}
    assert audit["dup_exact_seed"]["detail"] == "sa1" and audit["dup_fuzzy_seed"]["detail"] == "sa2"
    assert audit["dup_exact_synth"]["detail"] not in seed_ids and audit["dup_fuzzy_synth"]["detail"] not in seed_ids
    report = json.loads((out / "synth_report.json").read_text())["textbook"]
    assert report["generated"] == 7 and report["admitted"] == 3 and sum(report["rejected"].values()) == 4
    summary = json.loads((out / "dedup" / "summary.json").read_text())
    assert summary["removed"] == dict(dedup.dropped)
    return sorted((r["id"], r["text"]) for r in kept)


@pytest.mark.parametrize("engine", ["local", "datatrove"])
def test_planted_copies_of_seeds_and_samples_are_dropped(tmp_path, seeds, engine):
    with ChatServer(answer=answer) as server:
        result = run_job(job(tmp_path, server, seeds, engine))
    check(tmp_path, engine, result)


def test_dedup_against_seeds_can_be_turned_off(tmp_path, seeds):
    with ChatServer(answer=answer) as server:
        config = job(tmp_path, server, seeds, "local").model_copy(update={"dedup_seeds": False})
        result = run_job(config)
    assert dict(result.then["dedup"].ledger.dropped) == {"dup_exact_synth": 1, "dup_fuzzy_synth": 1}


@pytest.mark.spark
def test_spark_dedups_like_local(tmp_path, seeds, spark):
    with ChatServer(answer=answer) as server:
        rows = {e: check(tmp_path, e, run_job(job(tmp_path, server, seeds, e))) for e in ("local", "spark")}
    assert rows["spark"] == rows["local"]


def test_nothing_admitted_still_leaves_a_dedup_output_for_the_shard_job(tmp_path, seeds):
    """A run that admits nothing (a tiny model's bad day) still writes OUTPUT/dedup/documents, so a shard job that
    reads it (the main job's) runs on the other inputs instead of failing on a missing folder."""
    with ChatServer(answer=lambda prompt: "?") as server:
        result = run_job(job(tmp_path, server, seeds, "local"))
    assert result.ledger.kept == 0 and result.ledger.dropped["too_short"] == 7
    assert result.then["dedup"].ledger.inputs == 0
    assert pq.read_table(tmp_path / "out-local" / "dedup" / "documents").num_rows == 0
