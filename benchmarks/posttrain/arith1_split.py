"""The GRPO experiment's task: one-digit sums and differences. Held-out: `train task` seed 99 (64 prompts, the
set SmolLM2-135M-Instruct was measured on); train: every other one-digit question (no overlap)."""

import sys

from training.posttrain.tasks import arithmetic, write_jsonl

out = sys.argv[1] if len(sys.argv) > 1 else "out/posttrain"
held = arithmetic(64, seed=99, digits=1, ops="+-")
write_jsonl(held, f"{out}/arith1-heldout.jsonl")
seen = {r["messages"][0]["content"] for r in held}
train = []
for a in range(1, 10):
    for b in range(1, 10):
        for op in "+-":
            q = f"What is {a} {op} {b}? Reply with the number only. /no_think"
            if q not in seen:
                value = a + b if op == "+" else a - b
                train.append({"messages": [{"role": "user", "content": q}], "reference": {"answer": str(value)}})
write_jsonl(train, f"{out}/arith1-train.jsonl")
print(f"train {len(train)} held-out {len(held)} ({len(seen)} distinct)")
