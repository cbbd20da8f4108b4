"""`corpusforge eval langid`: accuracy of language ID on ``<iso639-1>.txt`` files, one sentence a line."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from annotators.langid import FastTextLanguageID
from annotators.metrics import classification_metrics, score_metrics
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


# -- corpusforge eval classifier ---------------------------------------------------------------------------


def resolve_classifier(name_or_path: str) -> tuple[str, dict]:
    """A shipped model name (``toxicity``, ``topic_agnews``, ...) or a path → (model file, its card or {})."""
    from annotators.fasttext_head import MODELS_DIR

    path = Path(name_or_path)
    if not path.is_file():
        shipped = MODELS_DIR / f"{name_or_path}.ftz"
        if not shipped.is_file():
            known = ", ".join(sorted(p.stem for p in MODELS_DIR.glob("*.ftz"))) or "none"
            raise InputError(name_or_path, f"neither a model file nor a shipped model name (shipped: {known})")
        path = shipped
    card_path = path.with_name(path.name.removesuffix(".ftz").removesuffix(".bin") + ".card.json")
    card = json.loads(card_path.read_text()) if card_path.is_file() else {}
    return str(path), card


def evaluate_classifier(model: str, data: Path, limit: int | None = None, field: str = "label") -> dict:
    """Predict every JSONL row's ``text`` and compare with its ``label``; scores too for 0-5 labels."""
    from annotators.convert import read_jsonl
    from annotators.fasttext_head import DEFAULT_MAX_CHARS
    from annotators.student import predict

    try:
        import fasttext
    except ImportError as exc:
        from corpusforge.errors import DependencyError

        raise DependencyError("eval classifier", "fasttext-numpy2-wheel", "web") from exc
    path, card = resolve_classifier(model)
    texts, gold = [], []
    for n, row in enumerate(read_jsonl(data), 1):
        if not isinstance(row.get("text"), str):
            raise InputError(f"{data}:{n}", f"each line needs 'text' (string) and '{field}'")
        if row.get(field) is None:
            if "failures" in row:  # a teacher-labelled file: this document's answer failed, nothing to compare
                continue
            raise InputError(f"{data}:{n}", f"each line needs 'text' (string) and '{field}'")
        texts.append(row["text"])
        gold.append(str(row[field]).strip().replace(" ", "_"))
        if limit and len(texts) >= limit:
            break
    if not texts:
        raise InputError(str(data), "no rows")
    fasttext.FastText.eprint = lambda *args, **kwargs: None
    ft = fasttext.load_model(path)
    max_chars = int(card.get("hyperparameters", {}).get("max_chars", DEFAULT_MAX_CHARS))
    top, expected = predict(ft, texts, max_chars)
    result = {"model": path, "data": str(data), "examples": len(texts), **classification_metrics(gold, top)}
    model_classes = [lab.removeprefix("__label__") for lab in ft.get_labels()]
    unseen = sorted(set(gold) - set(model_classes))
    if unseen:
        result["labels_unknown_to_model"] = unseen
    is_score = card.get("kind") == "score" or (
        all(c.isdigit() for c in model_classes) and all(g.isdigit() for g in gold)
    )
    if is_score:
        result.update(score_metrics([float(g) for g in gold], [e if e is not None else 0.0 for e in expected]))
    return result


def eval_classifier(
    model: str | None = typer.Option(
        None,
        help="A shipped model name (toxicity, topic_agnews, domain, ...) or a .ftz/.bin path; with --reference: "
        "comma-separated heads (default domain,format,edu,toxicity), each optionally head=path.",
    ),
    data: Path | None = typer.Option(None, exists=True, help='JSONL: {"text": ..., "label": ...} per line.'),
    reference: Path | None = typer.Option(
        None, exists=True, help="Reference labels (topic, format, edu, toxic per page): score heads on its split."
    ),
    split: str = typer.Option("heldout", help="With --reference: heldout (default), train or all."),
    probe: Path | None = typer.Option(None, exists=True, help="With --reference: score this probe teacher instead."),
    teacher: str | None = typer.Option(
        None, help="With --reference: score the local generative teacher instead: 'score' or 'generate' (slow)."
    ),
    cache: Path | None = typer.Option(None, help="Feature / answer cache for --probe and --teacher (sqlite)."),
    record: str | None = typer.Option(
        None, help="Write the figures into the model card(s) under evaluations.<RECORD> (e.g. reference_heldout)."
    ),
    limit: int | None = typer.Option(None, help="Read at most this many rows."),
    field: str = typer.Option("label", help="The JSON field holding the gold label (e.g. 'edu' in teacher output)."),
    json_path: Path | None = typer.Option(None, "--json", help="Also write the results as JSON here."),
) -> None:
    """Accuracy, macro-F1 and confusion (classes); Spearman and MAE (0-5 scores); --reference: every head
    against the reference labels' held-out split with the majority baseline beside each figure."""
    import sys

    from annotators.bars import record_evaluation

    command = "corpusforge eval classifier " + " ".join(sys.argv[3:] if len(sys.argv) > 3 else [])
    if reference is not None:
        from annotators.reference_cli import run_reference_eval

        result = run_reference_eval(reference, model, split, probe, teacher, cache, record, command, limit)
    else:
        if model is None or data is None:
            raise InputError("eval classifier", "give --model and --data (or --reference)")
        result = evaluate_classifier(model, data, limit, field)
        _print_classifier(result, data)
        if record:
            entry = {k: result[k] for k in ("examples", "accuracy", "macro_f1", "spearman", "mae") if k in result}
            entry |= {"data": str(data), "command": command, "date": _now()}
            entry["per_class_f1"] = {c: v["f1"] for c, v in result["per_class"].items()}
            Console().print(f"recorded in {record_evaluation(result['model'], record, entry)}")
    if json_path:
        json_path.write_text(json.dumps(result, indent=2, default=str))


def _now() -> str:
    from datetime import UTC, datetime

    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _print_classifier(result: dict, data: Path) -> None:
    console = Console()
    summary = Table(title=f"{Path(result['model']).name} on {data} ({result['examples']:,} examples)")
    summary.add_column("metric")
    summary.add_column("value", justify="right")
    for key in ("accuracy", "macro_f1", "spearman", "mae"):
        if result.get(key) is not None:
            summary.add_row(key, f"{result[key]:.3f}")
    console.print(summary)
    classes = result["classes"]
    matrix = Table(title="confusion (rows: gold, columns: predicted)")
    matrix.add_column("gold \\ predicted")
    for c in classes:
        matrix.add_column(c, justify="right")
    for c, row in zip(classes, result["confusion"], strict=True):
        matrix.add_row(c, *(str(v) for v in row))
    console.print(matrix)
    if result.get("labels_unknown_to_model"):
        console.print(f"gold labels the model cannot output: {', '.join(result['labels_unknown_to_model'])}")
