"""The pre-registered pick among candidate runs: the highest accuracy on a validation set, ties to the first
listed (list the candidates from the smallest change to the largest, e.g. by learning rate, so a tie keeps the
milder one). Reads `corpusforge train eval --out` results; ``--budget N`` reads their figures at that budget.

    python benchmarks/posttrain/pick.py VAL_A.json VAL_B.json ... [--budget N]"""

import json
import sys
from pathlib import Path

args = sys.argv[1:]
budget = args[args.index("--budget") + 1] if "--budget" in args else None
files = [a for i, a in enumerate(args) if a != "--budget" and (i == 0 or args[i - 1] != "--budget")]
rows = []
for f in files:
    r = json.loads(Path(f).read_text())
    r = r["budgets"][budget] if budget else r
    rows.append({"result": f, "accuracy": r["accuracy"], "n": r["n"]})
best = max(rows, key=lambda row: row["accuracy"])  # max keeps the first of equals
print(json.dumps({"candidates": rows, "picked": best["result"]}, indent=2))
