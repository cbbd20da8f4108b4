"""The optimum honours every constraint (seeded random constraint sets), infeasible sets name their culprits,
the fit ranks a known loss surface and chooses a family by cross-validation in seconds."""

from __future__ import annotations

import time

import numpy as np
import pytest

from mixtures.constraints import Constraints, InfeasibleError, bounds
from mixtures.fit import fit
from mixtures.optimize import StageSpec, optimize


def _report(space, seed=0, n=24):
    """A fit on a synthetic, known surface: loss falls with the share of math groups."""
    rng = np.random.default_rng(seed)
    g = len(space.groups)
    x = rng.dirichlet(np.ones(g), n)
    math_ = space.select("source=math").astype(float)
    y = {"t1": 3.0 - x @ math_ + rng.normal(0, 0.01, n), "t2": 2.5 - 0.5 * x @ math_ + x[:, 0]}
    return fit(x, y, ("linear", "loglinear", "mixing_law"), folds=4), x


def test_fit_ranks_and_is_fast(space):
    t0 = time.perf_counter()
    report, _ = _report(space)
    assert time.perf_counter() - t0 < 30
    assert report.family in ("linear", "loglinear", "mixing_law")
    assert report.scores[report.family]["t1"]["spearman"] > 0.8


def test_random_constraint_sets_are_honoured(space):
    report, explored = _report(space)
    rng = np.random.default_rng(7)
    selectors = ["source=web", "source=math", "source=code", "edu_score=q0", "edu_score=q1", *space.groups[:3]]
    feasible = infeasible = 0
    for trial in range(25):
        kw = {"max_epochs_document": float(rng.choice([0.5, 1, 4])), "max_epochs_group": float(rng.choice([1, 4]))}
        picks = rng.choice(len(selectors), size=3, replace=False)
        kw["min_share"] = {selectors[picks[0]]: float(rng.uniform(0, 0.5))}
        kw["max_share"] = {selectors[picks[1]]: float(rng.uniform(0.1, 0.9))}
        if trial % 3 == 0:
            kw["exclude"] = [selectors[picks[2]]]
        if trial % 4 == 1:
            kw["pin"] = {selectors[picks[2]]: float(rng.uniform(0, 0.3))}
        c = Constraints(**kw)
        tokens = float(rng.choice([2_000, 5_000, 20_000]))
        spec = StageSpec(name="s", tokens=tokens)
        try:
            opt = optimize(space, report, spec, c, explored=explored, samples=32, seed=trial)
        except InfeasibleError as exc:
            infeasible += 1
            assert "infeasible" in str(exc)
            continue
        feasible += 1
        b = bounds(space, c, tokens)
        w = opt.weights
        assert abs(w.sum() - 1) < 1e-5
        assert (w <= b.hi + 1e-5).all() and (w >= -1e-9).all()
        epochs = w * tokens / space.group_tokens
        assert (epochs <= min(c.max_epochs_document, c.max_epochs_group) + 1e-4).all()
        for sel, v in c.min_share.items():
            assert w[space.select(sel)].sum() >= v - 1e-5
        for sel, v in c.max_share.items():
            assert w[space.select(sel)].sum() <= v + 1e-5
        for sel, v in c.pin.items():
            assert abs(w[space.select(sel)].sum() - v) < 1e-5
        for sel in c.exclude:
            assert w[space.select(sel)].sum() < 1e-8
    assert feasible >= 5 and infeasible >= 1


def test_infeasible_names_the_constraints(space):
    report, explored = _report(space)
    c = Constraints(min_share={"source=math": 0.7, "source=web": 0.6})
    with pytest.raises(InfeasibleError, match=r"min_share\[source=math\]=0.7.*min_share\[source=web\]=0.6"):
        optimize(space, report, StageSpec(name="s1", tokens=5000), c, explored=explored)
    with pytest.raises(InfeasibleError, match="repetition cap"):
        optimize(space, report, StageSpec(name="s1", tokens=1e9), Constraints(), explored=explored)


def test_optimum_follows_the_fitted_surface(space):
    report, explored = _report(space)
    opt = optimize(space, report, StageSpec(name="s", tokens=5000, targets={"t1": 1}), Constraints(),
                   explored=explored)  # fmt: skip
    assert opt.predicted <= opt.natural_predicted
    math_ = space.select("source=math")
    assert opt.weights[math_].sum() > space.natural[math_].sum()
