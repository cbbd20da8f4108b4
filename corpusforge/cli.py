"""The `corpusforge` command's root.

Sub-commands live in the packages that own them and are found through entry points, so this package
imports none of them: group ``corpusforge.commands`` maps a command name to a Typer app or a function,
group ``corpusforge.eval`` maps an evaluation name to a function under ``corpusforge eval``.
"""

from __future__ import annotations

import sys
import traceback
from importlib.metadata import entry_points

import typer

from corpusforge import __version__
from corpusforge.errors import CorpusForgeError, StorageError
from corpusforge.heap import prefer_system_pool

HELP = "Build LLM pretraining corpora the way the Qwen3 report describes, and train on them."


def _attach(parent: typer.Typer, group: str) -> None:
    for ep in sorted(entry_points(group=group), key=lambda e: e.name):
        try:
            target = ep.load()
        except (ImportError, AttributeError) as exc:  # one broken plugin (or a stale install's entry point
            target = _unavailable(ep.name, exc)  # naming a moved object) must not take the whole command down
        if isinstance(target, typer.Typer):
            parent.add_typer(target, name=ep.name)
        else:
            parent.command(ep.name)(target)


def _unavailable(name: str, exc: Exception):
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
        debug: bool = typer.Option(False, "--debug", metavar="", help="On an error, show the traceback too."),
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


def main(argv: list[str] | None = None) -> None:
    """Exit codes a scheduler can trust: 0 success, 1 failure, 2 usage or input mistake (one line naming the
    culprit, no traceback unless ``--debug``), 130 interrupted."""
    args = sys.argv[1:] if argv is None else list(argv)
    debug = _root_flag(args, "--debug")
    prefer_system_pool()  # before any command imports pyarrow: Arrow's buffers in the heap workers trim
    try:
        code = build_app()(args=args, prog_name="corpusforge", standalone_mode=False)
    except (KeyboardInterrupt, typer.Abort):
        _fail("interrupted", 130, debug)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except CorpusForgeError as exc:
        _fail(str(exc), exc.exit_code, debug)
    except typer.TyperException as exc:  # click's usage errors (typer vendors click: no `import click` here)
        _fail(_usage_message(exc), getattr(exc, "exit_code", 2) or 2, debug)
    except FileNotFoundError as exc:  # an input a check upstream did not catch: still the user's to fix
        _fail(f"{exc.filename or exc}: no such file or directory", 2, debug)
    except OSError as exc:
        if exc.errno not in StorageError.NO_SPACE:
            raise
        _fail(f"cannot write{f' {exc.filename}' if exc.filename else ''}: {exc.strerror}", 1, debug)
    # non-standalone typer returns an interrupted command's 130 and an explicit typer.Exit's code
    code = code if isinstance(code, int) and not isinstance(code, bool) else 0
    if code == 130:
        _fail("interrupted", 130, debug)
    sys.exit(code)


def _root_flag(args: list[str], flag: str) -> bool:
    """Whether a root option is given (it sits before the sub-command's name)."""
    for arg in args:
        if not arg.startswith("-"):
            return False
        if arg == flag:
            return True
    return False


def _usage_message(exc: Exception) -> str:
    ctx = getattr(exc, "ctx", None)
    where = f"{ctx.command_path}: " if ctx is not None else ""
    hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
    if type(exc).__name__ == "NoArgsIsHelpError":  # typer has printed the help already
        return f"{where}missing command or argument{hint}"
    return where + " ".join(exc.format_message().split()) + hint


def _fail(message: str, code: int, debug: bool) -> None:
    if debug and sys.exc_info()[0] is not None:
        traceback.print_exc()
    line = " ".join(message.split()) or "failed"
    typer.secho(f"error: {line}", fg="red", err=True)
    sys.exit(code)


if __name__ == "__main__":
    main()
