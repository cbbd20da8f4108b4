"""`corpusforge synth ...`: the verifiers and the registry by hand (the generation job is `corpusforge run` with
``kind: synth``)."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from corpusforge.errors import InputError

app = typer.Typer(help="Synthetic data: prompt templates, the code sandbox, the math checker, decontamination.",
                  no_args_is_help=True)


@app.command()
def templates() -> None:
    """List the bundled prompt templates with their versions."""
    from synth.templates import bundled, load_template

    table = Table("template", "version", "choices", "max_new_tokens")
    for name in bundled():
        t = load_template(name)
        table.add_row(name, str(t.version), ", ".join(t.choices) or "-", str(t.max_new_tokens))
    Console().print(table)


@app.command()
def sandbox(
    program: Path = typer.Argument(..., exists=True, dir_okay=False, help="A Python file to run."),
    timeout_s: float = typer.Option(10.0, min=0.1),
    memory_mb: int = typer.Option(1024, min=64),
) -> None:
    """Run a Python file in the sandbox and print its verdict (exit 1 unless it passed)."""
    from synth.verify.sandbox import Sandbox, SandboxConfig

    verdict = Sandbox(SandboxConfig(timeout_s=timeout_s, memory_mb=memory_mb)).run(
        {"main.py": program.read_text(encoding="utf-8")}, "main.py"
    )
    typer.echo(json.dumps(verdict.to_dict(), indent=2))
    raise typer.Exit(0 if verdict.ok else 1)


@app.command()
def check_answer(completion: str, reference: str) -> None:
    """Extract the final answer of COMPLETION and compare it with REFERENCE (exit 1 when not equivalent)."""
    from synth.verify.math import answers_equivalent, extract_answer

    answer = extract_answer(completion)
    ok = answer is not None and answers_equivalent(answer, reference)
    typer.echo(f"extracted: {answer!r}  reference: {reference!r}  equivalent: {ok}")
    raise typer.Exit(0 if ok else 1)


@app.command()
def decontam(
    path: Path = typer.Argument(..., exists=True, dir_okay=False, help="JSONL with a 'text' field, or record Parquet."),
    shared_dir: Path | None = typer.Option(None, help="Holds data/math_code (default: ../shared)."),
    add: list[str] = typer.Option([], help="More evaluation sets as NAME=PATH (repeatable)."),
) -> None:
    """Count the documents of PATH that share a 13-gram with an evaluation set, per benchmark."""
    from collections import Counter

    from synth.decontam import Registry

    registry = Registry.load_defaults(shared_dir)
    for item in add:
        if "=" not in item:
            raise InputError(f"--add {item}", "expected NAME=PATH")
        name, file = item.split("=", 1)
        registry.add(name, file)
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        texts = pq.read_table(path, columns=["text"]).column("text").to_pylist()
    else:
        with path.open(encoding="utf-8") as f:
            texts = [json.loads(line).get("text") or "" for line in f if line.strip()]
    hits: Counter = Counter()
    for text in texts:
        hits.update(registry.hits(text))
    table = Table("benchmark", "13-grams", "documents hit")
    for name, size in registry.size().items():
        table.add_row(name, f"{size:,}", str(hits[name]))
    Console().print(table)
    typer.echo(f"{len(texts)} documents")
