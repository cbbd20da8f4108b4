"""Training throughput on the CPU: our Megatron-Core trainer vs a plain transformers + torch AdamW loop.

Same tiny Qwen3 config, batch, sequence length, fp32 and thread count; each side runs in its own child process
(peak RSS measured there). Prints tokens/s for both, the ratio (ours / transformers) and peak RSS.

    .venv/bin/python -m benchmarks.train_cpu --steps 20 --batch 4 --seq 256
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import resource
import time


def model_cfg(args):
    from training.presets import preset

    return preset(args.preset, vocab_size=args.vocab, max_seq_length=max(512, args.seq))


def batches(args):
    import torch

    g = torch.Generator().manual_seed(0)
    return [torch.randint(0, args.vocab, (args.batch, args.seq + 1), generator=g) for _ in range(4)]


def ours(args, q):
    import torch

    torch.set_num_threads(args.threads)
    from training.model import build_model
    from training.schedule import ScheduleConfig
    from training.trainer import OptimConfig, PretrainModule

    m = model_cfg(args)
    mod = PretrainModule(
        m,
        build_model(m, backend="sdpa"),
        OptimConfig(lr=1e-3),
        ScheduleConfig(peak=1e-3, min=1e-3, warmup_fraction=0, decay_fraction=0).build(10**6),
    )
    pos = torch.arange(args.seq).expand(args.batch, args.seq)
    data = [
        {"tokens": b[:, :-1], "labels": b[:, 1:], "loss_mask": torch.ones(args.batch, args.seq), "position_ids": pos}
        for b in batches(args)
    ]
    timed(lambda i: mod.train_step([data[i % 4]], i)["loss"], args, q)


def hf(args, q):
    import torch
    import transformers

    torch.set_num_threads(args.threads)
    from training.hf import hf_config

    cfg = hf_config(model_cfg(args))
    cfg.pop("architectures"), cfg.pop("model_type")
    torch.manual_seed(1234)
    model = transformers.Qwen3ForCausalLM(transformers.Qwen3Config(**cfg, attn_implementation="sdpa")).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.95), weight_decay=0.1)
    data = batches(args)

    def step(b):
        opt.zero_grad()
        loss = model(input_ids=b[:, :-1], labels=b[:, :-1]).loss  # HF shifts labels itself
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return float(loss.detach())

    timed(lambda i: step(data[i % 4]), args, q)


def timed(step, args, q) -> None:
    """Warm up, time ``args.steps`` steps, report tokens/s, the last loss and this process's peak RSS."""
    for i in range(args.warmup):
        step(i)
    t = time.perf_counter()
    for i in range(args.steps):
        loss = step(i)
    dt = time.perf_counter() - t
    q.put(
        {
            "tokens_per_s": args.steps * args.batch * args.seq / dt,
            "last_loss": loss,
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        }
    )


def run(target, args):
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=target, args=(args, q))
    p.start()
    out = q.get()
    p.join()
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="tiny")
    ap.add_argument("--vocab", type=int, default=4096)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    result = {"config": vars(args), "ours": run(ours, args), "transformers": run(hf, args)}
    result["ratio"] = result["ours"]["tokens_per_s"] / result["transformers"]["tokens_per_s"]
    if args.json:
        print(json.dumps(result, indent=2))
        return
    for side in ("ours", "transformers"):
        r = result[side]
        print(
            f"{side:>12}: {r['tokens_per_s']:9.0f} tokens/s  peak RSS {r['peak_rss_mib']:7.0f} MiB  loss {r['last_loss']:.3f}"
        )
    print(f"{'ratio':>12}: {result['ratio']:.2f} (ours / transformers; target >= 1.0)")


if __name__ == "__main__":
    main()
