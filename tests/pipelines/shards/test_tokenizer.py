"""The tokenizer: the real Qwen3 files checked at load, file-hash identity, local directories, both backends."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from corpusforge.errors import ConfigError
from pipelines.shards.tokenizer import (
    PROBE,
    QWEN3_VOCAB,
    Tokenizer,
    TokenizerConfig,
    TokenizerError,
    qwen3_dir,
    tokenizer_hash,
)


@pytest.fixture(scope="module")
def qwen() -> Tokenizer:
    return Tokenizer.load()


def test_qwen3_is_the_default_and_checked_at_load(qwen):
    assert qwen.name == "qwen3" and qwen.directory == qwen3_dir()
    assert qwen.encode("Hello world!").tolist() == [9707, 1879, 0]
    assert qwen.vocab_size == QWEN3_VOCAB == 151_669
    ids = {t: qwen.hf.token_to_id(t) for t in ("<|endoftext|>", "<|im_start|>", "<think>", "</think>")}
    assert ids == {"<|endoftext|>": 151643, "<|im_start|>": 151644, "<think>": 151667, "</think>": 151668}
    assert qwen.eod == 151643
    assert qwen.dtype.name == "int32"  # > 65,536 ids; Megatron's IndexedDataset has no uint32
    assert qwen.backend == "tiktoken"


def test_special_strings_in_documents_are_text(qwen):
    ids = qwen.encode("a <|endoftext|> b <|im_start|>").tolist()
    assert 151643 not in ids and 151644 not in ids
    assert qwen.decode(ids) == "a <|endoftext|> b <|im_start|>"
    # added tokens that are not control tokens are matched, as the tokenizer.json does
    assert qwen.encode("<think>x</think>").tolist() == [151667, 87, 151668]


def test_backends_agree(qwen):
    hf = Tokenizer.load(TokenizerConfig(backend="hf"))
    assert hf.backend == "hf" and hf.hash == qwen.hash
    texts = [PROBE, "", " ", "\n\n\n", "e\u0301" * 50, "ﬁ ligature ＡＢＣ", "🙂" * 30, "x" * 5000, "1234567890" * 20]
    assert hf.encode_batch(texts) == qwen.encode_batch(texts)


def test_backends_agree_on_75_languages(qwen, shared_data):
    hf = Tokenizer.load(TokenizerConfig(backend="hf"))
    docs = []
    for f in sorted((shared_data / "langid" / "lingua_sentences").glob("*.txt")):
        lines = f.read_text(encoding="utf-8").splitlines()
        docs += ["\n".join(lines[i : i + 25]) for i in range(0, len(lines), 25)]
    assert len(docs) > 1000
    assert hf.encode_batch(docs) == qwen.encode_batch(docs)


def test_identity_is_a_hash_of_the_files(tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(qwen3_dir(), copy)
    assert tokenizer_hash(copy) == tokenizer_hash(qwen3_dir())
    config = json.loads((copy / "tokenizer_config.json").read_text())
    config["model_max_length"] = 1
    (copy / "tokenizer_config.json").write_text(json.dumps(config))
    assert tokenizer_hash(copy) != tokenizer_hash(qwen3_dir())
    local = Tokenizer.load(TokenizerConfig(path=str(copy)))
    assert local.encode("Hello world!").tolist() == [9707, 1879, 0] and local.name == str(copy)


def tiny_tokenizer(folder: Path) -> Path:
    """A word-level tokenizer whose normalizer deletes zero-width spaces: such a text encodes to no token."""
    from tokenizers import Tokenizer as HF
    from tokenizers import models, normalizers, pre_tokenizers

    vocab = {"[UNK]": 0, "<eod>": 1, "hello": 2, "world": 3}
    tok = HF(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.normalizer = normalizers.Sequence(
        [normalizers.Replace("\u200b", ""), normalizers.Strip(), normalizers.Lowercase()]
    )
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.add_special_tokens(["<eod>"])
    folder.mkdir(parents=True, exist_ok=True)
    tok.save(str(folder / "tokenizer.json"))
    return folder


def test_a_local_tokenizer_directory(tmp_path):
    tok = Tokenizer.load(
        TokenizerConfig(path=str(tiny_tokenizer(tmp_path / "tiny")), eod="<eod>", expect={"Hello world": [2, 3]})
    )
    assert tok.backend == "hf" and tok.eod == 1 and tok.dtype.name == "uint16"
    assert tok.encode_batch(["hello there", "\u200b\u200b"]) == [[2, 0], []]


def test_a_wrong_tokenizer_is_refused(tmp_path):
    with pytest.raises(TokenizerError, match="expected"):
        Tokenizer.load(TokenizerConfig(expect={"Hello world!": [1, 2, 3]}))
    with pytest.raises(ConfigError, match="tokenizer.eod"):
        Tokenizer.load(TokenizerConfig(eod="<|nope|>"))
    with pytest.raises(ConfigError, match="tokenizer.path"):
        Tokenizer.load(TokenizerConfig(path=str(tmp_path / "absent")))
    with pytest.raises(ConfigError, match="tokenizer.backend"):
        Tokenizer.load(TokenizerConfig(path=str(tiny_tokenizer(tmp_path / "t")), eod="<eod>", backend="tiktoken"))
