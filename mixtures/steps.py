"""The optimizer's steps over a `MixtureJobConfig`, each restartable from what the previous ones wrote."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from corpusforge.errors import InputError
from mixtures.blend import write_blend
from mixtures.fit import FitReport, fit
from mixtures.optimize import StageSpec, cell_uniform, from_cells, optimize
from mixtures.plan import write_plan
from mixtures.proxy import build_vocab
from mixtures.run import collect, run_all, run_queue, write_result
from mixtures.space import CellView, Space, build_space
from mixtures.table import training_table

if TYPE_CHECKING:  # for annotations only: the job imports this module when it runs
    from mixtures.job import MixtureJobConfig


def _space(job: MixtureJobConfig) -> Space:
    return build_space(job.space)


def plan_step(job: MixtureJobConfig) -> Path:
    space = _space(job)
    lut = build_vocab(space, job.proxy.vocab, job.proxy.buckets) if job.proxy.vocab else None
    Path(job.output).mkdir(parents=True, exist_ok=True)
    (Path(job.output) / "config.yaml").write_text(job.to_yaml())
    return write_plan(space, job.ablations, job.proxy, job.plan_dir, lut)


def run_step(job: MixtureJobConfig, workers: int | None = None, progress: bool = True) -> dict:
    return run_all(job.plan_dir, workers or job.ablations.workers, roles=("fit", "baseline"), progress=progress)


def fit_step(job: MixtureJobConfig, space: Space | None = None, cells: bool = False) -> FitReport:
    space = space or _space(job)
    x, y, failed = training_table(job, space, cells=cells)
    t0 = time.perf_counter()
    report = fit(x, y, job.families, job.folds, failed)
    seconds = time.perf_counter() - t0
    if not cells:
        doc = {"chosen": report.family, "ablations": report.n, "failed_excluded": failed, "seconds": round(seconds, 2),
               "scores": report.scores}  # fmt: skip
        (Path(job.output) / "fit.json").write_text(json.dumps(doc, indent=1))
    return report


def optimize_step(job: MixtureJobConfig, space: Space | None = None, report: FitReport | None = None) -> dict:
    """Every stage's optimum → ``blends/<stage>/blend.yaml`` (+ rates) and ``optimum.json``."""
    space = space or _space(job)
    report = report or fit_step(job, space)
    x, _, _ = training_table(job, space)
    out = {}
    for spec in job.stages:
        t0 = time.perf_counter()
        opt = optimize(space, report, spec, job.constraints, explored=x)
        seconds = time.perf_counter() - t0
        folder = job.blend_dir / spec.name
        meta = {"stage": spec.name, "family": report.family, "predicted": opt.predicted,
                "natural_predicted": opt.natural_predicted, "ablations": report.n, "failed_excluded": report.failed}  # fmt: skip
        path = write_blend(space, opt.weights, spec.tokens, folder, kind=spec.kind, meta=meta)
        doc = {**meta, "blend": str(path), "seconds": round(seconds, 2), "groups": space.groups,
               "weights": [float(w) for w in opt.weights], "natural": [float(w) for w in space.natural]}  # fmt: skip
        (folder / "optimum.json").write_text(json.dumps(doc, indent=1))
        out[spec.name] = doc
    return out


# -- validation ---------------------------------------------------------------------------------------------------
def _add_mixture(job: MixtureJobConfig, name: str, weights: np.ndarray, role: str = "validate") -> None:
    """A validation mixture in the plan. If it differs (beyond float noise) from the one already there, that
    one's larger-proxy results no longer apply: they are kept aside as ``*.stale``, never reused."""
    d = job.plan_dir / "ablations" / name
    d.mkdir(parents=True, exist_ok=True)
    doc = {"id": name, "role": role, "seed": job.ablations.seed, "weights": [float(x) for x in np.round(weights, 9)]}
    if (d / "mixture.json").is_file():
        old = np.array(json.loads((d / "mixture.json").read_text())["weights"])
        if old.shape == weights.shape and np.abs(old - weights).max() < 1e-6:
            return
        for stale in d.glob("large-*.json"):
            stale.rename(stale.with_name(stale.name + ".stale"))
    write_result(d / "mixture.json", doc)


def baseline_mixtures(job: MixtureJobConfig, space: Space) -> dict[str, np.ndarray]:
    """Natural (by tokens), uniform over cells, natural with the top edu_score bin upweighted."""
    edu = np.array([lab.get("edu_score") == _top_bin(space) for lab in space.group_labels])
    boosted = space.natural * np.where(edu, job.validate_run.edu_boost, 1.0)
    return {"natural": space.natural, "uniform": cell_uniform(space), "edu-up": boosted / boosted.sum()}


def validation_mixtures(job: MixtureJobConfig, space: Space) -> dict[str, np.ndarray]:
    """Optimized (instance level), optimized at cell level (RegMix-style), and the baselines."""
    v = job.validate_run
    tokens = job.proxy.tokens * v.token_factor
    spec = StageSpec(name="validate", tokens=tokens)
    x, y, failed = training_table(job, space)
    report = fit(x, y, job.families, job.folds, failed)
    inst = optimize(space, report, spec, job.constraints, explored=x)
    xc, yc, _ = training_table(job, space, cells=True)
    rep_c = fit(xc, yc, job.families, job.folds, failed)
    cell_space = CellView.of(space)
    opt_c = optimize(cell_space, rep_c, spec, job.constraints, explored=xc)
    base = baseline_mixtures(job, space)
    return {  # in the order they run: the steps-ratio comparison first
        "optimized": inst.weights, "uniform": base["uniform"], "natural": base["natural"],
        "optimized-cells": from_cells(space, opt_c.weights), "edu-up": base["edu-up"],
    }  # fmt: skip


