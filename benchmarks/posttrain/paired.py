"""Paired comparison of two `corpusforge train eval --out` results on the same prompts: accuracy change,
McNemar's exact p-value and a bootstrap 95% interval (`training.posttrain.evaluate.paired_test`); ``--budget N``
compares their results at that thinking budget. With
``--data PROMPTS.jsonl --show N`` it also prints N prompts whose grade changed, both answers side by side, to read
them for a reward hack (needs eval results that kept their answers).

    python benchmarks/posttrain/paired.py BEFORE.json AFTER.json [--budget N] [--out RESULT.json] [--data P.jsonl --show N]

With ``--budgets`` and one result of `train eval --budget ...`, each pair of adjacent budgets of that model is
compared the same way (the smaller budget as "before"): what a monotone budget curve is tested with.

    python benchmarks/posttrain/paired.py --budgets RESULT.json [--out PAIRS.json]"""

import json
import sys
from itertools import pairwise
from pathlib import Path

from training.posttrain.evaluate import paired_test
from training.posttrain.tasks import read_prompts


def arg(name):
    return sys.argv[sys.argv.index(name) + 1] if name in sys.argv else None


if sys.argv[1] == "--budgets":
    budgets = json.loads(Path(sys.argv[2]).read_text())["budgets"]
    xs = sorted(budgets, key=int)
    result = {"model": sys.argv[2], "pairs": [
        {"budgets": [int(a), int(b)]} | paired_test(budgets[a]["correct"], budgets[b]["correct"]) for a, b in pairwise(xs)
    ]}  # fmt: skip
    result["monotone"] = all(p["after"] >= p["before"] for p in result["pairs"])
else:
    pick = (lambda d: d["budgets"][arg("--budget")]) if arg("--budget") else (lambda d: d["accuracy"])
    before, after = (pick(json.loads(Path(p).read_text())) for p in sys.argv[1:3])
    result = {"before": sys.argv[1], "after": sys.argv[2]} | paired_test(before["correct"], after["correct"])
text = json.dumps(result, indent=2)
if arg("--out"):
    Path(arg("--out")).write_text(text + "\n")
print(text)
if arg("--show"):
    records = read_prompts(arg("--data"))[0]
    pairs = zip(records, before["correct"], after["correct"], before["answers"], after["answers"], strict=True)
    changed = [(r, b, a, tb, ta) for r, b, a, tb, ta in pairs if b != a]
    for r, _b, a, tb, ta in changed[: int(arg("--show"))]:
        q = r["messages"][-1]["content"].split("?")[0]
        print(f"{'gained' if a else 'lost'}: {q}? (answer {r['reference'].get('answer')}) {tb!r} -> {ta!r}")
