"""The stronger teacher's SFT set for the distillation experiment (BENCHMARKS.md, "Distillation with a stronger
teacher"): the arith12 TRAIN split's prompts with their computed answers, passed through the project's SFT data
builder (`synth.sft_data.build`: verified against the reference, repetition and decontamination filters), so
the teacher learns only checked answers. The 300 held-out prompts are never read.

    python benchmarks/posttrain/arith12_teacher_data.py out/posttrain/arith12-train.jsonl out/posttrain/arith12-teacher-sft.jsonl"""

import json
import sys
from pathlib import Path

from synth.sft_data import build

src, out = Path(sys.argv[1]), Path(sys.argv[2])
pairs = out.with_name(out.stem + "-pairs.jsonl")
rows = [json.loads(line) for line in src.read_text().splitlines() if line.strip()]
pairs.write_text(
    "".join(
        json.dumps({"query": r["messages"][-1]["content"], "response": r["reference"]["answer"], "answer": r["reference"]["answer"]}) + "\n"  # fmt: skip
        for r in rows
    )
)
print(json.dumps(build(pairs, out)))
