"""The de-quantised GGUF cache keeps one copy per model file."""

import os

from corpusforge.gguf import _drop_stale_copies, gguf_cache_dir


def test_a_changed_model_file_replaces_its_stale_copy_and_leaves_other_models(tmp_path, monkeypatch):
    monkeypatch.setenv("CORPUSFORGE_CACHE", str(tmp_path / "cache"))
    model = tmp_path / "SmolLM2-135M-Instruct.Q4_1.gguf"
    model.write_bytes(b"old")
    old = gguf_cache_dir(model)
    other = old.parent / "gemma-3-270m-q4_k_m-10-20"
    for folder in (old, other):
        folder.mkdir(parents=True)
        (folder / "model.safetensors").write_bytes(b"w")
    model.write_bytes(b"reinstalled")
    os.utime(model, (1_000_000_000, 1_000_000_000))
    new = gguf_cache_dir(model)
    assert new != old
    new.mkdir()
    _drop_stale_copies(new)
    assert new.is_dir() and other.is_dir() and not old.exists()
