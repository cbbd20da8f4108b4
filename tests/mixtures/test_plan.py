"""Plans are deterministic for a seed and respect the repetition cap at the proxy budget."""

from __future__ import annotations

import json

import numpy as np

from mixtures.plan import AblationConfig, write_plan
from mixtures.proxy import ProxyConfig


def _mixtures(folder):
    return {p.parent.name: p.read_bytes() for p in sorted((folder / "ablations").glob("*/mixture.json"))}


def test_same_seed_same_plan(space, tmp_path):
    cfg, proxy = AblationConfig(count=6, holdout_mixtures=2, seed=3), ProxyConfig(tokens=3000)
    a = _mixtures(write_plan(space, cfg, proxy, tmp_path / "a", None))
    b = _mixtures(write_plan(space, cfg, proxy, tmp_path / "b", None))
    assert a == b and len(a) == 6 + 3 + 2 + 1  # Dirichlet + one corner per cell + held out + natural
    c = _mixtures(write_plan(space, cfg.model_copy(update={"seed": 4}), proxy, tmp_path / "c", None))
    assert c != a
    for text in a.values():
        w = np.array(json.loads(text)["weights"])
        assert abs(w.sum() - 1) < 1e-6 and (w >= 0).all()
        assert (w * proxy.tokens <= 4 * space.group_tokens + 1e-3).all()  # repetition cap


def test_replanning_with_another_config_is_refused(space, tmp_path):
    import pytest

    from corpusforge.errors import ConfigError

    write_plan(space, AblationConfig(count=2), ProxyConfig(tokens=3000), tmp_path, None)
    write_plan(space, AblationConfig(count=2), ProxyConfig(tokens=3000), tmp_path, None)  # same: fine
    with pytest.raises(ConfigError, match="different plan"):
        write_plan(space, AblationConfig(count=3), ProxyConfig(tokens=3000), tmp_path, None)
