"""The fit ablations as a table: what the fit, the optimum, the validation and the report all read."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from corpusforge.errors import InputError
from mixtures.optimize import to_cells
from mixtures.plan import load_plan
from mixtures.run import collect
from mixtures.space import Space

if TYPE_CHECKING:
    from mixtures.job import MixtureJobConfig


def training_table(job: MixtureJobConfig, space: Space, tag: str = "proxy", cells: bool = False):
    """(X, {target: y}, failed) of the fit ablations; ``cells``: X as cell weights (domain level)."""
    plan = load_plan(job.plan_dir)
    if plan["groups"] != space.groups:
        raise InputError(str(job.plan_dir), "the shards' groups changed since the plan was written; plan again")
    rows, failed = collect(job.plan_dir, tag)
    rows = [r for r in rows if r["role"] in ("fit", "baseline")]
    if not rows:
        raise InputError(str(job.plan_dir), f"no finished ablation ({failed} failed); run `corpusforge mixture run`")
    x = np.array([r["weights"] for r in rows])
    if cells:
        x = np.array([to_cells(space, w)[1] for w in x])
    targets = list(rows[0]["targets"])
    return x, {t: np.array([r["targets"][t] for r in rows]) for t in targets}, failed
