"""``report/report.md`` with PNG plots: predicted vs measured (cross-validated, and held-out mixtures at the
larger size), loss curves of the ablations and validation runs, weights per group and stage."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _cv_predictions(job, space) -> tuple[np.ndarray, np.ndarray, str]:
    from mixtures.fit import fit, make
    from mixtures.table import training_table

    x, y, failed = training_table(job, space)
    rep = fit(x, y, job.families, job.folds, failed)
    ym = np.mean(list(y.values()), axis=0)
    order = np.random.default_rng(0).permutation(len(ym))
    pred = np.zeros(len(ym))
    for k in range(job.folds):
        test = order[k :: job.folds]
        train = np.setdiff1d(order, test)
        pred[test] = np.mean([make(rep.family).fit(x[train], yy[train]).predict(x[test]) for yy in y.values()], axis=0)
    return pred, ym, rep.family


def write_report(job) -> Path:
    from mixtures.space import build_space

    plt = _plt()
    out = Path(job.output) / "report"
    out.mkdir(parents=True, exist_ok=True)
    space = build_space(job.space)
    lines = [f"# Mixture report: {job.name}", ""]
    fitdoc = json.loads((Path(job.output) / "fit.json").read_text()) if (Path(job.output) / "fit.json").is_file() else None
    if fitdoc:
        lines += [f"Ablations fitted: {fitdoc['ablations']} (failed, excluded: {fitdoc['failed_excluded']}); "
                  f"chosen model: **{fitdoc['chosen']}** (fit of every family in {fitdoc['seconds']} s).", "",
                  "| model | mean CV Spearman | mean CV RMSE |", "|---|---|---|"]  # fmt: skip
        for fam, s in fitdoc["scores"].items():
            sp = np.mean([v["spearman"] for v in s.values()])
            rm = np.mean([v["rmse"] for v in s.values()])
            lines.append(f"| {fam} | {sp:.3f} | {rm:.4f} |")
        lines.append("")
        pred, meas, fam = _cv_predictions(job, space)
        fig, ax = plt.subplots(figsize=(4.5, 4))
        ax.scatter(meas, pred, s=14, label=f"ablations (5-fold CV, {fam})")
        val = Path(job.output) / "validate.json"
        if val.is_file():
            v = json.loads(val.read_text())["spearman_heldout"]
            if v["n"]:
                ax2 = ax.twiny()
                ax2.scatter(v["measured"], v["predicted"], s=18, color="C3", marker="x")
                ax2.set_xlabel("measured, held-out mixtures at the larger size (x)", color="C3")
        lo, hi = min(meas.min(), pred.min()), max(meas.max(), pred.max())
        ax.plot([lo, hi], [lo, hi], "k--", lw=0.8)
        ax.set_xlabel("measured mean target loss (proxy)")
        ax.set_ylabel("predicted")
        ax.legend(fontsize=7, loc="upper left")
        fig.tight_layout()
        fig.savefig(out / "predicted_vs_measured.png", dpi=110)
        plt.close(fig)
        lines += ["![predicted vs measured](predicted_vs_measured.png)", ""]
    # loss curves: ablations' training loss, validation runs' mean target loss
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
    for m in sorted((job.plan_dir / "ablations").glob("*/proxy.metrics.jsonl"))[:60]:
        losses = [json.loads(x)["loss"] for x in m.read_text().splitlines() if x.strip()]
        axes[0].plot(losses, lw=0.6, alpha=0.5)
    axes[0].set_title("ablations: training loss")
    axes[0].set_xlabel("step")
    val = Path(job.output) / "validate.json"
    if val.is_file():
        v = json.loads(val.read_text())
        for k, (name, m) in enumerate(v["mixtures"].items()):
            for seed, curve in m["curves"].items():
                if curve:
                    c = np.array(curve)
                    axes[1].plot(c[:, 0], c[:, 1], color=f"C{k}", lw=1, label=name if seed == str(v["seeds"][0]) else None)
        axes[1].set_title("larger proxy: mean target loss")
        axes[1].set_xlabel("step")
        axes[1].legend(fontsize=7)
        lines += _validation_lines(v)
    fig.tight_layout()
    fig.savefig(out / "loss_curves.png", dpi=110)
    plt.close(fig)
    lines += ["![loss curves](loss_curves.png)", ""]
    # weights per group and stage
    stages = [(s.name, job.blend_dir / s.name / "optimum.json") for s in job.stages]
    stages = [(n, json.loads(p.read_text())) for n, p in stages if p.is_file()]
    if stages:
        g = len(space.groups)
        fig, ax = plt.subplots(figsize=(10, 0.22 * g + 1.5))
        h = 0.8 / (len(stages) + 1)
        ax.barh(np.arange(g), space.natural, h, label="natural", color="0.7")
        for k, (name, doc) in enumerate(stages):
            ax.barh(np.arange(g) + h * (k + 1), doc["weights"], h, label=name)
        ax.set_yticks(np.arange(g) + 0.4, [x[:70] for x in space.groups], fontsize=6)
        ax.set_xlabel("share of the stage's tokens")
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(out / "weights.png", dpi=110)
        plt.close(fig)
        lines += ["## Blends", "", "| stage | blend | predicted objective | natural's |", "|---|---|---|---|"]
        for name, doc in stages:
            lines.append(f"| {name} | `{doc['blend']}` | {doc['predicted']:.4f} | {doc['natural_predicted']:.4f} |")
        lines += ["", "![weights](weights.png)", ""]
    path = out / "report.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def _f(x) -> str:
    return "-" if x is None else f"{x:.3f}"


def _validation_lines(v: dict) -> list[str]:
    seeds = [str(s) for s in v["seeds"]]
    lines = ["## Validation at the larger size", "",
             "| mixture | runs | mean target loss | " + " | ".join(f"seed {s}" for s in seeds) + " | seed std |",
             "|---|---|---|" + "---|" * (len(seeds) + 1)]  # fmt: skip
    for name, m in v["mixtures"].items():
        per = m.get("per_seed", {})
        cells = " | ".join(_f(per.get(s)) for s in seeds)
        lines.append(f"| {name} | {m['runs']} | {_f(m['mean_target_loss'])} | {cells} | {_f(m.get('seed_std'))} |")
    sr = v["steps_ratio"]
    per = ", ".join("not reached" if r is None else f"{r:.2f}" for r in sr["per_seed"])
    lines += ["", f"- steps for optimized to reach uniform's final loss / uniform's steps, per seed: {per}; "
              f"on the seed-mean curves: {_f(sr.get('seed_mean_curve'))} (goal <= 0.7)"]  # fmt: skip
    for key, d in v.get("paired", {}).items():
        lines.append(f"- {key}, per seed: " + ", ".join(f"{x:+.3f}" for x in d.values()))
    sh = v["spearman_heldout"]
    if sh["spearman"] is not None:
        lines.append(f"- Spearman predicted vs measured, {sh['n']} held-out mixtures: {sh['spearman']:.3f} "
                     f"(Pearson {_f(sh.get('pearson'))}; goal >= 0.9)")  # fmt: skip
    if "instance_vs_cells" in v:
        ic = v["instance_vs_cells"]
        lines.append(f"- instance level {ic['instance']:.4f} vs cell level {ic['cells']:.4f} "
                     f"(instance lower on {ic.get('seeds_instance_lower', '-')} of {len(ic.get('instance_minus_cells', {}))} seeds)")  # fmt: skip
    if "edu" in v:
        e = v["edu"]
        lines.append(f"- {e['target']}: edu upweighted {e['edu_up']:.4f} vs natural {e['natural']:.4f} "
                     f"(lower on {e.get('seeds_edu_up_lower', '-')} of {len(e.get('edu_up_minus_natural', {}))} seeds)")  # fmt: skip
    lines.append(f"- larger-proxy runs: {v.get('runs', 0)}, {v.get('runs_wall_s', 0):.0f} s of worker wall time summed")
    return lines + [""]
