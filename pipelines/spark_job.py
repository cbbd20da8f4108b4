"""Entry point for `spark-submit`: the same job `corpusforge run` runs, on the cluster spark-submit names.

spark-submit --master spark://HOST:7077 pipelines/spark_job.py recipes/web-sample.yaml [field=value ...]
(any job kind: web, with its chained dedup, or dedup alone)
"""

from __future__ import annotations

import sys

from corpusforge.config import parse_override
from pipelines.cli import load_job, print_funnel
from pipelines.engines import run_job


def main(argv: list[str]) -> None:
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return
    overrides = dict(parse_override(a) for a in argv[1:])
    overrides["engine.kind"] = "spark"
    job = load_job(argv[0], overrides)
    result = run_job(job)
    print_funnel(result, job.output)
    for name, then in result.then.items():
        print_funnel(then, f"{job.output}/{name}")


if __name__ == "__main__":
    main(sys.argv[1:])
