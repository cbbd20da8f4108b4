from pathlib import Path

import pytest

from corpusforge.errors import ConfigError
from training.posttrain.distill import DistillRecipe
from training.posttrain.grpo import GRPORecipe
from training.posttrain.sft import SFTRecipe

ROOT = Path(__file__).resolve().parents[3] / "recipes"
KINDS = {"sft": SFTRecipe, "grpo": GRPORecipe, "distill": DistillRecipe}
RECIPES = sorted(p for k in KINDS for p in ROOT.glob(f"{k}-*.yaml"))


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.name)
def test_posttrain_recipes_validate(path):
    r = KINDS[path.name.split("-")[0]].load(path)
    assert r.kind == path.name.split("-")[0] and r.train.steps >= 1


def test_bad_field_names_the_field():
    with pytest.raises(ConfigError, match="grpo.group_size"):
        GRPORecipe.load(ROOT / "grpo-smollm2-arithmetic.yaml", {"grpo.group_size": 1})


def test_cli_has_posttrain_commands(tmp_path):
    from typer.testing import CliRunner

    from training.cli import app

    for cmd in ("sft", "grpo", "distill", "eval", "task", "serve"):
        assert CliRunner().invoke(app, [cmd, "--help"]).exit_code == 0
    out = CliRunner().invoke(app, ["task", "--kind", "fusion", "--n", "5", "--out", str(tmp_path / "f.jsonl")])
    assert out.exit_code == 0 and len((tmp_path / "f.jsonl").read_text().splitlines()) == 5
