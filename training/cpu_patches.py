"""Megatron-Core 0.16.1 on a machine without CUDA: the few in-process patches it needs, all of them here.

Megatron-Core's model, layer and optimizer code is device-agnostic except for a handful of calls that assume a
CUDA device. Each patch below replaces exactly one such call with its CPU equivalent, in the Megatron module that
makes it, and nowhere else (no global ``torch.cuda`` monkeypatching: transformers and our own code still see the
real ``torch``):

1. ``torch.cuda.current_device()`` used as a device (rotary ``inv_freq.to(...)``, attention buffers, Megatron's
   global memory buffer, DDP's grad buffers, the optimizer's scale tensors) -> ``cpu``. Done by giving those
   modules a ``torch`` whose ``cuda`` namespace answers ``current_device()`` with the CPU device
   (``_TorchShim``); every other attribute is the real ``torch``.
2. The CUDA RNG tracker (``tensor_parallel.random``: ``model_parallel_cuda_manual_seed``, ``fork``) -> the same
   tracker over the CPU generator (``CpuRNGStatesTracker``).
3. ``get_default_causal_mask`` building its mask with ``device="cuda"`` -> built on the CPU (also where
   ``fused_softmax`` imported it by name).
4. ``te_general_gemm`` (the router GEMM in MoE utils) is a name only bound when Transformer Engine imports; it
   is bound to ``None`` so the plain ``torch`` path runs.
5. Megatron's optimizer and DDP create tensors with ``device='cuda'`` (``FP32Optimizer._scale``, ...): the same
   shim reads ``device="cuda"`` as the CPU in ``torch.tensor/zeros/ones/empty/full/arange`` calls made from the
   shimmed modules. CPU training runs in fp32 (Megatron's ``FP32Optimizer`` over torch AdamW, as
   ``get_megatron_optimizer`` builds it when neither TE nor Apex is installed).

6. ``clip_grad_by_total_norm_fp32`` asserts every grad is a ``torch.cuda.FloatTensor``: replaced (in
   ``clip_grads`` and in ``optimizer``, which imported it by name) by the same scaling without the assertion.

7. ``DistributedOptimizer._build_model_and_main_param_groups`` sorts parameters by ``param.type()`` and refuses
   anything but ``torch.cuda.*Tensor``: wrapped so that, during that call only, a CPU parameter's ``type()``
   answers with the CUDA name of its dtype (the shard views it builds are plain CPU tensors).

8. With torch's Adam (neither TE nor Apex installed), ``DistributedOptimizer`` loading its ``fully_reshardable``
   state copies every entry of a parameter's Adam state from the checkpoint, ``step`` included, though that
   format stores the step apart (and restores it first): ``_set_main_param_and_optimizer_states`` is wrapped
   to leave ``step`` as restored.

9. Megatron's local-spec norm (``WrappedTorchNorm``, torch's RMSNorm) refuses sequence parallelism; Transformer
   Engine's norms take it by marking their weights ``sequence_parallel`` (their gradients, from sequence shards,
   are then summed over the tensor-parallel ranks by ``finalize_model_grads``). The wrapper is given the same:
   the norm is built as before and its parameters marked. So TP with sequence parallelism (and MoE with TP,
   which needs it) runs on the CPU.

10. With tied embeddings and PP > 1, ``LanguageModule.setup_embeddings_and_output_layer`` moves the last
    stage's copy of the embedding to ``.cuda()`` before all-reducing it with the first stage's: wrapped so that,
    during that call only, ``Tensor.cuda()`` leaves a CPU tensor where it is (it would raise without CUDA).

``apply()`` is idempotent and does nothing when CUDA is available.
"""

from __future__ import annotations

import contextlib
import importlib
import types

import torch

#: the Megatron modules whose ``torch.cuda.current_device()`` must mean the CPU
SHIMMED_MODULES = (
    "megatron.core.models.common.embeddings.rotary_pos_embedding",
    "megatron.core.transformer.dot_product_attention",
    "megatron.core.utils",
    "megatron.core.tensor_parallel.random",
    "megatron.core.distributed.param_and_grad_buffer",
    "megatron.core.distributed.distributed_data_parallel",
    "megatron.core.optimizer.optimizer",
    "megatron.core.optimizer.clip_grads",
    "megatron.core.transformer.moe.moe_utils",
    "megatron.core.transformer.moe.router",
    "megatron.core.transformer.moe.experts",
    "megatron.core.models.gpt.gpt_model",
    # past one process (issue 19): schedules, point-to-point, TP mappings, the distributed optimizer, checkpoints
    "megatron.core.pipeline_parallel.schedules",
    "megatron.core.pipeline_parallel.p2p_communication",
    "megatron.core.pipeline_parallel.utils",
    "megatron.core.distributed.finalize_model_grads",
    "megatron.core.optimizer.distrib_optimizer",
    "megatron.core.tensor_parallel.layers",
    "megatron.core.tensor_parallel.mappings",
    "megatron.core.tensor_parallel.data",
    "megatron.core.tensor_parallel.utils",
    "megatron.core.transformer.moe.token_dispatcher",
    "megatron.core.dist_checkpointing.exchange_utils",
    "megatron.core.dist_checkpointing.strategies.async_utils",
    "megatron.core.dist_checkpointing.strategies.filesystem_async",
    "megatron.core.dist_checkpointing.strategies.fully_parallel",
    "megatron.core.dist_checkpointing.strategies.state_dict_saver",
    "megatron.core.dist_checkpointing.strategies.torch",
)

