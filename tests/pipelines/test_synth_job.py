"""The synth job end to end on two engines, against a real OpenAI-compatible server on 127.0.0.1 whose answers
are scripted per prompt, so every admission and every rejection reason can be asserted exactly."""

from __future__ import annotations

import json
import os

import pyarrow.parquet as pq
import pytest

from corpusforge.errors import ConfigError
from pipelines.engines import run_job
from pipelines.jobs.shard import ShardConfig, ShardJobConfig
from pipelines.jobs.synth import SynthJobConfig
from pipelines.shards.cells import CellsConfig
from tests.chat_server import ChatServer

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the code verifier's sandbox needs root")

SECTION = (
    "The water cycle moves water between the oceans, the air and the land. Heat from the sun evaporates water, "
    "vapour rises and cools into clouds, and rain or snow returns it to rivers, lakes and the ground. Example: a "
    "puddle dries on a warm afternoon. Summary: evaporation, condensation and precipitation repeat endlessly."
)
GOOD_CODE = "```python\ndef add(a, b):\n    \"\"\"Sum.\"\"\"\n    return a + b\n```\n```python\nassert add(2, 3) == 5\nassert add(0, 0) == 0\n```"
BAD_CODE = "```python\ndef add(a, b):\n    return a - b\n```\n```python\nassert add(2, 3) == 5\n```"


def scripted(gsm_question: str):
    def answer(prompt: str) -> str:
        if prompt.startswith("Solve the problem"):
            return "Tom has 3 + 4 = 7 apples, so the answer is \\boxed{7}."
        if "textbook section" in prompt:
            if "benchmark" in prompt:  # a contaminated sample: the model recites a GSM8K question
                return SECTION + " Practice: " + gsm_question
            if "refuse" in prompt:
                return "I'm sorry, but I cannot help with that request. " + SECTION
            return SECTION
        if "write one question" in prompt:
            return "Question: What returns water to the ground?\nAnswer: Rain and snow return it to rivers and lakes."
        if "write one task" in prompt:
            return "no labels here at all"
        if "math word problem" in prompt:
            return (
                "Problem: Tom has 3 apples and buys 4 more. How many apples does he have now?\n"
                "Solution: He starts with 3 and adds 4, which gives 3 + 4 = 7 apples in total.\n"
                "Final answer: \\boxed{7}"
            )
        if "Python function" in prompt:
            return BAD_CODE if "broken" in prompt else GOOD_CODE
        return "?"

    return answer


@pytest.fixture
def topics(tmp_path):
    path = tmp_path / "topics.txt"
    path.write_text("the water cycle\nthe water cycle from a benchmark\nrefuse this one\nbroken adder\n")
    return path


def job(tmp_path, server, topics, engine: str, generators=None, **extra) -> SynthJobConfig:
    return SynthJobConfig.parse(
        {
            "kind": "synth",
            "inputs": [str(topics)],
            "output": str(tmp_path / f"out-{engine}"),
            "engine": {"kind": engine, "workers": 1},
            "llm": {"backend": "openai", "model": "scripted", "base_url": server.base_url, "max_concurrency": 2},
            "generators": generators or [{"kind": k} for k in ("textbook", "qa", "instruction", "math", "code")],
            "text": {"min_words": 8},
            "math": {"agree_samples": 2},
            **extra,
        }
    )