def _top_bin(space: Space) -> str:
    edges = space.edges.get("edu_score", [])
    return f"q{len(edges)}"


def large_overrides(job: MixtureJobConfig) -> dict:
    v = job.validate_run
    over = {"tokens": int(job.proxy.tokens * v.token_factor), "overrides": v.model, "curve_points": v.curve_points}
    return over | ({"eval_tokens": v.eval_tokens} if v.eval_tokens else {})


def validate_step(job: MixtureJobConfig, progress: bool = True, run: bool = True) -> dict:
    """Larger proxies on the validation and held-out mixtures, then the figures (`mixtures.validate`).
    ``run=False``: figures from the runs already there (e.g. run by a scheduler; missing ones are counted)."""
    v = job.validate_run
    if v is None:
        raise InputError("validate", "the recipe has no validate: section")
    space = _space(job)
    mixtures = validation_mixtures(job, space)
    for name, w in mixtures.items():
        _add_mixture(job, name, w, "validate" if name != "natural" else "baseline")
    over = large_overrides(job)
    workers = v.workers or job.ablations.workers
    t0 = time.perf_counter()
    held = sorted(p.name for p in (job.plan_dir / "ablations").iterdir() if p.name.startswith("h"))
    held = held[: v.holdout_count] if v.holdout_count else held
    if run:  # the first seed, then the held-out mixtures, then the other seeds: a cut-short run has every figure
        order = [(v.seeds[0], list(mixtures)), (v.holdout_seed, held)] + [(s, list(mixtures)) for s in v.seeds[1:]]
        tasks = list(dict.fromkeys((name, f"large-s{seed}", seed) for seed, ids in order for name in ids))
        run_queue(job.plan_dir, tasks, workers, over, progress, label="larger proxies")
    from mixtures.validate import summarize

    result = summarize(job, space, list(mixtures), held, time.perf_counter() - t0)
    (Path(job.output) / "validate.json").write_text(json.dumps(result, indent=1))
    return result


def natural_blends(job: MixtureJobConfig, space: Space, note: str) -> dict:
    """Nothing to optimize (one group, or too few ablations to fit): every stage gets the natural mixture, by
    tokens, with ``note`` in its blend meta, ``optimum.json`` and ``funnel.json`` instead of a failed run."""
    out = {}
    for spec in job.stages:
        folder = job.blend_dir / spec.name
        meta = {"stage": spec.name, "family": "natural", "note": note}
        path = write_blend(space, space.natural, spec.tokens, folder, kind=spec.kind, meta=meta)
        doc = {**meta, "blend": str(path), "groups": space.groups, "weights": [float(w) for w in space.natural],
               "natural": [float(w) for w in space.natural]}  # fmt: skip
        (folder / "optimum.json").write_text(json.dumps(doc, indent=1))
        out[spec.name] = doc
    return out


def degenerate(job: MixtureJobConfig, space: Space) -> str | None:
    """Why this space cannot be optimized (a note), or None: a single group has only one mixture."""
    if len(space.groups) < 2:
        return f"natural blend: {len(space.groups)} group in the shards, nothing to mix"
    return None


def run_all_steps(job: MixtureJobConfig, progress: bool = True) -> dict:
    from mixtures.report import write_report

    Path(job.output).mkdir(parents=True, exist_ok=True)
    space = _space(job)
    note = degenerate(job, space)
    counts = {"ok": 0, "skipped": 0, "failed": 0}
    if note is None:
        plan_step(job)
        counts = run_step(job, progress=progress)
        space = _space(job)
        ok = sum(r["role"] in ("fit", "baseline") for r in collect(job.plan_dir)[0])
        if ok < max(job.folds, 4):  # the fit's minimum: a few ablations failed, or the plan is tiny
            need = max(job.folds, 4)
            note = f"natural blend: {ok} successful ablations ({counts['failed']} failed), the fit needs {need}"
    if note is not None:
        blends = natural_blends(job, space, note)
        result = {"ablations": counts, "family": "natural", "notes": [note],
                  "blends": {k: v["blend"] for k, v in blends.items()}}  # fmt: skip
        (Path(job.output) / "funnel.json").write_text(json.dumps(result, indent=1))
        if progress:
            from rich.console import Console

            c = Console()
            c.print(f"mixture {job.name}: [yellow]note: {note}[/yellow]")
            for name, path in result["blends"].items():
                c.print(f"  {name}: {path}")
        return result
    report = fit_step(job, space)
    blends = optimize_step(job, space, report)
    result = {"ablations": counts, "family": report.family, "blends": {k: v["blend"] for k, v in blends.items()}}
    if job.validate_run is not None:
        result["validate"] = validate_step(job, progress)
    result["report"] = str(write_report(job))
    (Path(job.output) / "funnel.json").write_text(json.dumps(result, indent=1, default=str))
    if progress:
        from rich.console import Console

        c = Console()
        c.print(f"mixture {job.name}: {counts['ok'] + counts['skipped']} ablations, {counts['failed']} failed; "
                f"model {report.family}")  # fmt: skip
        for name, path in result["blends"].items():
            c.print(f"  {name}: {path}")
        c.print(f"  report: {result['report']}")
    return result
