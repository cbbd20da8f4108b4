"""Third-party noise off by default: library warnings, progress bars and INFO/WARNING chatter (Megatron's "path_to_cache
is None", transformers' and GGUF loading bars) hide unless ``--verbose``; CorpusForge's own warnings still show.

The choice travels to worker processes through the environment (``CORPUSFORGE_VERBOSE``), so a process-pool
worker calls ``configure()`` with no argument and gets the parent's setting.
"""

from __future__ import annotations

import logging
import os
import warnings

ENV = "CORPUSFORGE_VERBOSE"
#: loggers of libraries that report routine events at WARNING or INFO
NOISY_LOGGERS = (
    "megatron", "transformers", "torch", "datasets", "huggingface_hub", "datatrove", "trafilatura", "fsspec",
    "urllib3", "filelock", "numexpr", "matplotlib", "PIL", "py4j", "pyspark", "fasttext", "tensorboard",
)  # fmt: skip
#: environment switches the libraries read at import (set only when the user has not set them)
QUIET_ENV = {
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",  # transformers' "Loading weights" bars, hub downloads
    "TRANSFORMERS_VERBOSITY": "error",
    "TQDM_DISABLE": "1",  # bare tqdm bars in libraries (GGUF de-quantisation, datatrove)
    "TF_CPP_MIN_LOG_LEVEL": "2",
    "PYTHONWARNINGS": "ignore::UserWarning,ignore::FutureWarning,ignore::DeprecationWarning",
}
OURS = r"(corpusforge|pipelines|annotators|training|mixtures|synth)(\.|$)"


def configure(verbose: bool | None = None) -> bool:
    """Apply the quiet (default) or verbose setting to this process and, through the environment, its workers.
    ``None`` takes the setting a parent process chose; returns the setting applied."""
    if verbose is None:
        verbose = os.environ.get(ENV) == "1"
    os.environ[ENV] = "1" if verbose else "0"
    if verbose:
        for name in NOISY_LOGGERS:
            logging.getLogger(name).setLevel(logging.INFO)
        return True
    for key, value in QUIET_ENV.items():
        os.environ.setdefault(key, value)
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    for category in (UserWarning, FutureWarning, DeprecationWarning):
        warnings.filterwarnings("ignore", category=category)
        warnings.filterwarnings("default", category=category, module=OURS)  # inserted first: ours still show
    return False
