"""Ablations are independent restartable tasks: a run killed with SIGKILL redoes only unfinished ones, a worker
killed mid-task is marked failed (not retried, excluded from the fit with a count), `--emit-commands` gives one
command per unfinished ablation. Real proxies: Megatron-Core GPTModel on CPU, a few steps each."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

from mixtures.plan import AblationConfig, write_plan
from mixtures.proxy import ProxyConfig, build_vocab
from mixtures.run import collect, emit_commands, pending, result_path, run_all

PROXY = ProxyConfig(tokens=1024, seq_length=32, micro_batch_size=4, vocab=48, buckets=4, eval_tokens=256)


def _wait_for(pred, timeout=240):
    t0 = time.time()
    while not pred():
        if time.time() - t0 > timeout:
            raise TimeoutError("condition not reached")
        time.sleep(0.2)


def _training(abl: Path) -> bool:
    return (abl / "proxy.work" / "blend" / "blend.yaml").is_file()


def test_kill_resume_and_failed_marking(space, tmp_path):
    plan = tmp_path / "plan"
    lut = build_vocab(space, PROXY.vocab, PROXY.buckets)
    write_plan(space, AblationConfig(count=2, corners=False), PROXY, plan, lut)
    assert pending(plan) == ["a0000", "a0001", "natural"]
    cmds = emit_commands(plan)
    assert len(cmds) == 3 and cmds[0].endswith("--only a0000 --tag proxy")

    # A: the whole run killed with SIGKILL while the first ablation trains: nothing is marked done
    code = f"from mixtures.run import run_all; run_all({str(plan)!r}, 1, progress=False)"
    runner = subprocess.Popen([sys.executable, "-c", code], start_new_session=True, env=os.environ.copy())
    _wait_for(lambda: _training(plan / "ablations" / "a0000"))
    os.killpg(runner.pid, signal.SIGKILL)
    runner.wait()
    assert pending(plan) == ["a0000", "a0001", "natural"]

    # B: rerun; its last worker is killed mid-task and marked failed, the others finish
    counts = {}
    thread = threading.Thread(target=lambda: counts.update(run_all(plan, 1, progress=False)))
    thread.start()
    _wait_for(lambda: _training(plan / "ablations" / "natural"))
    import psutil

    workers = [p for p in psutil.Process().children(recursive=True) if "mixtures.worker" in " ".join(p.cmdline())]
    assert len(workers) == 1 and "natural" in workers[0].cmdline()
    workers[0].send_signal(signal.SIGKILL)
    thread.join(300)
    assert counts == {"ok": 2, "failed": 1, "skipped": 0}
    failed = json.loads(result_path(plan / "ablations" / "natural").read_text())
    assert failed["status"] == "failed" and "killed by signal 9" in failed["reason"]
    rows, n_failed = collect(plan)
    assert [r["id"] for r in rows] == ["a0000", "a0001"] and n_failed == 1
    for r in rows:
        assert r["status"] == "ok" and all(np.isfinite(list(r["targets"].values())))
        assert r["train_tokens"] >= PROXY.tokens and r["peak_rss_mib"] > 0
    assert pending(plan) == [] and run_all(plan, 1, progress=False) == {"ok": 0, "failed": 0, "skipped": 3}
