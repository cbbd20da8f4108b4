import json

import pytest
import torch

from corpusforge.errors import ConfigError
from tests.training.posttrain.factory import recipe_dict
from training.posttrain.grpo import GRPORecipe, grpo
from training.posttrain.models import load_policy, megatron_logits, sync_weights
from training.posttrain.rewards import RewardRunner, load_reward
from training.posttrain.tasks import arithmetic, write_jsonl

FNS = "tests.training.posttrain.reward_fns"


def test_weight_sync_makes_generator_logits_equal_megatron(tiny_llama):
    p = load_policy(tiny_llama, backend="sdpa")
    ids = torch.randint(0, 1000, (2, 12))
    with torch.no_grad():
        assert (megatron_logits(p.gpt.eval(), ids) - p.generator(ids).logits).abs().max() < 1e-4  # the import
        for v in p.gpt.parameters():  # what an optimizer step does: new weights on the Megatron side
            v.add_(torch.randn_like(v) * 0.05)
        assert (megatron_logits(p.gpt, ids) - p.generator(ids).logits).abs().max() > 1e-2
        sync_weights(p.gpt, p.model_cfg, p.generator)
        assert (megatron_logits(p.gpt, ids) - p.generator(ids).logits).abs().max() < 1e-4


def test_reward_errors_and_timeouts_are_counted():
    runner = RewardRunner(load_reward(f"{FNS}:raises"), timeout_s=0.5)
    assert runner.score(["p"], ["c"], [{}]) == [0.0] and runner.counts["errors"] == 1
    slow = RewardRunner(load_reward(f"{FNS}:slow"), timeout_s=0.2)
    assert slow.score(["p", "p"], ["c", "c"], [{"sleep": 1.0}, {}]) == [0.0, 1.0]
    assert slow.counts["timeouts"] == 1 and slow.counts["scored"] == 1
    runner.close()
    slow.close()
    with pytest.raises(ConfigError, match="no reward named"):
        load_reward("nope")


def recipe(tmp_path, init, out, reward="length_reward"):
    base = recipe_dict(tmp_path, "grpo-test", init, out, "prompts.jsonl", 64, 4, (1e-3, 1e-4), steps=3, save_every=1)
    settings = {"group_size": 2, "prompts_per_step": 2, "max_new_tokens": 6, "updates_per_batch": 2,
            "reward": f"{FNS}:{reward}"}  # fmt: skip
    return GRPORecipe.parse({**base, "grpo": settings})


def test_grpo_runs_logs_and_resumes(tmp_path, tiny_llama):
    recs = arithmetic(6, seed=1)
    recs.append({"messages": [{"role": "user", "content": "long " * 200}], "reference": {"answer": "1"}})
    write_jsonl(recs, tmp_path / "prompts.jsonl")
    with (tmp_path / "prompts.jsonl").open("a") as f:
        f.write("not json\n" + json.dumps({"messages": "x"}) + "\n")
    full = grpo(recipe(tmp_path, tiny_llama, "full"))
    assert full["done"] and full["skips"] == {"bad_record": 2, "too_long": 1}
    rows = [json.loads(x) for x in (tmp_path / "full" / "metrics.jsonl").read_text().splitlines()]
    for key in ("reward", "kl", "clip_frac", "response_len", "zero_var_groups", "gen_share", "train_tokens_per_s"):
        assert key in rows[-1]
    assert rows[0]["kl"] == pytest.approx(0.0, abs=1e-6)  # the first rollout comes from the reference itself
    assert any(r["kl"] > 0 for r in rows[1:]) and 0 < rows[-1]["gen_share"] < 1
    assert any(p.name.startswith("events") for p in (tmp_path / "full" / "tensorboard").iterdir())
    part = grpo(recipe(tmp_path, tiny_llama, "part"), stop_at=2)
    assert not part["done"]
    resumed = grpo(recipe(tmp_path, tiny_llama, "part"))
    last = json.loads((tmp_path / "part" / "metrics.jsonl").read_text().splitlines()[-1])
    assert resumed["done"] and last["step"] == 3
    assert last["reward"] == pytest.approx(rows[-1]["reward"]) and last["loss"] == pytest.approx(rows[-1]["loss"])


def test_grpo_reward_that_raises_is_counted_not_fatal(tmp_path, tiny_llama):
    write_jsonl(arithmetic(4, seed=2), tmp_path / "prompts.jsonl")
    r = recipe(tmp_path, tiny_llama, "raising", reward="raises").model_copy(
        update={"train": recipe(tmp_path, tiny_llama, "x").train.model_copy(update={"steps": 1})}
    )
    out = grpo(r)
    assert out["done"] and out["reward_counts"]["errors"] == 4 and out["last_zero_var_groups"] == 2


def test_tempered_logp_matches_the_fused_path_at_temperature_one(tiny_llama):
    from training.posttrain.grpo import sequence_logp

    p = load_policy(tiny_llama, backend="sdpa")
    tokens = torch.randint(0, 1000, (2, 10))
    labels = torch.roll(tokens, -1, dims=1)
    with torch.no_grad():
        fused = sequence_logp(p.gpt.eval(), tokens, labels)
        logits = megatron_logits(p.gpt, tokens)
        manual = torch.log_softmax(logits / 0.5, -1).gather(-1, labels[..., None]).squeeze(-1)
        assert (fused - torch.log_softmax(logits, -1).gather(-1, labels[..., None]).squeeze(-1)).abs().max() < 1e-4
        assert (sequence_logp(p.gpt, tokens, labels, 0.5) - manual).abs().max() < 1e-5


def test_train_mode_logp_is_the_rollout_policys(tiny_llama):
    """GRPO keeps the old log-probs from the first update's train-mode forward: that is only right while a
    train-mode forward equals an eval-mode one (no dropout), which this guards."""
    from training.posttrain.grpo import sequence_logp

    p = load_policy(tiny_llama, backend="sdpa")
    tokens = torch.randint(0, 1000, (2, 10))
    labels = torch.roll(tokens, -1, dims=1)
    with torch.no_grad():
        evaluated = sequence_logp(p.gpt.eval(), tokens, labels, 0.7)
        trained = sequence_logp(p.gpt.train(), tokens, labels, 0.7)
    assert torch.equal(evaluated, trained)


def test_registered_math_reward_through_the_entry_point():
    runner = RewardRunner(load_reward("math"), timeout_s=30)
    scores = runner.score(["q"] * 3, ["The answer is 5.", "It is 6", "5"], [{"answer": "5"}, {"answer": "5"}, {}])
    assert scores == [1.0, 0.0, 0.0] and runner.counts["errors"] == 1  # a reference without 'answer' raises
    runner.close()
