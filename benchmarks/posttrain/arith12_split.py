"""The GRPO and distillation experiments' task: "What is 7 * 12? Reply with the number only. /no_think" with
operands 0-12 and +, -, * (all 507 questions; one-digit +/- alone has only 162, too few for a held-out set that
separates a few points). A seeded shuffle holds out 300 (evaluation only); GRPO trains on the other 207."""

import random
import sys

from training.posttrain.tasks import write_jsonl

out = sys.argv[1] if len(sys.argv) > 1 else "out/posttrain"
rows = []
for a in range(13):
    for b in range(13):
        for op in "+-*":
            value = {"+": a + b, "-": a - b, "*": a * b}[op]
            q = f"What is {a} {op} {b}? Reply with the number only. /no_think"
            rows.append({"messages": [{"role": "user", "content": q}], "reference": {"answer": str(value)}})
random.Random(99).shuffle(rows)
write_jsonl(rows[:300], f"{out}/arith12-heldout.jsonl")
write_jsonl(rows[300:], f"{out}/arith12-train.jsonl")
print(f"held-out 300, train {len(rows) - 300}")
