"""The search space from a manifest and sidecar; bad input fails with one message naming the culprit."""

from __future__ import annotations

import json

import numpy as np
import pytest

from corpusforge.errors import ConfigError, CorpusForgeError
from mixtures.space import FeatureBins, SpaceConfig, TargetSet, build_space
from tests.mixtures.conftest import make_shards


def test_groups_are_cells_split_by_feature_bins(space):
    cells = {lab["cell"] for lab in space.group_labels}
    assert len(cells) == 3
    assert len(space.groups) > len(cells)  # the edu_score bins split cells
    assert all("|edu_score=q" in g for g in space.groups)
    assert abs(space.natural.sum() - 1) < 1e-9 and (space.group_tokens > 0).all()
    # held-out documents are targets and are in no group's training tokens
    held = np.flatnonzero(space.holdout)
    assert 0 < len(held) < space.docs.num_rows // 3
    tokens = np.array(space.docs.column("tokens").to_pylist())
    assert space.group_tokens.sum() == tokens[~space.holdout].sum()
    assert set(space.targets) >= {"source=web", "source=math"}
    for rows in space.targets.values():
        assert space.holdout[rows].all()


def test_holdout_is_stable(shards):
    a = build_space(SpaceConfig(shards=str(shards)))
    b = build_space(SpaceConfig(shards=str(shards)))
    assert (a.holdout == b.holdout).all() and a.groups == b.groups


def test_selectors(space):
    assert space.select("source=math").sum() >= 1
    assert space.select("source=math,edu_score=q1").sum() <= space.select("source=math").sum()
    with pytest.raises(ConfigError, match="matches no group"):
        space.select("source=books")


def test_empty_manifest(tmp_path):
    (tmp_path / "manifest.json").write_text(json.dumps({"format": "corpusforge.shards/1", "shards": [],
        "tokenizer": {"hash": "h", "vocab_size": 10, "eod_id": 3}}))  # fmt: skip
    with pytest.raises(CorpusForgeError, match="lists no shard"):
        build_space(SpaceConfig(shards=str(tmp_path)))


def test_zero_token_cell_is_named(tmp_path):
    root = make_shards(tmp_path / "s", zero_cell=True)
    with pytest.raises(CorpusForgeError, match="zero tokens: cells/source=web"):
        build_space(SpaceConfig(shards=str(root)))


def test_missing_target_set_is_named(shards):
    cfg = SpaceConfig(shards=str(shards), targets=[TargetSet(name="books", where={"source": "books"})])
    with pytest.raises(ConfigError, match="targets.books"):
        build_space(cfg)


def test_unknown_feature_is_named(shards):
    with pytest.raises(ConfigError, match="toxicity"):
        build_space(SpaceConfig(shards=str(shards), features=[FeatureBins(column="toxicity")]))
