"""Does the reduced proxy vocabulary keep the ranking of mixtures? The same mixtures of a plan trained with the
proxy vocabulary and with the full Qwen3 vocabulary (151,936 rows), same tokens and seed; Spearman of the mean
target loss (and per target), tokens/s and peak RSS per worker of each.

    nice -n 10 .venv/bin/python -m benchmarks.mixture_proxy out/mixture-exp/plan --tokens 40000 --workers 2 \\
        --eval-tokens 4096 --tag vocab2 --ids natural a0036 a0038 a0040 a0042 a0044
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

from mixtures.run import result_path, run_all


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("plan")
    ap.add_argument("--ids", nargs="+", required=True)
    ap.add_argument("--tokens", type=int, default=40_000)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--eval-tokens", type=int, default=4096)
    ap.add_argument("--tag", default="vocab", help="Result name prefix (<tag>-reduced, <tag>-full).")
    ap.add_argument("--json", default=None)
    ap.add_argument("--summarize-only", action="store_true", help="Only the mixtures already run on both sides.")
    args = ap.parse_args()
    common = {"tokens": args.tokens, "eval_tokens": args.eval_tokens}
    sides = {"reduced": common, "full": {**common, "vocab": 0}}
    if not args.summarize_only:
        for tag, over in sides.items():
            run_all(args.plan, args.workers, tag=f"{args.tag}-{tag}", ids=args.ids, proxy_overrides=over, progress=False)

    def load(i, tag):
        path = result_path(Path(args.plan) / "ablations" / i, f"{args.tag}-{tag}")
        return json.loads(path.read_text()) if path.is_file() else {}

    res = {tag: {i: load(i, tag) for i in args.ids} for tag in sides}
    ok = [i for i in args.ids if all(res[t][i].get("status") == "ok" for t in sides)]
    mean = {t: [float(np.mean(list(res[t][i]["targets"].values()))) for i in ok] for t in sides}
    targets = list(res["full"][ok[0]]["targets"])
    out = {
        "mixtures": ok,
        "spearman_mean_target_loss": float(spearmanr(mean["reduced"], mean["full"]).statistic),
        "spearman_per_target": {
            t: float(spearmanr([res["reduced"][i]["targets"][t] for i in ok],
                               [res["full"][i]["targets"][t] for i in ok]).statistic)  # fmt: skip
            for t in targets
        },
        "mean_loss": mean,
        **{
            f"{t}_tokens_per_s": float(np.median([res[t][i]["tokens_per_s"] for i in ok])) for t in sides
        },
        **{f"{t}_peak_rss_mib": float(max(res[t][i]["peak_rss_mib"] for i in ok)) for t in sides},
        **{f"{t}_params": res[t][ok[0]]["params"] for t in sides},
    }
    text = json.dumps(out, indent=1)
    print(text)
    if args.json:
        Path(args.json).write_text(text)


if __name__ == "__main__":
    main()
