"""The optimum: the mixture minimising a weighted sum of predicted target losses under the constraints.

Search (RegMix's): many mixtures drawn like the ablations (Dirichlet around the natural distribution), each
projected onto the bounds, scored by the fitted model in one batch; the best ``top`` are averaged and the
average projected onto every constraint. Optionally polished by SLSQP (smooth models only). A trust region
keeps each group's share within the range the ablations explored, since no fitted model is to be believed far
outside its data.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import Literal

import numpy as np
from pydantic import Field

from corpusforge.config import Config
from corpusforge.errors import ConfigError
from mixtures.constraints import Bounds, Constraints, bounds, check_feasible, clean, project
from mixtures.fit import FitReport
from mixtures.space import Space


class StageSpec(Config):
    name: str
    tokens: float = Field(gt=0, description="The stage's token budget (the repetition cap is measured on it).")
    kind: Literal["cell", "long"] = "cell"
    targets: dict[str, float] = Field(
        default_factory=lambda: {"*": 1.0}, description="target name or glob -> weight in the objective."
    )
    constraints: Constraints | None = Field(None, description="Replaces the job's constraints for this stage.")


def target_weights(spec: StageSpec, targets: list[str]) -> dict[str, float]:
    out: dict[str, float] = {}
    for pattern, w in spec.targets.items():
        hits = [t for t in targets if fnmatch.fnmatchcase(t, pattern)]
        if not hits:
            raise ConfigError(f"stages.{spec.name}.targets", f"{pattern!r} names no target ({', '.join(targets)})")
        for t in hits:
            if pattern == "*" and t in out:
                continue
            out[t] = float(w)
    if sum(out.values()) <= 0:
        raise ConfigError(f"stages.{spec.name}.targets", "the target weights sum to zero")
    return out


@dataclass
class Optimum:
    weights: np.ndarray
    predicted: float
    natural_predicted: float
    candidates: int


def trust_region(b: Bounds, explored: np.ndarray | None, margin: float = 1.25) -> Bounds:
    if explored is None or not len(explored):
        return b
    hi = np.minimum(b.hi, np.maximum(explored.max(0) * margin, b.lo))
    return Bounds(b.lo, hi, b.rows, b.row_lo, b.row_hi, b.names, b.bound_names)


def optimize(space: Space, report: FitReport, spec: StageSpec, constraints: Constraints,
             explored: np.ndarray | None = None, samples: int = 20_000, top: int = 64, seed: int = 0,
             concentration: float = 1.0, polish: bool = False) -> Optimum:  # fmt: skip
    """The best feasible mixture for a stage by the fitted model (RegMix's search: many candidate mixtures
    drawn like the ablations, the ``top`` best by the model averaged, so the answer stays where the model was
    fitted; ``polish``: then SLSQP on smooth models, which may leave the region the ablations explored)."""
    from scipy.optimize import minimize

    from mixtures.constraints import project_box_simplex_rows

    c = spec.constraints or constraints
    b = bounds(space, c, spec.tokens)
    check_feasible(b, f"stages.{spec.name}")
    tb = trust_region(b, explored)
    if not _feasible(tb):
        tb = b  # the user's constraints reach outside the explored region: honour them, not the trust region
    weights = target_weights(spec, report.targets)

    def objective(w):
        return float(report.predict(w[None, :], weights)[0])

    rng = np.random.default_rng(seed)
    alpha = np.maximum(concentration * len(space.groups) * space.natural, 1e-3)
    draws = rng.dirichlet(alpha, samples)
    if explored is not None:
        draws = np.vstack([draws, explored])
    if tb.lo.sum() <= 1 <= tb.hi.sum():
        cands = project_box_simplex_rows(tb.lo, tb.hi, draws)
    else:
        cands = np.array([project(tb, space.natural)])
    if len(tb.names):  # prefer candidates that already meet the share constraints
        ok = ((tb.rows @ cands.T >= tb.row_lo[:, None] - 1e-9) & (tb.rows @ cands.T <= tb.row_hi[:, None] + 1e-9)).all(0)
        if ok.sum() >= top:
            cands = cands[ok]
    vals = report.predict(cands, weights)  # one batched prediction for every candidate
    best = project(tb, cands[np.argsort(vals)[:top]].mean(0))
    best_val = objective(best)
    if polish and report.models[report.targets[0]].smooth:
        cons = [{"type": "eq", "fun": lambda w: w.sum() - 1}]
        if len(tb.names):
            cons += [{"type": "ineq", "fun": lambda w: tb.rows @ w - tb.row_lo},
                     {"type": "ineq", "fun": lambda w: tb.row_hi - tb.rows @ w}]  # fmt: skip
        res = minimize(objective, best, method="SLSQP", bounds=list(zip(tb.lo, tb.hi, strict=True)),
                       constraints=cons, options={"maxiter": 200})  # fmt: skip
        w = clean(res.x, tb)
        if tb.feasible(w, 1e-5) and objective(w) < best_val:
            best, best_val = w, objective(w)
    if not b.feasible(best, 1e-5):
        best = project(b, best)
        best_val = objective(best)
    nat = project(b, space.natural)
    return Optimum(best, best_val, objective(nat), len(cands))


def _feasible(b: Bounds) -> bool:
    from mixtures.constraints import _lp_feasible

    return _lp_feasible(b)


def cell_uniform(space: Space) -> np.ndarray:
    """Equal share per cell, natural within a cell (the uniform baseline over domains)."""
    cells = [lab["cell"] for lab in space.group_labels]
    names = sorted(set(cells))
    w = np.zeros(len(cells))
    for name in names:
        mask = np.array([c == name for c in cells])
        w[mask] = space.natural[mask] / space.natural[mask].sum() / len(names)
    return w


def to_cells(space: Space, w: np.ndarray) -> tuple[list[str], np.ndarray]:
    """Group weights summed per cell (the domain-level view of a mixture)."""
    cells = [lab["cell"] for lab in space.group_labels]
    names = sorted(set(cells))
    return names, np.array([[c == n for c in cells] for n in names], dtype=float) @ w


def from_cells(space: Space, cell_w: np.ndarray) -> np.ndarray:
    """Cell weights spread over a cell's groups by their natural shares."""
    names, _ = to_cells(space, space.natural)
    cells = [lab["cell"] for lab in space.group_labels]
    w = np.zeros(len(cells))
    for k, name in enumerate(names):
        mask = np.array([c == name for c in cells])
        w[mask] = cell_w[k] * space.natural[mask] / space.natural[mask].sum()
    return w
