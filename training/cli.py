"""`corpusforge train`: presets, pretrain (three stages from a recipe), export (to Hugging Face), generate; post-training:
sft, grpo, distill, eval (accuracy at thinking budgets, ThinkFollow), task (generated task and fusion sets), serve
(an OpenAI-compatible server over a transformers model)."""

from __future__ import annotations

import json
from pathlib import Path

import typer

app = typer.Typer(
    help="Pretrain Qwen3-architecture models on shards with Megatron-Core; export to Hugging Face.",
    no_args_is_help=True,
)


@app.command()
def presets() -> None:
    """The model presets and their parameter counts (computed from the shapes)."""
    from rich.console import Console
    from rich.table import Table

    from training.presets import PRESETS, param_count

    table = Table("preset", "layers", "hidden", "heads q/kv", "experts", "total", "non-embedding", "active")
    for name, m in PRESETS.items():
        pc = param_count(m)
        experts = f"{m.num_experts} (top-{m.moe_topk})" if m.is_moe else "-"
        table.add_row(
            name,
            str(m.num_layers),
            str(m.hidden_size),
            f"{m.num_attention_heads}/{m.num_query_groups}",
            experts,
            f"{pc.total / 1e9:.3f}B",
            f"{pc.non_embedding / 1e9:.3f}B",
            f"{pc.active / 1e9:.3f}B",
        )
    Console().print(table)


@app.command()
def pretrain(
    recipe: Path = typer.Option(..., "--recipe", "-r", exists=True, dir_okay=False, help="A pretrain recipe (YAML)."),
    set_: list[str] = typer.Option([], "--set", help="Override a recipe field: train.micro_batch_size=2"),
    check: bool = typer.Option(False, "--check", help="Validate the recipe and its data, then stop."),
) -> None:
    """Run the recipe's stages in order (finished stages are skipped, an interrupted one resumes), then export
    the last checkpoint to Hugging Face format and generate a few tokens from it with transformers. Past one
    process: torchrun --nproc-per-node N -m corpusforge.cli train pretrain -r RECIPE (train.parallel sets
    the layout; data parallelism takes the rest of the world)."""
    from corpusforge.config import parse_override
    from training.parallel import is_logging_rank
    from training.pretrain import PretrainRecipe, check_data
    from training.pretrain import pretrain as run

    rec = PretrainRecipe.load(recipe, dict(parse_override(s) for s in set_))
    layout = rec.layout()  # a layout that does not fit the model or this world: one line naming the field
    blends = check_data(rec)
    if check:
        typer.echo(f"layout: {layout.describe()} on {layout.world} process(es)")
        for name, b in blends.items():
            typer.echo(
                f"{name}: {len(b.prefixes)} shards, {b.tokens:,} tokens, {rec.steps(next(s for s in rec.stages if s.name == name))} steps"
            )
        return
    result = run(rec)
    if is_logging_rank():
        typer.echo(json.dumps(result, indent=2))


@app.command()
def export(
    checkpoint: Path = typer.Option(
        ...,
        "--checkpoint",
        "-c",
        exists=True,
        file_okay=False,
        help="A checkpoint folder (step_N) or a stage's checkpoints folder (its latest).",
    ),
    out: Path = typer.Option(..., "--out", "-o", help="The Hugging Face model folder to write."),
    tokenizer: Path | None = typer.Option(None, help="Tokenizer folder to copy (default: the recipe's, else Qwen3)."),
    yarn_factor: float | None = typer.Option(None, help="YaRN factor (default: the recipe's export.yarn_factor)."),
) -> None:
    """Export a training checkpoint to Qwen3ForCausalLM / Qwen3MoeForCausalLM safetensors + config + tokenizer."""
    from training.checkpoint import find
    from training.pretrain import export_checkpoint

    found = find(checkpoint)
    if found is None:
        from corpusforge.errors import InputError

        raise InputError(str(checkpoint), "neither a checkpoint (step_N) nor a folder with a 'latest' one")
    checkpoint = found
    dest = export_checkpoint(checkpoint, out, tokenizer=str(tokenizer) if tokenizer else None, yarn_factor=yarn_factor)
    typer.echo(str(dest))


@app.command()
def generate(
    model: Path = typer.Option(..., "--model", "-m", exists=True, file_okay=False, help="A Hugging Face model folder."),
    prompt: str = typer.Option("The", help="The prompt."),
    max_new_tokens: int = typer.Option(16, help="Tokens to generate (greedy)."),
) -> None:
    """Greedy generation with transformers from an exported model."""
    from training.pretrain import generate as gen

    typer.echo(gen(model, prompt, max_new_tokens))


