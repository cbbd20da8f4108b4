"""The parallel layout of a training run: sizes from config, checked against the model and the world size before
any work, then Megatron-Core's process groups built from them.

Data parallelism is what is left of the world: ``data = world / (tensor x pipeline x context)``. Experts are
laid over the same ranks (Megatron's expert grid: expert tensor = tensor, so ``world / pipeline`` must hold
``tensor x expert``). Every bad layout fails with one `ConfigError` naming the field, before data or model.

GPU-only here, and why: context parallelism needs Transformer Engine's attention (the ring exchange of keys
and values lives in its kernels; Megatron's local and our SDPA attention have none), so ``context > 1`` is
refused on a CPU. Overlapped gradient reduction (Megatron's DDP launching each bucket's reduction as soon as
its gradients are ready, asynchronously) is on by default: NCCL runs it on a side stream, gloo on its own
worker threads; tested on gloo to give the same losses as without it.
"""

from __future__ import annotations

import os
import socket
import warnings
from dataclasses import dataclass

import torch
from pydantic import Field

from corpusforge.config import Config
from corpusforge.errors import ConfigError
from training import cpu_patches
from training.presets import ModelConfig


class ParallelSettings(Config):
    tensor: int = Field(1, ge=1, description="Tensor-parallel size (splits heads, FFN and vocabulary).")
    pipeline: int = Field(1, ge=1, description="Pipeline-parallel size (splits the layers).")
    expert: int = Field(1, ge=1, description="Expert-parallel size (splits the experts of MoE layers).")
    context: int = Field(1, ge=1, description="Context-parallel size (splits sequences; GPU with TE only).")
    sequence_parallel: bool = Field(False, description="Split norms/dropout activations over TP ranks.")
    distributed_optimizer: bool = Field(True, description="Shard optimizer state over data-parallel ranks.")
    overlap_grad_reduce: bool = Field(True, description="Overlap gradient reduction with the backward pass.")


@dataclass(frozen=True)
class Layout:
    tensor: int = 1
    pipeline: int = 1
    expert: int = 1
    context: int = 1
    data: int = 1
    world: int = 1
    sequence_parallel: bool = False
    distributed_optimizer: bool = True
    overlap_grad_reduce: bool = False

    def describe(self) -> str:
        return f"TP={self.tensor} PP={self.pipeline} EP={self.expert} CP={self.context} DP={self.data}"


def world_size() -> int:
    """The world this process belongs to: torchrun's, else one process."""
    if torch.distributed.is_initialized():
        return torch.distributed.get_world_size()
    return int(os.environ.get("WORLD_SIZE", "1"))


def check_model(p: ParallelSettings, m: ModelConfig, where: str = "train.parallel") -> None:
    """What the model's shape must allow, whatever the world size."""
    tp = p.tensor
    for name, value in (
        ("attention heads", m.num_attention_heads),
        ("query groups (KV heads)", m.num_query_groups),
        ("vocabulary rows", m.vocab_size),
        ("FFN width", m.ffn_hidden_size),
        *((("expert FFN width", m.moe_ffn_hidden_size),) if m.is_moe else ()),
    ):
        if value % tp:
            raise ConfigError(f"{where}.tensor", f"{tp} does not divide the model's {value} {name}")
    if m.num_layers % p.pipeline:
        raise ConfigError(f"{where}.pipeline", f"{p.pipeline} does not divide the model's {m.num_layers} layers")
    if p.expert > 1 and not m.is_moe:
        raise ConfigError(f"{where}.expert", f"{p.expert} needs an MoE model; {m.name} is dense")
    if m.is_moe and m.num_experts % p.expert:
        raise ConfigError(f"{where}.expert", f"{p.expert} does not divide the model's {m.num_experts} experts")
    if p.sequence_parallel and tp == 1:
        raise ConfigError(f"{where}.sequence_parallel", "needs tensor > 1 (it splits activations over TP ranks)")
    if m.is_moe and tp > 1 and not p.sequence_parallel:
        raise ConfigError(f"{where}.sequence_parallel", "Megatron's MoE layers with tensor > 1 need it on")


