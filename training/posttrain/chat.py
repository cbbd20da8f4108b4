"""Qwen3's chat template with ``/think`` and ``/no_think`` flags, assistant-only loss masks, and packing.

A conversation is a list of ``{"role": "system"|"user"|"assistant", "content": str, "reasoning": str?}``. An
assistant turn's thinking is its ``reasoning`` field or a leading ``<think>...</think>`` in its content. The mode
of an assistant turn is the last flag seen in the system and user turns before it (default: thinking). A
non-thinking answer keeps the empty block ``<think>\\n\\n</think>\\n\\n``, as the report prescribes. An assistant
turn with ``"thinking_cut": true`` holds a thought cut by a thinking budget: it renders as the budgeted generator
builds it (``<think>\\n`` + the cut thought + `STOP_THINKING` + the answer) and only its answer trains. The last
assistant turn may carry ``"token_ids"``: the tokens a model generated for it (a teacher's answer in off-policy
distillation), which `encode` trains on as they are instead of re-tokenizing the text, since the same text can
tokenize otherwise (``</think>\\n\\n`` as one token or two).

Packing puts several conversations in one row; a block-diagonal causal mask keeps attention inside each one
(RoPE depends only on relative positions, so a document scores the same packed or alone).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import torch

from corpusforge.errors import InputError

IM_START, IM_END = "<|im_start|>", "<|im_end|>"
THINK_OPEN, THINK_CLOSE = "<think>", "</think>"
EMPTY_THINK = "<think>\n\n</think>\n\n"
# What a thinking answer is prompted with: the budgeted generator prefills it, so evaluation and on-policy
# sampling of /think prompts start the thought from the same tokens
THINK_PREFILL = THINK_OPEN + "\n"
# The report's stop-thinking text, appended where a thinking budget cuts the thought (`generate.generate_with_budget`)
STOP_THINKING = (
    "Considering the limited time by the user, I have to give the solution based on the thinking directly now.\n"
    "</think>.\n\n"
)
_FLAG = re.compile(r"/(no_think|think)\b")


def last_flag(text: str) -> str | None:
    """``"think"``, ``"no_think"`` or None: the last flag in ``text``."""
    found = _FLAG.findall(text or "")
    return found[-1] if found else None


def strip_flags(text: str) -> str:
    """``text`` without its ``/think`` / ``/no_think`` flags (the question itself)."""
    return " ".join(_FLAG.sub(" ", text or "").split())


def mode_before(messages: list[dict], index: int, default: str = "think") -> str:
    """The mode an assistant turn at ``index`` must follow: the last flag in earlier system/user turns."""
    mode = default
    for m in messages[:index]:
        if m.get("role") in ("system", "user"):
            mode = last_flag(m.get("content", "")) or mode
    return mode


def split_thinking(message: dict) -> tuple[str | None, str]:
    """(reasoning, answer) of an assistant turn; reasoning None when the turn has no think block at all."""
    content = message.get("content") or ""
    if message.get("reasoning") is not None:
        return str(message["reasoning"]), content
    stripped = content.lstrip()
    if stripped.startswith(THINK_OPEN):
        end = stripped.find(THINK_CLOSE)
        if end < 0:
            raise InputError("assistant turn", "the answer opens <think> and never closes </think>", "unclosed_think")
        return stripped[len(THINK_OPEN) : end].strip("\n"), stripped[end + len(THINK_CLOSE) :].lstrip("\n")
    if THINK_CLOSE in content:
        raise InputError("assistant turn", "</think> without an opening <think>", "stray_think_close")
    return None, content


def render_assistant(reasoning: str | None, answer: str, cut: bool = False) -> str:
    """The assistant body: ``<think>\\n{reasoning}\\n</think>\\n\\n{answer}``, or the empty block; a ``cut``
    thought verbatim (it ends where the budget cut it) then the stop-thinking text, as the generator appends it."""
    if cut:
        return f"{THINK_OPEN}\n{reasoning or ''}{STOP_THINKING}{answer}"
    if not reasoning or not reasoning.strip():
        return EMPTY_THINK + answer
    return f"{THINK_OPEN}\n{reasoning.strip(chr(10))}\n{THINK_CLOSE}\n\n{answer}"


def segments(messages: list[dict], ids: bool = False) -> list[tuple[str | list[int], bool]]:
    """The rendered conversation as (text, trained) pieces; only assistant bodies and their ``<|im_end|>`` train.
    With ``ids``, a last assistant turn that carries ``token_ids`` is that list of ids instead of its text."""
    if not any(m.get("role") == "assistant" for m in messages):
        raise InputError("conversation", "has no assistant turn", "no_assistant")
    out: list[tuple[str, bool]] = []
    last = max(i for i, m in enumerate(messages) if m.get("role") == "assistant")
    for i, m in enumerate(messages):
        role = m.get("role")
        if role not in ("system", "user", "assistant"):
            raise InputError("conversation", f"unknown role {role!r}", "unknown_role")
        if role == "assistant":
            reasoning, answer = split_thinking(m)
            cut = bool(m.get("thinking_cut"))
            out.append((f"{IM_START}assistant\n", False))
            # Every turn is tokenized as the prompt that carries it would be. An earlier turn is history inside
            # a later prompt string, so it stays one piece. The last turn's think block and answer are two pieces:
            # a prompt prefilled with the block ends in "\n\n", which BPE merges only at a piece's end.
            # A cut thought and the stop text are what the generator fed the model, never what it wrote: untrained.
            if i == last and ids and m.get("token_ids") is not None:
                out.append((_generated_ids(m["token_ids"]), True))
            elif i == last:
                out.append((render_assistant(reasoning, "", cut), not cut))
                out.append((answer + IM_END, True))
            elif cut:
                out.append((render_assistant(reasoning, answer, cut) + IM_END, False))
            else:
                out.append((render_assistant(reasoning, answer) + IM_END, True))
            out.append(("\n", False))
        else:
            out.append((f"{IM_START}{role}\n{m.get('content', '')}{IM_END}\n", False))
    return out


def _generated_ids(value) -> list[int]:
    if not (isinstance(value, list) and value and all(isinstance(t, int) and t >= 0 for t in value)):
        raise InputError("assistant turn", "token_ids must be a non-empty list of token ids", "bad_token_ids")
    return value


def render(messages: list[dict]) -> str:
    return "".join(text for text, _ in segments(messages))


def generation_prompt(messages: list[dict], prefill: str = "") -> str:
    """The prompt for the next assistant turn (history rendered as in training), optionally prefilled."""
    body = ""
    for m in messages:
        if m.get("role") == "assistant":
            reasoning, answer = split_thinking(m)
            body += f"{IM_START}assistant\n{render_assistant(reasoning, answer, bool(m.get('thinking_cut')))}{IM_END}\n"
        else:
            body += f"{IM_START}{m['role']}\n{m.get('content', '')}{IM_END}\n"
    return body + f"{IM_START}assistant\n" + prefill


def answer_prompt(messages: list[dict], prefill_no_think: bool = False, prefill_think: bool = False) -> str:
    """The generation prompt; with ``prefill_no_think``, a turn the flags put in non-thinking mode opens with the
    template's empty block, so an SFT model (trained on that block) and an untrained one answer from the same
    text: the format the off-policy targets, the on-policy samples and the evaluation then share. With
    ``prefill_think``, a thinking turn opens with `THINK_PREFILL`, as `generate.generate_with_budget` (and so
    ``train eval --budget``) prompts it."""
    mode = mode_before(messages, len(messages))
    if prefill_no_think and mode == "no_think":
        return generation_prompt(messages, prefill=EMPTY_THINK)
    if prefill_think and mode == "think":
        return generation_prompt(messages, prefill=THINK_PREFILL)
    return generation_prompt(messages)


def encode(messages: list[dict], tokenizer) -> tuple[list[int], list[int]]:
    """Token ids and a 0/1 train mask per token (1 on assistant bodies and their end token)."""
    ids: list[int] = []
    mask: list[int] = []
    for text, trained in segments(messages, ids=True):
        piece = list(text) if isinstance(text, list) else tokenizer.encode(text, add_special_tokens=False)
        ids += piece
        mask += [int(trained)] * len(piece)
    return ids, mask


@dataclass
class Packed:
    """Rows of ``seq_length`` tokens holding whole conversations; ``doc`` numbers them per row (each padding
    position is a document of its own, so it attends only to itself)."""

    tokens: torch.Tensor
    labels: torch.Tensor
    loss_mask: torch.Tensor
    position_ids: torch.Tensor
    doc: torch.Tensor

    def attention_mask(self) -> torch.Tensor:
        """Megatron's boolean mask ``[b, 1, s, s]`` (True hides): causal and never across documents."""
        s = self.tokens.shape[1]
        causal = torch.ones(s, s, dtype=torch.bool).tril()
        same = self.doc[:, :, None] == self.doc[:, None, :]
        return ~(same & causal)[:, None]

    def batch(self) -> dict:
        return {
            "tokens": self.tokens,
            "labels": self.labels,
            "loss_mask": self.loss_mask,
            "position_ids": self.position_ids,
            "attention_mask": self.attention_mask(),
        }


