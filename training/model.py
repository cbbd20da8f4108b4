"""Process-group setup and the Megatron-Core model provider (``GPTModel``), its DDP wrapper and optimizer."""

from __future__ import annotations

import os
import socket
import warnings

import torch

from training import cpu_patches
from training.presets import ModelConfig
from training.specs import Backend, layer_spec


def device_type() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def init_distributed(seed: int = 1234) -> None:
    """One process: a world-size-1 group (gloo on CPU, nccl on GPU), Megatron's model-parallel state (TP=PP=1),
    the CPU patches when there is no CUDA device, and Megatron's RNG tracker seeded with ``seed``.

    Under ``torchrun`` the group it set up is used as it is."""
    import torch.distributed as dist

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from megatron.core import parallel_state
        from megatron.core.tensor_parallel import model_parallel_cuda_manual_seed

    cpu_patches.apply()
    if not dist.is_initialized():
        if "RANK" in os.environ and "MASTER_ADDR" in os.environ:
            dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
        else:
            dist.init_process_group(
                "nccl" if torch.cuda.is_available() else "gloo",
                init_method=f"tcp://127.0.0.1:{_free_port()}",
                world_size=1,
                rank=0,
            )
        if torch.cuda.is_available():
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
    if not parallel_state.model_parallel_is_initialized():
        parallel_state.initialize_model_parallel(1, 1)
    torch.manual_seed(seed)
    model_parallel_cuda_manual_seed(seed)


def build_model(model: ModelConfig, backend: Backend = "auto", dtype: str = "float32", seed: int = 1234):
    """A Megatron ``GPTModel`` for ``model`` (pre-process and post-process on this single stage)."""
    from megatron.core.models.gpt import GPTModel

    init_distributed(seed)
    device = device_type()
    torch.manual_seed(seed)
    gpt = GPTModel(
        config=model.transformer_config(device=device, dtype=dtype),
        transformer_layer_spec=layer_spec(model, backend if device == "cuda" or backend != "te" else "sdpa"),
        vocab_size=model.vocab_size,
        max_sequence_length=model.max_seq_length,
        pre_process=True,
        post_process=True,
        share_embeddings_and_output_weights=model.tie_embeddings,
        position_embedding_type="rope",
        rotary_base=int(model.rope_base),
    )
    return gpt.to(device)


def wrap_ddp(gpt):
    """Megatron's ``DistributedDataParallel`` (contiguous fp32 grad buffers; the optimizer reads them)."""
    from megatron.core.distributed import DistributedDataParallel, DistributedDataParallelConfig

    return DistributedDataParallel(
        config=gpt.config,
        ddp_config=DistributedDataParallelConfig(
            grad_reduce_in_fp32=True, overlap_grad_reduce=False, use_distributed_optimizer=False
        ),
        module=gpt,
    )


def unwrap(model):
    while hasattr(model, "module"):
        model = model.module
    return model


def set_rope_base(gpt, base: float) -> None:
    """Raise (or set) the RoPE base of a built model in place (ABF between stages): the inverse frequencies are
    recomputed; nothing else in the model depends on the base."""
    rope = unwrap(gpt).rotary_pos_emb
    dim = rope.inv_freq.numel() * 2
    inv = 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.float32, device=rope.inv_freq.device) / dim))
    rope.inv_freq = inv.to(rope.inv_freq.dtype)
    cached = getattr(type(rope), "forward", None)
    if hasattr(cached, "cache_clear"):  # Megatron caches the embedding per sequence length
        cached.cache_clear()
