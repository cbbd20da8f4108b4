"""`corpusforge eval langid`: accuracy of language ID on ``<iso639-1>.txt`` files, one sentence a line."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from annotators.langid import FastTextLanguageID
from corpusforge.errors import InputError

# file names are ISO 639-1; where fastText's lid.176 names a language differently, map it
LID176_ALIASES = {"nb": "no"}


def evaluate_langid(data: Path, model_path: str | None = None, limit: int | None = None) -> dict:
    files = sorted(data.glob("*.txt"))
    if not files:
        raise InputError(str(data), "no <iso639-1>.txt files found")
    model = FastTextLanguageID(model_path)
    per_lang, correct_all, total_all = {}, 0, 0
    for path in files:
        code = path.stem
        lines = [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
        lines = lines[:limit] if limit else lines
        if not lines:
            continue
        predicted = model.annotate(lines)["lang"]
        expected = LID176_ALIASES.get(code, code)
        correct = sum(p == expected for p in predicted)
        per_lang[code] = {"sentences": len(lines), "accuracy": correct / len(lines)}
        correct_all += correct
        total_all += len(lines)
    known = {label.removeprefix("__label__") for label in model.model.get_labels()}
    supported = {c: v for c, v in per_lang.items() if LID176_ALIASES.get(c, c) in known}
    result = {
        "languages": len(per_lang),
        "sentences": total_all,
        "accuracy": correct_all / total_all,
        "macro_accuracy": _macro(per_lang),
        "per_language": per_lang,
        "unsupported_languages": sorted(set(per_lang) - set(supported)),
    }
    if supported:  # languages the model cannot output score 0 by construction; report the rest apart
        n = sum(v["sentences"] for v in supported.values())
        result["supported"] = {
            "languages": len(supported),
            "sentences": n,
            "accuracy": sum(v["accuracy"] * v["sentences"] for v in supported.values()) / n,
            "macro_accuracy": _macro(supported),
        }
    return result


def _macro(per_lang: dict) -> float:
    return sum(v["accuracy"] for v in per_lang.values()) / len(per_lang)


def eval_langid(
    data: Path = typer.Argument(..., help="Directory of <iso639-1>.txt files, one sentence a line.", exists=True),
    model: str | None = typer.Option(None, help="fastText model file; default lid.176 from the wheel."),
    limit: int | None = typer.Option(None, help="Read at most this many sentences per language."),
    json_path: Path | None = typer.Option(None, "--json", help="Also write the results as JSON here."),
) -> None:
    """Accuracy per language and overall (micro and macro) of the language identifier."""
    result = evaluate_langid(data, model, limit)
    table = Table(title=f"language ID on {data}")
    for col in ("language", "sentences", "accuracy"):
        table.add_column(col, justify="left" if col == "language" else "right")
    for code, r in sorted(result["per_language"].items(), key=lambda kv: kv[1]["accuracy"]):
        table.add_row(code, str(r["sentences"]), f"{r['accuracy']:.3f}")
    table.add_row("[bold]all (micro)[/bold]", str(result["sentences"]), f"{result['accuracy']:.3f}")
    table.add_row("[bold]all (macro)[/bold]", str(result["languages"]), f"{result['macro_accuracy']:.3f}")
    if sup := result.get("supported"):
        table.add_row("[bold]known to the model (micro)[/bold]", str(sup["sentences"]), f"{sup['accuracy']:.3f}")
        table.add_row("[bold]known to the model (macro)[/bold]", str(sup["languages"]), f"{sup['macro_accuracy']:.3f}")
    Console().print(table)
    if result["unsupported_languages"]:
        Console().print(f"not in the model's label set: {', '.join(result['unsupported_languages'])}")
    if json_path:
        json_path.write_text(json.dumps(result, indent=2))
