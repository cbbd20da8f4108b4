"""`corpusforge mixture`: plan | run | fit | optimize | validate | report over one ``kind: mixture`` recipe
(`corpusforge run RECIPE` runs them all in order)."""

from __future__ import annotations

import json
from pathlib import Path

import typer

app = typer.Typer(help="Instance-level mixture optimizer: proxy ablations, a fitted model, per-stage blends.",
                  no_args_is_help=True)  # fmt: skip

RECIPE = typer.Argument(..., exists=True, dir_okay=False, help="A kind: mixture recipe (YAML).")
SET = typer.Option([], "--set", help="Override a recipe field, e.g. ablations.count=16 (repeatable).")


def _job(recipe: Path, set_: list[str]):
    from corpusforge.config import parse_override
    from mixtures.job import MixtureJobConfig

    return MixtureJobConfig.load(recipe, dict(parse_override(s) for s in set_))


@app.command()
def plan(recipe: Path = RECIPE, set_: list[str] = SET,
         emit_commands: Path | None = typer.Option(None, help="Also write one shell command per ablation here.")) -> None:  # fmt: skip
    """Read the manifest and sidecar, build the groups, write the ablation plan (same seed, same plan)."""
    from mixtures.run import emit_commands as emit
    from mixtures.steps import plan_step

    job = _job(recipe, set_)
    folder = plan_step(job)
    p = json.loads((folder / "plan.json").read_text())
    typer.echo(f"plan {folder}: {len(p['groups'])} groups, {len(list((folder / 'ablations').iterdir()))} ablations, "
               f"targets {', '.join(p['targets'])}")  # fmt: skip
    if emit_commands is not None:
        cmds = emit(folder)
        emit_commands.write_text("\n".join(cmds) + "\n")
        typer.echo(f"{len(cmds)} commands → {emit_commands}")


@app.command()
def run(recipe_or_plan: Path = typer.Argument(..., exists=True, help="The recipe, or a plan folder with --only."),
        set_: list[str] = SET, workers: int | None = typer.Option(None, help="Parallel worker processes."),
        only: str | None = typer.Option(None, help="Run this one ablation in this process (a scheduler's task)."),
        tag: str = typer.Option("proxy", help="Result name (the size a task trains at)."),
        quiet: bool = typer.Option(False, "--quiet", "-q")) -> None:  # fmt: skip
    """Train every unfinished ablation (resumes a killed run; failed ones are marked, not retried)."""
    from mixtures.run import run_one
    from mixtures.steps import run_step

    if only is not None:
        plan_dir = recipe_or_plan if recipe_or_plan.is_dir() else _job(recipe_or_plan, set_).plan_dir
        res = run_one(plan_dir, only, tag)
        typer.echo(f"{only}: {res['status']}" + (f" ({res.get('reason')})" if res["status"] != "ok" else ""))
        if res["status"] != "ok":
            raise typer.Exit(1)
        return
    counts = run_step(_job(recipe_or_plan, set_), workers, progress=not quiet)
    typer.echo(f"ablations: {counts['ok']} ok, {counts['failed']} failed, {counts['skipped']} already done")


@app.command()
def fit(recipe: Path = RECIPE, set_: list[str] = SET) -> None:
    """Fit every model family; print cross-validated Spearman / RMSE; the best is chosen."""
    from mixtures.steps import fit_step

    job = _job(recipe, set_)
    rep = fit_step(job)
    for fam, s in rep.scores.items():
        sp = sum(v["spearman"] for v in s.values()) / len(s)
        rm = sum(v["rmse"] for v in s.values()) / len(s)
        typer.echo(f"{fam:11s} CV Spearman {sp:.3f}  RMSE {rm:.4f}" + ("  <- chosen" if fam == rep.family else ""))
    typer.echo(f"{rep.n} ablations fitted, {rep.failed} failed and excluded")


@app.command()
def optimize(recipe: Path = RECIPE, set_: list[str] = SET) -> None:
    """The optimum of every stage under the constraints → blends/<stage>/blend.yaml with per-document rates."""
    from mixtures.steps import optimize_step

    for name, doc in optimize_step(_job(recipe, set_)).items():
        typer.echo(f"{name}: {doc['blend']} (predicted {doc['predicted']:.4f}, natural {doc['natural_predicted']:.4f})")


@app.command()
def validate(recipe: Path = RECIPE, set_: list[str] = SET, quiet: bool = typer.Option(False, "--quiet", "-q"),
             no_run: bool = typer.Option(False, "--no-run", help="Only the figures of the runs already there.")) -> None:  # fmt: skip
    """Larger proxies on optimized / natural / uniform mixtures and held-out mixtures → validate.json."""
    from mixtures.steps import validate_step

    res = validate_step(_job(recipe, set_), progress=not quiet, run=not no_run)
    typer.echo(json.dumps({k: res.get(k) for k in ("steps_ratio", "instance_vs_cells", "edu")}, indent=1))
    sh = res["spearman_heldout"]
    typer.echo(f"spearman held-out ({sh['n']}): {sh['spearman']}")


@app.command()
def report(recipe: Path = RECIPE, set_: list[str] = SET) -> None:
    """report/report.md with PNG plots (predicted vs measured, loss curves, weights per group and stage)."""
    from mixtures.report import write_report

    typer.echo(str(write_report(_job(recipe, set_))))
