"""`corpusforge eval dedup`: how well MinHash-LSH (and verification) separates labelled near-duplicate pairs.

Input: JSON lines ``{"a": text, "b": text, "label": 0|1}`` (other keys are kept for the per-kind summary;
``kind`` groups pairs there). Each pair is shingled and signed exactly as the dedup job does, with the
configured `MinHashConfig`, and scored three ways:

- LSH alone: the pair is a candidate when any band key is equal (what the job links without verification);
- LSH + verification: a candidate whose true Jaccard of the shingle sets reaches the threshold (swept);
- the true Jaccard alone (swept): what any MinHash setting can at best approximate, i.e. the ceiling.

The MinHash-estimated Jaccard is reported beside them. Verification cost is the time to compute the true
Jaccard of one candidate pair from its two shingle sets, the work the job adds per candidate.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import typer
import yaml
from rich.console import Console
from rich.table import Table

from corpusforge.errors import ConfigError, InputError
from pipelines.dedup.minhash import MinHashConfig, MinHasher, estimated_jaccard, jaccard

THRESHOLDS = tuple(round(0.30 + 0.05 * i, 2) for i in range(14))  # 0.30 .. 0.95
SHOWN = (0.5, 0.6, 0.7, 0.8)


def load_pairs(path: Path) -> list[dict]:
    """Pairs from a JSONL file; a bad line is an `InputError` naming its line number."""
    pairs = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            where = f"{path}, line {lineno}"
            try:
                pair = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(where, f"not valid JSON: {exc.msg}") from None
            if not isinstance(pair, dict):
                raise InputError(where, "not a JSON object")
            for key in ("a", "b"):
                if not isinstance(pair.get(key), str):
                    raise InputError(where, f"'{key}' must be a string")
            label = pair.get("label")
            if isinstance(label, bool) or label not in (0, 1):
                raise InputError(where, f"'label' must be 0 or 1, got {label!r}")
            pairs.append(pair)
    if not pairs:
        raise InputError(str(path), "no pairs in the file")
    return pairs


def load_minhash_config(path: Path | None) -> MinHashConfig:
    """A MinHashConfig from YAML: the mapping itself, or nested in a fuzzy, dedup or dedup-job config."""
    if path is None:
        return MinHashConfig()
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError("<file>", f"cannot read YAML: {exc}", str(path)) from None
    if not isinstance(data, dict):
        raise ConfigError("<root>", "the file must hold a mapping", str(path))
    for nesting in (("dedup", "fuzzy", "minhash"), ("fuzzy", "minhash"), ("minhash",)):
        node: Any = data
        for key in nesting:
            node = node.get(key) if isinstance(node, dict) else None
        if node is not None:
            if not isinstance(node, dict):
                raise ConfigError(".".join(nesting), "must be a mapping", str(path))
            try:
                return MinHashConfig.parse(node, source=str(path))
            except ConfigError as exc:
                raise ConfigError(f"{'.'.join(nesting)}.{exc.field}", exc.problem, str(path)) from None
    return MinHashConfig.parse(data, source=str(path))


def prf(predicted: np.ndarray, labels: np.ndarray) -> dict:
    tp = int((predicted & labels).sum())
    fp = int((predicted & ~labels).sum())
    fn = int((~predicted & labels).sum())
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0, "tp": tp, "fp": fp, "fn": fn}


def score_pairs(pairs: list[dict], config: MinHashConfig) -> dict:
    """Per-pair LSH decision, estimated and true Jaccard, then every metric of the module docstring."""
    hasher = MinHasher(config)
    start = time.perf_counter()
    shingles = [(hasher.shingles(p["a"], p.get("lang")), hasher.shingles(p["b"], p.get("lang"))) for p in pairs]
    shingle_s = time.perf_counter() - start
    # a text with nothing to shingle (empty, whitespace) has no signature: never a duplicate
    signed = [i for i, (a, b) in enumerate(shingles) if a is not None and b is not None]
    start = time.perf_counter()
    sets = [s.hashes for i in signed for s in shingles[i]]
    sigs = hasher.signatures(sets) if sets else np.zeros((0, config.permutations), np.uint32)
    keys = hasher.band_keys(sigs) if sets else np.zeros((0, config.bands), np.int64)
    sign_s = time.perf_counter() - start

    n = len(pairs)
    labels = np.array([p["label"] == 1 for p in pairs])
    lsh = np.zeros(n, dtype=bool)
    estimate = np.zeros(n)
    truth = np.zeros(n)
    for k, i in enumerate(signed):
        lsh[i] = bool((keys[2 * k] == keys[2 * k + 1]).any())
        estimate[i] = estimated_jaccard(sigs[2 * k], sigs[2 * k + 1])
    start = time.perf_counter()
    for i in signed:
        truth[i] = jaccard(shingles[i][0].hashes, shingles[i][1].hashes)
    jaccard_s = time.perf_counter() - start

    def sweep(scores: np.ndarray, gate: np.ndarray) -> list[dict]:
        return [{"threshold": t, **prf(gate & (scores >= t - 1e-12), labels)} for t in THRESHOLDS]

    everyone = np.ones(n, dtype=bool)
    verify = sweep(truth, lsh)
    true_sweep = sweep(truth, everyone)
    result = {
        "pairs": n,
        "positives": int(labels.sum()),
        "negatives": int((~labels).sum()),
        "unshingled_pairs": n - len(signed),
        "config": config.model_dump(),
        "lsh_threshold": config.threshold(),
        "lsh": prf(lsh, labels),
        "candidate_rate": float(lsh.mean()),
        "lsh_verify": verify,
        "true_jaccard": true_sweep,
        "estimated_jaccard": sweep(estimate, everyone),
        "best": {
            "lsh_verify": max(verify, key=lambda m: m["f1"]),
            "true_jaccard": max(true_sweep, key=lambda m: m["f1"]),
        },
        "cost": {
            "verify_s_per_pair": jaccard_s / max(len(signed), 1),
            "shingle_s_per_doc": shingle_s / max(2 * n, 1),
            "signature_s_per_doc": sign_s / max(len(sets), 1),
            "candidates_to_verify": int(lsh.sum()),
        },
        "jaccard_quantiles": {
            str(label): {
                str(q): float(np.quantile(truth[labels == label], q)) if (labels == label).any() else None
                for q in (0.1, 0.25, 0.5, 0.75, 0.9)
            }
            for label in (1, 0)
        },
        "by_kind": _by_kind(pairs, labels, lsh, truth),
    }
    result["scores"] = [
        {"label": int(lab), "lsh": bool(c), "estimated": round(float(e), 4), "true": round(float(t), 4)}
        for lab, c, e, t in zip(labels, lsh, estimate, truth, strict=True)
    ]
    return result


def _by_kind(pairs: list[dict], labels: np.ndarray, lsh: np.ndarray, truth: np.ndarray) -> dict:
    """Per ``kind`` and ``strength`` (when the pairs carry them): how often LSH fires, the median true Jaccard."""
    kinds = np.array(
        [str(p.get("kind", "all")) + (f" strength={p['strength']}" if "strength" in p else "") for p in pairs]
    )
    out = {}
    for kind in sorted(set(kinds.tolist())):
        m = kinds == kind
        out[kind] = {
            "pairs": int(m.sum()),
            "positives": int(labels[m].sum()),
            "lsh_rate": float(lsh[m].mean()),
            "median_jaccard": float(np.median(truth[m])),
        }
    return out


def plot(result: dict, path: Path) -> None:
    """P/R/F1 against the threshold: LSH + verification solid, true Jaccard dashed, LSH alone dotted."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    colors = {"precision": "tab:blue", "recall": "tab:orange", "f1": "tab:green"}
    for metric, color in colors.items():
        ax.plot(THRESHOLDS, [m[metric] for m in result["lsh_verify"]], color=color, label=f"LSH + verify {metric}")
        ax.plot(THRESHOLDS, [m[metric] for m in result["true_jaccard"]], color=color, ls="--", alpha=0.6)
        ax.axhline(result["lsh"][metric], color=color, ls=":", lw=1)
    ax.plot([], [], color="grey", ls="--", label="true Jaccard alone")
    ax.plot([], [], color="grey", ls=":", label="LSH alone")
    ax.axvline(result["lsh_threshold"], color="grey", lw=0.8)
    cfg = result["config"]
    ax.set(
        xlabel="Jaccard threshold",
        ylabel="score",
        ylim=(0, 1.02),
        title=f"{result['pairs']} pairs, {cfg['ngram']}-grams, {cfg['bands']} bands x {cfg['rows']} rows",
    )
    ax.legend(fontsize=7, loc="lower left")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def report(result: dict, source: str) -> list[Table]:
    cfg = result["config"]
    head = Table(
        title=f"dedup on {source}: {result['positives']} duplicate / {result['negatives']} distinct pairs, "
        f"{cfg['ngram']}-grams, {cfg['bands']}x{cfg['rows']} (LSH 50% point J={result['lsh_threshold']:.2f})"
    )
    for col in ("decision", "threshold", "precision", "recall", "F1"):
        head.add_column(col, justify="left" if col == "decision" else "right")

    def row(table: Table, name: str, m: dict, threshold: str) -> None:
        table.add_row(name, threshold, f"{m['precision']:.3f}", f"{m['recall']:.3f}", f"{m['f1']:.3f}")

    row(head, "LSH alone", result["lsh"], "-")
    by_t = {m["threshold"]: m for m in result["lsh_verify"]}
    for t in SHOWN:
        row(head, "LSH + verify", by_t[t], f"{t:.2f}")
    best = result["best"]
    row(head, "LSH + verify (best)", best["lsh_verify"], f"{best['lsh_verify']['threshold']:.2f}")
    row(head, "true Jaccard (best)", best["true_jaccard"], f"{best['true_jaccard']['threshold']:.2f}")
    cost = result["cost"]
    head.caption = (
        f"verification: {cost['verify_s_per_pair'] * 1e6:.1f} µs per candidate pair, "
        f"{cost['candidates_to_verify']} candidates; shingling {cost['shingle_s_per_doc'] * 1e6:.0f} µs/doc, "
        f"signature {cost['signature_s_per_doc'] * 1e6:.0f} µs/doc"
    )
    sweep = Table(title="sweep: F1 (precision / recall)")
    for col in ("threshold", "LSH + verify", "true Jaccard", "MinHash estimate"):
        sweep.add_column(col, justify="right")
    for v, t, e in zip(result["lsh_verify"], result["true_jaccard"], result["estimated_jaccard"], strict=True):
        sweep.add_row(
            f"{v['threshold']:.2f}",
            *(f"{m['f1']:.3f} ({m['precision']:.2f}/{m['recall']:.2f})" for m in (v, t, e)),
        )
    return [head, sweep]


def eval_dedup(
    pairs: Path = typer.Option(..., "--pairs", help="JSONL of {a, b, label} pairs.", exists=True, dir_okay=False),
    config: Path | None = typer.Option(
        None,
        "--config",
        help="YAML with the MinHash settings (alone, or inside a fuzzy/dedup/job config).",
        exists=True,
    ),
    out: Path = typer.Option(Path("eval-dedup"), "--out", help="Directory for metrics.json and curve.png."),
) -> None:
    """Precision, recall and F1 of MinHash-LSH near-duplicate detection on labelled pairs."""
    minhash = load_minhash_config(config)
    data = load_pairs(pairs)
    result = score_pairs(data, minhash)
    result["pairs_file"] = str(pairs)
    out.mkdir(parents=True, exist_ok=True)
    scores = result.pop("scores")
    (out / "metrics.json").write_text(json.dumps(result, indent=2))
    (out / "scores.jsonl").write_text("".join(json.dumps(s) + "\n" for s in scores))
    plot(result, out / "curve.png")
    console = Console()
    for table in report(result, pairs.name):
        console.print(table)
    console.print(f"wrote {out / 'metrics.json'}, {out / 'scores.jsonl'} and {out / 'curve.png'}")
