"""The training side of the cost model (docs/cost-model-training.md): per preset, a 36T-token run's GPU-hours at a
stated MFU, memory per GPU for a chosen layout, checkpoint size, and the token rate the data side must feed.

Inputs are the presets' shapes (`training.presets.param_count`, `flops_per_token`), the GPU's dense bf16 peak,
and two figures measured here: 16.9 bytes per parameter in a sharded fp32 checkpoint (weights + Adam's
fp32 copy and moments: the tiny preset's step_6, 2,770,140 bytes for 164,224 parameters), and the loader's
tokens/s (benchmarks/train_parallel.py).

    .venv/bin/python -m benchmarks.cost_training --mfu 0.40 --tokens 36e12 --gpus 2048
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

H100_BF16 = 989e12  # dense bf16 FLOP/s (H100/H200 SXM)
GIB = 2**30


@dataclass(frozen=True)
class Plan:
    tp: int
    pp: int
    ep: int
    mbs: int


#: one layout per preset for 80 GB GPUs at sequence length 4,096 (TP within a node, SP on whenever TP > 1)
LAYOUTS = {
    "qwen3-0.6b": Plan(1, 1, 1, 4),
    "qwen3-1.7b": Plan(1, 1, 1, 2),
    "qwen3-4b": Plan(2, 1, 1, 2),
    "qwen3-8b": Plan(2, 1, 1, 1),
    "qwen3-14b": Plan(4, 1, 1, 1),
    "qwen3-32b": Plan(8, 2, 1, 1),
    "qwen3-30b-a3b": Plan(2, 1, 8, 1),
    "qwen3-235b-a22b": Plan(4, 8, 8, 1),
}


def rows(mfu: float, tokens: float, gpus: int, seq: int, peak: float):
    from training.presets import PRESETS, flops_per_token, param_count

    for name, plan in LAYOUTS.items():
        m = PRESETS[name]
        pc = param_count(m)
        fpt = flops_per_token(m, seq)
        gpu_hours = tokens * fpt / (mfu * peak) / 3600
        expert = m.num_layers * m.num_experts * 3 * m.hidden_size * m.moe_ffn_hidden_size if m.is_moe else 0
        dense = pc.total - expert
        dp = gpus // (plan.tp * plan.pp)
        edp = max(1, gpus // (plan.tp * plan.ep * plan.pp))
        local_dense, local_expert = dense / (plan.tp * plan.pp), expert / (plan.tp * plan.ep * plan.pp)
        # bf16 weights (2 B) + fp32 grad buffer (4 B) per local parameter; the distributed optimizer's fp32 main
        # copy + Adam moments (12 B) sharded over the data-parallel ranks of each parameter
        weights_grads = 6 * (local_dense + local_expert)
        optimizer = 12 * (local_dense / dp + local_expert / edp)
        # activations (Korthikanti et al. 2022, flash attention, TP+SP): ~34 s b h bytes per layer / TP; 1F1B
        # keeps PP micro-batches in flight on the first stage = all L layers' worth
        act = 34 * seq * plan.mbs * m.hidden_size * m.num_layers / plan.tp
        ckpt = 14 * pc.total  # bf16 weights + fp32 main copy + two fp32 moments
        tok_per_gpu = mfu * peak / fpt
        yield {
            "preset": name,
            "params": pc.total,
            "active": pc.active,
            "gpu_hours": gpu_hours,
            "days": gpu_hours / gpus / 24,
            "layout": f"TP{plan.tp} PP{plan.pp} EP{plan.ep} DP{dp}",
            "weights_grads_gib": weights_grads / GIB,
            "optimizer_gib": optimizer / GIB,
            "activations_gib": act / GIB,
            "ckpt_gib": ckpt / GIB,
            "tokens_per_s_gpu": tok_per_gpu,
            "tokens_per_s_cluster": tok_per_gpu * gpus,
            "mb_per_s_cluster": tok_per_gpu * gpus * 4 / 1e6,  # int32 tokens (vocabulary > 65,536)
        }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mfu", type=float, default=0.40)
    ap.add_argument("--tokens", type=float, default=36e12)
    ap.add_argument("--gpus", type=int, default=2048)
    ap.add_argument("--seq", type=int, default=4096)
    ap.add_argument("--peak", type=float, default=H100_BF16)
    args = ap.parse_args()
    print(f"{args.tokens:.3g} tokens at seq {args.seq}, MFU {args.mfu:.0%} of {args.peak / 1e12:.0f} TFLOP/s, "
          f"{args.gpus} GPUs")  # fmt: skip
    print("| preset | params (active) | GPU-hours | days | layout | weights+grads GiB/GPU | optimizer GiB/GPU "
          "| activations GiB/GPU | checkpoint GiB | tokens/s per GPU | cluster tokens/s (MB/s) |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows(args.mfu, args.tokens, args.gpus, args.seq, args.peak):
        print(f"| {r['preset']} | {r['params'] / 1e9:.2f}B ({r['active'] / 1e9:.2f}B) | {r['gpu_hours']:,.0f} | "
              f"{r['days']:.1f} | {r['layout']} | {r['weights_grads_gib']:.1f} | {r['optimizer_gib']:.2f} | "
              f"{r['activations_gib']:.1f} | {r['ckpt_gib']:,.0f} | {r['tokens_per_s_gpu']:,.0f} | "
              f"{r['tokens_per_s_cluster'] / 1e6:.1f}M ({r['mb_per_s_cluster']:.0f}) |")  # fmt: skip


if __name__ == "__main__":
    main()
