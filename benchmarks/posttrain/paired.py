"""Paired comparison of two `corpusforge train eval --out` results on the same prompts: accuracy change,
McNemar's exact p-value and a bootstrap 95% interval (`training.posttrain.evaluate.paired_test`).

    python benchmarks/posttrain/paired.py BEFORE.json AFTER.json [--out RESULT.json]"""

import json
import sys
from pathlib import Path

from training.posttrain.evaluate import paired_test

before, after = (json.loads(Path(p).read_text())["accuracy"]["correct"] for p in sys.argv[1:3])
result = {"before": sys.argv[1], "after": sys.argv[2]} | paired_test(before, after)
text = json.dumps(result, indent=2)
if "--out" in sys.argv:
    Path(sys.argv[sys.argv.index("--out") + 1]).write_text(text + "\n")
print(text)
