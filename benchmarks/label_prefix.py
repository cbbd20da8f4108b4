"""Prefix agreement: the label each head (and language ID) gives reading the prefix the label stage reads by
default (heads 800 characters, LID 300) against the label it gives reading the whole document, on the label
benchmark's 1,010 real pages. Domain, format, field: same top class; edu: same cell bucket (low/mid/high) and the
Pearson correlation of the scores; toxicity, adult: same flag at 0.5 and the correlation; language: same label.
This is the quality side of the label benchmark's speed: the prefix is a design choice, and this is what it costs.

    python -m benchmarks.label_prefix
"""

from __future__ import annotations

import sys

if sys.path[0].endswith("benchmarks"):  # see benchmarks/label.py: benchmarks/tokenize.py shadows the stdlib's
    sys.path[0] = sys.path[0][: -len("benchmarks")].rstrip("/") or "/"

import statistics  # noqa: E402

from annotators.fasttext_head import DEFAULT_MAX_CHARS, FastTextHead  # noqa: E402
from annotators.langid import DEFAULT_MAX_CHARS as LID_MAX_CHARS  # noqa: E402
from annotators.langid import FastTextLanguageID  # noqa: E402
from annotators.taxonomy import edu_bucket  # noqa: E402
from benchmarks.label import DEFAULT_SHARED, DEFAULT_WORKDIR, build_corpus, load_corpus  # noqa: E402

WHOLE = 10**9


def main() -> None:
    texts = [d["text"] for d in load_corpus(build_corpus(DEFAULT_SHARED, DEFAULT_WORKDIR))]
    lengths = sorted(len(t) for t in texts)
    longer = sum(n > DEFAULT_MAX_CHARS for n in lengths)
    print(f"{len(texts)} pages (median {statistics.median(lengths):,.0f} characters; {longer} longer than "
          f"{DEFAULT_MAX_CHARS}); prefix against the whole document")  # fmt: skip
    print("| head | prefix chars | agreement | correlation of scores |")
    print("|---|---|---|---|")
    short_lid, whole_lid = FastTextLanguageID(max_chars=LID_MAX_CHARS), FastTextLanguageID(max_chars=WHOLE)
    same = [short_lid.label(t)[0] == whole_lid.label(t)[0] for t in texts]
    print(f"| language (lid.176) | {LID_MAX_CHARS} | {sum(same) / len(same):.3f} | |")
    for head in ("domain", "format", "field", "edu", "toxicity", "adult"):
        column = FastTextHead(head).columns[0]
        short = FastTextHead(head, max_chars=DEFAULT_MAX_CHARS).annotate(texts)[column]
        full = FastTextHead(head, max_chars=WHOLE).annotate(texts)[column]
        corr = ""
        if head == "edu":
            same = [edu_bucket(a) == edu_bucket(b) for a, b in zip(short, full, strict=True)]
        elif head in ("toxicity", "adult"):
            same = [(a >= 0.5) == (b >= 0.5) for a, b in zip(short, full, strict=True)]
        else:
            same = [a == b for a, b in zip(short, full, strict=True)]
        if head in ("edu", "toxicity", "adult"):
            corr = f"{statistics.correlation(list(short), list(full)):.3f}"
        print(f"| {head} | {DEFAULT_MAX_CHARS} | {sum(same) / len(same):.3f} | {corr} |")


if __name__ == "__main__":
    main()