_applied = False


class _CudaShim:
    """``torch.cuda`` with the calls Megatron uses for placement answered for the CPU."""

    def __getattr__(self, name):
        return getattr(torch.cuda, name)

    @staticmethod
    def current_device():
        return torch.device("cpu")

    @staticmethod
    def get_rng_state(device=None):
        return torch.get_rng_state()

    @staticmethod
    def set_rng_state(state, device=None):
        torch.set_rng_state(state)

    @staticmethod
    def manual_seed(seed):
        torch.manual_seed(seed)

    @staticmethod
    def is_available():
        return False

    @staticmethod
    def synchronize(device=None):
        return None

    @staticmethod
    def empty_cache():
        return None


#: tensor factories whose ``device="cuda"`` argument is read as the CPU inside the shimmed modules
_FACTORIES = ("tensor", "zeros", "ones", "empty", "full", "arange", "zeros_like", "ones_like", "empty_like")


def _on_cpu(factory):
    def make(*args, **kwargs):
        device = kwargs.get("device")
        if device is not None and torch.device(device).type == "cuda":
            kwargs["device"] = "cpu"
        return factory(*args, **kwargs)

    return make


class _TorchShim(types.ModuleType):
    """The real ``torch`` except for ``torch.cuda`` and ``device="cuda"`` in tensor factories."""

    def __init__(self):
        super().__init__("torch")
        self.cuda = _CudaShim()
        for name in _FACTORIES:
            setattr(self, name, _on_cpu(getattr(torch, name)))

    def __getattr__(self, name):
        return getattr(torch, name)


def _cpu_causal_mask(sq: int) -> torch.Tensor:
    return torch.triu(torch.ones(sq, sq, dtype=torch.bool), diagonal=1)


def _cpu_clip_grad_by_total_norm_fp32(parameters, max_norm, total_norm, use_decoupled_grad=False):
    """``clip_grads.clip_grad_by_total_norm_fp32`` without its ``torch.cuda.FloatTensor`` assertion."""
    if isinstance(parameters, torch.Tensor):
        parameters = [parameters]
    attr = "decoupled_grad" if use_decoupled_grad else "grad"
    grads = [getattr(p, attr).detach() for p in parameters if getattr(p, attr, None) is not None]
    clip_coeff = max_norm / (total_norm + 1.0e-6)
    if grads and clip_coeff < 1.0:
        torch._foreach_mul_(grads, clip_coeff)


_CUDA_NAMES = {
    torch.float32: "torch.cuda.FloatTensor",
    torch.float16: "torch.cuda.HalfTensor",
    torch.bfloat16: "torch.cuda.BFloat16Tensor",
}


def _cuda_typed(build):
    """``build`` (a classmethod's function) run with each CPU parameter's ``type()`` naming its CUDA type."""

    def wrapped(cls, gbuf_ranges, param_gbuf_map, *args, **kwargs):
        params = [p for p in param_gbuf_map if p.device.type == "cpu" and p.dtype in _CUDA_NAMES]
        for p in params:
            real = p.type

            def answer(*a, _real=real, _name=_CUDA_NAMES[p.dtype], **kw):
                return _name if not a and not kw else _real(*a, **kw)

            p.type = answer
        try:
            return build(cls, gbuf_ranges, param_gbuf_map, *args, **kwargs)
        finally:
            for p in params:
                del p.type

    return classmethod(wrapped)


def _keep_step(set_states):
    """``_set_main_param_and_optimizer_states`` leaving Adam's ``step`` alone when the source has none."""

    def wrapped(self, model_param, tensors):
        if "step" in tensors or self.config.use_precision_aware_optimizer_no_fp8_or_ds_fp8:
            return set_states(self, model_param, tensors)
        group_index, group_order = self.model_param_group_index_map[model_param]
        state = self.optimizer.state[self.optimizer.param_groups[group_index]["params"][group_order]]
        step = state.pop("step", None)
        try:
            return set_states(self, model_param, tensors)
        finally:
            if step is not None:
                state["step"] = step

    return wrapped


