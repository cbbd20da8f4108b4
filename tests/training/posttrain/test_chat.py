import pytest
import torch

from corpusforge.errors import InputError
from training.posttrain.chat import (
    EMPTY_THINK,
    answer_prompt,
    encode,
    generation_prompt,
    mode_before,
    pack,
    render,
    segments,
)


def conv():
    return [
        {"role": "system", "content": "Be brief. /no_think"},
        {"role": "user", "content": "2+2? /think"},
        {"role": "assistant", "content": "4", "reasoning": "two and two"},
        {"role": "user", "content": "and 3+3? /think then /no_think"},
        {"role": "assistant", "content": "6"},
        {"role": "user", "content": "10-1?"},
        {"role": "assistant", "content": "<think>\nten minus one\n</think>\n\n9"},
    ]


def test_flags_last_wins_across_turns():
    c = conv()
    assert mode_before(c, 2) == "think"  # system says no_think, the later user turn says think
    assert mode_before(c, 4) == "no_think"  # last flag inside the turn wins
    assert mode_before(c, 6) == "no_think"  # no flag in this turn: the last one seen still holds
    assert mode_before([{"role": "user", "content": "hi"}], 1) == "think"  # default


def test_render_qwen3_format_and_empty_think():
    text = render(conv())
    assert text.startswith("<|im_start|>system\nBe brief. /no_think<|im_end|>\n<|im_start|>user\n")
    assert "<|im_start|>assistant\n<think>\ntwo and two\n</think>\n\n4<|im_end|>\n" in text
    assert "<|im_start|>assistant\n" + EMPTY_THINK + "6<|im_end|>\n" in text
    assert "<think>\nten minus one\n</think>\n\n9<|im_end|>" in text
    assert generation_prompt(conv()[:2]).endswith("<|im_start|>assistant\n")


def test_bad_conversations():
    with pytest.raises(InputError, match="no assistant turn"):
        segments([{"role": "user", "content": "hi"}])
    with pytest.raises(InputError, match="never closes"):
        segments([{"role": "user", "content": "hi"}, {"role": "assistant", "content": "<think>\nhmm"}])


def test_loss_mask_covers_assistant_turns_only(smollm2):
    _, tok = smollm2
    ids, mask = encode(conv(), tok)
    trained = tok.decode([t for t, m in zip(ids, mask, strict=True) if m])
    assert trained == (
        "<think>\ntwo and two\n</think>\n\n4<|im_end|>" + EMPTY_THINK + "6<|im_end|>"
        "<think>\nten minus one\n</think>\n\n9<|im_end|>"
    )
    assert "user" not in trained and "system" not in trained
    assert tok.decode(ids) == render(conv())


def test_pack_masks_and_positions():
    a = ([5, 6, 7, 8], [0, 0, 1, 1])
    b = ([9, 10, 11], [0, 1, 1])
    long = (list(range(20)), [1] * 20)
    p, too_long = pack([a, b, long], seq_length=8, pad_id=0)
    assert too_long == [2] and p.tokens.shape == (1, 8)
    assert p.tokens[0].tolist() == [5, 6, 7, 8, 9, 10, 11, 0]
    assert p.position_ids[0].tolist() == [0, 1, 2, 3, 0, 1, 2, 0]
    assert p.labels[0, :3].tolist() == [6, 7, 8] and p.labels[0, 4:6].tolist() == [10, 11]
    # loss on predicting the assistant tokens only, never across the document boundary or on padding
    assert p.loss_mask[0].tolist() == [0, 1, 1, 0, 1, 1, 0, 0]
    m = p.attention_mask()[0, 0]  # True hides
    assert not m[5, 4] and m[5, 3] and m[4, 0]  # b's tokens see b, never a
    assert m[1, 2] and not m[7, 7] and m[7, 6]  # causal; the pad sees only itself


def test_packed_documents_score_as_alone(tmp_path):
    """Attention never crosses documents: each document's logits in a packed row equal its logits alone."""
    from training.model import build_model
    from training.posttrain.models import megatron_logits
    from training.presets import preset

    m = preset("tiny", vocab_size=256, max_seq_length=64)
    gpt = build_model(m, backend="sdpa", seed=3).eval()
    g = torch.Generator().manual_seed(0)
    docs = [torch.randint(1, 256, (n,), generator=g).tolist() for n in (9, 13, 7)]
    p, _ = pack([(d, [1] * len(d)) for d in docs], seq_length=32, pad_id=0)
    with torch.no_grad():
        packed = megatron_logits(gpt, p.tokens, p.attention_mask())
        at = 0
        for d in docs:
            alone = megatron_logits(gpt, torch.tensor([d]))
            assert (packed[0, at : at + len(d)] - alone[0]).abs().max() < 1e-4
            at += len(d)


def test_answer_prompt_prefills_the_empty_block_only_in_no_think_mode():
    no_think = [{"role": "user", "content": "2+2? /no_think"}]
    think = [{"role": "user", "content": "2+2? /no_think then /think"}]
    assert answer_prompt(no_think, prefill_no_think=True) == generation_prompt(no_think) + EMPTY_THINK
    assert answer_prompt(no_think) == generation_prompt(no_think)  # off by default: older figures unchanged
    assert answer_prompt(think, prefill_no_think=True) == generation_prompt(think)