def pack(examples: list[tuple[list[int], list[int]]], seq_length: int, pad_id: int) -> tuple[Packed, list[int]]:
    """First-fit packing of (ids, mask) examples into rows; returns the rows and the indices too long to fit.

    ``labels[t] = tokens[t+1]`` inside a document; ``loss_mask[t]`` is the train mask of token ``t+1``, so a
    document's last position (and padding) never trains."""
    rows: list[list[int]] = []
    too_long = []
    for i, (ids, _) in enumerate(examples):
        if len(ids) > seq_length:
            too_long.append(i)
            continue
        for row in rows:
            if sum(len(examples[j][0]) for j in row) + len(ids) <= seq_length:
                row.append(i)
                break
        else:
            rows.append([i])
    n = len(rows)
    tokens = torch.full((n, seq_length), pad_id, dtype=torch.long)
    labels = torch.full((n, seq_length), pad_id, dtype=torch.long)
    loss_mask = torch.zeros(n, seq_length)
    position_ids = torch.zeros(n, seq_length, dtype=torch.long)
    doc = torch.full((n, seq_length), -1, dtype=torch.long)
    for r, row in enumerate(rows):
        at = 0
        for d, j in enumerate(row):
            ids, mask = examples[j]
            k = len(ids)
            tokens[r, at : at + k] = torch.tensor(ids)
            labels[r, at : at + k - 1] = torch.tensor(ids[1:])
            loss_mask[r, at : at + k - 1] = torch.tensor(mask[1:], dtype=torch.float)
            position_ids[r, at : at + k] = torch.arange(k)
            doc[r, at : at + k] = d
            at += k
        # padding: each pad position is its own document, so it attends only to itself (no empty softmax rows)
        pads = seq_length - at
        if pads:
            doc[r, at:] = torch.arange(len(row), len(row) + pads)
            position_ids[r, at:] = 0
    return Packed(tokens, labels, loss_mask, position_ids, doc), too_long