def _sequence_parallel_norm(new):
    """``WrappedTorchNorm.__new__`` accepting ``sequence_parallel`` as TE's norms do (weights marked)."""

    def make(cls, config, hidden_size, *args, **kwargs):
        if not config.sequence_parallel:
            return new(cls, config, hidden_size, *args, **kwargs)
        import dataclasses

        norm = new(cls, dataclasses.replace(config, sequence_parallel=False), hidden_size, *args, **kwargs)
        for p in norm.parameters():
            p.sequence_parallel = True
        return norm

    return make


def _cuda_is_cpu_during(method):
    """``method`` run with ``Tensor.cuda()`` returning the tensor itself (this machine has no CUDA device)."""

    def wrapped(*args, **kwargs):
        real = torch.Tensor.cuda
        torch.Tensor.cuda = lambda self, *a, **k: self
        try:
            return method(*args, **kwargs)
        finally:
            torch.Tensor.cuda = real

    return wrapped


def _tracker_class():
    from megatron.core.tensor_parallel import random as tpr

    base = getattr(tpr, "_MegatronCudaRNGStatesTracker", tpr.CudaRNGStatesTracker)

    class CpuRNGStatesTracker(base):
        """Megatron's named RNG states, kept as CPU generator states."""

        def add(self, name, seed):
            self._is_initialized = True
            if seed in self.seeds_:
                raise Exception(f"seed {seed} already exists")
            self.seeds_.add(seed)
            if name in self.states_:
                raise Exception(f"rng state {name} already exists")
            self.states_[name] = torch.Generator().manual_seed(seed).get_state()

        @contextlib.contextmanager
        def fork(self, name=tpr._MODEL_PARALLEL_RNG_TRACKER_NAME):
            if name not in self.states_:
                raise Exception(f"rng state {name} is not added")
            outer = torch.get_rng_state()
            torch.set_rng_state(self.states_[name])
            try:
                yield
            finally:
                self.states_[name] = torch.get_rng_state()
                torch.set_rng_state(outer)

    CpuRNGStatesTracker._MegatronCudaRNGStatesTracker = base
    return base, CpuRNGStatesTracker


def needed() -> bool:
    return not torch.cuda.is_available()


def apply(force: bool = False) -> bool:
    """Patch Megatron-Core for CPU; True when the patches are (now) in place. No-op with CUDA unless forced."""
    global _applied
    if _applied:
        return True
    if not (force or needed()):
        return False
    shim = _TorchShim()
    for name in SHIMMED_MODULES:
        importlib.import_module(name).torch = shim

    import megatron.core.fusions.fused_softmax as fused_softmax
    import megatron.core.transformer.utils as transformer_utils
    from megatron.core.tensor_parallel import random as tpr
    from megatron.core.transformer.moe import moe_utils

    transformer_utils.get_default_causal_mask = _cpu_causal_mask
    fused_softmax.get_default_causal_mask = _cpu_causal_mask

    tpr._get_cuda_rng_state = lambda device="cuda", clone=False, graph_safe=False: torch.get_rng_state()
    tpr._set_cuda_rng_state = lambda new_state, device=-1, graph_safe=False: torch.set_rng_state(new_state)
    base, cpu_tracker = _tracker_class()
    tpr._MegatronCudaRNGStatesTracker = base
    tpr.CudaRNGStatesTracker = cpu_tracker
    tpr.initialize_rng_tracker(force_reset=True)

    import megatron.core.optimizer.clip_grads as clip_grads
    import megatron.core.optimizer.optimizer as optimizer

    clip_grads.clip_grad_by_total_norm_fp32 = _cpu_clip_grad_by_total_norm_fp32
    optimizer.clip_grad_by_total_norm_fp32 = _cpu_clip_grad_by_total_norm_fp32

    from megatron.core.optimizer.distrib_optimizer import DistributedOptimizer

    build = DistributedOptimizer.__dict__["_build_model_and_main_param_groups"].__func__
    DistributedOptimizer._build_model_and_main_param_groups = _cuda_typed(build)
    DistributedOptimizer._set_main_param_and_optimizer_states = _keep_step(
        DistributedOptimizer._set_main_param_and_optimizer_states
    )

    from megatron.core.transformer.torch_norm import WrappedTorchNorm

    WrappedTorchNorm.__new__ = _sequence_parallel_norm(WrappedTorchNorm.__new__)

    from megatron.core.models.common.language_module.language_module import LanguageModule

    LanguageModule.setup_embeddings_and_output_layer = _cuda_is_cpu_during(
        LanguageModule.setup_embeddings_and_output_layer
    )

    if not hasattr(moe_utils, "te_general_gemm"):
        moe_utils.te_general_gemm = None
    _applied = True
    return True


def applied() -> bool:
    return _applied
