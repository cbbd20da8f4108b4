"""`corpusforge annotate`: teach (LLM labels a corpus sample), train (fastText student), convert, recipe."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from annotators.teach import teach_corpus
from corpusforge.errors import ConfigError

app = typer.Typer(
    help="Teach labels with an LLM, train fastText students, convert labelled data.", no_args_is_help=True
)


@app.command("teach")
def teach(
    data: list[Path] = typer.Option(
        ..., help="Documents Parquet (file or a job's documents/ dir) or JSONL with 'text'; repeatable.", exists=True
    ),
    labels: str = typer.Option(..., help="Comma-separated: domain,format,field,edu,toxicity,adult."),
    out: Path = typer.Option(..., help="Output JSONL: {id, text, <label>: value, ..., failures?}."),
    sample: int | None = typer.Option(None, min=1, help="Label a seeded random sample of N documents (default all)."),
    llm_config: Path | None = typer.Option(None, exists=True, help="YAML: an LLMConfig, or a TeacherConfig with llm:."),
    cache: Path | None = typer.Option(None, help="Answer cache (sqlite); default OUT.cache.sqlite."),
    seed: int = typer.Option(0, help="Sampling seed."),
) -> None:
    """Label a sample of a corpus with the LLM teacher; failures are counted by reason."""
    names = [s.strip() for s in labels.split(",") if s.strip()]
    stats = teach_corpus(data, names, out, sample, llm_config, cache, seed)
    table = Table(title=f"teacher labels → {out}")
    table.add_column("label")
    table.add_column("counts")
    for name, counts in stats["label_counts"].items():
        table.add_row(name, ", ".join(f"{k} {v}" for k, v in counts.items()))
    Console().print(table)
    failures = ", ".join(f"{k} {v}" for k, v in stats["failures"].items()) or "none"
    Console().print(
        f"{stats['documents']} documents, {stats['llm_calls']} LLM calls, {stats['cache_hits']} cached answers, "
        f"failures: {failures}"
    )


@app.command("train")
def train(
    data: list[Path] = typer.Option(
        ..., exists=True, help="JSONL with 'text' and the label (field LABEL, else 'label'); repeatable."
    ),
    label: str = typer.Option(..., help="Label name: the model is written as OUT/LABEL.ftz with its card."),
    out: Path = typer.Option(..., help="Output directory."),
    field: str | None = typer.Option(
        None, help="JSON field holding the label (default: LABEL if present, else 'label')."
    ),
    config: Path | None = typer.Option(None, exists=True, help="YAML StudentConfig (hyperparameters, split)."),
    source: str | None = typer.Option(None, help="Where the labels come from, for the model card."),
    human: bool = typer.Option(False, help="The labels are human labels (default: teacher labels)."),
    valid: list[Path] = typer.Option([], exists=True, help="Validation JSONL instead of a held-out split; repeatable."),
    notes: str | None = typer.Option(None, help="Free text for the model card (e.g. known weaknesses)."),
    reference: Path | None = typer.Option(
        None, exists=True, help="Reference labels: score the student on their held-out split, figures in the card."
    ),
) -> None:
    """Train a fastText student, hold out a validation split, quantize to .ftz, write the model card."""
    from annotators.student import StudentConfig, train_student

    cfg = StudentConfig.load(config) if config else StudentConfig()
    card = train_student(
        data, label, out, cfg, field=field, source=source, human=human, valid=valid or None, notes=notes,
        reference=reference,
    )
    metrics = ", ".join(
        f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}"
        for k, v in card["validation"].items()
        if not isinstance(v, dict | list)
    )
    Console().print(f"{card['model_file']}: {card['size_bytes']:,} bytes; validation: {metrics}")


@app.command("convert")
def convert(
    kind: str = typer.Argument(..., help="tweeteval | ag_news | html"),
    src: Path = typer.Argument(
        ..., exists=True, help="tweeteval: a task dir (hate/, offensive/); ag_news: the CSV; html: a dir of pages."
    ),
    out: Path = typer.Option(..., help="Output JSONL."),
    split: str = typer.Option("train", help="tweeteval: train or val."),
    positive: str = typer.Option("toxic", help="tweeteval: the label written for class 1 (class 0 is 'ok')."),
    holdout: float = typer.Option(
        0.0, min=0.0, max=0.9, help="ag_news/html: also write OUT with .heldout.jsonl, this fraction."
    ),
    max_chars: int | None = typer.Option(None, help="html: truncate each page's main text."),
    seed: int = typer.Option(0, help="Split seed."),
) -> None:
    """Convert a labelled data set (or HTML pages) into the JSONL that train, teach and eval read."""
    from annotators.convert import ag_news_rows, html_rows, split_holdout, tweeteval_rows, write_jsonl

    if kind == "tweeteval":
        rows = list(tweeteval_rows(src, split, positive))
    elif kind == "ag_news":
        rows = list(ag_news_rows(src))
    elif kind == "html":
        rows = list(html_rows(src, max_chars))
    else:
        raise ConfigError("kind", f"{kind!r} is not one of tweeteval, ag_news, html")
    if holdout:
        rows, held = split_holdout(rows, holdout, seed)
        heldout_path = out.with_name(out.name.removesuffix(".jsonl") + ".heldout.jsonl")
        typer.echo(f"{write_jsonl(heldout_path, held)} rows → {heldout_path}")
    typer.echo(f"{write_jsonl(out, rows)} rows → {out}")


@app.command("recipe")
def recipe(
    path: Path = typer.Argument(..., exists=True, help="Annotator recipe, e.g. recipes/annotators.yaml."),
    only: list[str] = typer.Option([], help="Run only these steps (by name); repeatable."),
) -> None:
    """Run a recipe's steps in order: convert data, teach, train: reproduces the shipped models."""
    from annotators.recipe import AnnotatorRecipe, run_recipe

    run_recipe(AnnotatorRecipe.load(path), only=only or None)


