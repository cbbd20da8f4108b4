"""Constraints on a mixture (a share of a stage's tokens per group): the repetition cap, minimum and maximum
shares of groups or labels, pinned and excluded groups. They become bounds plus linear rows, checked for
feasibility with a linear program; when infeasible, the message names the constraints whose removal restores
feasibility."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pydantic import Field

from corpusforge.config import Config
from corpusforge.errors import ConfigError
from mixtures.space import Space


class Constraints(Config):
    max_epochs_document: float = Field(4.0, gt=0, description="No document is seen more often than this.")
    max_epochs_group: float = Field(4.0, gt=0, description="No group's tokens are repeated more than this.")
    min_share: dict[str, float] = Field(default_factory=dict, description="selector -> least share of tokens.")
    max_share: dict[str, float] = Field(default_factory=dict, description="selector -> largest share of tokens.")
    pin: dict[str, float] = Field(default_factory=dict, description="selector -> exact share.")
    exclude: list[str] = Field(default_factory=list, description="selectors whose groups get no tokens.")


class InfeasibleError(ConfigError):
    """No mixture satisfies the constraints."""


@dataclass
class Bounds:
    lo: np.ndarray
    hi: np.ndarray
    rows: np.ndarray  # k x G (0/1 membership)
    row_lo: np.ndarray
    row_hi: np.ndarray
    names: list[str]  # per row, and for bounds: the constraint each came from
    bound_names: list[str]

    def feasible(self, w: np.ndarray, tol: float = 1e-6) -> bool:
        return bool(
            abs(w.sum() - 1) < tol
            and (w >= self.lo - tol).all()
            and (w <= self.hi + tol).all()
            and (self.rows @ w >= self.row_lo - tol).all()
            and (self.rows @ w <= self.row_hi + tol).all()
        )


def _share(value: float, name: str) -> float:
    if not 0 <= value <= 1:
        raise ConfigError(name, f"a share is in [0, 1], got {value}")
    return float(value)


def bounds(space: Space, c: Constraints, tokens: float) -> Bounds:
    """Per-group bounds (repetition cap, exclusions) and selector rows (min/max/pin), for a stage of ``tokens``."""
    if tokens <= 0:
        raise ConfigError("tokens", f"a stage's token budget is positive, got {tokens}")
    g = len(space.groups)
    epochs = min(c.max_epochs_document, c.max_epochs_group)
    hi = np.minimum(1.0, epochs * space.group_tokens / tokens)
    lo = np.zeros(g)
    bnames = [f"repetition cap ({epochs:g} epochs of {int(t):,} tokens)" for t in space.group_tokens]
    for sel in c.exclude:
        mask = space.select(sel)
        hi[mask] = 0.0
        for i in np.flatnonzero(mask):
            bnames[i] = f"exclude[{sel}]"
    rows, rlo, rhi, names = [], [], [], []
    for kind, table in (("min_share", c.min_share), ("max_share", c.max_share), ("pin", c.pin)):
        for sel, v in table.items():
            v = _share(v, f"constraints.{kind}.{sel}")
            rows.append(space.select(sel).astype(float))
            rlo.append(v if kind in ("min_share", "pin") else 0.0)
            rhi.append(v if kind in ("max_share", "pin") else 1.0)
            names.append(f"{kind}[{sel}]={v:g}")
    rows_a = np.array(rows) if rows else np.zeros((0, g))
    return Bounds(lo, hi, rows_a, np.array(rlo), np.array(rhi), names, bnames)


def _lp_feasible(b: Bounds, skip_row: int | None = None, relax_bounds: str | None = None) -> bool:
    from scipy.optimize import linprog

    g = len(b.lo)
    hi = b.hi.copy()
    if relax_bounds is not None:
        hi[[n == relax_bounds for n in b.bound_names]] = 1.0
    keep = [i for i in range(len(b.names)) if i != skip_row]
    a_ub = np.vstack([b.rows[keep], -b.rows[keep]]) if keep else None
    b_ub = np.concatenate([b.row_hi[keep], -b.row_lo[keep]]) if keep else None
    res = linprog(
        np.zeros(g), A_ub=a_ub, b_ub=b_ub, A_eq=np.ones((1, g)), b_eq=[1.0], bounds=list(zip(b.lo, hi, strict=True)),
        method="highs",
    )  # fmt: skip
    return res.status == 0


def check_feasible(b: Bounds, stage: str = "stage") -> None:
    """Raise `InfeasibleError` naming the constraints that, removed one at a time, make the problem feasible."""
    if _lp_feasible(b):
        return
    culprits = [b.names[i] for i in range(len(b.names)) if _lp_feasible(b, skip_row=i)]
    kinds = sorted({n for n in b.bound_names if n.startswith("exclude")})
    culprits += [k for k in kinds if _lp_feasible(b, relax_bounds=k)]
    if b.hi.sum() < 1 - 1e-9:
        culprits.append(f"repetition cap / exclusions allow only {b.hi.sum():.3f} of the budget")
    detail = "; ".join(culprits) if culprits else "; ".join(b.names) or "the repetition cap"
    raise InfeasibleError(f"{stage}.constraints", f"infeasible: {detail}")


def project_box_simplex(lo: np.ndarray, hi: np.ndarray, target: np.ndarray) -> np.ndarray | None:
    """Euclidean projection onto {lo <= w <= hi, sum w = 1}: ``clip(target - t)`` with t found by bisection."""
    if lo.sum() > 1 + 1e-12 or hi.sum() < 1 - 1e-12:
        return None
    a, b = float((target - hi).min()) - 1, float((target - lo).max()) + 1
    for _ in range(100):
        t = (a + b) / 2
        if np.clip(target - t, lo, hi).sum() > 1:
            a = t
        else:
            b = t
    return np.clip(target - (a + b) / 2, lo, hi)


def project_box_simplex_rows(lo: np.ndarray, hi: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """`project_box_simplex` of every row of ``targets`` at once (vectorised bisection)."""
    a = (targets - hi).min(1) - 1
    b = (targets - lo).max(1) + 1
    for _ in range(60):
        t = (a + b) / 2
        over = np.clip(targets - t[:, None], lo, hi).sum(1) > 1
        a, b = np.where(over, t, a), np.where(over, b, t)
    return np.clip(targets - ((a + b) / 2)[:, None], lo, hi)


def project(b: Bounds, target: np.ndarray) -> np.ndarray:
    """The feasible mixture nearest ``target`` (least squares): exact bisection when only bounds constrain it,
    else SLSQP from a feasible LP start."""
    from scipy.optimize import minimize

    if not len(b.names):
        w = project_box_simplex(b.lo, b.hi, np.asarray(target, dtype=float))
        if w is not None:
            return w
    start = feasible_point(b)
    cons = [{"type": "eq", "fun": lambda w: w.sum() - 1, "jac": lambda w: np.ones_like(w)}]
    if len(b.names):
        cons.append({"type": "ineq", "fun": lambda w: b.rows @ w - b.row_lo, "jac": lambda w: b.rows})
        cons.append({"type": "ineq", "fun": lambda w: b.row_hi - b.rows @ w, "jac": lambda w: -b.rows})
    res = minimize(
        lambda w: float(((w - target) ** 2).sum()), start, jac=lambda w: 2 * (w - target), method="SLSQP",
        bounds=list(zip(b.lo, b.hi, strict=True)), constraints=cons, options={"maxiter": 200, "ftol": 1e-12},
    )  # fmt: skip
    w = clean(res.x, b)
    return w if b.feasible(w, 1e-5) else start


def clean(w: np.ndarray, b: Bounds) -> np.ndarray:
    w = np.clip(w, b.lo, b.hi)
    return w / w.sum() if w.sum() > 0 else w


def feasible_point(b: Bounds) -> np.ndarray:
    from scipy.optimize import linprog

    g = len(b.lo)
    a_ub = np.vstack([b.rows, -b.rows]) if len(b.names) else None
    b_ub = np.concatenate([b.row_hi, -b.row_lo]) if len(b.names) else None
    res = linprog(
        np.zeros(g), A_ub=a_ub, b_ub=b_ub, A_eq=np.ones((1, g)), b_eq=[1.0],
        bounds=list(zip(b.lo, b.hi, strict=True)), method="highs",
    )  # fmt: skip
    if res.status != 0:
        check_feasible(b)
    return res.x
