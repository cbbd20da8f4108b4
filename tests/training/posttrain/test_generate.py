import torch

from training.posttrain.chat import generation_prompt
from training.posttrain.generate import STOP_THINKING, OpenAIBackend, TransformersBackend, generate_with_budget
from training.posttrain.serve import make_server, serve_in_thread

CONV = [{"role": "user", "content": "What is 12 + 30? /think"}]


def test_budget_inserts_stop_text_at_n_tokens(tiny_llama):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_llama)
    model = AutoModelForCausalLM.from_pretrained(tiny_llama, dtype=torch.float32).eval()
    backend = TransformersBackend(model, tok)
    budget = 7
    [r] = generate_with_budget(backend, [CONV], budget=budget, max_answer_tokens=5)
    prompt = generation_prompt(CONV, prefill="<think>\n")
    thought = backend.generate_ids([tok.encode(prompt, add_special_tokens=False)], budget)[0]
    assert r.budget_hit and r.closed and r.thinking_tokens == budget == len(thought)
    # the thinking is exactly the first N generated tokens, then the report's text, then the answer
    head = "<think>\n" + tok.decode(thought) + STOP_THINKING
    assert r.text.startswith(head) and len(r.text) > len(head)
    assert STOP_THINKING.endswith("</think>.\n\n") and 0 < r.answer_tokens <= 5
    # no-think mode: the empty block, no budget
    [n] = generate_with_budget(backend, [CONV], budget=budget, max_answer_tokens=3, think=False)
    assert n.text.startswith("<think>\n\n</think>\n\n") and n.thinking_tokens == 0 and not n.budget_hit


def test_budget_over_openai_server_matches_local(smollm2):
    """A real HTTP server on 127.0.0.1 serving SmolLM2 through transformers: same greedy text as in-process."""
    model, tok = smollm2
    local = TransformersBackend(model, tok)
    server = make_server(local, "smollm2")
    serve_in_thread(server)
    try:
        remote = OpenAIBackend(f"http://127.0.0.1:{server.server_address[1]}/v1", "smollm2")
        [a] = generate_with_budget(remote, [CONV], budget=4, max_answer_tokens=4)
        remote.close()
    finally:
        server.shutdown()
        server.server_close()
    [b] = generate_with_budget(local, [CONV], budget=4, max_answer_tokens=4)
    assert a.budget_hit and STOP_THINKING in a.text and a.thinking_tokens == 4
    assert a.text == b.text
