"""How good is the default teacher? SmolLM2-135M (score mode) against human TweetEval toxicity labels.

Raw and calibrated log-likelihood answers on a balanced sample of the validation tweets; needs the JSONL that
`corpusforge annotate recipe recipes/annotators.yaml --only tweeteval_hate_val --only tweeteval_offensive_val`
writes. Usage: python benchmarks/teacher_vs_human.py 60
"""

from __future__ import annotations

import sys

# run as a path (python benchmarks/x.py), benchmarks/ leads sys.path and its tokenize.py would shadow the standard
# library's tokenize: put the repository root there instead, before anything imports it
if sys.path[0].endswith("benchmarks"):
    sys.path[0] = sys.path[0][: -len("benchmarks")].rstrip("/") or "/"

import json
import random
from pathlib import Path

from annotators.convert import read_jsonl
from annotators.teacher import LABELS, _Scorer
from synth.llm import LLMConfig, LocalLLM

WORK = Path("build/annotators")


def main(n: int) -> None:
    import torch

    torch.set_num_threads(1)
    rows = [r for split in ("hate", "offensive") for r in read_jsonl(WORK / f"{split}.val.jsonl")]
    rng = random.Random(0)
    toxic = [r for r in rows if r["label"] == "toxic"]
    ok = [r for r in rows if r["label"] == "ok"]
    sample = rng.sample(toxic, n // 2) + rng.sample(ok, n // 2)
    spec = LABELS["toxicity"]
    scorer = _Scorer(LocalLLM(LLMConfig()))
    null = scorer.score("N/A", [spec])["toxicity"]
    scored = [(r["label"], scorer.score(r["text"], [spec])["toxicity"]) for r in sample]
    (WORK / "teacher_vs_human.json").write_text(json.dumps({"null": null, "scored": scored}))
    for mode in ("raw", "calibrated"):
        predicted = []
        for _gold, raw in scored:
            s = {a: raw[a] - (null[a] if mode == "calibrated" else 0.0) for a in spec.answers}
            predicted.append(spec.value(max(spec.answers, key=s.__getitem__)))
        accuracy = sum(p == g for p, (g, _) in zip(predicted, scored, strict=True)) / len(scored)
        print(f"{mode}: accuracy {accuracy:.3f}, said toxic {predicted.count('toxic')} of {len(scored)}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 60)
