"""A diverged ablation (NaN/inf loss) is marked failed with the step, never fitted."""

from __future__ import annotations

import json

from mixtures.plan import AblationConfig, write_plan
from mixtures.proxy import ProxyConfig, build_vocab
from mixtures.run import collect, run_one

PROXY = ProxyConfig(tokens=1024, seq_length=32, micro_batch_size=4, vocab=48, buckets=4, eval_tokens=256)


def test_nan_loss_is_a_failed_ablation(space, tmp_path):
    plan = tmp_path / "plan"
    write_plan(space, AblationConfig(count=1, corners=False), PROXY, plan, build_vocab(space, 48, 4))
    lr = {"peak": 1e30, "min": 0.0, "warmup_fraction": 0.0, "decay_fraction": 0.0}
    res = run_one(plan, "a0000", proxy_overrides={"lr": lr})
    assert res["status"] == "failed" and "non-finite" in res["reason"], res
    assert json.loads((plan / "ablations" / "a0000" / "proxy.json").read_text())["status"] == "failed"
    rows, failed = collect(plan)
    assert rows == [] and failed == 1
