from pathlib import Path

import pytest

from pipelines.job import WebJobConfig

RECIPES = sorted((Path(__file__).resolve().parents[1] / "recipes").glob("*.yaml"))


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.name)
def test_every_shipped_recipe_validates(path):
    job = WebJobConfig.load(path)
    assert job.build_stages(), "a recipe builds its stages"