@app.command("report")
def report(
    models: Path | None = typer.Option(None, exists=True, help="Directory of <head>.ftz + cards; default shipped."),
    bars: Path | None = typer.Option(None, exists=True, help="YAML {head: [{evaluation, metric, min|max}]}."),
    json_path: Path | None = typer.Option(None, "--json", help="Also write the verdicts as JSON here."),
) -> None:
    """Every head with its evaluated figures, its bars and whether it passes (failing heads key no cells)."""
    from annotators.report import head_report, print_head_report

    rows = head_report(models, bars)
    print_head_report(rows)
    if json_path:
        json_path.write_text(json.dumps(rows, indent=2, default=str))


@app.command("probe")
def probe(
    reference: Path = typer.Option(..., exists=True, help="Reference labels JSONL (topic, format, edu per page)."),
    out: Path = typer.Option(..., help="Where the fitted probes are written (pickle)."),
    cache: Path | None = typer.Option(None, help="Feature cache (sqlite): reruns pay nothing for seen texts."),
    max_tokens: int = typer.Option(1024, help="Tokens of each page the model reads (1024: a whole reference page)."),
    layers: str | None = typer.Option(None, help="Hidden-state layers to try (comma-separated); default: the model's."),
    model: str | None = typer.Option(None, help="gemma3-270m (default), smollm2-135m, a .gguf or a directory."),
    folds: int = typer.Option(5, min=2, help="Cross-validation folds."),
    search_layers: str | None = typer.Option(None, help="Only these of the layers are tried (comma-separated)."),
    search_c: str | None = typer.Option(None, help="Logistic C values tried (ridge alpha = 1000·C); default grid."),
    prompt: bool = typer.Option(
        True, help="Also read each page inside a topic question (last-token and topic views; held-out topic 0.722 vs 0.661)."
    ),
) -> None:
    """Fit the probe teacher (a local LM's hidden states → logistic/ridge) on the reference train split, by CV."""
    from annotators.probe import ProbeConfig, fit_reference_probe

    try:
        layer_list = [int(x) for x in layers.split(",") if x.strip()] if layers else None
    except ValueError:
        raise ConfigError("layers", f"{layers!r} is not a comma-separated list of integers") from None
    def numbers(text: str | None, kind: type) -> list | None:
        return [kind(x) for x in text.split(",") if x.strip()] if text else None

    config = ProbeConfig(
        model=model, max_tokens=max_tokens, layers=layer_list, cache=str(cache) if cache else None, folds=folds,
        search_layers=numbers(search_layers, int), search_reg=numbers(search_c, float), prompt=prompt,
    )
    summary = fit_reference_probe(reference, config, out)
    table = Table(title=f"probe teacher → {out} (cross-validated on the reference train split)")
    for col in ("head", "layer", "probe", "regularisation", "cv metric", "cv figure", "train pages"):
        table.add_column(col)
    for head, s in summary.items():
        table.add_row(head, str(s["layer"]), s["estimator"], str(s["reg"]), s["cv_metric"], f"{s['cv']:.3f}",
                      str(s["train_examples"]))
    Console().print(table)


