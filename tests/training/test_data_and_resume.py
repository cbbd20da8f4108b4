import json
import shutil

import numpy as np
import pytest
import torch
import yaml

from corpusforge.errors import ConfigError
from tests.training.factory import write_shards
from training.data import DataError, build_datasets, expand_by_rates, load_blend
from training.pretrain import PretrainRecipe, check_data, export_checkpoint, pretrain


def recipe(shards, out, **train):
    return PretrainRecipe.parse(
        {
            "name": "t",
            "output": str(out),
            "shards": str(shards),
            "model": {"preset": "tiny"},
            "train": {"micro_batch_size": 2, "progress": False, "tensorboard": False, "save_every": 3, **train},
            "stages": [
                {"name": "s1", "seq_length": 32, "tokens": 32 * 2 * 6, "lr": {"peak": 3e-3, "min": 3e-4}},
                {"name": "s3", "seq_length": 128, "tokens": 128 * 2 * 2, "kind": "long", "rope_base": 1e6},
            ],
            "export": {"enabled": False},
        }
    )


def test_blend_weights_and_validation_split(shards, tmp_path):
    blend = tmp_path / "b.yaml"
    blend.write_text(yaml.safe_dump({"format": "corpusforge.blend/1", "weights": {"en-web": 3, "code": 1}}))
    b = load_blend(shards, blend, model_vocab=512)
    assert len(b.prefixes) == 2 and b.weights == [0.75, 0.25]
    train, valid = build_datasets(b, seq_length=32, train_samples=20, valid_samples=4, split="80,20,0")
    assert len(train) >= 20 and len(valid) >= 4
    item = train[0]
    assert item["tokens"].shape == (32,) and (item["labels"][:-1] == item["tokens"][1:]).all()


def test_document_rates(shards, tmp_path):
    assert expand_by_rates(np.arange(4), np.array([0.0, 1.0, 2.0, 3.0]), 0).tolist() == [1, 2, 2, 3, 3, 3]
    np.save(tmp_path / "r.npy", np.zeros(40))
    blend = tmp_path / "b.yaml"
    blend.write_text(yaml.safe_dump({"weights": {"en-web": 1}, "document_rates": {"cells/en-web/00000": "r.npy"}}))
    b = load_blend(shards, blend)
    assert list(b.rates) == [b.prefixes[0]]


@pytest.mark.parametrize(
    "case,match",
    [
        ("missing", "shard file missing"),
        ("hash", "tokenizer hash mismatch"),
        ("vocab", "more than the model's vocabulary"),
        ("empty", "the blend is empty"),
        ("zero", "sum to a positive number"),
        ("unknown", "not in the manifest"),
    ],
)
def test_bad_input_fails_before_training(tmp_path, case, match):
    root = write_shards(tmp_path / "s", vocab_size=1000 if case == "vocab" else None)
    blend = {"weights": {"en-web": 1.0}}
    if case == "missing":
        (root / "cells/code/00000.bin").unlink()
        blend = {}
    elif case == "hash":
        m = json.loads((root / "manifest.json").read_text())
        m["shards"][1]["tokenizer_hash"] = "cd" * 32
        (root / "manifest.json").write_text(json.dumps(m))
    elif case == "empty":
        blend = {"weights": {}}
    elif case == "zero":
        blend = {"weights": {"en-web": 0, "code": 0}}
    elif case == "unknown":
        blend = {"weights": {"xx-none": 1}}
    (tmp_path / "b.yaml").write_text(yaml.safe_dump(blend))
    with pytest.raises(DataError, match=match):
        load_blend(root, tmp_path / "b.yaml", model_vocab=512)


def test_seq_length_over_model_max(shards, tmp_path):
    with pytest.raises(ConfigError, match="stages.0.seq_length"):
        PretrainRecipe.parse(
            {
                "name": "t",
                "output": str(tmp_path),
                "shards": str(shards),
                "stages": [{"name": "s1", "seq_length": 4096, "tokens": 1e4}],
            }
        )


