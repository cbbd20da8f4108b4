"""A target's evaluation set covers every held-out document (each read up to a common cap), and the
predictions across a cut document are masked out. The fixture's documents are one id each (``BASE + row``),
so the batches say which documents they were read from."""

from __future__ import annotations

import numpy as np

from mixtures.proxy import ProxyConfig, spread_cap, target_batches

from .conftest import BASE, EOD


def test_spread_cap_spends_the_budget_over_every_document():
    assert spread_cap([10, 10, 10], 30) == 10
    assert spread_cap([5, 100, 100], 105) == 50  # the short one whole, the long ones cut alike
    assert spread_cap([5, 7], 1000) == 7  # budget above the total: everything
    lengths = [3, 40, 200, 9, 1000]
    cap = spread_cap(lengths, 300)
    assert sum(min(x, cap) for x in lengths) >= 300 > sum(min(x, cap - 1) for x in lengths)


def test_target_reads_every_document_and_masks_cuts(space):
    rows = space.targets["source=math"]
    assert len(rows) >= 3
    cfg = ProxyConfig(seq_length=16, micro_batch_size=4, eval_tokens=256)
    batches = target_batches(space, rows, cfg, None)
    toks = np.concatenate([b["tokens"].numpy().ravel() for b in batches])
    labs = np.concatenate([b["labels"].numpy().ravel() for b in batches])
    mask = np.concatenate([b["loss_mask"].numpy().ravel() for b in batches])
    docs = {BASE + int(r) for r in rows}
    read = {int(t) for t in toks if t != EOD}
    assert read == docs  # every held-out document, not only the first few
    counts = {d: int((toks == d).sum()) for d in docs}
    assert max(counts.values()) <= spread_cap([int(x) for x in np.array(space.docs.column("tokens"))[rows]], 257)
    # a masked label is the first token of a document following a cut one (no EOD between them)
    for i in np.flatnonzero(mask == 0):
        assert toks[i] != EOD and labs[i] != toks[i] and labs[i] != EOD
    assert (mask == 0).sum() >= 1
