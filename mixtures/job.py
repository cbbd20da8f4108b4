"""``kind: mixture``: the mixture optimizer as one recipe (plan → run → fit → optimize → [validate] → report).

Layout of ``output``::

    config.yaml          the resolved recipe
    plan/                the ablation plan (`mixtures.plan`): plan.json, vocab.npy, ablations/<id>/...
    fit.json             every model family's cross-validated Spearman and RMSE per target; the chosen family
    blends/<stage>/      blend.yaml (corpusforge.blend/1) + rates/*.npy per stage; optimum.json beside them
    validate.json        the validation experiment's figures (validate step)
    report/              report.md and its PNG plots
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from corpusforge.config import Config
from corpusforge.errors import ConfigError
from corpusforge.job import DriverJob
from mixtures.constraints import Constraints
from mixtures.fit import FAMILIES
from mixtures.optimize import StageSpec
from mixtures.plan import AblationConfig
from mixtures.proxy import ProxyConfig
from mixtures.space import SpaceConfig


class ValidateConfig(Config):
    """Larger proxies on the optimized, natural and uniform mixtures (and the plan's held-out mixtures)."""

    token_factor: float = Field(4.0, ge=1, description="Tokens of the larger proxy over the ablations'.")
    model: dict = Field(
        default_factory=lambda: {"hidden_size": 192, "ffn_hidden_size": 512, "num_layers": 3,
                                 "num_attention_heads": 6, "num_query_groups": 2, "kv_channels": 32},
        description="ModelConfig fields of the larger proxy (over the ablation preset).",
    )  # fmt: skip
    seeds: list[int] = Field(default_factory=lambda: [1, 2], min_length=1)
    holdout_seed: int = 1
    curve_points: int = Field(8, ge=2)
    eval_tokens: int | None = Field(None, ge=256, description="Held-out tokens per target (default: the proxy's).")
    holdout_count: int | None = Field(None, ge=1, description="Held-out mixtures run at the larger size (all).")
    edu_boost: float = Field(2.0, gt=1, description="Upweighting of the top edu_score bin in the edu question.")
    workers: int | None = Field(None, ge=1, description="Default: the ablations' workers.")


class MixtureJobConfig(DriverJob):
    kind: Literal["mixture"] = "mixture"
    name: str = "mixture"
    output: str
    space: SpaceConfig
    constraints: Constraints = Field(default_factory=Constraints)
    proxy: ProxyConfig = Field(default_factory=ProxyConfig)
    ablations: AblationConfig = Field(default_factory=AblationConfig)
    families: list[Literal["linear", "loglinear", "lightgbm", "mixing_law"]] = Field(
        default_factory=lambda: list(FAMILIES), min_length=1
    )
    folds: int = Field(5, ge=2)
    stages: list[StageSpec] = Field(min_length=1)
    blends: str | None = Field(None, description="Where the stage blends go (default: <output>/blends).")
    validate_run: ValidateConfig | None = Field(None, alias="validate")

    model_config = {**Config.model_config, "populate_by_name": True}

    @model_validator(mode="after")
    def _check(self):
        names = [s.name for s in self.stages]
        if len(set(names)) != len(names):
            raise ConfigError("stages", f"stage names repeat: {names}")
        return self

    @property
    def plan_dir(self) -> Path:
        return Path(self.output) / "plan"

    @property
    def blend_dir(self) -> Path:
        return Path(self.blends) if self.blends else Path(self.output) / "blends"

    def run_step(self, progress: bool = True, overwrite: bool = False) -> dict:
        """As a step of `corpusforge run`: every step in order (each resumes where a killed run stopped)."""
        import shutil

        from mixtures import steps

        if overwrite and Path(self.output).exists():
            shutil.rmtree(self.output)
        return steps.run_all_steps(self, progress=progress)