def _recipe(cls, recipe: Path, set_: list[str]):
    from corpusforge.config import parse_override

    return cls.load(recipe, dict(parse_override(s) for s in set_))


RECIPE = typer.Option(..., "--recipe", "-r", exists=True, dir_okay=False, help="The recipe (YAML).")
SET = typer.Option([], "--set", help="Override a recipe field: train.steps=10")


@app.command()
def sft(recipe: Path = RECIPE, set_: list[str] = SET) -> None:
    """Supervised fine-tuning (`kind: sft`): packed conversations, loss on assistant turns; resumes."""
    from training.posttrain.sft import SFTRecipe
    from training.posttrain.sft import sft as run

    typer.echo(json.dumps(run(_recipe(SFTRecipe, recipe, set_)), indent=2))


@app.command()
def grpo(recipe: Path = RECIPE, set_: list[str] = SET) -> None:
    """GRPO with verifiable rewards (`kind: grpo`) on the Megatron model; resumes."""
    from training.posttrain.grpo import GRPORecipe
    from training.posttrain.grpo import grpo as run

    typer.echo(json.dumps(run(_recipe(GRPORecipe, recipe, set_)), indent=2))


@app.command()
def distill(recipe: Path = RECIPE, set_: list[str] = SET) -> None:
    """Strong-to-weak distillation (`kind: distill`), off-policy or on-policy; resumes."""
    from training.posttrain.distill import DistillRecipe
    from training.posttrain.distill import distill as run

    typer.echo(json.dumps(run(_recipe(DistillRecipe, recipe, set_)), indent=2))


@app.command("eval")
def eval_(
    model: str = typer.Option(..., "--model", "-m", help="smollm2, a .gguf, a Hugging Face dir or a checkpoint."),
    data: Path | None = typer.Option(None, "--data", exists=True, dir_okay=False, help="Prompts with references."),
    reward: str = typer.Option("math", help="A corpusforge.rewards entry point (or module:function)."),
    max_new_tokens: int = typer.Option(16, min=1),
    budget: list[int] = typer.Option([], help="Thinking budgets (repeat); none: answer without thinking."),
    think_follow: int = typer.Option(0, min=0, help="Also run N ThinkFollow conversations (flag obedience)."),
    limit: int = typer.Option(0, min=0, help="Evaluate the first N prompts only."),
    teacher: str | None = typer.Option(None, help="Also measure the KL to this teacher on the prompts (distillation)."),
    prefill_no_think: bool = typer.Option(
        False, help="/no_think prompts open with the template's empty think block (the SFT targets' format)."
    ),
    out: Path | None = typer.Option(None, help="Write the figures as JSON here."),
) -> None:
    """Accuracy of a model on a prompt set (at each thinking budget) and its ThinkFollow flag obedience."""
    from training.posttrain.evaluate import accuracy, think_follow_set
    from training.posttrain.evaluate import think_follow as follow
    from training.posttrain.fusion import arithmetic_pairs
    from training.posttrain.generate import TransformersBackend
    from training.posttrain.models import load_policy, load_transformers
    from training.posttrain.rewards import RewardRunner, load_reward
    from training.posttrain.tasks import read_prompts

    records = []
    if data is not None:
        records, _ = read_prompts(data)
        records = records[:limit] if limit else records
    runner = RewardRunner(load_reward(reward)) if records else None
    def load(source: str):
        src = Path(source)
        if src.is_dir() and _is_checkpoint(src):
            p = load_policy(source)
            return p.generator, p.tokenizer
        return load_transformers(source)

    hf, tok = load(model)
    backend = TransformersBackend(hf, tok, batch_size=32)
    result: dict = {"model": model}
    if records:
        if budget:
            result["budgets"] = {
                str(b): accuracy(backend, records, runner, max_new_tokens, budget=b, think=True) for b in budget
            }
        else:
            result["accuracy"] = accuracy(backend, records, runner, max_new_tokens, prefill_no_think=prefill_no_think)
        runner.close()
    if teacher and records:
        from training.posttrain.distill import check_tokenizers
        from training.posttrain.evaluate import distill_gap

        t_model, t_tok = load(teacher)
        check_tokenizers(tok, t_tok)
        result["distill_gap"] = distill_gap(hf, t_model, tok, records, max_new_tokens, prefill_no_think)
    if think_follow:
        result["think_follow"] = follow(backend, think_follow_set(arithmetic_pairs(200, seed=7), think_follow, seed=11))
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2) + "\n")
    typer.echo(json.dumps(result, indent=2))


