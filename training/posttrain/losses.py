"""The RL and distillation objectives as pure functions over tensors (verl's ``core_algos`` style), each tested
against hand-computed values. Shapes: ``[batch, tokens]`` for per-token values, ``mask`` 1 on response tokens."""

from __future__ import annotations

import torch


def masked_mean(x: torch.Tensor, mask: torch.Tensor, dim: int | None = None) -> torch.Tensor:
    if dim is None:
        return (x * mask).sum() / mask.sum().clamp(min=1)
    return (x * mask).sum(dim) / mask.sum(dim).clamp(min=1)


def group_advantages(rewards: torch.Tensor, group_size: int, eps: float = 1e-6) -> tuple[torch.Tensor, int]:
    """GRPO's group-normalised advantages ``(r - mean_g) / std_g`` (unbiased std, as in TRL); a group whose
    rewards are all equal carries no signal: its advantages are 0 and it is counted (the second value)."""
    if rewards.numel() % group_size:
        raise ValueError(f"{rewards.numel()} rewards do not split into groups of {group_size}")
    g = rewards.float().view(-1, group_size)
    mean = g.mean(dim=1, keepdim=True)
    std = g.std(dim=1, keepdim=True) if group_size > 1 else torch.zeros_like(mean)
    zero = std.squeeze(1) < eps
    adv = torch.where(zero[:, None], torch.zeros_like(g), (g - mean) / (std + eps))
    return adv.view(-1), int(zero.sum())


def kl_k3(logp: torch.Tensor, ref_logp: torch.Tensor) -> torch.Tensor:
    """Schulman's k3 estimator of KL(policy || reference) per token: ``exp(q - p) - (q - p) - 1`` with
    ``p`` the policy's and ``q`` the reference's log-probability of the sampled token (>= 0, unbiased)."""
    d = ref_logp - logp
    return torch.exp(d) - d - 1


def clipped_objective(
    logp: torch.Tensor, old_logp: torch.Tensor, advantages: torch.Tensor, clip_eps: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """PPO's clipped surrogate as a per-token loss ``-min(r A, clip(r, 1-e, 1+e) A)`` and the per-token clip
    indicator (1 where the clipped branch is the smaller one, i.e. the gradient is cut)."""
    ratio = torch.exp(logp - old_logp)
    adv = advantages[:, None] if advantages.dim() == 1 else advantages
    unclipped = ratio * adv
    clipped = torch.clamp(ratio, 1 - clip_eps, 1 + clip_eps) * adv
    return -torch.minimum(unclipped, clipped), (clipped < unclipped).float()


def grpo_loss(
    logp: torch.Tensor,
    old_logp: torch.Tensor,
    ref_logp: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    clip_eps: float = 0.2,
    beta: float = 0.04,
) -> tuple[torch.Tensor, dict]:
    """GRPO: per-sequence mean over its tokens of (clipped surrogate + beta * k3 KL), then mean over sequences."""
    pg, clipped = clipped_objective(logp, old_logp, advantages, clip_eps)
    kl = kl_k3(logp, ref_logp)
    per_seq = masked_mean(pg + beta * kl, mask, dim=1)
    loss = per_seq.mean()
    return loss, {
        "kl": float(masked_mean(kl.detach(), mask)),
        "clip_frac": float(masked_mean(clipped, mask)),
        "pg_loss": float(masked_mean(pg.detach(), mask, dim=1).mean()),
    }


def token_kl(
    student_logits: torch.Tensor, teacher_logits: torch.Tensor, direction: str = "reverse", temperature: float = 1.0
) -> torch.Tensor:
    """Exact per-token KL over the vocabulary: ``reverse`` = KL(student || teacher) (on-policy distillation's
    mode-seeking choice), ``forward`` = KL(teacher || student) (what SFT on teacher samples estimates)."""
    s = torch.log_softmax(student_logits.float() / temperature, dim=-1)
    t = torch.log_softmax(teacher_logits.float() / temperature, dim=-1)
    if direction == "reverse":
        return (s.exp() * (s - t)).sum(-1)
    if direction == "forward":
        return (t.exp() * (t - s)).sum(-1)
    raise ValueError(f"unknown KL direction {direction!r}")
