"""Reward functions for the GRPO tests, loaded by their ``module:function`` path as a recipe would name them."""

import time


def has_digit(prompt: str, completion: str, reference: dict) -> float:
    return 1.0 if any(ch.isdigit() for ch in completion) else 0.0


def length_reward(prompt: str, completion: str, reference: dict) -> float:
    return min(1.0, len(completion) / 40)


def raises(prompt: str, completion: str, reference: dict) -> float:
    raise ValueError("reference broken")


def slow(prompt: str, completion: str, reference: dict) -> float:
    time.sleep(reference.get("sleep", 0.0))
    return 1.0
