"""Entry point for `spark-submit`: the same job `corpusforge run` runs, on the cluster spark-submit names.

spark-submit --master spark://HOST:7077 pipelines/spark_job.py recipes/web-sample.yaml [field=value ...]
"""

from __future__ import annotations

import sys

from corpusforge.config import parse_override
from pipelines.cli import print_funnel
from pipelines.engines import run_job
from pipelines.job import WebJobConfig


def main(argv: list[str]) -> None:
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return
    overrides = dict(parse_override(a) for a in argv[1:])
    overrides["engine.kind"] = "spark"
    job = WebJobConfig.load(argv[0], overrides)
    print_funnel(run_job(job), job.output)


if __name__ == "__main__":
    main(sys.argv[1:])
