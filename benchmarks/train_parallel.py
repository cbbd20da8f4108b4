"""Training past one process on the CPU, and the data loader against the trainer's consumption.

1. Trainer tokens/s at DP=1 and DP=2 (``torchrun --nproc-per-node N``, gloo, the same global batch): the real
   ``pretrain`` path (Megatron schedule, DDP, distributed optimizer), median over the steps after a warm-up;
   and tokens per CPU-second over all ranks (steadier than wall time on a shared machine).
2. The loader: shards put in a real S3-compatible server (moto on 127.0.0.1), fetched into the local shard
   cache (MB/s), then ``GlobalBatchStream`` reading global batches from the cached shards (tokens/s), against
   the trainer's DP=1 consumption: the ratio is how far ahead of the trainer the loader runs.

    nice -n 10 .venv/bin/python -m benchmarks.train_parallel --steps 12 --seq 256 --gbs 8
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def recipe(shards: str, out: Path, args) -> dict:
    return {
        "name": "bench",
        "output": str(out),
        "shards": shards,
        "model": {"preset": args.preset},
        "train": {"micro_batch_size": args.mbs, "global_batch_size": args.gbs, "progress": False,
                  "tensorboard": False, "save_every": 0, "shard_cache": None},  # fmt: skip
        "stages": [{"name": "s1", "seq_length": args.seq, "tokens": args.seq * args.gbs * args.steps}],
        "export": {"enabled": False},
    }


def worker(spec: str) -> None:
    """Under torchrun: one pretrain run; rank 0 prints the median tokens/s of the steps after the warm-up."""
    import warnings

    warnings.filterwarnings("ignore")
    import torch

    torch.set_num_threads(1)
    from training.pretrain import PretrainRecipe, pretrain

    job = json.loads(Path(spec).read_text())
    r = PretrainRecipe.parse(job["recipe"])
    pretrain(r)
    if torch.distributed.get_rank() == 0:
        rows = [json.loads(x) for x in (Path(r.output) / "s1" / "metrics.jsonl").read_text().splitlines()]
        steady = rows[job["warmup"]:]
        world = torch.distributed.get_world_size()
        cpu = sum(m["step_cpu_s"] for m in steady) * world  # every rank does the same work as rank 0
        print("RESULT " + json.dumps({"tokens_per_s": statistics.median(m["tokens_per_s"] for m in steady),
                                      "tokens_per_cpu_s": sum(m["tokens"] for m in steady) / cpu,
                                      "loss": rows[-1]["loss"], "steps": len(rows)}))  # fmt: skip
    torch.distributed.destroy_process_group()


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def trainer_rate(nproc: int, shards: str, work: Path, args) -> dict:
    spec = work / f"dp{nproc}.json"
    spec.write_text(json.dumps({"recipe": recipe(shards, work / f"dp{nproc}", args), "warmup": args.warmup}))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(nproc), "--master-addr",
           "127.0.0.1", "--master-port", str(_port()), "-m", "benchmarks.train_parallel", "--worker", str(spec)]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    out = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    lines = [x for x in out.stdout.splitlines() if x.startswith("RESULT ")]
    if out.returncode or not lines:
        raise SystemExit(f"DP={nproc} run failed: {out.stderr[-2000:]}")
    return json.loads(lines[-1][len("RESULT "):])


def loader_rate(local_shards: Path, work: Path, args) -> dict:
    """moto server -> shard cache (MB/s) -> GlobalBatchStream over the cached shards (tokens/s)."""
    import warnings

    warnings.filterwarnings("ignore")
    import fsspec
    import torch.distributed as dist

    from tests.s3_server import S3Server, s3_environment
    from training.data import GlobalBatchStream, build_datasets, load_blend
    from training.shardcache import ShardCache, ShardCacheSettings

    server = S3Server()
    server.start()
    try:
        with s3_environment(server.endpoint):
            bucket = server.bucket()
            fsspec.filesystem("s3").put(str(local_shards), f"{bucket}/shards".split("://", 1)[1], recursive=True)
            blend = load_blend(f"{bucket}/shards", None)
            cache = ShardCache(ShardCacheSettings(dir=str(work / "cache"), max_bytes=10**10))
            blend = cache.localize_blend(blend)
            if not dist.is_initialized():
                dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{_port()}", rank=0, world_size=1)
            n = args.loader_steps * args.gbs
            train, _ = build_datasets(blend, seq_length=args.seq, train_samples=n, valid_samples=0, split="100,0,0",
                                      index_cache=str(work / "idx"))  # fmt: skip
            stream = GlobalBatchStream(train, args.mbs, args.gbs)
            stream.next_step()  # warm
            t0 = time.perf_counter()
            tokens = 0
            for _ in range(args.loader_steps):
                tokens += sum(int(b["tokens"].numel()) for b in stream.next_step())
            dt = time.perf_counter() - t0
    finally:
        server.stop()
    return {"fetch_mb_per_s": cache.stats.fetch_mb_per_s, "fetched_bytes": cache.stats.fetched_bytes,
            "tokens_per_s": tokens / dt}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--worker")
    ap.add_argument("--preset", default="tiny")
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--mbs", type=int, default=2)
    ap.add_argument("--gbs", type=int, default=8)
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--loader-steps", type=int, default=200)
    args = ap.parse_args()
    if args.worker:
        return worker(args.worker)
    from tests.training.factory import write_shards

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        shards = write_shards(work / "shards", docs=400, long_docs=0)
        rates = {n: trainer_rate(n, str(shards), work, args) for n in (1, 2)}
        loader = loader_rate(shards, work, args)
    print(f"model {args.preset}, seq {args.seq}, global batch {args.gbs} (micro {args.mbs}), {args.steps} steps")
    for n, r in rates.items():
        print(f"trainer DP={n}: {r['tokens_per_s']:.0f} tokens/s wall (median after {args.warmup} warm-up steps), "
              f"{r['tokens_per_cpu_s']:.0f} tokens per CPU-second")  # fmt: skip
    print(f"shard cache fill from S3 (moto, 127.0.0.1): {loader['fetch_mb_per_s']:.1f} MB/s "
          f"({loader['fetched_bytes'] / 2**20:.2f} MiB)")  # fmt: skip
    ratio = loader["tokens_per_s"] / rates[1]["tokens_per_s"]
    print(f"loader: {loader['tokens_per_s']:.0f} tokens/s = {ratio:.0f}x the DP=1 trainer's consumption")


if __name__ == "__main__":
    main()
