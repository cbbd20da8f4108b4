import math

import pytest
import torch

from training.posttrain.losses import clipped_objective, group_advantages, grpo_loss, kl_k3, token_kl


def test_group_advantages_by_hand_and_zero_variance():
    adv, zero = group_advantages(torch.tensor([1.0, 0.0, 0.0, 1.0, 1.0, 1.0]), group_size=3)
    s = math.sqrt(1 / 3)  # unbiased std of (1, 0, 0)
    assert adv[:3].tolist() == pytest.approx([(2 / 3) / s, -(1 / 3) / s, -(1 / 3) / s], rel=1e-4)
    assert adv[3:].tolist() == [0.0, 0.0, 0.0] and zero == 1
    with pytest.raises(ValueError):
        group_advantages(torch.ones(5), group_size=2)


def test_k3_kl_by_hand():
    kl = kl_k3(torch.tensor([math.log(0.5), math.log(0.3)]), torch.tensor([math.log(0.25), math.log(0.3)]))
    assert kl.tolist() == pytest.approx([0.5 + math.log(2) - 1, 0.0], abs=1e-6)


def test_clipped_objective_by_hand():
    old = torch.zeros(1, 4)
    logp = torch.log(torch.tensor([[1.5, 0.5, 0.5, 1.5]]))
    adv = torch.tensor([[1.0, 1.0, -1.0, -1.0]])
    loss, clipped = clipped_objective(logp, old, adv, 0.2)
    assert loss[0].tolist() == pytest.approx([-1.2, -0.5, 0.8, 1.5], abs=1e-6)
    assert clipped[0].tolist() == [1.0, 0.0, 1.0, 0.0]


def test_grpo_loss_by_hand():
    logp = torch.log(torch.tensor([[1.5, 0.5, 0.9], [0.5, 0.5, 0.5]]))
    old = torch.zeros(2, 3)
    ref = torch.log(torch.tensor([[1.5, 0.25, 0.9], [0.5, 0.5, 0.5]]))
    mask = torch.tensor([[1.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    loss, stats = grpo_loss(logp, old, ref, torch.tensor([1.0, -1.0]), mask, clip_eps=0.2, beta=0.1)
    k3 = 0.5 + math.log(2) - 1  # second token of the first sequence
    seq1 = ((-1.2 + 0.0) + (-0.5 + 0.1 * k3)) / 2
    seq2 = 0.8  # ratio 0.5, A = -1: clipped at 0.8
    assert float(loss) == pytest.approx((seq1 + seq2) / 2, abs=1e-6)
    assert stats["clip_frac"] == pytest.approx(2 / 3) and stats["kl"] == pytest.approx(k3 / 3, abs=1e-6)


def test_distillation_kl_by_hand():
    student = torch.tensor([[0.0, 0.0]])
    teacher = torch.tensor([[math.log(3.0), 0.0]])  # (0.75, 0.25)
    rev = 0.5 * math.log(0.5 / 0.75) + 0.5 * math.log(0.5 / 0.25)
    fwd = 0.75 * math.log(0.75 / 0.5) + 0.25 * math.log(0.25 / 0.5)
    assert float(token_kl(student, teacher, "reverse")) == pytest.approx(rev, abs=1e-6)
    assert float(token_kl(student, teacher, "forward")) == pytest.approx(fwd, abs=1e-6)
    assert float(token_kl(teacher, teacher)) == pytest.approx(0.0, abs=1e-7)
    with pytest.raises(ValueError):
        token_kl(student, teacher, "sideways")
