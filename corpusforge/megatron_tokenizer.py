"""``TokenizerFacts``: the tokenizer Megatron's GPT datasets want, built from a shard manifest's facts alone.

``GPTDatasetConfig`` wants a ``MegatronTokenizerBase`` for the vocabulary size and the end-of-document id;
Megatron's own ``MegatronTokenizer.from_pretrained`` needs a metadata file and loads transformers, so this one
holds just those facts. Shared by the shard writer's checks (``pipelines/shards``) and the trainer's data
(``training``); a module of its own because it imports Megatron, which ``corpusforge`` itself does not need.
"""

from __future__ import annotations

import warnings

with warnings.catch_warnings():  # "Transformer Engine and Apex are not installed": irrelevant to datasets
    warnings.simplefilter("ignore", UserWarning)
    from megatron.core.tokenizers import MegatronTokenizerBase


class TokenizerFacts(MegatronTokenizerBase):
    """What Megatron's GPT datasets read from a tokenizer: the vocabulary size and the end-of-document id (no pad
    token: Megatron's default pad id is used). Built from facts a shard manifest holds, so no tokenizer loads."""

    def __init__(self, vocab_size: int, eod: int, tokenizer_hash: str) -> None:
        super().__init__("corpusforge-shards", {})
        self._vocab_size, self._eod = vocab_size, eod
        self.unique_identifiers = {"class": type(self).__name__, "tokenizer_hash": tokenizer_hash}

    @property
    def vocab_size(self) -> int:
        return self._vocab_size

    @property
    def eod(self) -> int:
        return self._eod

    vocab = property(lambda self: {})

    def tokenize(self, text: str):
        raise NotImplementedError("shard datasets only read token ids")

    def detokenize(self, ids) -> str:
        raise NotImplementedError("shard datasets only read token ids")

    def apply_chat_template(self, *args, **kwargs):
        raise NotImplementedError("shards hold pretraining documents; no chat template")
