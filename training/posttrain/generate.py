"""Generation with a thinking budget, on a local transformers model or an OpenAI-compatible server.

When the thinking reaches N tokens without closing, the report's stop-thinking text is appended and the model
answers from there: phase 1 generates at most N tokens after ``<think>\\n``; a completion that ran out of
budget gets `STOP_THINKING`, and phase 2 continues it. An answer that ends (EOS) before closing ``</think>``
is returned as ``closed=False`` and counted, never an error. The same two-phase logic runs over both backends;
the server backend uses ``/v1/completions`` (text continuation, as vLLM and llama.cpp serve it).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from corpusforge.errors import CorpusForgeError
from training.posttrain.chat import EMPTY_THINK, STOP_THINKING, THINK_CLOSE, THINK_PREFILL, generation_prompt


@dataclass
class Completion:
    text: str
    tokens: int
    finish: str  # "stop" (end of turn) or "length"
    ids: list[int] | None = None  # the generated token ids (EOS kept), where the backend has them


@dataclass
class BudgetResult:
    prompt: str
    text: str  # the assistant turn after the prompt (``<think>\n`` included)
    thinking_tokens: int
    answer_tokens: int
    budget_hit: bool
    closed: bool
    # the assistant turn as the model's own token ids (prefill + one generation phase); None for a server or an
    # answer continued in a second phase (its tokens are not one generation)
    ids: list[int] | None = None

    @property
    def answer(self) -> str:
        return self.text.split(THINK_CLOSE, 1)[1].lstrip(".\n") if self.closed else ""


class TransformersBackend:
    """Batched generation (left-padded) with a transformers causal LM; stops at the tokenizer's EOS."""

    def __init__(self, model, tokenizer, batch_size: int = 8):
        self.model, self.tok, self.batch_size = model, tokenizer, batch_size
        self.tok.padding_side = "left"

    @torch.inference_mode()
    def generate_ids(
        self, prompts: list[list[int]], max_new_tokens: int, temperature: float = 0.0, seed: int = 0
    ) -> list[list[int]]:
        """Completion ids per prompt, cut after the first EOS (kept) or at ``max_new_tokens``."""
        eos, pad = self.tok.eos_token_id, self.tok.pad_token_id
        out: list[list[int]] = []
        for i in range(0, len(prompts), self.batch_size):
            chunk = prompts[i : i + self.batch_size]
            width = max(len(p) for p in chunk)
            ids = torch.tensor([[pad] * (width - len(p)) + p for p in chunk])
            att = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in chunk])
            kwargs = {"max_new_tokens": max_new_tokens, "pad_token_id": pad, "eos_token_id": eos}
            if temperature > 0:
                torch.manual_seed(seed + i)
                kwargs |= {"do_sample": True, "temperature": temperature, "top_k": 0, "top_p": 1.0}
            else:
                kwargs |= {"do_sample": False, "temperature": None, "top_k": None, "top_p": None}
            gen = self.model.generate(input_ids=ids, attention_mask=att, **kwargs)[:, width:].tolist()
            for row in gen:
                out.append(row[: row.index(eos) + 1] if eos in row else row)
        return out

    def complete(self, prompts: list[str], max_tokens: int, temperature: float = 0.0, seed: int = 0):
        enc = [self.tok.encode(p, add_special_tokens=False) for p in prompts]
        outs = self.generate_ids(enc, max_tokens, temperature, seed)
        eos = self.tok.eos_token_id
        return [
            Completion(self.tok.decode([t for t in o if t != eos]), len(o), "stop" if eos in o else "length", o)
            for o in outs
        ]


class OpenAIBackend:
    """``POST {base_url}/completions`` on an OpenAI-compatible server (vLLM, llama.cpp, `serve`)."""

    def __init__(self, base_url: str, model: str, timeout_s: float = 120.0):
        import httpx

        self.url = base_url.rstrip("/") + "/completions"
        self.model = model
        self.client = httpx.Client(timeout=timeout_s)

    def complete(self, prompts: list[str], max_tokens: int, temperature: float = 0.0, seed: int = 0):
        out = []
        for p in prompts:
            body = {"model": self.model, "prompt": p, "max_tokens": max_tokens, "temperature": temperature}
            body["seed"] = seed
            r = self.client.post(self.url, json=body)
            if r.status_code != 200:
                raise CorpusForgeError(f"{self.url}: HTTP {r.status_code}: {r.text[:200]}")
            data = r.json()
            choice = data["choices"][0]
            tokens = int(data.get("usage", {}).get("completion_tokens", 0))
            out.append(Completion(choice["text"], tokens, choice.get("finish_reason") or "stop"))
        return out

    def close(self) -> None:
        self.client.close()


def generate_with_budget(
    backend,
    conversations: list[list[dict]],
    budget: int,
    max_answer_tokens: int = 256,
    temperature: float = 0.0,
    seed: int = 0,
    think: bool = True,
) -> list[BudgetResult]:
    """Answer each conversation thinking at most ``budget`` tokens (``think=False``: the empty block, no budget)."""
    if not think:
        prompts = [generation_prompt(c, prefill=EMPTY_THINK) for c in conversations]
        outs = backend.complete(prompts, max_answer_tokens, temperature, seed)
        head = _prefill_ids(backend, EMPTY_THINK)
        return [BudgetResult(p, EMPTY_THINK + o.text, 0, o.tokens, False, True, _joined(head, o))
                for p, o in zip(prompts, outs, strict=True)]  # fmt: skip
    prefill = THINK_PREFILL
    head = _prefill_ids(backend, prefill)
    prompts = [generation_prompt(c, prefill=prefill) for c in conversations]
    # budget 0: no thinking at all, the stop text right after <think>\n (what a cut-thought example at 0 shows)
    first = backend.complete(prompts, budget, temperature, seed) if budget > 0 else [Completion("", 0, "length")] * len(prompts)  # fmt: skip
    results, again = [], []
    for i, (p, o) in enumerate(zip(prompts, first, strict=True)):
        if THINK_CLOSE in o.text:
            thinking = len(backend_tokens(backend, o.text.split(THINK_CLOSE, 1)[0]))
            r = BudgetResult(p, prefill + o.text, thinking, o.tokens - thinking, False, True)
            if o.finish == "length":
                again.append((i, p + o.text))
            else:
                r.ids = _joined(head, o)
        elif o.finish == "length":
            r = BudgetResult(p, prefill + o.text + STOP_THINKING, o.tokens, 0, True, True)
            again.append((i, p + o.text + STOP_THINKING))
        else:
            r = BudgetResult(p, prefill + o.text, o.tokens, 0, False, False)  # ended inside <think>: counted
        results.append(r)
    if again:
        second = backend.complete([q for _, q in again], max_answer_tokens, temperature, seed + 1)
        for (i, _), o in zip(again, second, strict=True):
            results[i].text += o.text
            results[i].answer_tokens += o.tokens
    return results


def _prefill_ids(backend, prefill: str) -> list[int] | None:
    tok = getattr(backend, "tok", None)
    return None if tok is None else tok.encode(prefill, add_special_tokens=False)


def _joined(head: list[int] | None, completion: Completion) -> list[int] | None:
    return None if head is None or completion.ids is None else head + list(completion.ids)


def backend_tokens(backend, text: str) -> list[int]:
    tok = getattr(backend, "tok", None)
    if tok is None:  # a server: approximate by whitespace pieces (only used to split counts)
        return text.split()
    return tok.encode(text, add_special_tokens=False)
