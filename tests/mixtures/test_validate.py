"""The steps-ratio figure of the validation: the first step (interpolated between curve points) where a loss
curve reaches a level."""

from __future__ import annotations

from mixtures.validate import steps_to_reach


def test_steps_to_reach_interpolates_and_says_never():
    curve = [[10, 6.0], [20, 5.0], [30, 4.0]]
    assert steps_to_reach(curve, 6.5) == 10.0  # already below at the first point
    assert steps_to_reach(curve, 4.5) == 25.0  # halfway between 20 and 30
    assert steps_to_reach(curve, 4.0) == 30.0
    assert steps_to_reach(curve, 3.9) is None
    assert steps_to_reach([[10, 5.0], [20, 5.5], [30, 4.0]], 5.0) == 10.0  # a noisy curve: its first crossing
