"""`corpusforge eval verifier`: how far the verifiers can be trusted, measured on benchmark data.

- code: HumanEval's reference solutions run with their tests in the sandbox (all must pass) and three
  corruptions of each (all should fail): ``empty`` (the body replaced by ``pass``), ``wrong_output`` (the
  entry point's result perturbed: numbers +1, strings and lists extended, booleans negated) and ``mutant``
  (one operator or constant of the solution flipped; a surviving mutant is a weak test suite, reported apart);
- math: GSM8K and MATH gold solutions (the answer extracted and compared with the reference), the reference
  re-spelled (a decimal for a fraction, sympy's LaTeX for an expression), both to be accepted; perturbed answers (numbers +1,
  expressions +1) to be rejected;
- decontamination: registry size, false-positive rate on clean text (documents that share a 13-gram with a
  benchmark), recall on planted samples (a benchmark passage inside a clean document) and samples/s on one core.
"""

from __future__ import annotations

import ast
import json
import random
import re
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from corpusforge.errors import InputError
from synth.decontam import Registry, normalize_words
from synth.rewards import program_and_tests
from synth.verify.math import answers_equivalent, check_answer, last_boxed
from synth.verify.sandbox import Sandbox, SandboxConfig

CORRUPTIONS = ("empty", "wrong_output", "mutant")
PERTURB = '''
def __cf_perturb(r):
    if isinstance(r, bool):
        return not r
    if isinstance(r, (int, float)):
        return r + 1
    if isinstance(r, str):
        return r + "x"
    if isinstance(r, list):
        return r + [None]
    if isinstance(r, tuple):
        return r + (None,)
    if r is None:
        return 0
    return object()
__cf_original = {entry}
def {entry}(*args, **kwargs):
    return __cf_perturb(__cf_original(*args, **kwargs))
'''
_SWAPS = {
    ast.Lt: ast.GtE, ast.GtE: ast.Lt, ast.Gt: ast.LtE, ast.LtE: ast.Gt, ast.Eq: ast.NotEq, ast.NotEq: ast.Eq,
    ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Add, ast.FloorDiv: ast.Mult, ast.Mod: ast.FloorDiv,
    ast.And: ast.Or, ast.Or: ast.And, ast.In: ast.NotIn, ast.NotIn: ast.In,
}


def mutate(source: str, function: str) -> str | None:
    """Flip the first operator (or integer constant) in ``function``'s body; None when nothing can be flipped."""
    tree = ast.parse(source)
    target = next((n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == function), None)
    if target is None:
        return None
    for node in (n for stmt in target.body for n in ast.walk(stmt)):
        if isinstance(node, ast.Compare) and type(node.ops[0]) in _SWAPS:
            node.ops[0] = _SWAPS[type(node.ops[0])]()
        elif isinstance(node, ast.BinOp | ast.BoolOp) and type(node.op) in _SWAPS:
            node.op = _SWAPS[type(node.op)]()
        elif isinstance(node, ast.Constant) and type(node.value) is int and not isinstance(node.value, bool):
            node.value += 1
        else:
            continue
        return ast.unparse(tree)
    return None


def corrupt(item: dict, kind: str) -> str | None:
    """A wrong solution of a HumanEval item (the whole program, prompt included); None when there is none."""
    entry = item["entry_point"]
    if kind == "empty":
        return item["prompt"] + "    pass\n"
    if kind == "wrong_output":
        return item["prompt"] + item["canonical_solution"] + PERTURB.format(entry=entry)
    return mutate(item["prompt"] + item["canonical_solution"], entry)


def entry_point(item: dict) -> str:
    found = re.search(r"check\((\w+)\)", item["test"])
    if not found:
        raise InputError(item.get("task_id", "humaneval item"), "its tests never call check(<entry point>)")
    return found.group(1)


