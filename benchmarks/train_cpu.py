"""Training throughput on the CPU: our Megatron-Core trainer vs a plain transformers + torch AdamW loop.

Same Qwen3 config (``--preset``, default ``tiny``), batch, sequence length, fp32 and one thread on each side.
Method (`benchmarks/harness.py`): each side in its own child pinned to one CPU, a discarded warm-up run, then
``--runs`` runs interleaved with the other side; peak RSS sampled from the child's process tree (not
``ru_maxrss``). Start-up (imports, model build, the ``--warmup`` steps) is set apart from steady state with a
run of ``--tiny`` steps: steady tokens per CPU second = extra tokens over extra CPU seconds. In the child the
timed loop's own tokens/s (wall, after the warm-up steps) is kept too.

    python -m benchmarks.train_cpu [--steps 20] [--tiny 4] [--runs 3] [--batch 4] [--seq 256] [--json PATH]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from benchmarks.harness import Side, compare, pair_ratios, ratio_table, save, summarize

ROOT = Path(__file__).resolve().parent.parent
OURS, HF = "ours: Megatron-Core trainer", "transformers + AdamW"


def model_cfg(preset: str, vocab: int, seq: int):
    from training.presets import preset as named

    return named(preset, vocab_size=vocab, max_seq_length=max(512, seq))


def batches(vocab: int, batch: int, seq: int):
    import torch

    g = torch.Generator().manual_seed(0)
    return [torch.randint(0, vocab, (batch, seq + 1), generator=g) for _ in range(4)]


def side_ours(steps: int, preset: str, vocab: int, batch: int, seq: int, warmup: int) -> dict:
    """Our trainer's step (`PretrainModule.train_step`) ``warmup + steps`` times; units = tokens of ``steps``."""
    import torch

    torch.set_num_threads(1)
    from training.model import build_model
    from training.schedule import ScheduleConfig
    from training.trainer import OptimConfig, PretrainModule

    m = model_cfg(preset, vocab, seq)
    mod = PretrainModule(
        m,
        build_model(m, backend="sdpa"),
        OptimConfig(lr=1e-3),
        ScheduleConfig(peak=1e-3, min=1e-3, warmup_fraction=0, decay_fraction=0).build(10**6),
    )
    pos = torch.arange(seq).expand(batch, seq)
    data = [
        {"tokens": b[:, :-1], "labels": b[:, 1:], "loss_mask": torch.ones(batch, seq), "position_ids": pos}
        for b in batches(vocab, batch, seq)
    ]
    return timed(lambda i: mod.train_step([data[i % 4]], i)["loss"], steps, warmup, batch * seq)


def side_hf(steps: int, preset: str, vocab: int, batch: int, seq: int, warmup: int) -> dict:
    """A plain transformers Qwen3 + torch AdamW loop at the same config; units = tokens of ``steps``."""
    import torch
    import transformers

    torch.set_num_threads(1)
    from training.hf import hf_config

    cfg = hf_config(model_cfg(preset, vocab, seq))
    cfg.pop("architectures"), cfg.pop("model_type")
    torch.manual_seed(1234)
    model = transformers.Qwen3ForCausalLM(transformers.Qwen3Config(**cfg, attn_implementation="sdpa")).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.95), weight_decay=0.1)
    data = batches(vocab, batch, seq)

    def step(i):
        opt.zero_grad()
        loss = model(input_ids=data[i % 4][:, :-1], labels=data[i % 4][:, :-1]).loss  # HF shifts labels itself
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return float(loss.detach())

    return timed(step, steps, warmup, batch * seq)


def timed(step, steps: int, warmup: int, tokens_per_step: int) -> dict:
    """Warm-up steps, then ``steps`` timed steps; the loop's own tokens/s (wall) and the last loss."""
    loss = None
    for i in range(warmup):
        loss = step(i)
    start = time.perf_counter()
    for i in range(steps):
        loss = step(i)
    wall = time.perf_counter() - start
    return {"units": steps * tokens_per_step, "loop_tokens_per_s": steps * tokens_per_step / wall,
            "last_loss": float(loss)}  # fmt: skip


def sides(preset: str, vocab: int, batch: int, seq: int, warmup: int) -> list[Side]:
    def kwargs(steps: int) -> dict:
        return {"steps": steps, "preset": preset, "vocab": vocab, "batch": batch, "seq": seq, "warmup": warmup}

    return [Side(OURS, "benchmarks.train_cpu:side_ours", kwargs), Side(HF, "benchmarks.train_cpu:side_hf", kwargs)]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--preset", default="tiny")
    ap.add_argument("--vocab", type=int, default=4096)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--tiny", type=int, default=4, help="Steps of the start-up run (0: none).")
    ap.add_argument("--warmup", type=int, default=3, help="Untimed steps before the loop in every run.")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--workdir", type=Path, default=ROOT / "out" / "bench-train-cpu")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    print(f"{args.preset}, batch {args.batch} × {args.seq} tokens, {args.steps} steps (start-up run {args.tiny}); "
          f"load {os.getloadavg()[0]:.1f}", flush=True)  # fmt: skip
    tiny = args.tiny or None
    runs = compare(sides(args.preset, args.vocab, args.batch, args.seq, args.warmup), [args.steps],
                   args.workdir / "runs", args.runs, tiny=tiny)  # fmt: skip
    summary = summarize(runs, tiny=tiny)
    print(ratio_table(summary, args.steps, OURS, [HF], unit="tokens"))
    r = pair_ratios(summary, args.steps, OURS, HF)
    loop = {s: sorted(run.extra["loop_tokens_per_s"] for run in runs if run.side == s and run.size == args.steps)
            for s in (OURS, HF)}  # fmt: skip
    print(f"ours / transformers: {r['text']}; whole-run CPU {r['whole_run_cpu']:.2f}×, wall {r['wall']:.2f}×, "
          f"peak RSS {r['rss']:.2f}×")  # fmt: skip
    for s, v in loop.items():
        print(f"{s}: timed loop {v[len(v) // 2]:,.0f} tokens/s wall (range {v[0]:,.0f}–{v[-1]:,.0f})")
    if args.json:
        save(args.json, runs, summary, config=vars(args) | {"workdir": str(args.workdir), "json": str(args.json)},
             ratio=r, loop_tokens_per_s=loop)  # fmt: skip


if __name__ == "__main__":
    main()
