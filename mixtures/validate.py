"""The validation experiment's figures, from the larger proxies' results (``large-s<seed>`` tags).

- ``steps_ratio``: steps the optimized mixture needs to reach the uniform mixture's final mean target loss,
  over the uniform run's steps (per seed; from the loss curves, linearly interpolated); goal <= 0.70;
- ``spearman_heldout``: predicted (fit on the small ablations) vs measured mean target loss of the plan's
  held-out mixtures at the larger size; goal >= 0.9;
- ``instance_vs_cells``: measured mean target loss of the instance-level optimum vs the cell-level one, on the
  seeds both ran;
- ``edu``: the educational target's loss with the top edu_score bin upweighted vs natural, at equal tokens.
"""

from __future__ import annotations

import json

import numpy as np
from scipy.stats import spearmanr

from mixtures.fit import fit
from mixtures.run import result_path


def _load(job, name: str, tag: str) -> dict | None:
    path = result_path(job.plan_dir / "ablations" / name, tag)
    if not path.is_file():
        return None
    res = json.loads(path.read_text())
    return res if res.get("status") == "ok" else None


def _mean(res: dict) -> float:
    return float(np.mean(list(res["targets"].values())))


def steps_to_reach(curve: list[list[float]], level: float) -> float | None:
    """First (interpolated) step where the curve is at or below ``level``; None if it never is."""
    prev = None
    for step, loss in curve:
        if loss <= level:
            if prev is None or prev[1] == loss:
                return float(step)
            s0, l0 = prev
            return float(s0 + (step - s0) * (l0 - level) / (l0 - loss))
        prev = (step, loss)
    return None


def summarize(job, space, mixtures: list[str], held: list[str], wall_s: float) -> dict:
    from mixtures.table import training_table

    v = job.validate_run
    out: dict = {"wall_s": round(wall_s, 1), "seeds": v.seeds, "mixtures": {}}
    tags = {f"large-s{s}" for s in [*v.seeds, v.holdout_seed]}
    walls = [json.loads(p.read_text()).get("wall_s", 0.0) for t in tags for p in job.plan_dir.glob(f"ablations/*/{t}.json")]
    out["runs"], out["runs_wall_s"] = len(walls), round(float(sum(walls)), 1)
    for name in mixtures:
        runs = {s: _load(job, name, f"large-s{s}") for s in v.seeds}
        ok = {s: r for s, r in runs.items() if r}
        per_seed = {str(s): _mean(r) for s, r in ok.items()}
        out["mixtures"][name] = {
            "runs": len(ok),
            "mean_target_loss": float(np.mean(list(per_seed.values()))) if ok else None,
            "per_seed": per_seed,
            "seed_std": float(np.std(list(per_seed.values()), ddof=1)) if len(ok) > 1 else None,
            "targets": {t: float(np.mean([r["targets"][t] for r in ok.values()])) for t in space.targets} if ok else {},
            "targets_per_seed": {str(s): r["targets"] for s, r in ok.items()},
            "curves": {str(s): r.get("curve", []) for s, r in ok.items()},
            "params": next(iter(ok.values()))["params"] if ok else None,
            "tokens_per_s": float(np.median([r["tokens_per_s"] for r in ok.values()])) if ok else None,
            "peak_rss_mib": float(max(r["peak_rss_mib"] for r in ok.values())) if ok else None,
        }
    ratios, curves_u, curves_o = [], [], []
    for s in v.seeds:
        u, o = _load(job, "uniform", f"large-s{s}"), _load(job, "optimized", f"large-s{s}")
        if u and o and u.get("curve") and o.get("curve"):
            reach = steps_to_reach(o["curve"], u["curve"][-1][1])
            ratios.append(None if reach is None else reach / u["curve"][-1][0])
            curves_u.append(u["curve"])
            curves_o.append(o["curve"])
    mean_curve = None
    if curves_u and len({len(c) for c in curves_u + curves_o}) == 1:  # the seeds' curves averaged point by point
        cu, co = np.mean(np.array(curves_u), 0), np.mean(np.array(curves_o), 0)
        reach = steps_to_reach(co.tolist(), float(cu[-1][1]))
        mean_curve = None if reach is None else reach / float(cu[-1][0])
    out["steps_ratio"] = {"per_seed": ratios, "goal": 0.7, "seed_mean_curve": mean_curve,
                          "mean": float(np.mean(ratios)) if ratios and None not in ratios else None}  # fmt: skip
    out["paired"] = {  # per seed (same seed: same init, same sampler stream), mixture minus uniform / natural
        f"{a}-{b}": {s: out["mixtures"][a]["per_seed"][s] - out["mixtures"][b]["per_seed"][s]
                     for s in out["mixtures"][a]["per_seed"] if s in out["mixtures"][b]["per_seed"]}
        for a in ("optimized", "optimized-cells", "edu-up") for b in ("uniform", "natural")
        if a in out["mixtures"] and b in out["mixtures"]
    }  # fmt: skip
    x, y, failed = training_table(job, space)
    report = fit(x, y, job.families, job.folds, failed)
    pred, meas, names = [], [], []
    for h in held:
        r = _load(job, h, f"large-s{v.holdout_seed}")
        if r is None:
            continue
        w = np.array(json.loads((job.plan_dir / "ablations" / h / "mixture.json").read_text())["weights"])
        pred.append(float(report.predict(w[None, :])[0]))
        meas.append(_mean(r))
        names.append(h)
    out["spearman_heldout"] = {
        "n": len(names), "goal": 0.9, "family": report.family, "mixtures": names, "predicted": pred, "measured": meas,
        "spearman": float(spearmanr(pred, meas).statistic) if len(names) >= 3 else None,
        "pearson": float(np.corrcoef(pred, meas)[0, 1]) if len(names) >= 3 else None,
    }  # fmt: skip
    mix = out["mixtures"]
    if mix.get("optimized", {}).get("runs") and mix.get("optimized-cells", {}).get("runs"):
        pa, pb = mix["optimized"]["per_seed"], mix["optimized-cells"]["per_seed"]
        common = [k for k in pa if k in pb]  # compared on the seeds both ran (same seed: same init and stream)
        if common:
            a, b = float(np.mean([pa[k] for k in common])), float(np.mean([pb[k] for k in common]))
            out["instance_vs_cells"] = {"seeds": common, "instance": a, "cells": b, "instance_lower": a < b,
                                        "instance_minus_cells": {k: pa[k] - pb[k] for k in common},
                                        "seeds_instance_lower": sum(pa[k] < pb[k] for k in common)}  # fmt: skip
    edu_t = next((t for t in space.targets if t.startswith("edu")), None)
    if edu_t and mix.get("edu-up", {}).get("runs") and mix.get("natural", {}).get("runs"):
        ta, tb = mix["edu-up"]["targets_per_seed"], mix["natural"]["targets_per_seed"]
        common = [k for k in ta if k in tb]
        if common:
            a, b = float(np.mean([ta[k][edu_t] for k in common])), float(np.mean([tb[k][edu_t] for k in common]))
            out["edu"] = {"target": edu_t, "seeds": common, "edu_up": a, "natural": b, "edu_up_lower": a < b,
                          "edu_up_minus_natural": {k: ta[k][edu_t] - tb[k][edu_t] for k in common},
                          "seeds_edu_up_lower": sum(ta[k][edu_t] < tb[k][edu_t] for k in common)}  # fmt: skip
    return out
