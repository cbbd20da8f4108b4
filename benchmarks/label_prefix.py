"""Prefix agreement of the label heads: the label a head gives reading the first 800 characters (the label
stage's default) against the label it gives reading the whole document, on the label benchmark's 1,010 real
pages. Domain/format: same top class; edu: same cell bucket (low/mid/high); toxicity/adult: same flag at 0.5.

    python -m benchmarks.label_prefix
"""

from __future__ import annotations

import sys

if sys.path[0].endswith("benchmarks"):  # see benchmarks/label.py: benchmarks/tokenize.py shadows the stdlib's
    sys.path[0] = sys.path[0][: -len("benchmarks")].rstrip("/") or "/"

from annotators.fasttext_head import DEFAULT_MAX_CHARS, FastTextHead  # noqa: E402
from annotators.taxonomy import edu_bucket  # noqa: E402
from benchmarks.label import DEFAULT_SHARED, DEFAULT_WORKDIR, build_corpus, load_corpus  # noqa: E402


def main() -> None:
    texts = [d["text"] for d in load_corpus(build_corpus(DEFAULT_SHARED, DEFAULT_WORKDIR))]
    print(f"{len(texts)} pages; prefix {DEFAULT_MAX_CHARS} characters against the whole document")
    for head in ("domain", "format", "edu", "toxicity", "adult"):
        column = FastTextHead(head).columns[0]
        short = FastTextHead(head, max_chars=DEFAULT_MAX_CHARS).annotate(texts)[column]
        full = FastTextHead(head, max_chars=10**8).annotate(texts)[column]
        if head == "edu":
            same = [edu_bucket(a) == edu_bucket(b) for a, b in zip(short, full, strict=True)]
        elif head in ("toxicity", "adult"):
            same = [(a >= 0.5) == (b >= 0.5) for a, b in zip(short, full, strict=True)]
        else:
            same = [a == b for a, b in zip(short, full, strict=True)]
        print(f"{head:9s} {sum(same) / len(same):.3f}")


if __name__ == "__main__":
    main()
