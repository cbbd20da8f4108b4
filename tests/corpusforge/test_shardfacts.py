"""The shard facts shared by the writer and the trainer: one definition, read back the same by both."""

import json

import pytest

from corpusforge.errors import InputError
from corpusforge.shardfacts import MANIFEST_FORMAT, QWEN3_SPECIAL, TOKENIZER_FILES, read_manifest


def test_writer_and_trainer_share_the_facts():
    from pipelines.shards import manifest, tokenizer
    from training import hf

    assert tokenizer.TOKENIZER_FILES is TOKENIZER_FILES and tokenizer.QWEN3_SPECIAL is QWEN3_SPECIAL
    assert manifest.FORMAT == MANIFEST_FORMAT
    assert hf.EXPORT_FILES[: len(TOKENIZER_FILES)] == TOKENIZER_FILES


@pytest.mark.parametrize(
    ("content", "problem"),
    [(None, "no shard manifest here"), ("{oops", "not valid JSON"), ('{"format": "x/1"}', "expected corpusforge")],
)
def test_bad_manifest_names_the_file(tmp_path, content, problem):
    if content is not None:
        (tmp_path / "manifest.json").write_text(content)
    with pytest.raises(InputError, match=problem) as err:
        read_manifest(tmp_path)
    assert str(tmp_path / "manifest.json") in str(err.value)


def test_root_is_the_manifest_folder(tmp_path):
    (tmp_path / "manifest.json").write_text(json.dumps({"format": MANIFEST_FORMAT, "shards": []}))
    assert read_manifest(tmp_path / "manifest.json")["root"] == str(tmp_path)