def test_resume_gives_identical_losses(shards, tmp_path):
    def losses(out):
        return [json.loads(line)["loss"] for line in (out / "s1" / "metrics.jsonl").read_text().splitlines()]

    full = pretrain(recipe(shards, tmp_path / "full"))
    assert set(full["stages"]) == {"s1", "s3"}
    assert full["stages"]["s1"]["steps"] == 6 and full["stages"]["s3"]["steps"] == 2

    part = tmp_path / "part"
    first = pretrain(recipe(shards, part), stop_after=("s1", 3))  # "killed" after step 3's checkpoint
    assert first["stages"]["s1"]["steps"] == 3 and "s3" not in first["stages"]
    pretrain(recipe(shards, part))  # resumes s1 at step 3 (data position, optimizer, RNG), then runs s3
    assert losses(part) == losses(tmp_path / "full")
    s3 = [json.loads(line)["loss"] for line in (part / "s3" / "metrics.jsonl").read_text().splitlines()]
    s3_full = [
        json.loads(line)["loss"] for line in (tmp_path / "full" / "s3" / "metrics.jsonl").read_text().splitlines()
    ]
    assert s3 == s3_full
    saved = yaml.safe_load((part / "s1" / "checkpoints" / "step_6" / "config.yaml").read_text())
    assert saved["stage"] == "s1" and saved["recipe"]["name"] == "t"
    again = pretrain(recipe(shards, part))  # everything done: skipped
    assert all(s.get("skipped") for s in again["stages"].values())
    shutil.rmtree(part)


def test_checkpoint_exports_to_a_transformers_directory(shards, tmp_path):
    from transformers import AutoConfig, AutoModelForCausalLM

    result = pretrain(recipe(shards, tmp_path / "run"))
    dest = export_checkpoint(result["checkpoint"], tmp_path / "hf")
    names = {p.name for p in dest.iterdir()}
    assert {"model.safetensors", "config.json", "tokenizer.json"} <= names and "model.safetensors.tmp" not in names
    cfg = AutoConfig.from_pretrained(dest)
    assert cfg.rope_scaling["rope_type"] == "yarn" and cfg.rope_scaling["factor"] == 4.0
    assert cfg.rope_scaling["original_max_position_embeddings"] == 128 and cfg.eos_token_id == 151643
    model = AutoModelForCausalLM.from_pretrained(dest)
    assert model(torch.tensor([[1, 2, 3]])).logits.shape[:2] == (1, 3)


def test_check_data_names_stage(shards, tmp_path):
    r = recipe(shards, tmp_path / "o")
    assert set(check_data(r)) == {"s1", "s3"}


def test_overwrite_keeps_the_previous_output_when_the_shards_are_missing(tmp_path):
    out = tmp_path / "o"
    (out / "s1").mkdir(parents=True)
    (out / "s1" / "DONE").write_text("previous run")
    with pytest.raises(DataError):
        recipe(tmp_path / "no-shards", out).run_step(progress=False, overwrite=True)
    assert (out / "s1" / "DONE").read_text() == "previous run"


def test_async_checkpoints_resume_the_same(shards, tmp_path):
    """Checkpoints written by Megatron's asynchronous save (a forked writer) resume to the same losses."""

    def losses(out):
        return [json.loads(line)["loss"] for line in (out / "s1" / "metrics.jsonl").read_text().splitlines()]

    def s1_only(r):
        return PretrainRecipe.parse({**r.model_dump(mode="json"), "stages": [r.stages[0].model_dump(mode="json")]})

    pretrain(s1_only(recipe(shards, tmp_path / "sync")))
    part = s1_only(recipe(shards, tmp_path / "async", async_save=True))
    pretrain(part, stop_after=("s1", 3))
    ckpts = tmp_path / "async" / "s1" / "checkpoints"
    assert (ckpts / "latest").read_text() == "step_3" and (ckpts / "step_3" / "COMPLETE").is_file()
    pretrain(part)
    assert losses(tmp_path / "async") == losses(tmp_path / "sync")
    assert (ckpts / "latest").read_text() == "step_6" and not list(ckpts.glob(".tmp-*"))


def test_global_batches_are_the_same_samples_at_every_data_parallel_size():
    """Each rank reads its slice; the ranks' slices of a step together are the DP=1 step's samples, in order."""
    from training.data import GlobalBatchStream

    data = [{"tokens": [i], "labels": [i], "loss_mask": [1.0], "position_ids": [0]} for i in range(50)]

    def step_samples(dp: int, mbs: int, steps: int = 3) -> list[list[int]]:
        streams = [GlobalBatchStream(data, mbs, 8, r, dp) for r in range(dp)]
        out = []
        for _ in range(steps):
            per_rank = [s.next_step() for s in streams]
            assert {len(p) for p in per_rank} == {8 // (mbs * dp)}  # gradient accumulation per rank
            # micro-batch m: rank 0's samples, then rank 1's, ... (Megatron's pretraining sampler order)
            out.append([int(t) for m in range(len(per_rank[0])) for p in per_rank for t in p[m]["tokens"][:, 0]])
        assert {s.position for s in streams} == {8 * steps}
        return out

    one = step_samples(1, 1)
    assert one[0] == list(range(8)) and one[2] == list(range(16, 24))
    assert step_samples(2, 1) == step_samples(2, 2) == step_samples(4, 2) == one
    with pytest.raises(ConfigError, match="train.global_batch_size"):
        GlobalBatchStream(data, 3, 8, 0, 2)