def resolve_layout(
    p: ParallelSettings,
    m: ModelConfig,
    *,
    world: int | None = None,
    gpu: bool | None = None,
    backend: str = "auto",
    seq_lengths: tuple[int, ...] = (),
    micro_batch_size: int = 1,
    global_batch_size: int | None = None,
    where: str = "train.parallel",
) -> Layout:
    """The layout for this world, or one `ConfigError` naming the field that does not fit."""
    world = world_size() if world is None else world
    gpu = torch.cuda.is_available() if gpu is None else gpu
    check_model(p, m, where)
    model_parallel = p.tensor * p.pipeline * p.context
    if world % model_parallel:
        raise ConfigError(
            where,
            f"world size {world} is not a multiple of tensor x pipeline x context = "
            f"{p.tensor} x {p.pipeline} x {p.context}",
        )
    if (world // p.pipeline) % (p.tensor * p.expert):
        raise ConfigError(
            f"{where}.expert",
            f"world size {world} / pipeline {p.pipeline} is not a multiple of tensor x expert = {p.tensor} x {p.expert}",
        )
    if p.context > 1:
        if not gpu or backend not in ("auto", "te"):
            raise ConfigError(f"{where}.context", "context parallelism needs Transformer Engine attention on a GPU")
        for s in seq_lengths:
            if s % (2 * p.context):
                raise ConfigError(f"{where}.context", f"sequence length {s} is not a multiple of 2 x context")
    if p.sequence_parallel:
        for s in seq_lengths:
            if s % p.tensor:
                raise ConfigError(f"{where}.sequence_parallel", f"sequence length {s} not a multiple of tensor")
    data = world // model_parallel
    if global_batch_size is not None and global_batch_size % (micro_batch_size * data):
        raise ConfigError(
            "train.global_batch_size",
            f"{global_batch_size} is not a multiple of micro_batch_size x data-parallel size = "
            f"{micro_batch_size} x {data}",
        )
    return Layout(
        tensor=p.tensor,
        pipeline=p.pipeline,
        expert=p.expert,
        context=p.context,
        data=data,
        world=world,
        sequence_parallel=p.sequence_parallel,
        distributed_optimizer=p.distributed_optimizer,
        overlap_grad_reduce=p.overlap_grad_reduce,
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _current() -> tuple[int, int, int, int]:
    from megatron.core import parallel_state as ps

    return (
        ps.get_tensor_model_parallel_world_size(),
        ps.get_pipeline_model_parallel_world_size(),
        ps.get_expert_model_parallel_world_size(),
        ps.get_context_parallel_world_size(),
    )


def _stale() -> bool:
    """Megatron's groups belong to a process group destroyed since (another library or test made a new world):
    asking them for a rank fails."""
    from megatron.core import parallel_state as ps

    try:
        ps.get_pipeline_model_parallel_rank()
        ps.get_data_parallel_rank()
        return False
    except (ValueError, RuntimeError):
        return True


def init_parallel(layout: Layout | None = None, seed: int = 1234) -> Layout:
    """The process group (torchrun's, else a world of one: gloo on CPU, nccl on GPU) and Megatron's model-parallel
    groups for ``layout`` (rebuilt when a different layout was set up before in this process), the CPU patches
    when there is no CUDA device, and Megatron's RNG tracker seeded with ``seed``."""
    import torch.distributed as dist

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from megatron.core import parallel_state as ps
        from megatron.core.tensor_parallel import model_parallel_cuda_manual_seed

    cpu_patches.apply()
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    if not dist.is_initialized():
        if "RANK" in os.environ and "MASTER_ADDR" in os.environ:
            dist.init_process_group(backend)
        else:
            dist.init_process_group(
                backend, init_method=f"tcp://127.0.0.1:{_free_port()}", world_size=1, rank=0
            )
        if torch.cuda.is_available():
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
    layout = layout or Layout(world=dist.get_world_size(), data=dist.get_world_size())
    want = (layout.tensor, layout.pipeline, layout.expert, layout.context)
    if ps.model_parallel_is_initialized() and (_stale() or _current() != want):
        ps.destroy_model_parallel()
    if not ps.model_parallel_is_initialized():
        ps.initialize_model_parallel(
            tensor_model_parallel_size=layout.tensor,
            pipeline_model_parallel_size=layout.pipeline,
            context_parallel_size=layout.context,
            expert_model_parallel_size=layout.expert,
        )
    torch.manual_seed(seed)
    model_parallel_cuda_manual_seed(seed)
    return layout


def rank() -> int:
    return torch.distributed.get_rank() if torch.distributed.is_initialized() else 0


def barrier() -> None:
    if torch.distributed.is_initialized() and torch.distributed.get_world_size() > 1:
        torch.distributed.barrier()


def data_rank() -> tuple[int, int]:
    """(this rank's data-parallel index, the data-parallel size)."""
    from megatron.core import parallel_state as ps

    return ps.get_data_parallel_rank(), ps.get_data_parallel_world_size()


def is_logging_rank() -> bool:
    """The one rank that writes logs, metrics and pointers (global rank 0)."""
    return rank() == 0
