"""CorpusForge shared core: the record, configs, file access, the ledger, errors and the CLI root."""

__version__ = "0.1.0"
