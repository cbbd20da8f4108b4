from pathlib import Path

import pytest

from training.pretrain import PretrainRecipe

RECIPES = sorted(p for p in (Path(__file__).resolve().parents[2] / "recipes").glob("pretrain-*.yaml"))


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.name)
def test_pretrain_recipes_validate(path):
    r = PretrainRecipe.load(path)
    assert len(r.stages) == 3 and r.stages[-1].rope_base == 1e6 and r.export.yarn_factor == 4
    assert r.stages[-1].seq_length > r.stages[0].seq_length


def test_cli_registered():
    from typer.testing import CliRunner

    from corpusforge.cli import build_app

    out = CliRunner().invoke(build_app(), ["train", "presets"])
    assert out.exit_code == 0 and "235.094B" in out.output