def test_answer_prompt_prefills_the_think_opening_only_in_think_mode():
    think = [{"role": "user", "content": "What is 45 + 37? /think"}]
    no_think = [{"role": "user", "content": "What is 45 + 37? /no_think"}]
    assert answer_prompt(think, prefill_think=True) == generation_prompt(think) + "<think>\n"
    assert answer_prompt(think) == generation_prompt(think)  # off by default: older figures unchanged
    assert answer_prompt(no_think, prefill_think=True) == generation_prompt(no_think)
    both = answer_prompt(no_think, prefill_no_think=True, prefill_think=True)
    assert both == generation_prompt(no_think) + EMPTY_THINK


def test_thinking_training_tokens_continue_the_think_prefilled_prompt(smollm2):
    # the off-policy targets (a whole thought, then the answer) start with the very tokens the on-policy sampler
    # and the budgeted evaluation are prompted with, so all three score the same token sequence
    _, tok = smollm2
    thought = "45 + 37: tens 40 + 30 = 70, ones 5 + 7 = 12. 70 + 12 = 82."
    conv = [{"role": "user", "content": "What is 45 + 37? /think"},
            {"role": "assistant", "content": f"<think>\n{thought}\n</think>\n\n82"}]  # fmt: skip
    ids, mask = encode(conv, tok)
    prompt = tok.encode(answer_prompt(conv[:1], prefill_think=True), add_special_tokens=False)
    assert ids[: len(prompt)] == prompt
    assert tok.decode(ids[len(prompt) :]) == f"{thought}\n</think>\n\n82<|im_end|>\n"
    assert set(mask[len(prompt) : -1]) == {1} and mask[-1] == 0


def test_training_tokens_continue_the_prefilled_prompt(smollm2):
    # "</think>\n\n-5" tokenized in one piece splits the newlines ("Ċ", "Ċ"); a prompt ending in the block ends
    # in one "ĊĊ": the assistant body is encoded in two pieces so the model trains on what it is prompted with
    _, tok = smollm2
    conv = [{"role": "user", "content": "What is 2 - 7? /no_think"}, {"role": "assistant", "content": "-5"}]
    ids, mask = encode(conv, tok)
    prompt = tok.encode(answer_prompt(conv[:1], prefill_no_think=True), add_special_tokens=False)
    assert ids[: len(prompt)] == prompt
    assert tok.decode(ids[len(prompt) :]) == "-5<|im_end|>\n"
    assert mask[len(prompt) :] == [1, 1, 1, 0]


def test_history_turns_tokenize_as_the_prompt_that_carries_them(smollm2):
    # a later prompt holds an earlier answer inside one string ("</think>\n\n-5<|im_end|>": "Ċ", "Ċ", "-"); the
    # training ids of that turn must be the same, or a multi-turn prompt shows the model history it never saw
    _, tok = smollm2
    conv = [{"role": "user", "content": "What is 2 - 7? /no_think"}, {"role": "assistant", "content": "-5"},
            {"role": "user", "content": "And 3 - 9? /no_think"}, {"role": "assistant", "content": "-6"}]  # fmt: skip
    ids, mask = encode(conv, tok)
    prompt = tok.encode(answer_prompt(conv[:3], prefill_no_think=True), add_special_tokens=False)
    assert ids[: len(prompt)] == prompt  # the first answer as history, the last turn after the prefilled block
    assert tok.decode(ids[len(prompt) :]) == "-6<|im_end|>\n"
    first = ids.index(tok.convert_tokens_to_ids("-"))  # the first answer, trained as the later prompt holds it
    assert tok.convert_ids_to_tokens(ids[first - 2 : first]) == ["Ċ", "Ċ"] and mask[first] == 1


def test_a_turn_with_its_generated_ids_trains_on_them_as_they_are(smollm2):
    # a teacher writes "</think>" "Ċ" "Ċ" "82"; its text re-tokenized as the last turn would give one "ĊĊ":
    # off-policy distillation keeps the teacher's own tokens (``token_ids``) and trains on exactly those
    _, tok = smollm2
    text = "<think>\n40 + 42 = 82.\n</think>\n\n82"
    generated = [*tok.encode(text, add_special_tokens=False), tok.eos_token_id]
    assert tok.convert_ids_to_tokens(generated)[-5:-3] == ["Ċ", "Ċ"]
    user = {"role": "user", "content": "What is 40 + 42? /think"}
    plain, _ = encode([user, {"role": "assistant", "content": text}], tok)
    ids, mask = encode([user, {"role": "assistant", "content": text, "token_ids": generated}], tok)
    assert ids[-len(generated) - 1 : -1] == generated and ids != plain and tok.decode(ids) == tok.decode(plain)
    assert mask[-len(generated) - 1 :] == [1] * len(generated) + [0]
    assert render([user, {"role": "assistant", "content": text, "token_ids": generated}]) == tok.decode(plain)
    for bad in (["a"], [], "1 2"):
        with pytest.raises(InputError, match="token_ids"):
            encode([user, {"role": "assistant", "content": text, "token_ids": bad}], tok)
