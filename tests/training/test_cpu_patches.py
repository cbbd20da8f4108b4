import torch

from training import cpu_patches
from training.model import build_model, init_distributed
from training.presets import preset


def test_patches_cover_cuda_calls():
    init_distributed(7)
    assert cpu_patches.applied() == (not torch.cuda.is_available())
    from megatron.core.models.common.embeddings import rotary_pos_embedding as rope
    from megatron.core.tensor_parallel import get_cuda_rng_tracker
    from megatron.core.transformer import utils

    if torch.cuda.is_available():
        return
    assert rope.torch.cuda.current_device() == torch.device("cpu")
    assert rope.torch.tensor([1.0], device="cuda").device.type == "cpu"
    assert torch.cuda.is_available() is False  # the real torch is untouched
    assert utils.get_default_causal_mask(3).tolist() == [
        [False, True, True],
        [False, False, True],
        [False, False, False],
    ]
    tracker = get_cuda_rng_tracker()
    before = torch.get_rng_state()
    with tracker.fork():
        a = torch.rand(3)
    with tracker.fork():
        b = torch.rand(3)
    assert torch.equal(before, torch.get_rng_state())  # forking leaves the default generator alone
    assert not torch.equal(a, b)  # and the forked state advances


def test_sdpa_spec_equals_megatron_local_attention():
    m = preset("tiny")
    ids = torch.randint(0, m.vocab_size, (2, 32))
    pos = torch.arange(32).expand(2, 32)
    out = []
    for backend in ("local", "sdpa"):
        gpt = build_model(m, backend=backend, seed=3).eval()
        with torch.no_grad():
            out.append(gpt(ids, pos, None))
    assert (out[0] - out[1]).abs().max() < 1e-5


def test_megatron_optimizer_step_decreases_loss():
    from training.schedule import ScheduleConfig
    from training.trainer import OptimConfig, PretrainModule

    for name in ("tiny", "tiny-moe"):
        m = preset(name)
        mod = PretrainModule(
            m, build_model(m, seed=1), OptimConfig(lr=1e-2), ScheduleConfig(peak=1e-2, min=1e-3).build(12)
        )
        from megatron.core.optimizer import ChainedOptimizer

        assert isinstance(mod.optimizer, ChainedOptimizer)  # Megatron's own optimizer, on the CPU
        ids = torch.randint(2, m.vocab_size, (2, 33))
        batch = {
            "tokens": ids[:, :-1],
            "labels": ids[:, 1:],
            "loss_mask": torch.ones(2, 32),
            "position_ids": torch.arange(32).expand(2, 32),
        }
        losses = [mod.train_step([batch], i)["loss"] for i in range(12)]
        assert losses[-1] < losses[0] - 1.0, losses
        if m.is_moe:
            assert mod.train_step([batch], 12)["moe_load_imbalance"] >= 1.0


def test_patches_for_the_distributed_optimizer_and_sequence_parallel_norms():
    """Patches 7-9: the distributed optimizer builds over CPU parameters (their ``type()`` answers the CUDA name
    only during that call), a resumed Adam keeps its restored step, torch norms accept sequence parallelism."""
    import copy

    if torch.cuda.is_available():
        return
    from megatron.core.transformer.torch_norm import WrappedTorchNorm

    from training.parallel import Layout
    from training.schedule import ScheduleConfig
    from training.trainer import OptimConfig, PretrainModule

    m = preset("tiny")
    gpt = build_model(m, backend="sdpa", seed=1)
    mod = PretrainModule(m, gpt, OptimConfig(), ScheduleConfig().build(4), layout=Layout(distributed_optimizer=True))
    assert type(mod.optimizer).__name__ in ("DistributedOptimizer", "ChainedOptimizer")
    assert all(p.type() == "torch.FloatTensor" for p in gpt.parameters())  # the answer was only for that call
    sp = copy.copy(gpt.config)
    sp.sequence_parallel = True  # as a TP > 1 config has it (a fresh one at TP=1 is refused by Megatron)
    norm = WrappedTorchNorm(sp, 64, normalization="RMSNorm")
    assert all(getattr(p, "sequence_parallel", False) for p in norm.parameters())
    plain = WrappedTorchNorm(gpt.config, 64, normalization="RMSNorm")
    assert not any(getattr(p, "sequence_parallel", False) for p in plain.parameters())
    real = torch.Tensor.cuda
    wrapped = cpu_patches._cuda_is_cpu_during(lambda t: t.cuda())
    t = torch.ones(2)
    assert wrapped(t) is t and torch.Tensor.cuda is real  # only during the call