def read_jsonl(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def eval_code(root: Path, limit: int | None, workers: int, sandbox: Sandbox) -> dict:
    items = read_jsonl(root / "humaneval" / "humaneval-python.jsonl")[:limit]
    for item in items:
        item.setdefault("entry_point", entry_point(item))
    jobs: list[tuple[str, dict, str]] = []
    for item in items:
        jobs.append(("reference", item, item["prompt"] + item["canonical_solution"]))
        for kind in CORRUPTIONS:
            program = corrupt(item, kind)
            if program is not None:
                jobs.append((kind, item, program))

    def one(job):
        kind, item, program = job
        code, tests = program_and_tests("", program, {"tests": item["test"], "entry_point": item["entry_point"]})
        return kind, item["task_id"], sandbox.run_python(code, tests)

    start = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        results = list(pool.map(one, jobs))
    seconds = time.perf_counter() - start
    out: dict = {"items": len(items), "runs": len(results), "runs_per_s": len(results) / seconds, "kinds": {}}
    for kind in ("reference", *CORRUPTIONS):
        mine = [(task, v) for k, task, v in results if k == kind]
        passed = [task for task, v in mine if v.ok]
        statuses: dict[str, int] = {}
        for _, v in mine:
            statuses[v.status] = statuses.get(v.status, 0) + 1
        out["kinds"][kind] = {
            "programs": len(mine),
            "passed": len(passed),
            "statuses": statuses,
            "passed_ids": passed if kind != "reference" else [t for t, v in mine if not v.ok],
        }
    return out


def _variant(answer: str) -> str | None:
    """The answer spelled another way: a number as a decimal (``1.285714286`` for ``\\frac{9}{7}``), an
    expression as sympy prints it in LaTeX; None when it does not parse or prints the same."""
    if "\\text" in answer:  # sympy reads \text{(B)} as the symbol b: not a re-spelling
        return None
    try:
        import sympy
        from latex2sympy2_extended import latex2sympy

        expr = latex2sympy(answer)
        if isinstance(expr, sympy.Expr) and expr.is_number and expr.is_real and not expr.is_Integer:
            text = f"{float(expr):.10g}"
        else:
            text = sympy.latex(expr)
    except Exception:  # noqa: BLE001 - many MATH answers are not expressions (intervals, text)
        return None
    return text if text.replace(" ", "") != answer.replace(" ", "") else None


def _perturbed(answer: str) -> str:
    """A wrong answer: a number +1; else the first integer in it +1; else the expression plus one."""
    plain = answer.replace(",", "").strip()
    if re.fullmatch(r"-?\d+(\.\d+)?", plain):
        return str(int(plain) + 1) if "." not in plain else str(float(plain) + 1)
    match = re.search(r"\d+", answer)
    if match:
        return answer[: match.start()] + str(int(match.group()) + 1) + answer[match.end() :]
    return f"{answer}+1"


def math_items(root: Path, limit: int | None) -> dict[str, list[tuple[str, str]]]:
    """(gold solution, reference answer) pairs of GSM8K and MATH."""
    gsm = [(r["answer"], r["answer"].split("####")[-1].strip()) for r in read_jsonl(root / "gsm8k" / "gsm8k_test.jsonl")]
    math = []
    for r in read_jsonl(root / "math" / "math_test.json"):
        boxed = last_boxed(r["solution"])
        if boxed:
            math.append((r["solution"], boxed))
    return {"gsm8k": gsm[:limit], "math": math[:limit]}


def eval_math(root: Path, limit: int | None) -> dict:
    out = {}
    for name, pairs in math_items(root, limit).items():
        start = time.perf_counter()
        gold = sum(check_answer(solution, answer) for solution, answer in pairs)
        variants = [(v, a) for v, a in ((_variant(a), a) for _, a in pairs) if v]
        variant_ok = sum(answers_equivalent(v, a) for v, a in variants)
        perturbed = [(_perturbed(a), a) for _, a in pairs]
        wrongly = [(p, a) for p, a in perturbed if answers_equivalent(p, a)]
        seconds = time.perf_counter() - start
        out[name] = {
            "items": len(pairs),
            "gold_accepted": gold,
            "variants": len(variants),
            "variants_accepted": variant_ok,
            "perturbed_rejected": len(perturbed) - len(wrongly),
            "perturbed_accepted_examples": wrongly[:5],
            "checks_per_s": (len(pairs) + len(variants) + len(perturbed)) / seconds,
        }
    return out


def clean_texts(data: Path) -> list[str]:
    """Clean documents to measure false positives on: the data dir's web pages (labels/, webtext/)."""
    texts = []
    for path in sorted([*data.glob("labels/*.jsonl"), *data.glob("webtext/*.jsonl")]):
        texts += [r["text"] for r in read_jsonl(path) if r.get("text")]
    return texts


def eval_decontam(data: Path, root: Path, clean: list[str], seed: int = 0) -> dict:
    start = time.perf_counter()
    registry = Registry.load_defaults(root)
    build_s = time.perf_counter() - start
    start = time.process_time()  # CPU time: samples per core-second, whatever else the machine runs
    hits = [registry.hits(t) for t in clean]
    seconds = time.process_time() - start
    rng = random.Random(seed)
    planted, correct = 0, 0
    sources = {name: [] for name in registry.size()}
    for name, (solution_sets) in math_items(root, None).items():
        sources[name] = [s for s, _ in solution_sets]
    sources["humaneval"] = [r["prompt"] + r["canonical_solution"] for r in read_jsonl(root / "humaneval/humaneval-python.jsonl")]
    for name, texts in sources.items():
        for _ in range(100):
            words = normalize_words(rng.choice(texts))
            while len(words) < 20:
                words = normalize_words(rng.choice(texts))
            at = rng.randrange(0, len(words) - 19)
            passage = " ".join(words[at : at + 20])
            host = rng.choice(clean) if clean else ""
            cut = len(host) // 2
            planted += 1
            correct += name in registry.hits(host[:cut] + "\n" + passage + "\n" + host[cut:])
    return {
        "ngrams": registry.size(),
        "index_mb": sum(t.nbytes for t in registry.index.values()) / 2**20,
        "build_s": build_s,
        "clean_docs": len(clean),
        "clean_docs_hit": sum(bool(h) for h in hits),
        "false_positive_rate": sum(bool(h) for h in hits) / max(len(clean), 1),
        "false_positive_examples": [h for h in hits if h][:5],
        "samples_per_s_one_core": len(clean) / seconds if seconds else 0.0,
        "mean_chars": sum(map(len, clean)) / max(len(clean), 1),
        "planted": planted,
        "planted_caught": correct,
    }


def eval_verifier(
    data: Path = typer.Argument(..., help="A data dir holding math_code/ (or math_code itself).", exists=True),
    parts: list[str] = typer.Option(["code", "math", "decontam"], "--part", help="code, math, decontam."),
    limit: int | None = typer.Option(None, help="Items per benchmark (default: all)."),
    workers: int = typer.Option(2, min=1, help="Sandboxed programs run at once."),
    json_path: Path | None = typer.Option(None, "--json", help="Also write the results as JSON here."),
) -> None:
    """Code verifier on HumanEval (reference passes, corruptions fail), math checker on GSM8K/MATH, decontamination."""
    root = Registry.math_code_dir(data)
    unknown = set(parts) - {"code", "math", "decontam"}
    if unknown:
        raise InputError(f"--part {sorted(unknown)[0]}", "unknown part; choose code, math or decontam")
    console = Console()
    results: dict = {"data": str(data)}
    if "code" in parts:
        code = results["code"] = eval_code(root, limit, workers, Sandbox(SandboxConfig(timeout_s=10)))
        table = Table(title=f"code verifier on HumanEval ({code['items']} problems, {code['runs_per_s']:.1f} runs/s)")
        for col in ("programs", "kind", "passed", "rejected", "statuses"):
            table.add_column(col, justify="left" if col in ("kind", "statuses") else "right")
        for kind, r in code["kinds"].items():
            table.add_row(str(r["programs"]), kind, str(r["passed"]), str(r["programs"] - r["passed"]), str(r["statuses"]))
        console.print(table)
    if "math" in parts:
        maths = results["math"] = eval_math(root, limit)
        table = Table(title="math checker")
        for col in ("set", "items", "gold accepted", "re-spelled accepted", "perturbed rejected", "checks/s"):
            table.add_column(col, justify="left" if col == "set" else "right")
        for name, r in maths.items():
            table.add_row(
                name,
                str(r["items"]),
                f"{r['gold_accepted']}/{r['items']}",
                f"{r['variants_accepted']}/{r['variants']}",
                f"{r['perturbed_rejected']}/{r['items']}",
                f"{r['checks_per_s']:.0f}",
            )
        console.print(table)
    if "decontam" in parts:
        d = results["decontam"] = eval_decontam(data, root, clean_texts(root.parent))
        table = Table(title="decontamination registry (13-grams)")
        table.add_column("figure")
        table.add_column("value", justify="right")
        for name, count in d["ngrams"].items():
            table.add_row(f"13-grams: {name}", f"{count:,}")
        table.add_row("index size (MiB)", f"{d['index_mb']:.1f}")
        table.add_row("false positives on clean docs", f"{d['clean_docs_hit']}/{d['clean_docs']}")
        table.add_row("planted passages caught (right benchmark)", f"{d['planted_caught']}/{d['planted']}")
        table.add_row(f"samples per CPU-second, one core (mean {d['mean_chars']:.0f} chars)", f"{d['samples_per_s_one_core']:.0f}")
        console.print(table)
    if json_path:
        json_path.write_text(json.dumps(results, indent=2))
