"""One ablation task in its own process: ``python -m mixtures.worker PLAN ID [--tag T] [--seed S] [--proxy J]``
(what `mixtures.run.run_all` launches; exits 1 with one line on error, so the runner records the reason)."""

from __future__ import annotations

import argparse
import json
import sys
import warnings


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("plan")
    ap.add_argument("ablation")
    ap.add_argument("--tag", default="proxy")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--proxy", default=None, help="JSON: ProxyConfig fields replacing the plan's.")
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    from corpusforge.errors import CorpusForgeError
    from mixtures.run import run_one

    try:
        res = run_one(args.plan, args.ablation, args.tag, args.seed, json.loads(args.proxy) if args.proxy else None)
    except CorpusForgeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps({k: res.get(k) for k in ("id", "status", "tokens_per_s", "wall_s")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
