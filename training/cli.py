"""`corpusforge train`: presets, pretrain (three stages from a recipe), export (to Hugging Face), generate."""

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
    the last checkpoint to Hugging Face format and generate a few tokens from it with transformers."""
    from corpusforge.config import parse_override
    from training.pretrain import PretrainRecipe, check_data
    from training.pretrain import pretrain as run

    rec = PretrainRecipe.load(recipe, dict(parse_override(s) for s in set_))
    blends = check_data(rec)
    if check:
        for name, b in blends.items():
            typer.echo(
                f"{name}: {len(b.prefixes)} shards, {b.tokens:,} tokens, {rec.steps(next(s for s in rec.stages if s.name == name))} steps"
            )
        return
    result = run(rec)
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
    from training.pretrain import export_checkpoint
    from training.trainer import latest_checkpoint

    if not (checkpoint / "checkpoint.pt").is_file():
        latest = latest_checkpoint(checkpoint)
        if latest is None:
            from corpusforge.errors import InputError

            raise InputError(str(checkpoint), "neither a checkpoint (checkpoint.pt) nor a folder with a 'latest' one")
        checkpoint = latest
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
