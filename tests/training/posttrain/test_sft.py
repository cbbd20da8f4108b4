import json

import pytest

from corpusforge.errors import ConfigError
from tests.training.posttrain.factory import recipe_dict
from training.posttrain.sft import SFTRecipe, sft


def write_data(path, n=12):
    rows = []
    for i in range(n):
        a, b = i + 3, 2 * i + 1
        think = i % 2 == 0
        rows.append(
            {
                "messages": [
                    {"role": "user", "content": f"What is {a} + {b}? {'/think' if think else '/no_think'}"},
                    {"role": "assistant", "content": str(a + b), "reasoning": f"{a} plus {b}" if think else ""},
                ]
            }
        )
    rows.append({"messages": [{"role": "user", "content": "no answer here"}]})
    rows.append({"messages": [{"role": "user", "content": "x"}, {"role": "assistant", "content": "<think>\nloops"}]})
    rows.append({"messages": [{"role": "user", "content": "x"}, {"role": "assistant", "content": "a</think>b"}]})
    rows.append({"messages": [{"role": "robot", "content": "x"}, {"role": "assistant", "content": "y"}]})
    rows.append({"messages": [{"role": "user", "content": "long " * 400}, {"role": "assistant", "content": "y"}]})
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\nnot json\n")
    return path


def recipe(tmp_path, init, out, steps=4):
    return SFTRecipe.parse(
        recipe_dict(tmp_path, "sft-test", init, out, "data.jsonl", 96, 2, (3e-3, 3e-4), steps=steps, save_every=2)
    )


def test_sft_counts_skips_trains_and_resumes(tmp_path, tiny_llama):
    write_data(tmp_path / "data.jsonl")
    full = sft(recipe(tmp_path, tiny_llama, "full"))
    assert full["skips"] == {
        "no_assistant": 1,
        "unclosed_think": 1,
        "stray_think_close": 1,
        "unknown_role": 1,
        "too_long": 1,
        "bad_record": 1,
    }
    assert full["examples"] == 12 and full["done"] and full["last_loss"] < full["first_loss"]
    assert (tmp_path / "full" / "tensorboard").is_dir() and (tmp_path / "full" / "DONE").is_file()
    part = sft(recipe(tmp_path, tiny_llama, "part"), stop_at=2)
    assert not part["done"] and part["steps"] == 2
    resumed = sft(recipe(tmp_path, tiny_llama, "part"))
    assert resumed["done"] and resumed["steps"] == 4
    assert abs(resumed["last_loss"] - full["last_loss"]) < 1e-5
    # a checkpoint is itself a start point (with the tokenizer it records)
    again = sft(recipe(tmp_path, tmp_path / "full" / "checkpoints", "from-ckpt", steps=1))
    assert again["done"] and again["first_loss"] < full["first_loss"]


def test_sft_missing_data_fails_first(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        sft(recipe(tmp_path, "smollm2", "x"))
