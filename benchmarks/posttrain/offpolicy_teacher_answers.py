"""The off-policy arm's teacher answers, written where `corpusforge train distill` (off_policy) reuses them, with
the CPU-seconds they cost: the teacher's share of that arm's compute (BENCHMARKS.md, "Distillation with a
stronger teacher"). Same call as the distill command makes (`training.posttrain.distill.teacher_sft_records`).

    python benchmarks/posttrain/offpolicy_teacher_answers.py recipes/distill-smollm2-offpolicy-strong.yaml [BATCH]

BATCH (default 8, the distill command's): prompts generated together; long thoughts go faster in bigger batches."""

import json
import sys
import time
from pathlib import Path

import yaml

from training.posttrain.common import write_json
from training.posttrain.distill import DistillRecipe, load_teacher, teacher_sft_records
from training.posttrain.generate import TransformersBackend
from training.posttrain.tasks import read_prompts, write_jsonl

recipe = DistillRecipe.parse(yaml.safe_load(Path(sys.argv[1]).read_text()))
d, out = recipe.distill, Path(recipe.output)
records, _ = read_prompts(recipe.data)
teacher, tok = load_teacher(d.teacher)
cpu0, wall0 = time.process_time(), time.perf_counter()
batch = int(sys.argv[2]) if len(sys.argv) > 2 else 8
rows, skips = teacher_sft_records(TransformersBackend(teacher, tok, batch_size=batch), records, d.max_new_tokens, d.thinking_budget, recipe.train.seed, tuple(d.modes))  # fmt: skip
cost = {"batch_size": batch, "answers": len(rows), "skips": skips, "cpu_s": time.process_time() - cpu0, "wall_s": time.perf_counter() - wall0}
write_jsonl(rows, out / "teacher_sft.jsonl")
write_json(out / "teacher_skips.json", skips)
write_json(out / "teacher_cost.json", cost)
print(json.dumps(cost))
