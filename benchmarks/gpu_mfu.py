"""MFU and tokens/s of the trainer's train step on one device: Transformer Engine spec against the SDPA spec.

Prepared for a session that is lent a GPU (issue 19, item 5); NOT YET RUN ON A GPU here (no device was lent).
On a CPU it runs too (``--preset tiny --dtype float32 --backends sdpa``), which is how it was checked. The model
is built and stepped by the trainer's own pieces (`training.model.build_model`, `PretrainModule.train_step`:
Megatron schedule, DDP, distributed optimizer); MFU = FLOPs per token (`training.presets.flops_per_token`) x
tokens/s / the device's dense bf16 peak (`training.trainer.peak_flops_estimate`).

    python -m benchmarks.gpu_mfu --preset qwen3-0.6b --seq 4096 --mbs 4 --steps 20 --backends te sdpa
"""

from __future__ import annotations

import argparse
import json
import time


def run(backend: str, args) -> dict:
    import torch

    from training.model import build_model
    from training.parallel import Layout
    from training.presets import flops_per_token, preset
    from training.schedule import ScheduleConfig
    from training.trainer import OptimConfig, PretrainModule, peak_flops_estimate

    m = preset(args.preset)
    gpt = build_model(m, backend=backend, dtype=args.dtype, seed=0, layout=Layout())
    module = PretrainModule(m, gpt, OptimConfig(lr=1e-4), ScheduleConfig(peak=1e-4, min=1e-4).build(10**6),
                            layout=Layout(overlap_grad_reduce=torch.cuda.is_available()))  # fmt: skip
    g = torch.Generator().manual_seed(0)
    tokens = torch.randint(0, min(m.vocab_size, 151_669), (args.mbs, args.seq + 1), generator=g)
    batch = {
        "tokens": tokens[:, :-1],
        "labels": tokens[:, 1:],
        "loss_mask": torch.ones(args.mbs, args.seq),
        "position_ids": torch.arange(args.seq).expand(args.mbs, args.seq),
    }
    sync = torch.cuda.synchronize if torch.cuda.is_available() else (lambda: None)
    for i in range(args.warmup):
        module.train_step([batch] * args.accum, i)
    sync()
    t0 = time.perf_counter()
    for i in range(args.steps):
        loss = module.train_step([batch] * args.accum, args.warmup + i)["loss"]
    sync()
    dt = time.perf_counter() - t0
    tps = args.steps * args.accum * args.mbs * args.seq / dt
    peak = peak_flops_estimate()
    out = {"backend": backend, "preset": args.preset, "dtype": args.dtype, "tokens_per_s": tps,
           "mfu": flops_per_token(m, args.seq) * tps / peak, "peak_flops": peak, "loss": loss}  # fmt: skip
    if torch.cuda.is_available():
        out["device"] = torch.cuda.get_device_name()
        out["max_memory_gib"] = torch.cuda.max_memory_allocated() / 2**30
    del module, gpt
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="qwen3-0.6b")
    ap.add_argument("--dtype", default="bfloat16")
    ap.add_argument("--seq", type=int, default=4096)
    ap.add_argument("--mbs", type=int, default=4)
    ap.add_argument("--accum", type=int, default=1)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--backends", nargs="+", default=["te", "sdpa"])
    args = ap.parse_args()
    for backend in args.backends:
        print(json.dumps(run(backend, args)))


if __name__ == "__main__":
    main()
