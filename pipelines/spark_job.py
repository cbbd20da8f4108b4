"""Entry point for `spark-submit`: the same job `corpusforge run` runs, on the cluster spark-submit names.

spark-submit --master spark://HOST:7077 pipelines/spark_job.py recipes/web-sample.yaml [field=value ...]
    [--overwrite] [--verbose]
(any job kind: web, with its chained dedup, or dedup alone). --overwrite clears the output first instead of
resuming it; --verbose logs at Spark's INFO level (one line per task) instead of WARN.
"""

from __future__ import annotations

import sys
from pathlib import Path

from corpusforge.config import parse_override
from corpusforge.errors import CorpusForgeError
from corpusforge.job import load_job
from pipelines.cli import print_result
from pipelines.engines import run_job

FLAGS = ("--overwrite", "--verbose")


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0
    flags = {a for a in argv if a.startswith("--")}
    if flags - set(FLAGS):
        print(f"error: unknown option {sorted(flags - set(FLAGS))[0]} (known: {', '.join(FLAGS)})", file=sys.stderr)
        return 2
    args = [a for a in argv if not a.startswith("--")]
    if not args or not Path(args[0]).is_file():
        print(f"error: no job config at {args[0] if args else '(none given)'}", file=sys.stderr)
        return 2
    try:
        overrides = dict(parse_override(a) for a in args[1:])
        overrides["engine.kind"] = "spark"
        if "--verbose" in flags:
            overrides["engine.spark.log_level"] = "INFO"
        job = load_job(args[0], overrides)
        result = run_job(job, overwrite="--overwrite" in flags)
    except CorpusForgeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    print_result(result)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
