"""The ablation plan: candidate mixtures, each an independent, restartable proxy-training task.

Layout of a plan folder::

    plan.json                   the resolved config, groups, natural shares, targets (document counts)
    vocab.npy                   the proxy vocabulary map (`mixtures.proxy.build_vocab`)
    ablations/<id>/mixture.json the group weights of one ablation (+ seed, proxy settings key)
    ablations/<id>/result.json  written last, atomically: status ok (target losses) or failed (reason)

Mixtures are Dirichlet draws around the natural distribution (``alpha = concentration * G * natural``), plus
one corner per cell (half the tokens on that cell, half natural), each moved to the nearest mixture inside the
repetition cap at the proxy's token budget. The same seed gives the same plan, byte for byte.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from pydantic import Field

from corpusforge.config import Config
from corpusforge.errors import ConfigError
from mixtures.constraints import Constraints, bounds, project
from mixtures.space import Space

PLAN = "plan.json"


class AblationConfig(Config):
    count: int = Field(32, ge=0, description="Dirichlet mixtures.")
    concentration: float = Field(1.0, gt=0, description="Larger: draws closer to the natural distribution.")
    corners: bool = Field(True, description="Add one mixture per cell weighted to it (half its tokens).")
    corner_share: float = Field(0.5, gt=0, le=1)
    seed: int = 0
    workers: int = Field(2, ge=1)
    holdout_mixtures: int = Field(0, ge=0, description="Extra Dirichlet mixtures the fit never sees (validate).")


def _cell_of(space: Space) -> list[str]:
    return [lab["cell"] for lab in space.group_labels]


def sample_mixtures(space: Space, cfg: AblationConfig, tokens: float, count: int, seed: int,
                    corners: bool) -> list[np.ndarray]:  # fmt: skip
    rng = np.random.default_rng(seed)
    g = len(space.groups)
    b = bounds(space, Constraints(), tokens)
    alpha = np.maximum(cfg.concentration * g * space.natural, 1e-3)
    out = [project(b, rng.dirichlet(alpha)) for _ in range(count)]
    if corners:
        cells = _cell_of(space)
        for cell in sorted(set(cells)):
            mask = np.array([c == cell for c in cells])
            corner = space.natural * (1 - cfg.corner_share)
            corner[mask] += cfg.corner_share * space.natural[mask] / space.natural[mask].sum()
            out.append(project(b, corner))
    return [np.round(w, 9) for w in out]


def write_plan(space: Space, cfg: AblationConfig, proxy, out: str | Path, lut: np.ndarray | None) -> Path:
    """Plan folder with every ablation's mixture; an existing plan with another config is refused."""
    out = Path(out)
    plan = {
        "groups": space.groups,
        "natural": [round(float(x), 9) for x in space.natural],
        "group_tokens": [int(t) for t in space.group_tokens],
        "targets": {k: int(len(v)) for k, v in space.targets.items()},
        "space": space.config.model_dump(mode="json"),
        "ablations": cfg.model_dump(mode="json"),
        "proxy": proxy.model_dump(mode="json"),
    }
    where = out / PLAN
    if where.is_file():
        old = json.loads(where.read_text())
        for key, cls in (("space", type(space.config)), ("ablations", AblationConfig), ("proxy", type(proxy))):
            if isinstance(old.get(key), dict):  # fields added since: their defaults
                old[key] = cls.parse(old[key]).model_dump(mode="json")
        if {k: old.get(k) for k in plan} != plan:
            raise ConfigError("plan", f"{where} holds a different plan; use another folder or --overwrite")
    out.mkdir(parents=True, exist_ok=True)
    if lut is not None:
        with (out / ".vocab.npy.tmp").open("wb") as f:
            np.save(f, lut)
        (out / ".vocab.npy.tmp").replace(out / "vocab.npy")
    mixtures = sample_mixtures(space, cfg, proxy.tokens, cfg.count, cfg.seed, cfg.corners)
    held = sample_mixtures(space, cfg, proxy.tokens, cfg.holdout_mixtures, cfg.seed + 10_007, False)
    entries = [(f"a{i:04d}", w, "fit") for i, w in enumerate(mixtures)]
    entries += [(f"h{i:04d}", w, "holdout") for i, w in enumerate(held)]
    entries += [("natural", np.round(space.natural, 9), "baseline")]
    for name, w, role in entries:
        d = out / "ablations" / name
        d.mkdir(parents=True, exist_ok=True)
        doc = {"id": name, "role": role, "seed": cfg.seed, "weights": [float(x) for x in w]}
        text = json.dumps(doc, indent=1)
        if not (d / "mixture.json").is_file() or (d / "mixture.json").read_text() != text:
            (d / ".mixture.json.tmp").write_text(text)
            (d / ".mixture.json.tmp").replace(d / "mixture.json")
    (out / ".plan.json.tmp").write_text(json.dumps(plan, indent=1))
    (out / ".plan.json.tmp").replace(where)
    return out


def load_plan(folder: str | Path) -> dict:
    where = Path(folder) / PLAN
    if not where.is_file():
        raise ConfigError("plan", f"no ablation plan at {where} (run `corpusforge mixture plan` first)")
    return json.loads(where.read_text())


def ablation_dirs(folder: str | Path) -> list[Path]:
    return sorted(p for p in (Path(folder) / "ablations").iterdir() if (p / "mixture.json").is_file())