@app.command("task")
def task(
    out: Path = typer.Option(..., "--out", "-o", help="JSON lines to write."),
    kind: str = typer.Option(
        "arithmetic", help="arithmetic or pairs (prompts + references; pairs: the fusion set's wording), fusion (SFT)."
    ),
    n: int = typer.Option(200, min=1),
    seed: int = typer.Option(0),
    digits: int = typer.Option(2, min=1, max=6),
    ops: str = typer.Option("+-", help="Operators for arithmetic."),
    flag: str = typer.Option("/no_think", help="Flag appended to arithmetic prompts."),
    exclude: list[Path] = typer.Option(
        [], exists=True, dir_okay=False, help="pairs: leave out questions asked in any user turn of this JSONL (repeat)."
    ),
    cut_fraction: float | None = typer.Option(
        None, help="fusion: share of final /think answers whose thought is cut (default 0: off; e.g. 0.5)."
    ),
    cut_min: int | None = typer.Option(None, help="fusion: fewest thought tokens a cut keeps (default 0)."),
    cut_max: int | None = typer.Option(None, help="fusion: most thought tokens a cut keeps (default 48)."),
    tokenizer: str = typer.Option("smollm2", help="fusion: the model whose tokens the cuts count (smollm2, .gguf, dir)."),
) -> None:
    """Write a generated verifiable task (arithmetic) or a thinking-mode fusion SFT set."""
    from corpusforge.errors import ConfigError
    from training.posttrain.fusion import ThoughtCut, arithmetic_pairs, fusion_set
    from training.posttrain.tasks import arithmetic, asked_questions, write_jsonl

    if kind == "arithmetic":
        rows = arithmetic(n, seed=seed, digits=digits, ops=ops, flag=flag)
    elif kind == "pairs":
        seen = asked_questions(exclude)
        # the generator's stream is prefix-stable, so the kept questions are the first n of this seed not seen
        pairs = [p for p in arithmetic_pairs(4 * n + len(seen), seed=seed) if p["question"] not in seen][:n]
        if len(pairs) < n:
            raise ConfigError("exclude", f"only {len(pairs)} questions left after the exclusions, {n} asked")
        rows = [
            {"messages": [{"role": "user", "content": f"{p['question']} {flag}"}], "reference": {"answer": p["answer"]}}
            for p in pairs
        ]
    elif kind == "fusion":
        given = {"fraction": cut_fraction, "min_tokens": cut_min, "max_tokens": cut_max}
        cut = ThoughtCut.parse({k: v for k, v in given.items() if v is not None})
        tok = None
        if cut.fraction > 0:
            from training.posttrain.models import load_tokenizer

            tok = load_tokenizer(tokenizer)
        rows = fusion_set(arithmetic_pairs(max(50, n), seed=seed), n, seed=seed + 1, cut=cut, tokenizer=tok)
    else:
        raise ConfigError("kind", f"unknown task {kind!r} (arithmetic, pairs, fusion)")
    typer.echo(str(write_jsonl(rows, out)))


@app.command()
def serve(
    model: str = typer.Option(..., "--model", "-m", help="smollm2, a .gguf, a Hugging Face dir or a checkpoint."),
    host: str = typer.Option("127.0.0.1"),
    port: int = typer.Option(8000, min=0, max=65535),
    name: str = typer.Option("local", help="The model name the server answers to."),
) -> None:
    """An OpenAI-compatible server (/v1/completions, /v1/chat/completions) over a transformers model."""
    from training.posttrain.generate import TransformersBackend
    from training.posttrain.models import load_policy, load_transformers
    from training.posttrain.serve import make_server

    src = Path(model)
    if src.is_dir() and _is_checkpoint(src):
        p = load_policy(model)
        hf, tok = p.generator, p.tokenizer
    else:
        hf, tok = load_transformers(model)
    server = make_server(TransformersBackend(hf, tok), name, host, port)
    typer.echo(f"serving {model} as {name!r} on http://{host}:{server.server_address[1]}/v1")
    try:
        server.serve_forever()
    finally:
        server.server_close()


def _is_checkpoint(path: Path) -> bool:
    from training.checkpoint import find

    return find(path) is not None
