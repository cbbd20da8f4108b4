"""The second GRPO task: "What is 7 - 15? Reply with the number only. /no_think" with operands 0-20 (all 441
questions). On 0-12 operands SmolLM2-135M-Instruct gets +/* mostly right but only ~30% of the differences, so the
differences are where a verifiable reward has something to teach. A seeded shuffle holds out 300 (evaluation
only); GRPO trains on the other 141."""

import random
import sys

from training.posttrain.tasks import write_jsonl

out = sys.argv[1] if len(sys.argv) > 1 else "out/posttrain"
rows = [
    {
        "messages": [{"role": "user", "content": f"What is {a} - {b}? Reply with the number only. /no_think"}],
        "reference": {"answer": str(a - b)},
    }
    for a in range(21)
    for b in range(21)
]
random.Random(99).shuffle(rows)
write_jsonl(rows[:300], f"{out}/sub20-heldout.jsonl")
write_jsonl(rows[300:], f"{out}/sub20-train.jsonl")
print(f"held-out 300, train {len(rows) - 300}")
