"""The paired accuracy test against hand-computed McNemar values."""

import pytest

from training.posttrain.evaluate import paired_test


def test_mcnemar_exact_by_hand():
    # 3 prompts gained, 1 lost: p = 2 * (C(4,0) + C(4,1)) / 2^4 = 10/16
    r = paired_test([1, 0, 0, 1, 0], [1, 1, 1, 0, 1])
    assert (r["gained"], r["lost"]) == (3, 1)
    assert r["mcnemar_exact_p"] == pytest.approx(0.625)
    assert r["change"] == pytest.approx(0.4)
    lo, hi = r["bootstrap_95"]
    assert lo <= 0.4 <= hi


def test_mcnemar_one_sided_evidence_is_small():
    # 20 gained, 0 lost: p = 2 / 2^20
    r = paired_test([0] * 20 + [1] * 10, [1] * 30)
    assert r["mcnemar_exact_p"] == pytest.approx(2 / 2**20)
    assert r["bootstrap_95"][0] > 0


def test_no_discordant_prompt_and_bad_input():
    assert paired_test([1, 0], [1, 0])["mcnemar_exact_p"] == 1.0
    with pytest.raises(ValueError):
        paired_test([1], [1, 0])


def test_accuracy_keeps_each_answer_beside_its_grade(smollm2):
    from training.posttrain.evaluate import accuracy
    from training.posttrain.generate import TransformersBackend
    from training.posttrain.rewards import RewardRunner, load_reward
    from training.posttrain.tasks import arithmetic

    model, tok = smollm2
    records = arithmetic(3, seed=4, digits=1)
    runner = RewardRunner(load_reward("training.posttrain.rewards:last_number"))
    r = accuracy(TransformersBackend(model, tok, batch_size=4), records, runner, max_new_tokens=8)
    runner.close()
    assert len(r["answers"]) == len(r["correct"]) == 3 and all(isinstance(a, str) for a in r["answers"])
    from training.posttrain.rewards import last_number

    graded = [int(last_number("", a, rec["reference"])) for a, rec in zip(r["answers"], records, strict=True)]
    assert graded == r["correct"]
