"""Loading a local model from a .gguf file (or a transformers folder), once per machine de-quantised.

transformers' GGUF reader parses the file twice and rebuilds its tensor-name map per tensor: ~40 s for the 135M
model here, against ~1 s from safetensors. The first load keeps a de-quantised Hugging Face copy
(``CORPUSFORGE_CACHE``, else ~/.cache/corpusforge), named by the file's name, size and mtime, so a changed file is
converted again and the stale copy removed. The LLM backends (`synth.llm`) and the probe teacher (`annotators.probe`) both load through here.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from corpusforge.errors import DependencyError


def packaged_gguf(package: str, component: str, install: str, extra: str | None = None) -> Path:
    """The first .gguf file inside an installed model package (``package``, the importable name), found by its
    module spec and never imported: such a package's ``__init__`` may need what we do not install."""
    spec = importlib.util.find_spec(package)
    if spec is None:
        raise DependencyError(component, install, extra)
    for location in spec.submodule_search_locations or []:
        found = sorted(Path(location).glob("*.gguf"))
        if found:
            return found[0]
    raise DependencyError(f"{component}: no .gguf file in {package}", install, extra)


def gguf_cache_dir(gguf: Path) -> Path:
    """Where a .gguf file's de-quantised Hugging Face copy is kept."""
    stat = gguf.stat()
    root = Path(os.environ.get("CORPUSFORGE_CACHE") or Path.home() / ".cache" / "corpusforge")
    return root / "gguf" / f"{gguf.stem}-{stat.st_size}-{int(stat.st_mtime)}"


def _drop_stale_copies(current: Path) -> None:
    """Remove earlier copies of the same model file (same name, other size or mtime): a reinstalled package
    changes the mtime, and each stale copy is a whole de-quantised model (0.5 GB for SmolLM2) left on disk."""
    stem = current.name.rsplit("-", 2)[0]
    for sibling in current.parent.iterdir():
        if sibling != current and sibling.is_dir() and sibling.name.rsplit("-", 2)[0] == stem:
            shutil.rmtree(sibling, ignore_errors=True)


def _save_converted(model: Any, tokenizer: Any, target: Path) -> None:
    """Keep the converted model for the next load: a temporary folder renamed; a cache that cannot be written is
    only a slower next load."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=target.parent))
        quantizer = getattr(model, "hf_quantizer", None)
        try:
            # the weights are de-quantised float32 already; only the flag from the GGUF load forbids saving them
            model.hf_quantizer = None
            config = model.config.to_dict()
            config.pop("quantization_config", None)
            model.save_pretrained(tmp, safe_serialization=True)
            (tmp / "config.json").write_text(json.dumps(config, indent=2))
            tokenizer.save_pretrained(tmp)
            tmp.rename(target)
            _drop_stale_copies(target)
        finally:
            model.hf_quantizer = quantizer
            shutil.rmtree(tmp, ignore_errors=True)
    except OSError:
        pass


def load_local(path: Path, model_class: Any, component: str) -> tuple[Any, Any]:
    """(tokenizer, model) in float32 from a .gguf file (through its de-quantised copy) or a transformers folder;
    ``model_class`` is e.g. ``AutoModel`` or ``AutoModelForCausalLM``. Raises OSError when transformers cannot."""
    import torch
    import transformers.modeling_gguf_pytorch_utils as gguf_utils
    from transformers import AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    converted = None
    directory, kwargs = str(path), {}
    if path.is_file():
        converted = gguf_cache_dir(path)
        if (converted / "config.json").is_file():
            directory = str(converted)
        else:
            if importlib.util.find_spec("gguf") is None:
                raise DependencyError(f"{component} (.gguf model)", "gguf", "llm")
            directory, kwargs = str(path.parent), {"gguf_file": path.name}
    # the GGUF de-quantisation bar is a bare tqdm that disable_progress_bar does not reach
    bar = gguf_utils.tqdm
    gguf_utils.tqdm = functools.partial(bar, disable=True)
    try:
        tokenizer = AutoTokenizer.from_pretrained(directory, **kwargs)
        model = model_class.from_pretrained(directory, dtype=torch.float32, **kwargs)
    finally:
        gguf_utils.tqdm = bar
    if converted is not None and "gguf_file" in kwargs:
        _save_converted(model, tokenizer, converted)
    return tokenizer, model