@app.command("probe-label")
def probe_label_cmd(
    probe: Path = typer.Option(..., exists=True, help="Probes fitted by `annotate probe`."),
    data: list[Path] = typer.Option(..., exists=True, help="HTML dir, documents Parquet or JSONL; repeatable."),
    out: Path = typer.Option(..., help="Output JSONL: {id, text, domain, format, edu, label_source}."),
    reference: Path | None = typer.Option(
        None, exists=True, help="Reference labels: held-out pages are skipped, train pages keep their labels."
    ),
    cache: Path | None = typer.Option(None, help="Feature cache (sqlite)."),
    sample: int | None = typer.Option(None, min=1, help="Label a seeded sample of N pages (default all)."),
    max_chars: int = typer.Option(2500, help="Characters of each page kept (the reference pages are cut to 2,500)."),
) -> None:
    """Label a larger sample of real pages with the probe teacher, for the students to learn from."""
    from annotators.probe_label import probe_label

    stats = probe_label(probe, data, out, reference, str(cache) if cache else None, sample, 0, max_chars,
                        log=lambda m: typer.echo(m, err=True))
    Console().print_json(json.dumps(stats))


@app.command("dclm")
def dclm(
    math_code: Path = typer.Option(..., exists=True, help="Directory with math/math_test.json, gsm8k/gsm8k_test.jsonl."),
    stdlib: Path = typer.Option(..., exists=True, help="A Python standard library directory (docstrings)."),
    web: list[Path] = typer.Option(..., exists=True, help="Web pages: HTML dir, documents Parquet or JSONL."),
    reference: Path = typer.Option(..., exists=True, help="Reference labels: excluded from training, scored on."),
    out: Path = typer.Option(..., help="Output directory: edu_dclm.ftz, its card, the training JSONL."),
    per_class: int = typer.Option(1500, min=10, help="Training texts per class."),
) -> None:
    """Train the DCLM-style instructive-vs-web classifier; its Spearman with reference edu on the held-out split."""
    from annotators.dclm import build_dataset, docstring_texts, math_texts
    from annotators.probe_label import _key, gather
    from annotators.reference import load_reference
    from annotators.reference_eval import evaluate_predictors
    from annotators.student import StudentConfig, train_student

    refs = load_reference(reference)
    ref_ids = {r["id"] for r in refs} | {_key(r["text"]) for r in refs}
    negatives = [d["text"] for d in gather(web, 2500) if d["id"] not in ref_ids and _key(d["text"]) not in ref_ids]
    positives = list(math_texts(math_code)) + list(docstring_texts(stdlib))
    data = out / "edu_dclm.train.jsonl"
    counts = build_dataset(positives, negatives, data, per_class)
    config = StudentConfig(epoch=10, lr=0.3, dim=32, word_ngrams=2, cutoff=20000, valid_fraction=0.1)
    card = train_student(data, "edu_dclm", out, config, source="MATH + GSM8K solutions and Python stdlib docstrings "
                         "(instructive) vs web pages outside the reference set (web)")
    from annotators.dclm import instructive_probability

    def predict(texts: list[str]) -> list[float]:
        return [5.0 * p for p in instructive_probability(card["model_file"], texts, config.max_chars)]

    result = evaluate_predictors(reference, {"edu": predict}, "heldout", "DCLM-style classifier (5 x P(instructive))")
    from annotators.reference_cli import print_reference

    print_reference(result)
    Console().print(f"training: {counts}; validation accuracy {card['validation'].get('accuracy', 0):.3f}")
    (out / "edu_dclm.reference.json").write_text(json.dumps(result, indent=2, default=str))


@app.command("train-safety")
def train_safety(
    task: str = typer.Option(..., help="hate or offensive: the TweetEval task, and the head's name."),
    tweeteval: Path = typer.Option(..., exists=True, help="TweetEval's directory (holding hate/ and offensive/)."),
    out: Path = typer.Option(Path("annotators/models"), help="Output directory: OUT/TASK.ftz and its card."),
    reference: Path | None = typer.Option(
        None, exists=True, help="Reference pages: the page threshold (train split) and held-out page figures."
    ),
    config: Path | None = typer.Option(None, exists=True, help="YAML SafetyTrainConfig (grid, dev split, quantile)."),
    pages: list[Path] = typer.Option(
        [], exists=True, help="Real pages (JSONL/Parquet with text) trained on as negatives; repeatable."
    ),
) -> None:
    """Train a hate or offensive head: grid and threshold chosen on train alone; validation and held-out pages
    scored once, into the card."""
    import sys

    from annotators.safety_heads import SafetyTrainConfig, cached_scorer, train_safety_head

    settings = SafetyTrainConfig.load(config) if config else SafetyTrainConfig()
    if pages:
        settings = settings.model_copy(update={"pages": [str(p) for p in pages]})
    scorer = None
    if settings.distill:
        from annotators.contextual_head import load_second_stage

        for name in (settings.distill.teacher, *settings.distill.transfer):
            if not Path(name).is_file():
                raise ConfigError("distill", f"{name} does not exist")
        teacher = settings.distill.teacher
        scorer = cached_scorer(load_second_stage(teacher).score, teacher, settings.distill.cache)
    command = "corpusforge annotate " + " ".join(sys.argv[2:])
    card = train_safety_head(task, tweeteval, out, reference, settings, command, scorer)  # type: ignore[arg-type]
    val = card["evaluations"][f"tweeteval_{task}_val"]
    Console().print(
        f"{task}: validation macro-F1 {val['macro_f1']:.3f} at threshold {val['threshold']:.2f} (majority baseline "
        f"{val['baseline']['macro_f1']:.3f}); card {out / (task + '.card.json')}"
    )
    if page := card["evaluations"].get("reference_heldout"):
        Console().print(
            f"pages (held-out): {page['flagged_clean']}/{page['clean']} clean pages flagged at the page threshold "
            f"{page['threshold']:.3f}"
        )


