"""`corpusforge report` (one HTML page over job outputs) and `corpusforge docs show` (one document's lineage)."""

from __future__ import annotations

from pathlib import Path

import typer

MAIN_RECIPE = Path("recipes/main.yaml")


def report(
    outputs: list[Path] = typer.Argument(
        ..., metavar="OUTPUT", help="Job output directories, or a pipeline recipe (its steps' outputs), e.g. recipes/main.yaml."
    ),
    out: Path | None = typer.Option(
        None, "--out", "-o", metavar="FILE", help="The HTML file. Default: OUTPUT/report.html, or report.html where outputs meet."
    ),
    max_rows: int = typer.Option(20_000, min=100, metavar="N", help="Most documents sampled for the distributions."),
    title: str = typer.Option("CorpusForge report", metavar="TEXT", help="The page's title."),
) -> None:
    """Write one self-contained HTML page (funnel, labels, dedup, shards, training, mixture) for job outputs."""
    from pipelines.report.outputs import default_destination, resolve
    from pipelines.report.page import write

    found = resolve(outputs)
    path = write(found, out or default_destination(found), title=title, max_rows=max_rows)
    typer.echo(f"report: {path} ({path.stat().st_size / 1024:,.0f} KiB)")


def pipeline_report(outputs: list[str], title: str) -> Path | None:
    """The report a pipeline run ends with (local outputs only: the page is written beside them)."""
    from pipelines.report.outputs import default_destination, resolve
    from pipelines.report.page import write

    local = [Path(o) for o in outputs if "://" not in o and Path(o).is_dir()]
    if not local:
        typer.echo("report: skipped, no local output to report on")
        return None
    found = resolve(local, strict=False)
    if not found:
        typer.echo("report: skipped, no output to report on")
        return None
    path = write(found, default_destination(found), title=title)
    typer.echo(f"report: {path} ({path.stat().st_size / 1024:,.0f} KiB)")
    return path


docs_app = typer.Typer(help="Look up documents in job outputs.", no_args_is_help=True)


@docs_app.command("show")
def show(
    doc_id: str = typer.Argument(..., metavar="ID", help="A document id (record.id)."),
    output: list[Path] = typer.Option(
        [], "--output", metavar="DIR", help="A job output directory to search (repeatable). Default: recipes/main.yaml's outputs."
    ),
    width: int = typer.Option(1200, metavar="N", help="Characters of text shown (0: all)."),
) -> None:
    """Print one document with its labels and lineage: the stages that read, changed, kept or dropped it."""
    from corpusforge.errors import InputError
    from pipelines.report.lineage import lineage, print_lineage
    from pipelines.report.outputs import pipeline_outputs

    dirs = list(output)
    if not dirs:
        if not MAIN_RECIPE.is_file():
            raise InputError("--output", f"none given and {MAIN_RECIPE} is not here")
        dirs = [p for p in pipeline_outputs(MAIN_RECIPE) if p.is_dir()]
        dirs += [p / "dedup" for p in dirs if (p / "dedup").is_dir()]
    found = lineage(doc_id, dirs)
    if not found.events:
        raise InputError(doc_id, f"is in none of {', '.join(map(str, dirs))}")
    print_lineage(found, width=width)
