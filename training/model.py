"""The Megatron-Core model provider (``GPTModel``) for a parallel layout, and its DDP wrapper."""

from __future__ import annotations

import torch

from training.parallel import Layout, init_parallel
from training.presets import ModelConfig
from training.specs import Backend, layer_spec


def device_type() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def init_distributed(seed: int = 1234, layout: Layout | None = None) -> Layout:
    """The process groups for ``layout`` (default: every rank data-parallel); see `training.parallel`."""
    return init_parallel(layout, seed)


def build_model(
    model: ModelConfig,
    backend: Backend = "auto",
    dtype: str = "float32",
    seed: int = 1234,
    layout: Layout | None = None,
):
    """A Megatron ``GPTModel`` for ``model``: this rank's tensor/expert shard of its pipeline stage's layers
    (embedding on the first stage, output layer and loss on the last). On the CPU the weights are initialised
    whole and then split (``use_cpu_initialization``), so a TP=2 model holds the same weights as a TP=1 one."""
    from megatron.core import parallel_state as ps
    from megatron.core.models.gpt import GPTModel

    layout = init_distributed(seed, layout)
    device = device_type()
    torch.manual_seed(seed)
    config = model.transformer_config(
        device=device,
        dtype=dtype,
        tensor_model_parallel_size=layout.tensor,
        pipeline_model_parallel_size=layout.pipeline,
        expert_model_parallel_size=layout.expert,
        context_parallel_size=layout.context,
        sequence_parallel=layout.sequence_parallel,
        calculate_per_token_loss=True,
    )
    gpt = GPTModel(
        config=config,
        transformer_layer_spec=layer_spec(model, backend if device == "cuda" or backend != "te" else "sdpa"),
        vocab_size=model.vocab_size,
        max_sequence_length=model.max_seq_length,
        pre_process=ps.is_pipeline_first_stage(),
        post_process=ps.is_pipeline_last_stage(),
        share_embeddings_and_output_weights=model.tie_embeddings,
        position_embedding_type="rope",
        rotary_base=int(model.rope_base),
    )
    return gpt.to(device)


def wrap_ddp(gpt, layout: Layout | None = None):
    """Megatron's ``DistributedDataParallel``: contiguous fp32 grad buffers reduced in buckets (reduce-scattered
    to the distributed optimizer's shards, or all-reduced), overlapped with backward where the layout says."""
    from megatron.core.distributed import DistributedDataParallel, DistributedDataParallelConfig

    layout = layout or Layout(distributed_optimizer=False)
    return DistributedDataParallel(
        config=gpt.config,
        ddp_config=DistributedDataParallelConfig(
            grad_reduce_in_fp32=True,
            overlap_grad_reduce=layout.overlap_grad_reduce,
            use_distributed_optimizer=layout.distributed_optimizer,
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
