import pytest

from corpusforge.errors import ConfigError
from training.presets import PRESETS, param_count, preset

B = 1e9
# the published figures: (total, non-embedding) for dense, (total, activated) for MoE
DENSE = {
    "qwen3-0.6b": (0.6, 0.44),
    "qwen3-1.7b": (1.7, 1.4),
    "qwen3-4b": (4.0, 3.6),
    "qwen3-8b": (8.2, 6.95),
    "qwen3-14b": (14.8, 13.2),
    "qwen3-32b": (32.8, 31.2),
}
MOE = {"qwen3-30b-a3b": (30.5, 3.3), "qwen3-235b-a22b": (235, 22)}


def close(a, b):
    return abs(a - b) / b < 0.02


@pytest.mark.parametrize("name", DENSE)
def test_dense_counts(name):
    pc = param_count(PRESETS[name])
    total, non_emb = DENSE[name]
    assert close(pc.total / B, total), pc
    assert close(pc.non_embedding / B, non_emb), pc


@pytest.mark.parametrize("name", MOE)
def test_moe_counts(name):
    pc = param_count(PRESETS[name])
    total, active = MOE[name]
    assert close(pc.total / B, total) and close(pc.active / B, active), pc


def test_architecture_facts():
    for name in [*DENSE, *MOE]:
        m = PRESETS[name]
        assert (m.vocab_size, m.kv_channels, m.rope_base, m.norm_eps) == (151_936, 128, 1e6, 1e-6)
        assert m.qk_norm and not m.qkv_bias
    assert [PRESETS[n].tie_embeddings for n in DENSE] == [True, True, True, False, False, False]
    moe = PRESETS["qwen3-30b-a3b"]
    assert (moe.num_experts, moe.moe_topk, moe.moe_load_balancing) == (128, 8, "global_aux_loss")


def test_transformer_config_and_count_match_instantiated():
    from training.model import build_model

    for name in ("tiny", "tiny-tied", "tiny-moe"):
        m = PRESETS[name]
        tc = m.transformer_config()
        assert tc.qk_layernorm and tc.gated_linear_unit and tc.normalization == "RMSNorm" and not tc.add_qkv_bias
        gpt = build_model(m, backend="sdpa")
        assert sum(p.numel() for p in gpt.parameters()) == param_count(m).total
    assert build_model(PRESETS["tiny-moe"]).config.moe_router_load_balancing_type == "global_aux_loss"


def test_bad_preset_fields():
    with pytest.raises(ConfigError, match="model.preset"):
        preset("qwen3-1t")
    with pytest.raises(ConfigError, match="num_query_groups"):
        preset("tiny", num_query_groups=3)
