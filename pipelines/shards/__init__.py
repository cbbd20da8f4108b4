"""Tokenize and shard: labelled records → Megatron-Core indexed datasets per label cell, with a manifest.

- ``tokenizer``: the Qwen3 tokenizer (or any local Hugging Face tokenizer directory), identity = file hash;
- ``cells``: label cells and the merge rule for small ones;
- ``run``: the ``kind: shard`` job (local and Spark engines) and the Python API (``shard_documents``,
  ``shard_records``);
- ``manifest``: the manifest, blends over shards, the tokenizer-mixing check;
- ``megatron``: the small adapters to Megatron-Core's dataset code;
- ``inspect``: ``corpusforge shards inspect|verify``.

Importing this package is cheap; Megatron-Core (and torch) load when shards are written or read.
"""
