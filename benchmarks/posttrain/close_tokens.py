"""Where a student and its teacher part at the end of a thought: the student samples answers (T 1, the on-policy
distillation's own prompts and generator), and for each sampled token from ``</think>`` on this prints the
teacher's and the student's probability of it (BENCHMARKS.md, "On-policy distillation with long answers, each arm
at its best learning rate").

    python benchmarks/posttrain/close_tokens.py STUDENT TEACHER PROMPTS.jsonl [N] [--out RESULT.json]"""

import json
import sys
from pathlib import Path

import torch

from training.posttrain.chat import answer_prompt
from training.posttrain.distill import load_teacher
from training.posttrain.generate import TransformersBackend
from training.posttrain.grpo import rollout_batch
from training.posttrain.models import load_policy, megatron_logits

args = sys.argv[1:]
out = args.pop(args.index("--out") + 1) if "--out" in args else None
args = [a for a in args if a != "--out"]
student = load_policy(args[0], None)
teacher, _ = load_teacher(args[1])
tok = student.tokenizer
records = [json.loads(x) for x in Path(args[2]).read_text().splitlines()][: int(args[3]) if len(args) > 3 else 8]
prompts = [tok.encode(answer_prompt(r["messages"], False, True), add_special_tokens=False) for r in records]
completions = TransformersBackend(student.generator, tok, batch_size=64).generate_ids(prompts, 72, 1.0, 7)
tokens, _, _ = rollout_batch(prompts, completions, tok.pad_token_id or 0)
with torch.no_grad():
    t = torch.softmax(teacher(tokens).logits.float(), -1)
    s = torch.softmax(megatron_logits(student.gpt.eval(), tokens).float(), -1)
rows = []
for i, (p, c) in enumerate(zip(prompts, completions, strict=True)):
    pieces = tok.convert_ids_to_tokens(c)
    start = next((k for k, x in enumerate(pieces) if x == "</"), None)
    if start is None:
        rows.append({"sample": i, "closed": False})
        continue
    # the logits at position len(p) + k - 1 predict completion token k
    steps = [{"token": pieces[k], "teacher": round(float(t[i, len(p) + k - 1, c[k]]), 3),
              "student": round(float(s[i, len(p) + k - 1, c[k]]), 3)} for k in range(start, min(len(c), start + 6))]  # fmt: skip
    rows.append({"sample": i, "closed": True, "from_close": steps})
    print(i, " | ".join(f"{x['token']!r} teacher {x['teacher']:.3f} student {x['student']:.3f}" for x in steps))
if out:
    Path(out).write_text(json.dumps({"student": args[0], "teacher": args[1], "samples": rows}, indent=1) + "\n")
