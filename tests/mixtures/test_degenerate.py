"""A space with nothing to mix (one group) gets the natural blend with a note, not a failed run; the trainer's
blend reader takes it as it is."""

from __future__ import annotations

import json

import yaml

from mixtures.job import MixtureJobConfig
from mixtures.steps import run_all_steps
from tests.mixtures.conftest import make_shards
from tests.mixtures.test_cli import RECIPE
from training.data import Manifest, read_blend_file, resolve_blend


def test_one_group_writes_the_natural_blend_with_a_note(tmp_path):
    shards = make_shards(tmp_path / "shards", cells={"source=web/lang=en": (40, "web", "en", (0.5, 3.5))})
    data = yaml.safe_load(yaml.safe_dump(RECIPE))
    data["output"], data["space"]["shards"] = str(tmp_path / "out"), str(shards)
    data["space"]["features"] = []
    data["stages"] = [{"name": "s1", "tokens": 5000}, {"name": "s2", "tokens": 2000}]
    result = run_all_steps(MixtureJobConfig.parse(data), progress=False)
    assert result["notes"] == ["natural blend: 1 group in the shards, nothing to mix"]
    assert result["ablations"] == {"ok": 0, "skipped": 0, "failed": 0}  # no proxy trained for nothing
    funnel = json.loads((tmp_path / "out" / "funnel.json").read_text())
    assert funnel["notes"] == result["notes"]
    for stage in ("s1", "s2"):
        blend = yaml.safe_load((tmp_path / "out" / "blends" / stage / "blend.yaml").read_text())
        assert blend["meta"]["note"] == result["notes"][0]
        path = tmp_path / "out" / "blends" / stage / "blend.yaml"
        resolved = resolve_blend(Manifest.load(str(shards)), {**read_blend_file(str(path)), "_dir": str(path.parent)},
                                 where=str(path))  # fmt: skip
        assert resolved.documents and sum(resolved.weights) > 0
