import json
from pathlib import Path

import pytest
import torch

from corpusforge.errors import ConfigError
from training.posttrain.chat import STOP_THINKING, encode, generation_prompt, render
from training.posttrain.fusion import ThoughtCut, arithmetic_pairs, fusion_set
from training.posttrain.generate import TransformersBackend, generate_with_budget


def test_cut_thoughts_fraction_token_boundary_and_answers(smollm2):
    _, tok = smollm2
    pairs = arithmetic_pairs(80, seed=3)
    whole = fusion_set(pairs, 120, seed=4)
    cut = ThoughtCut(fraction=0.4, min_tokens=0, max_tokens=30)
    mixed = fusion_set(pairs, 120, seed=4, cut=cut, tokenizer=tok)
    assert fusion_set(pairs, 120, seed=4, cut=ThoughtCut(fraction=0), tokenizer=tok) == whole  # off: the old set
    ending_think = [w for w in whole if w["messages"][-1]["reasoning"]]
    was_cut = [(w, m) for w, m in zip(whole, mixed, strict=True) if m["messages"][-1].get("thinking_cut")]
    assert len(was_cut) == round(0.4 * len(ending_think)) > 10  # the fraction, exactly
    lengths = set()
    for w, m in was_cut:
        full, short = w["messages"][-1], m["messages"][-1]
        assert m["messages"][:-1] == w["messages"][:-1] and short["content"] == full["content"]  # answer unchanged
        ids = tok.encode(full["reasoning"], add_special_tokens=False)
        kept = tok.encode(short["reasoning"], add_special_tokens=False)
        assert kept == ids[: len(kept)] and len(kept) <= 30 and len(kept) < len(ids)  # cut at a token boundary
        lengths.add(len(kept))
        # the training text is the generator's second-phase prompt, then the answer; only the answer trains
        prompt = generation_prompt(m["messages"][:-1], prefill="<think>\n") + short["reasoning"] + STOP_THINKING
        assert render(m["messages"]) == prompt + full["content"] + "<|im_end|>\n"
        ids_all, mask = encode(m["messages"], tok)
        head = tok.encode(prompt, add_special_tokens=False)
        assert ids_all[: len(head)] == head and tok.decode(ids_all[len(head) :]) == full["content"] + "<|im_end|>\n"
        assert sum(mask[len(head) :]) == len(ids_all) - len(head) - 1  # the answer and <|im_end|>, not the "\n"
    assert len(lengths) > 5 and min(lengths) < 10  # spread over the range
    for w, m in zip(whole, mixed, strict=True):
        if not m["messages"][-1].get("thinking_cut"):
            assert m == w


class Recording:
    """A real backend whose prompts are kept, to read the exact text the generator sends in its second phase."""

    def __init__(self, inner):
        self.inner, self.tok, self.prompts = inner, inner.tok, []

    def complete(self, prompts, *args, **kwargs):
        self.prompts.append(list(prompts))
        return self.inner.complete(prompts, *args, **kwargs)


@pytest.mark.parametrize("budget", [0, 5])
def test_cut_turn_tokenizes_as_the_budgeted_generator_prompts(tiny_llama, budget):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_llama)
    model = AutoModelForCausalLM.from_pretrained(tiny_llama, dtype=torch.float32).eval()
    backend = Recording(TransformersBackend(model, tok))
    conv = [{"role": "user", "content": "What is 12 + 30? /think"}]
    [r] = generate_with_budget(backend, [conv], budget=budget, max_answer_tokens=3)
    second = backend.prompts[-1][0]  # prompt + <think>\n + the first `budget` tokens + the stop text
    assert r.budget_hit and second.endswith(STOP_THINKING) and len(backend.prompts) == (2 if budget else 1)
    thought = second[len(generation_prompt(conv, prefill="<think>\n")) : -len(STOP_THINKING)]
    assert (thought == "") == (budget == 0)
    turn = {"role": "assistant", "content": "42", "reasoning": thought, "thinking_cut": True}
    ids, mask = encode([*conv, turn], tok)
    head = tok.encode(second, add_special_tokens=False)
    assert ids[: len(head)] == head and not any(mask[: len(head)])
    assert tok.decode(ids[len(head) :]) == "42<|im_end|>\n" and mask[len(head) :][-1] == 0


def test_cut_config_is_checked():
    with pytest.raises(ConfigError, match="min_tokens"):
        ThoughtCut.parse({"min_tokens": 9, "max_tokens": 4})
    with pytest.raises(ConfigError, match="fraction"):
        ThoughtCut.parse({"fraction": 1.5})
    with pytest.raises(ConfigError, match="tokenizer"):
        fusion_set(arithmetic_pairs(10), 10, cut=ThoughtCut(fraction=0.5))
    assert ThoughtCut().fraction == 0  # off unless asked: the cut-thought model did not pass (BENCHMARKS.md)


def test_pairs_task_leaves_out_trained_questions(tmp_path):
    from typer.testing import CliRunner

    from training.cli import app

    train = tmp_path / "fusion.jsonl"
    res = CliRunner().invoke(app, ["task", "--kind", "fusion", "--n", "60", "--out", str(train)])
    assert res.exit_code == 0, res.output
    asked = {m["content"].split("?")[0] + "?" for line in train.read_text().splitlines()
             for m in json.loads(line)["messages"] if m["role"] == "user"}  # fmt: skip
    out = tmp_path / "eval.jsonl"
    args = ["task", "--kind", "pairs", "--n", "300", "--seed", "0", "--flag", "/think", "--exclude", str(train)]
    res = CliRunner().invoke(app, [*args, "--out", str(out)])
    assert res.exit_code == 0, res.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    questions = [r["messages"][0]["content"].removesuffix(" /think") for r in rows]
    assert len(rows) == 300 and not set(questions) & asked
    # the same seed without the exclusion asks some of them (seed 0 is the fusion set's own)
    res = CliRunner().invoke(app, ["task", "--kind", "pairs", "--n", "300", "--seed", "0", "--out", str(out)])
    assert {json.loads(line)["messages"][0]["content"].removesuffix(" /no_think") for line in out.read_text().splitlines()} & asked  # fmt: skip


def test_exclusion_set_with_a_broken_line_is_refused(tmp_path):
    """A line that cannot be read could hold a question the new set must leave out: one error naming the line."""
    from corpusforge.errors import InputError
    from training.posttrain.tasks import asked_questions

    f = tmp_path / "train.jsonl"
    f.write_text('{"messages": [{"role": "user", "content": "1 + 2? /think"}]}\n{"messages": [\n')
    with pytest.raises(InputError, match=r"train.jsonl:2: not JSON"):
        asked_questions([f])
    f.write_text('{"messages": [{"role": "user", "content": "1 + 2? /think"}]}\n\n')
    assert asked_questions([f]) == {"1 + 2?"}


def test_checkpoint_tokenizer_found_from_another_directory(tmp_path, monkeypatch):
    from training.posttrain.models import run_tokenizer

    run = tmp_path / "out" / "posttrain" / "sft-x"
    (run / "tokenizer").mkdir(parents=True)
    (run / "checkpoints" / "step_4").mkdir(parents=True)
    recorded = "out/posttrain/sft-x/tokenizer"  # relative to where the run was started (tmp_path)
    monkeypatch.chdir(tmp_path)
    assert run_tokenizer(recorded, run / "checkpoints" / "step_4") == Path(recorded)
    monkeypatch.chdir(run.parent)
    assert run_tokenizer(recorded, run / "checkpoints" / "step_4") == (run / "tokenizer").resolve()
