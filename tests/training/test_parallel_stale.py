"""Megatron's groups outlive the process group they were made in; a new world must not reuse them."""

import pytest

pytest.importorskip("megatron.core")


def test_groups_of_a_destroyed_world_are_rebuilt():
    import torch.distributed as dist

    from training.model import build_model
    from training.parallel import _free_port, init_parallel
    from training.presets import preset

    init_parallel()
    dist.destroy_process_group()  # e.g. a library that set up and tore down its own world of one
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{_free_port()}", world_size=1, rank=0)
    try:
        init_parallel()
        assert build_model(preset("tiny", vocab_size=256, max_seq_length=64), backend="sdpa", seed=3) is not None
    finally:
        dist.destroy_process_group()
