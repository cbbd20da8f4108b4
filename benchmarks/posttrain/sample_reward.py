"""Before a GRPO run: the start model's sampled reward on a few training prompts at several temperatures, and
how many groups have mixed outcomes (a group whose samples all score the same carries no GRPO signal).

    python benchmarks/posttrain/sample_reward.py DATA.jsonl --prompts 20 --group 16 --temps 0.3 0.5 0.7 [--out R.json]
"""

import argparse
import json
from pathlib import Path

from training.posttrain.chat import generation_prompt
from training.posttrain.generate import TransformersBackend
from training.posttrain.models import load_transformers
from training.posttrain.rewards import RewardRunner, load_reward
from training.posttrain.tasks import read_prompts

ap = argparse.ArgumentParser()
ap.add_argument("data")
ap.add_argument("--model", default="smollm2")
ap.add_argument("--reward", default="training.posttrain.rewards:last_number")
ap.add_argument("--prompts", type=int, default=20)
ap.add_argument("--group", type=int, default=16)
ap.add_argument("--temps", type=float, nargs="+", default=[0.3, 0.5, 0.7])
ap.add_argument("--max-new-tokens", type=int, default=12)
ap.add_argument("--out")
args = ap.parse_args()

records = read_prompts(args.data)[0][: args.prompts]
model, tok = load_transformers(args.model)
backend = TransformersBackend(model, tok, batch_size=64)
runner = RewardRunner(load_reward(args.reward))
prompts = [generation_prompt(r["messages"]) for r in records]
refs = [r["reference"] for r in records]
greedy = backend.complete(prompts, args.max_new_tokens)
g_scores = runner.score(prompts, [c.text for c in greedy], refs)
result = {"data": args.data, "prompts": len(records), "group": args.group, "greedy": sum(g_scores) / len(records)}
for r, c, s in list(zip(records, greedy, g_scores, strict=True))[:8]:
    print(f"{r['messages'][0]['content'][:30]!r} ref {r['reference']['answer']} -> {c.text!r} {s}")
for t in args.temps:
    many = [p for p in prompts for _ in range(args.group)]
    outs = backend.complete(many, args.max_new_tokens, temperature=t, seed=7)
    scores = runner.score(many, [c.text for c in outs], [r for r in refs for _ in range(args.group)])
    groups = [scores[i : i + args.group] for i in range(0, len(scores), args.group)]
    mixed = sum(0 < sum(g) < len(g) for g in groups)
    result[str(t)] = {"mean_reward": sum(scores) / len(scores), "mixed_groups": mixed,
                      "group_means": [sum(g) / len(g) for g in groups]}
    print(t, json.dumps({k: v for k, v in result[str(t)].items() if k != "group_means"}), flush=True)
runner.close()
if args.out:
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
print(json.dumps({k: v for k, v in result.items() if not isinstance(v, dict)}))