@pytest.mark.parametrize("engine", ["local", "datatrove"])
def test_synth_job_admits_only_verified_samples(tmp_path, topics, shared_data, engine):
    with (shared_data / "math_code/gsm8k/gsm8k_test.jsonl").open() as f:
        question = json.loads(f.readline())["question"]
    with ChatServer(answer=scripted(question)) as server:
        config = job(tmp_path, server, topics, engine, cache=str(tmp_path / "cache.sqlite"))
        result = run_job(config)
        first = len(server.requests)
        assert first == 4 * 5 + 4 * 2  # 4 seeds x 5 generators, plus 2 re-solves per math problem
        ledger = result.ledger
        assert ledger.inputs == 20
        # textbook: 1 admitted, 1 contaminated, 1 refusal; the broken-adder topic's section is admitted too
        assert ledger.dropped["contaminated_gsm8k"] == 1 and ledger.dropped["refusal"] == 1
        assert ledger.dropped["unparseable_no_instruction"] == 4
        assert ledger.dropped["code_failed"] == 1
        # qa: the same answer for 4 seeds is admitted 4 times here; the dedup step removes the copies
        assert ledger.kept == 20 - 1 - 1 - 4 - 1
        # synth_report counts admission after the global dedup: the 3 passing code samples are one text
        report = json.loads((tmp_path / f"out-{engine}" / "synth_report.json").read_text())
        rejected = {"code_failed": 1, "dup_exact_synth": 2}
        assert report["code"] == {**report["code"], "generated": 4, "admitted": 1, "rejected": rejected}
        assert report["math"]["admitted"] == 1 and report["math"]["rejected"] == {"dup_exact_synth": 3}
        assert report["instruction"]["yield"] == 0.0
        assert report["textbook"]["usage"]["requests"] == 4

        docs = pq.read_table(tmp_path / f"out-{engine}" / "documents").to_pylist()
        assert {d["source"] for d in docs} == {f"synthetic/{k}" for k in ("textbook", "qa", "math", "code")}
        for d in docs:
            meta = dict(d["meta"])
            assert meta["seed_id"] and meta["prompt_version"] == "1" and meta["seed_origin"] == "topic"
        math = [dict(d["meta"]) for d in docs if d["source"] == "synthetic/math"]
        assert all(m["answer"] == "7" and m["agreement"] == "1.000" for m in math)
        dedup = result.then["dedup"].ledger
        assert dedup.inputs == ledger.kept and dedup.kept < dedup.inputs  # identical qa/math/code samples merged

        if engine == "local":  # the admitted documents flow into the shard job like any others
            shard = ShardJobConfig(
                inputs=[str(tmp_path / "out-local" / "dedup" / "documents")],
                output=str(tmp_path / "shards"),
                engine={"kind": "local", "workers": 1},
                shard=ShardConfig(cells=CellsConfig(keys=["source"], min_documents=1, gate=False)),
            )
            sharded = run_job(shard)
            assert sharded.ledger.inputs == dedup.kept and sharded.ledger.kept == dedup.kept

        # a rerun over the same cache asks the server nothing
        again = job(tmp_path, server, topics, engine, cache=str(tmp_path / "cache.sqlite"))
        run_job(again, overwrite=True)
        assert len(server.requests) == first


def test_bad_config_fails_before_work(tmp_path, topics):
    with pytest.raises(ConfigError, match="generators.0.kind"):
        SynthJobConfig.parse({"inputs": [str(topics)], "output": str(tmp_path), "generators": [{"kind": "poem"}]})
    with pytest.raises(ConfigError, match="template"):
        SynthJobConfig.parse(
            {"inputs": [str(topics)], "output": str(tmp_path), "generators": [{"kind": "qa", "template": "nope"}]}
        )
    bad = tmp_path / "seeds.csv"
    bad.write_text("x")
    config = SynthJobConfig.parse({"inputs": [str(bad)], "output": str(tmp_path / "o")})
    with pytest.raises(ConfigError, match="seeds.csv"):
        config.input_files()


@pytest.mark.spark
def test_synth_job_on_spark_matches_local(tmp_path, topics, shared_data, spark):
    """The same seeds and scripted answers give the same admitted rows and ledger on Spark as on the local engine."""
    with (shared_data / "math_code/gsm8k/gsm8k_test.jsonl").open() as f:
        question = json.loads(f.readline())["question"]
    generators = [{"kind": "textbook"}, {"kind": "code"}]
    with ChatServer(answer=scripted(question)) as server:
        results = {
            engine: run_job(job(tmp_path, server, topics, engine, generators=generators, dedup=None))
            for engine in ("local", "spark")
        }
    assert results["spark"].ledger.to_dict() == results["local"].ledger.to_dict()
    rows = {
        engine: sorted((r["id"], r["text"]) for r in pq.read_table(tmp_path / f"out-{engine}" / "documents").to_pylist())
        for engine in results
    }
    assert rows["spark"] == rows["local"] and len(rows["local"]) == 2 + 3
