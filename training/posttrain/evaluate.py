"""Evaluations for post-trained models: accuracy on a prompt set with a verifiable reward (optionally under a
thinking budget), and ThinkFollow-style flag obedience (multi-turn conversations whose flags switch at random
turns; the last answer must open with a non-empty think block under ``/think`` and the empty one under
``/no_think``)."""

from __future__ import annotations

import random

import numpy as np
from scipy.stats import binomtest

from training.posttrain.chat import EMPTY_THINK, THINK_OPEN, answer_prompt, generation_prompt, mode_before
from training.posttrain.generate import generate_with_budget


def accuracy(backend, records: list[dict], reward, max_new_tokens: int = 32, budget: int | None = None,
             think: bool = False, prefill_no_think: bool = False) -> dict:  # fmt: skip
    """Greedy answers scored by ``reward`` (a `RewardRunner`); with ``budget``, thinking capped at that many
    tokens (`generate_with_budget`); with ``prefill_no_think``, ``/no_think`` prompts open with the empty think
    block (`chat.answer_prompt`) and only the answer after it is graded."""
    convs = [r["messages"] for r in records]
    if budget is None and not think:
        prompts = [answer_prompt(c, prefill_no_think) for c in convs]
        texts = [c.text for c in backend.complete(prompts, max_new_tokens)]
        extra = {}
    else:
        res = generate_with_budget(backend, convs, max_new_tokens if budget is None else budget, max_new_tokens, think=think)
        prompts = [r.prompt for r in res]
        texts = [r.answer if r.closed else r.text for r in res]
        extra = {
            "budget_hit": sum(r.budget_hit for r in res),
            "unclosed": sum(not r.closed for r in res),
            "thinking_tokens": sum(r.thinking_tokens for r in res) / max(1, len(res)),
        }
    scores = reward.score(prompts, texts, [r["reference"] for r in records])
    correct = [int(s >= 1.0) for s in scores]  # per prompt, in order: what a paired test between models needs
    # the answers too, so the prompts that changed between two models can be read for a reward hack
    return {"n": len(records), "accuracy": sum(correct) / max(1, len(records))} | extra | {"correct": correct, "answers": texts}


def paired_test(before: list[int], after: list[int], resamples: int = 10_000, seed: int = 0) -> dict:
    """Two models graded on the same prompts: the accuracy change, McNemar's exact two-sided p-value (binomial
    on the discordant prompts) and a paired bootstrap 95% interval of the change."""
    if len(before) != len(after) or not before:
        raise ValueError(f"paired test needs two equal, non-empty gradings ({len(before)} vs {len(after)})")
    n = len(before)
    gained = sum(a and not b for b, a in zip(before, after, strict=True))
    lost = sum(b and not a for b, a in zip(before, after, strict=True))
    p = float(binomtest(min(gained, lost), gained + lost, 0.5).pvalue) if gained + lost else 1.0
    diffs = np.asarray(after, dtype=float) - np.asarray(before, dtype=float)
    boot = np.random.default_rng(seed).choice(diffs, size=(resamples, n)).mean(axis=1)
    low, high = np.quantile(boot, [0.025, 0.975])
    return {
        "n": n,
        "before": sum(before) / n,
        "after": sum(after) / n,
        "change": float(diffs.mean()),
        "gained": gained,
        "lost": lost,
        "mcnemar_exact_p": p,
        "bootstrap_95": [float(low), float(high)],
    }


def think_follow_set(pairs: list[dict], n: int, seed: int = 0, max_turns: int = 3) -> list[list[dict]]:
    """``n`` conversations of 1..max_turns user turns built from ``pairs`` ({question, reasoning, answer});
    each user turn carries /think, /no_think or no flag at random; earlier assistant turns follow their mode;
    the conversation ends on a user turn (the one to answer)."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        conv: list[dict] = []
        turns = rng.randint(1, max_turns)
        for t in range(turns):
            p = rng.choice(pairs)
            flag = rng.choice(["/think", "/no_think", ""]) if t else rng.choice(["/think", "/no_think"])
            conv.append({"role": "user", "content": f"{p['question']} {flag}".strip()})
            if t < turns - 1:
                think = mode_before(conv, len(conv)) == "think"
                conv.append({"role": "assistant", "content": p["answer"], "reasoning": p["reasoning"] if think else ""})
        out.append(conv)
    return out


def obeys(mode: str, text: str) -> bool:
    if mode == "no_think":
        return text.startswith(EMPTY_THINK.rstrip("\n"))
    return text.startswith(THINK_OPEN + "\n") and not text.startswith(EMPTY_THINK.rstrip("\n"))


def think_follow(backend, conversations: list[list[dict]], probe_tokens: int = 12) -> dict:
    """Share of conversations whose next answer opens as its flag demands (greedy, first ``probe_tokens``)."""
    prompts = [generation_prompt(c) for c in conversations]
    outs = backend.complete(prompts, probe_tokens)
    modes = [mode_before(c, len(c)) for c in conversations]
    ok = [obeys(m, o.text) for m, o in zip(modes, outs, strict=True)]
    by_mode = {}
    for m in ("think", "no_think"):
        sel = [k for k, mm in zip(ok, modes, strict=True) if mm == m]
        by_mode[m] = sum(sel) / max(1, len(sel))
    return {"n": len(ok), "obedience": sum(ok) / max(1, len(ok)), "by_mode": by_mode}


def distill_gap(student, teacher, tokenizer, records: list[dict], max_new_tokens: int = 16,
                prefill_no_think: bool = False, chunk: int = 16) -> dict:  # fmt: skip
    """How far a student is from its teacher on held-out prompts: the mean per-token reverse KL on the student's
    own greedy answers (what on-policy distillation minimises) and forward KL on the teacher's greedy answers
    (what SFT on teacher outputs minimises); prompts as `accuracy` builds them."""
    import torch

    from training.posttrain.generate import TransformersBackend
    from training.posttrain.grpo import rollout_batch
    from training.posttrain.losses import token_kl

    prompts = [tokenizer.encode(answer_prompt(r["messages"], prefill_no_think), add_special_tokens=False) for r in records]  # fmt: skip
    vocab = len(tokenizer)
    out = {}
    for name, gen, direction in (("reverse_kl_on_student", student, "reverse"), ("forward_kl_on_teacher", teacher, "forward")):  # fmt: skip
        completions = TransformersBackend(gen, tokenizer, batch_size=32).generate_ids(prompts, max_new_tokens)
        tokens, _, mask = rollout_batch(prompts, completions, tokenizer.pad_token_id or 0)
        total = 0.0
        for i in range(0, len(tokens), chunk):  # full-vocabulary logits of 100 answers at once took 9 GB
            c = slice(i, i + chunk)
            with torch.no_grad():
                s = student(tokens[c]).logits[..., :vocab]
                t = teacher(tokens[c]).logits[..., :vocab]
                total += float((token_kl(s, t, direction) * mask[c]).sum())
        out[name] = total / max(float(mask.sum()), 1.0)
    return out