@app.command("page-threshold")
def page_threshold_cmd(
    head: str = typer.Option(..., help="A binary head: toxicity, adult, hate or offensive."),
    reference: Path = typer.Option(..., exists=True, help="Reference pages (topic, format, edu, toxic per page)."),
    model: str | None = typer.Option(None, help="Model file; default the shipped annotators/models/HEAD.ftz."),
    quantile: float = typer.Option(0.99, min=0.5, max=1.0, help="Of the head's scores on clean train pages."),
) -> None:
    """Choose a binary head's page-level flag threshold on the reference train split (a false-positive budget on
    clean pages) and record it with the held-out figures in the head's card."""
    import sys

    from annotators.safety_heads import calibrate_page_threshold

    card = calibrate_page_threshold(head, reference, model, quantile, "corpusforge annotate " + " ".join(sys.argv[2:]))
    page = card["evaluations"]["reference_heldout"]
    Console().print(
        f"{head}: page threshold {card['decision']['page_threshold']:.3f}; held-out clean pages flagged "
        f"{page['flagged_clean']}/{page['clean']} ({page['flagged_rate']:.3f}; at 0.5: {page['flagged_rate_at_0.5']:.3f})"
    )


@app.command("train-cascade")
def train_cascade_cmd(
    task: str = typer.Option("offensive", help="hate or offensive: the TweetEval task behind a shipped fastText head."),
    tweeteval: Path = typer.Option(..., exists=True, help="TweetEval's directory (holding hate/ and offensive/)."),
    out: Path = typer.Option(Path("annotators/models"), help="Output directory: OUT/TASK.ctx.npz and its card."),
    stage1: Path | None = typer.Option(None, exists=True, help="The screening fastText head; default OUT/TASK.ftz."),
    config: Path | None = typer.Option(
        None, exists=True, help="YAML CascadeConfig (stage2: probe or encoder; LM, layers, sample, C grid; encoder)."
    ),
    cache: Path | None = typer.Option(None, help="LM feature cache (sqlite): reruns pay nothing for seen tweets."),
    reference: Path | None = typer.Option(
        None, exists=True, help="Reference pages: the page threshold (train split), held-out figures, share screened."
    ),
) -> None:
    """Fit a contextual decider behind a fastText safety head (the cascade): a probe over a local LM's states
    (layer, C by CV) or a fine-tuned encoder (epoch on a development split); screen and threshold chosen on the
    train split; validation read once, into OUT/TASK.ctx.card.json."""
    import sys

    from annotators.cascade import CascadeConfig, calibrate_cascade_pages, train_cascade

    settings = CascadeConfig.load(config) if config else CascadeConfig()
    if cache:
        settings = settings.model_copy(update={"states": settings.states.model_copy(update={"cache": str(cache)})})
    command = "corpusforge annotate " + " ".join(sys.argv[2:])
    def on_epoch(h: dict) -> None:
        Console().print(f"epoch {h['epoch']}/{h['epochs']}: development macro-F1 {h['dev_macro_f1']:.3f} at "
                        f"{h['dev_threshold']:.2f}, log-loss {h['dev_loss']:.3f}")  # fmt: skip

    card = train_cascade(task, tweeteval, stage1 or out / f"{task}.ftz", out, settings, command, on_epoch)
    val = card["evaluations"][f"tweeteval_{task}_val"]
    Console().print(
        f"{task} cascade: validation macro-F1 {val['macro_f1']:.3f} (decider alone {val['probe_alone_macro_f1']:.3f}; "
        f"majority baseline {val['baseline']['macro_f1']:.3f}); screen {val['screen']:.2f} passed "
        f"{val['screened_share']:.1%} of the tweets; card {out / (task + '.ctx.card.json')}"
    )
    if reference:
        card = calibrate_cascade_pages(task, out, reference, command=command)
        page = card["evaluations"]["reference_heldout"]
        Console().print(
            f"pages: screened in {card['decision']['pages_screened']['train']:.1%} (train) / "
            f"{page['screened_share']:.1%} (held-out); {page['flagged_clean']}/{page['clean']} held-out clean pages "
            f"flagged at the page threshold {page['threshold']:.3f}"
        )
