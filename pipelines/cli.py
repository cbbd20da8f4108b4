"""`corpusforge run`: run a job config on its engine and print the funnel."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from corpusforge.config import parse_override
from corpusforge.job import load_job


def run(
    config: Path = typer.Argument(..., help="Job config (YAML), e.g. recipes/main.yaml.", exists=True),
    set_: list[str] = typer.Option(
        [], "--set", metavar="FIELD=VALUE", help="Override a config field, e.g. engine.kind=spark (repeatable)."
    ),
    engine: str | None = typer.Option(None, metavar="KIND", help="--set engine.kind=local|spark|datatrove."),
    workers: int | None = typer.Option(None, metavar="N", help="--set engine.workers=N."),
    output: str | None = typer.Option(None, metavar="DIR", help="--set output=DIR."),
    overwrite: bool = typer.Option(
        False, "--overwrite", metavar="", help="Delete the output directory first instead of resuming it."
    ),
    quiet: bool = typer.Option(
        False, "--quiet", "-q", metavar="", help="No progress bar or table; the funnel goes to funnel.json."
    ),
    verbose: bool = typer.Option(False, "--verbose", metavar="", help="Show libraries' warnings and logs too."),
) -> None:
    """Run a job by its `kind:` — web: archives → documents [→ labels] [→ dedup]; dedup; pdf: PDFs → documents;
    label: documents → labelled documents; shard: documents → token shards; pretrain: shards → model; pipeline:
    several of these recipes in order (recipes/main.yaml). Every kind registered under the `corpusforge.jobs`
    entry points runs the same way."""
    from pipelines.engines import run_job

    if verbose:
        from corpusforge.quiet import configure

        configure(verbose=True)
    overrides = dict(parse_override(s) for s in set_)
    for key, value in (("engine.kind", engine), ("engine.workers", workers), ("output", output)):
        if value is not None:
            overrides[key] = value
    result = run_job(load_job(config, overrides), progress=not quiet, overwrite=overwrite)
    if not quiet:
        print_result(result)


def print_result(result, console: Console | None = None) -> None:
    """The funnel of every job that filed records, this one's and those run after it (chained, pipeline steps)."""
    console = console or Console()
    if result.records:
        print_funnel(result, result.output, console)
    for then in result.then.values():
        print_result(then, console)


def print_funnel(result, output: str, console: Console | None = None) -> None:
    console = console or Console()
    led = result.ledger
    table = Table(title=f"funnel: {output}", show_lines=False)
    table.add_column("outcome")
    table.add_column("records", justify="right")
    table.add_row("read", f"{led.inputs:,}")
    table.add_row("[green]kept[/green]", f"{led.kept:,}")
    for reason, n in sorted(led.dropped.items(), key=lambda kv: -kv[1]):
        table.add_row(f"dropped: {reason}", f"{n:,}")
    table.add_row("[red]quarantined[/red]", f"{led.quarantined_total:,}")
    for reason, n in sorted(led.quarantined.items(), key=lambda kv: -kv[1]):
        table.add_row(f"[red]quarantined: {reason}[/red]", f"{n:,}")
    for note, n in sorted(led.notes.items(), key=lambda kv: -kv[1]):
        table.add_row(f"[yellow]note: {note}[/yellow]", f"{n:,}")
    console.print(table)
    langs = ", ".join(f"{lang} {n}" for lang, n in result.languages.most_common(15))
    console.print(f"languages of kept documents: {langs or 'none'}")
    if result.tasks_skipped:
        console.print(f"{result.tasks_skipped} task(s) already complete were skipped")
    if result.skipped_inputs:
        names = ", ".join(p.rsplit("/", 1)[-1] for p in result.skipped_inputs)
        console.print(f"[yellow]skipped {len(result.skipped_inputs)} input file(s) that are no archive: {names}[/yellow]")
