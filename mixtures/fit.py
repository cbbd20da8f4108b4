"""From mixture weights to each target's loss: four model families, compared by cross-validation.

- ``linear``: ridge regression on the weights (RegMix's linear baseline);
- ``loglinear``: ridge on ``log(w + eps)`` (diminishing returns of a group's share);
- ``lightgbm``: gradient-boosted trees (RegMix's choice);
- ``mixing_law``: Data Mixing Laws' ``L = c + k * exp(t . w)``, fitted by least squares.

Each family is scored per target by K-fold Spearman (rank of held-out predictions) and RMSE; the family with the
best mean Spearman over the targets (RMSE breaks ties) is chosen, then refitted on every ablation.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
from scipy.stats import spearmanr

FAMILIES = ("linear", "loglinear", "lightgbm", "mixing_law")
EPS = 1e-3


class Model:
    def fit(self, x: np.ndarray, y: np.ndarray) -> Model: ...

    def predict(self, x: np.ndarray) -> np.ndarray: ...

    smooth = True


class Ridge(Model):
    """Ridge on centred (not standardised: a group whose share barely varies must not get a huge coefficient)
    features; ``alpha=None``: chosen by exact leave-one-out error (closed form)."""

    ALPHAS = tuple(float(a) for a in np.geomspace(1e-6, 1.0, 13))

    def __init__(self, log: bool = False, alpha: float | None = None):
        self.log, self.alpha = log, alpha

    def _f(self, x):
        return np.log(x + EPS) if self.log else x

    def fit(self, x, y):
        f = self._f(x)
        self.mu, self.sd = f.mean(0), float(f.std()) + 1e-9
        z = (f - self.mu) / self.sd
        self.b = y.mean()
        yc = y - self.b
        best = None
        for alpha in (self.ALPHAS if self.alpha is None else (self.alpha,)):
            inv = np.linalg.inv(z.T @ z + alpha * len(y) * np.eye(z.shape[1]))
            coef = inv @ z.T @ yc
            hat = np.einsum("ij,jk,ik->i", z, inv, z)
            loo = float((((yc - z @ coef) / np.maximum(1 - hat - 1 / len(y), 1e-6)) ** 2).mean())
            if best is None or loo < best[0]:
                best = (loo, coef, alpha)
        _, self.coef, self.chosen_alpha = best
        return self

    def predict(self, x):
        return (self._f(np.atleast_2d(x)) - self.mu) / self.sd @ self.coef + self.b


class MixingLaw(Model):
    """L(w) = c + k exp(t . w) (Data Mixing Laws). For a fixed floor c, log(L - c) is linear in w: a ridge fit per
    candidate c on a grid below min(L), the c with the least squared error kept (no iterative solver: ms)."""

    def fit(self, x, y):
        best = None
        span = max(float(y.max() - y.min()), 1e-6)
        for c in float(y.min()) - span * np.geomspace(1e-2, 1e2, 25):
            r = Ridge().fit(x, np.log(y - c))
            err = float(((c + np.exp(r.predict(x)) - y) ** 2).sum())
            if best is None or err < best[0]:
                best = (err, c, r)
        _, self.c, self.r = best
        return self

    def predict(self, x):
        return self.c + np.exp(np.clip(self.r.predict(np.atleast_2d(x)), -50, 50))


class GBM(Model):
    smooth = False

    def fit(self, x, y):
        import lightgbm as lgb

        self.m = lgb.LGBMRegressor(
            n_estimators=100, learning_rate=0.08, num_leaves=8, min_child_samples=3, subsample=0.9,
            subsample_freq=1, colsample_bytree=0.8, verbose=-1, random_state=0, n_jobs=1,
        )  # fmt: skip
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.m.fit(x, y)
        return self

    def predict(self, x):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return self.m.predict(np.atleast_2d(x))


def make(family: str) -> Model:
    return {"linear": lambda: Ridge(False), "loglinear": lambda: Ridge(True), "lightgbm": GBM,
            "mixing_law": MixingLaw}[family]()  # fmt: skip


@dataclass
class FitReport:
    family: str
    scores: dict[str, dict[str, dict[str, float]]]  # family -> target -> {spearman, rmse}
    models: dict[str, Model] = field(repr=False)  # target -> fitted model of the chosen family
    targets: list[str] = field(default_factory=list)
    n: int = 0
    failed: int = 0

    def predict(self, x: np.ndarray, weights: dict[str, float] | None = None) -> np.ndarray:
        """The weighted sum of predicted target losses (``weights``: target -> weight; None: equal)."""
        weights = weights or {t: 1.0 for t in self.targets}
        total = sum(weights.values())
        return sum(w / total * self.models[t].predict(x) for t, w in weights.items())


def cross_validate(x: np.ndarray, y: np.ndarray, family: str, folds: int = 5, seed: int = 0) -> dict[str, float]:
    n = len(y)
    order = np.random.default_rng(seed).permutation(n)
    pred = np.empty(n)
    for k in range(folds):
        test = order[k::folds]
        train = np.setdiff1d(order, test)
        pred[test] = make(family).fit(x[train], y[train]).predict(x[test])
    rho = spearmanr(pred, y).statistic if np.std(pred) > 0 else 0.0
    return {"spearman": float(np.nan_to_num(rho)), "rmse": float(np.sqrt(np.mean((pred - y) ** 2)))}


def fit(x: np.ndarray, losses: dict[str, np.ndarray], families=FAMILIES, folds: int = 5, failed: int = 0) -> FitReport:
    """Score every family on every target, choose the best by mean Spearman, refit it on all rows."""
    if len(x) < max(folds, 4):
        from corpusforge.errors import InputError

        raise InputError("ablations", f"{len(x)} successful ablations; the fit needs at least {max(folds, 4)}")
    scores = {f: {t: cross_validate(x, y, f, folds) for t, y in losses.items()} for f in families}

    def key(f):
        s = scores[f]
        return (np.mean([v["spearman"] for v in s.values()]), -np.mean([v["rmse"] for v in s.values()]))

    best = max(families, key=key)
    models = {t: make(best).fit(x, y) for t, y in losses.items()}
    return FitReport(best, scores, models, list(losses), len(x), failed)
