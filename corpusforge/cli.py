"""The `corpusforge` command's root.

Sub-commands live in the packages that own them and are found through entry points, so this package
imports none of them: group ``corpusforge.commands`` maps a command name to a Typer app or a function,
group ``corpusforge.eval`` maps an evaluation name to a function under ``corpusforge eval``.
"""

from __future__ import annotations

import sys
from importlib.metadata import entry_points

import typer

from corpusforge import __version__
from corpusforge.errors import CorpusForgeError

HELP = "Build LLM pretraining corpora the way the Qwen3 report describes, and train on them."


def _attach(parent: typer.Typer, group: str) -> None:
    for ep in sorted(entry_points(group=group), key=lambda e: e.name):
        try:
            target = ep.load()
        except ImportError as exc:  # one broken plugin must not take the whole command down
            target = _unavailable(ep.name, exc)
        if isinstance(target, typer.Typer):
            parent.add_typer(target, name=ep.name)
        else:
            parent.command(ep.name)(target)


def _unavailable(name: str, exc: ImportError):
    def command() -> None:
        raise CorpusForgeError(f"'{name}' cannot load: {exc}; is its extra installed?")

    command.__doc__ = f"(unavailable here: {exc})"
    return command


def build_app() -> typer.Typer:
    app = typer.Typer(help=HELP, no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)

    @app.callback(invoke_without_command=True)
    def root(
        version: bool = typer.Option(False, "--version", metavar="", help="Print the version and exit."),
        verbose: bool = typer.Option(
            False, "--verbose", metavar="", help="Show libraries' warnings, logs and progress bars (hidden by default)."
        ),
    ) -> None:
        from corpusforge.quiet import configure

        configure(verbose)
        if version:
            typer.echo(__version__)
            raise typer.Exit()

    eval_app = typer.Typer(help="Evaluate a component on a labelled data directory.", no_args_is_help=True)
    _attach(eval_app, "corpusforge.eval")
    app.add_typer(eval_app, name="eval")
    _attach(app, "corpusforge.commands")
    return app


def main() -> None:
    app = build_app()
    try:
        app(standalone_mode=False)
    except CorpusForgeError as exc:
        typer.secho(f"error: {exc}", fg="red", err=True)
        sys.exit(2)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        sys.exit(130)
    except Exception as exc:  # click usage errors arrive here in non-standalone mode
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        raise


if __name__ == "__main__":
    main()
