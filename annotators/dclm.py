"""A DCLM-style second edu signal: a fastText classifier of instructive reference text against random web pages.

DCLM (Li et al., 2024) trains fastText to tell instruction-quality text from random web text and keeps pages
that look like the former. Positives here are what can be had offline: MATH and GSM8K problems with their
worked solutions, and docstrings of the Python standard library installed on this machine (documentation
written to teach). Negatives are web pages, none of them a reference page (both splits are left out so the
evaluation on the reference labels is fair). Its P(instructive) is then compared with the reference edu labels.
Caveat by construction: every positive is English, the web pages are mostly German, so language leaks in.
"""

from __future__ import annotations

import ast
import json
import random
from collections.abc import Iterator
from pathlib import Path

POSITIVE, NEGATIVE = "instructive", "web"


def math_texts(math_code: Path) -> Iterator[str]:
    for line in (math_code / "math" / "math_test.json").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        yield f"{row['problem']}\n\n{row['solution']}"
    for line in (math_code / "gsm8k" / "gsm8k_test.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        yield f"{row['question']}\n\n{row['answer'].split('####')[0].strip()}"


def docstring_texts(stdlib: Path, min_chars: int = 400, max_chars: int = 2500) -> Iterator[str]:
    """Module, class and function docstrings of at least ``min_chars``, per module joined up to ``max_chars``."""
    for path in sorted(stdlib.glob("*.py")):
        try:
            tree = ast.parse(path.read_text(encoding="utf-8", errors="replace"))
        except (SyntaxError, ValueError):
            continue
        chunk = ""
        for node in ast.walk(tree):
            if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                doc = ast.get_docstring(node)
                if doc and len(doc) >= min_chars // 4:
                    chunk += doc.strip() + "\n\n"
                    if len(chunk) >= max_chars:
                        yield chunk[:max_chars]
                        chunk = ""
        if len(chunk) >= min_chars:
            yield chunk


def build_dataset(positives: list[str], negatives: list[str], out: Path, per_class: int, seed: int = 0) -> dict:
    """Balanced JSONL ``{"text", "label"}``: ``per_class`` of each (fewer if one side has fewer)."""
    rng = random.Random(seed)
    n = min(per_class, len(positives), len(negatives))
    rows = [{"text": t, "label": POSITIVE} for t in rng.sample(positives, n)]
    rows += [{"text": t, "label": NEGATIVE} for t in rng.sample(negatives, n)]
    rng.shuffle(rows)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return {"per_class": n, "positives_available": len(positives), "negatives_available": len(negatives)}


def instructive_probability(model_path: str, texts: list[str], max_chars: int) -> list[float]:
    """P(instructive) per text from the trained classifier."""
    import fasttext

    from annotators.fasttext_head import normalize

    fasttext.FastText.eprint = lambda *args, **kwargs: None
    model = fasttext.load_model(model_path)
    cleaned = [normalize(t, max_chars).encode("utf-8", "replace").decode("utf-8") for t in texts]
    labels, probs = model.predict(cleaned, k=-1)
    out = []
    for row, p in zip(labels, probs, strict=True):
        named = {lab.removeprefix("__label__"): float(q) for lab, q in zip(row, p, strict=True)}
        out.append(named.get(POSITIVE, 0.0) / (sum(named.values()) or 1.0))
    return out
