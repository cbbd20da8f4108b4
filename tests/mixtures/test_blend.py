"""A blend the optimizer writes is read by the trainer (training.data) as it is, and the documents it samples
come in the stated proportions: per group (measured on the sampled tokens), with held-out documents never drawn
and excluded groups absent."""

from __future__ import annotations

import numpy as np
import yaml

from mixtures.blend import write_blend
from tests.mixtures.conftest import BASE, EOD
from training.data import build_datasets, load_blend


def _sampled_group_shares(space, path, n_samples=400, seq=64, seed=5):
    blend = load_blend(space.manifest.root, path)
    train, _ = build_datasets(blend, seq_length=seq, train_samples=n_samples, valid_samples=0, split="100,0,0",
                              seed=seed)  # fmt: skip
    counts = np.zeros(len(space.groups))
    held = 0
    for i in range(n_samples):
        toks = np.asarray(train[i]["tokens"])
        toks = toks[toks >= BASE] - BASE  # document rows (EOD and padding left out)
        rows, n = np.unique(toks, return_counts=True)
        held += int(n[space.holdout[rows]].sum())
        np.add.at(counts, space.doc_group[rows], n)
    return counts / counts.sum(), held


def test_trainer_samples_the_stated_proportions(space, tmp_path):
    g = len(space.groups)
    rng = np.random.default_rng(1)
    w = rng.dirichlet(np.ones(g))
    w[space.select("source=code")] = 0.0  # excluded groups
    w /= w.sum()
    tokens = 400 * 64
    path = write_blend(space, w, tokens, tmp_path / "blend")
    data = yaml.safe_load(path.read_text())
    assert data["format"] == "corpusforge.blend/1" and data["document_rates"]
    measured, held = _sampled_group_shares(space, path)
    assert held == 0  # held-out (target) documents are never trained on
    assert measured[space.select("source=code")].sum() == 0
    assert np.abs(measured - w).max() < 0.04, (measured.round(3), w.round(3))


def test_rates_shift_documents_inside_a_shard(space, tmp_path):
    """Two bins of the same cell (same shard) at 9:1: only per-document rates can express it."""
    math_ = space.select("source=math")
    lo, hi = math_ & space.select("edu_score=q0"), math_ & space.select("edu_score=q1")
    w = np.zeros(len(space.groups))
    w[lo] = 0.9 * space.natural[lo] / space.natural[lo].sum()
    w[hi] = 0.1 * space.natural[hi] / space.natural[hi].sum()
    path = write_blend(space, w, 20_000, tmp_path / "b2")
    measured, _ = _sampled_group_shares(space, path, n_samples=300)
    assert abs(measured[lo].sum() - 0.9) < 0.05


def test_blend_with_bad_rates_is_refused(space, tmp_path):
    import pytest

    from training.data import DataError

    path = write_blend(space, space.natural, 10_000, tmp_path / "b3")
    data = yaml.safe_load(path.read_text())
    first = next(iter(data["document_rates"].values()))
    np.save(tmp_path / "b3" / first, np.ones(3, dtype=np.float32))
    with pytest.raises(DataError, match="non-negative rates, one per document"):
        load_blend(space.manifest.root, path)
    assert EOD < BASE
