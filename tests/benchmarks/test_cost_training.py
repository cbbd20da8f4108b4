"""The training-side cost model's arithmetic, against figures worked out by hand (Qwen3-0.6B)."""

import pytest

from benchmarks.cost_training import rows


def test_qwen3_0_6b_row_by_hand():
    row = next(r for r in rows(mfu=0.4, tokens=36e12, gpus=2048, seq=4096, peak=989e12) if r["preset"] == "qwen3-0.6b")
    # tied embeddings: 6 x 596,049,920 parameters + attention 6 x 28 layers x 16 heads x 128 x 4,096 = 4.9856e9
    flops = 6 * 596_049_920 + 6 * 28 * 16 * 128 * 4096
    assert row["gpu_hours"] == pytest.approx(36e12 * flops / (0.4 * 989e12) / 3600)  # 126,026
    assert round(row["gpu_hours"]) == 126_026
    assert row["weights_grads_gib"] == pytest.approx(6 * 596_049_920 / 2**30)  # bf16 weights + fp32 grads
    assert row["optimizer_gib"] == pytest.approx(12 * 596_049_920 / 2048 / 2**30)  # sharded over 2,048 DP ranks
    assert row["ckpt_gib"] == pytest.approx(14 * 596_049_920 / 2**30)
    assert row["tokens_per_s_gpu"] == pytest.approx(0.4 * 989e12 / flops)
    assert row["mb_per_s_cluster"] == pytest.approx(row["tokens_per_s_gpu"] * 2048 * 4 / 1e6)
