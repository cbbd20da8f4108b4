"""The two small pieces between our shards and Megatron-Core's dataset code, kept in one place.

- ``ShardBuilder``: Megatron's ``IndexedDatasetBuilder`` with ``add_documents``, which writes a whole batch of
  documents with one ``write`` instead of one ``numpy.array`` copy and ``write`` per document (the files are
  byte-identical to ``add_document`` per document: tested).
- ``TokenizerFacts`` (from ``corpusforge.megatron_tokenizer``, shared with the trainer): the vocabulary size and
  end-of-document id that ``GPTDatasetConfig`` wants, without loading a tokenizer.
- ``gpt_datasets``: ``BlendedMegatronDatasetBuilder`` over a blend of shard prefixes, on one process (CPU).

Megatron's C++ ``helpers`` (sample and blending indices) ship compiled in the megatron-core 0.16.1 wheel
(``megatron/core/datasets/helpers_cpp*.so``), so nothing is compiled here; ``ensure_helpers`` compiles them with
Megatron's own ``compile_helpers`` only when that module is missing (a source install).
"""

from __future__ import annotations

import warnings

import numpy as np

with warnings.catch_warnings():  # "Transformer Engine and Apex are not installed": irrelevant to datasets
    warnings.simplefilter("ignore", UserWarning)
    from megatron.core.datasets.indexed_dataset import IndexedDatasetBuilder

from corpusforge.megatron_tokenizer import TokenizerFacts


class ShardBuilder(IndexedDatasetBuilder):
    """One document = one sequence, as Megatron's ``preprocess_data.py`` writes them for GPT."""

    def add_documents(self, tokens: np.ndarray, lengths: np.ndarray) -> None:
        """Append documents given as one flat token array and their lengths."""
        if len(lengths) == 0:
            return
        self.data_file.write(np.ascontiguousarray(tokens, dtype=self.dtype).tobytes(order="C"))
        start = len(self.sequence_lengths)
        self.sequence_lengths.extend(int(n) for n in lengths)
        self.document_indices.extend(range(start + 1, start + len(lengths) + 1))


def ensure_helpers() -> None:
    """Megatron's C++ dataset helpers: shipped compiled in the wheel; compiled in place when absent."""
    try:
        from megatron.core.datasets import helpers_cpp  # noqa: F401
    except ImportError:
        from megatron.core.datasets.utils import compile_helpers

        compile_helpers()


def single_process_group(folder: str) -> None:
    """A gloo process group of one (rank 0 of 1) unless one exists, rendezvous through a file in ``folder``."""
    import os

    import torch.distributed as dist

    if dist.is_initialized():
        return
    os.makedirs(folder, exist_ok=True)
    dist.init_process_group("gloo", init_method=f"file://{os.path.abspath(folder)}/.rendezvous", rank=0, world_size=1)


def gpt_datasets(
    prefixes: list[str],
    weights: list[float] | None,
    tokenizer,
    sequence_length: int,
    num_samples: int,
    cache: str | None = None,
    seed: int = 1234,
):
    """A ``BlendedDataset`` (or one ``GPTDataset`` for one prefix) of ``num_samples`` training samples.

    ``cache``: a folder for Megatron's index cache; None builds the indices in memory. ``BlendedDataset`` calls
    ``torch.distributed.get_rank()`` when it has a cache folder, so with one and no process group a
    single-process gloo group is started first (``single_process_group``).
    """
    from megatron.core.datasets.blended_megatron_dataset_builder import BlendedMegatronDatasetBuilder
    from megatron.core.datasets.gpt_dataset import GPTDataset, GPTDatasetConfig

    ensure_helpers()
    if cache is not None:
        single_process_group(cache)
    config = GPTDatasetConfig(
        random_seed=seed,
        sequence_length=sequence_length,
        blend=(list(prefixes), list(weights) if weights is not None else None),
        split="1,0,0",
        path_to_cache=cache,
        tokenizer=TokenizerFacts(tokenizer.vocab_size, tokenizer.eod, tokenizer.hash),
        reset_position_ids=False,
        reset_attention_mask=False,
        eod_mask_loss=False,
        create_attention_mask=False,
        mmap_bin_files=True,
    )
    train, _, _ = BlendedMegatronDatasetBuilder(GPTDataset, [num_samples, 0, 0], lambda: True, config).build()
    return train
