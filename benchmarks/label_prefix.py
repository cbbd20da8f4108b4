"""Agreement with whole-document labels: the label each head (and language ID) gives reading part of a document,
against the label it gives reading all of it, on the label benchmark's 1,010 real pages.

A head reads ``chars`` characters, as one prefix (``windows`` 1) or as ``windows`` stretches spread over the
document (`annotators.fasttext_head.read_windows`). Domain, format, field: same top class; edu: same cell bucket
(low/mid/high) and the Pearson correlation of the scores; toxicity, adult, hate, offensive: same flag (at the card's
``decision.page_threshold`` when it has one, else 0.5) and the correlation; language: same label. ``--settings``
lists the readings to compare (``CHARSxWINDOWS``); the label stage's defaults (`pipelines.label.DEFAULT_READS`)
are always measured. The speed side is `python -m benchmarks.label --harness equal`.

    python -m benchmarks.label_prefix [--settings 800x1,1600x1,1600x4,...] [--heads domain,format,...] [--json P]
"""

from __future__ import annotations

import sys

if sys.path[0].endswith("benchmarks"):  # see benchmarks/label.py: benchmarks/tokenize.py shadows the stdlib's
    sys.path[0] = sys.path[0][: -len("benchmarks")].rstrip("/") or "/"

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
from pathlib import Path  # noqa: E402

from annotators.bars import read_card  # noqa: E402
from annotators.fasttext_head import HEADS, RECORD_HEADS, FastTextHead, read_windows  # noqa: E402
from annotators.langid import DEFAULT_MAX_CHARS as LID_MAX_CHARS  # noqa: E402
from annotators.langid import FastTextLanguageID  # noqa: E402
from annotators.taxonomy import edu_bucket  # noqa: E402
from benchmarks.label import DEFAULT_SHARED, DEFAULT_WORKDIR, build_corpus, load_corpus  # noqa: E402

WHOLE = 10**9
DEFAULT_SETTINGS = "800x1,1200x1,1600x1,2400x1,3200x1,800x4,1200x4,1600x4,1600x8,2400x8"


def agreement(head: FastTextHead, texts: list[str], whole: list, chars: int, windows: int) -> tuple[float, str]:
    """(share of documents whose label matches the whole document's, correlation of scores or "")."""
    column = 0
    part = [head.values(read_windows(t, chars, windows))[column] for t in texts]
    kind = head.spec.kind
    if kind == "score":
        same = [edu_bucket(a) == edu_bucket(b) for a, b in zip(part, whole, strict=True)]
    elif kind == "binary":
        card = read_card(head.model_path) or {}
        cut = (card.get("decision") or {}).get("page_threshold", 0.5)
        same = [(a >= cut) == (b >= cut) for a, b in zip(part, whole, strict=True)]
    else:
        same = [a == b for a, b in zip(part, whole, strict=True)]
    corr = f"{statistics.correlation(part, whole):.3f}" if kind != "label" else ""
    return sum(same) / len(same), corr


def main(argv: list[str] | None = None) -> None:
    from pipelines.label import DEFAULT_READS

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settings", default=DEFAULT_SETTINGS, help="CHARSxWINDOWS, comma-separated")
    parser.add_argument("--heads", default=",".join(RECORD_HEADS))
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    settings = [tuple(int(x) for x in s.split("x")) for s in args.settings.split(",") if s]
    texts = [d["text"] for d in load_corpus(build_corpus(DEFAULT_SHARED, DEFAULT_WORKDIR))]
    print(f"{len(texts)} pages (median {statistics.median(len(t) for t in texts):,.0f} characters)")
    print("| head | chars | windows | agreement | correlation of scores | default |")
    print("|---|---|---|---|---|---|")
    short_lid, whole_lid = FastTextLanguageID(max_chars=LID_MAX_CHARS), FastTextLanguageID(max_chars=WHOLE)
    same = [short_lid.label(t)[0] == whole_lid.label(t)[0] for t in texts]
    print(f"| language (lid.176) | {LID_MAX_CHARS} | 1 | {sum(same) / len(same):.3f} | | yes |")
    results = {"language": {f"{LID_MAX_CHARS}x1": sum(same) / len(same)}}
    for name in args.heads.split(","):
        if name not in HEADS:
            raise SystemExit(f"--heads: unknown head {name}")
        head = FastTextHead(name, max_chars=WHOLE)
        whole = [head.values(read_windows(t, WHOLE))[0] for t in texts]
        default = DEFAULT_READS.get(name)
        todo = list(dict.fromkeys([*settings, *([(default.chars, default.windows)] if default else [])]))
        results[name] = {}
        for chars, windows in todo:
            share, corr = agreement(head, texts, whole, chars, windows)
            results[name][f"{chars}x{windows}"] = share
            mark = "yes" if default and (chars, windows) == (default.chars, default.windows) else ""
            print(f"| {name} | {chars} | {windows} | {share:.3f} | {corr} | {mark} |", flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
