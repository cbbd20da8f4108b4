"""`corpusforge mixture`: bad input fails before any work with one line naming the culprit, exit 2."""

from __future__ import annotations

import subprocess
import sys

import yaml

RECIPE = {
    "kind": "mixture", "name": "t", "output": None,
    "space": {"shards": None, "features": [{"column": "edu_score", "bins": 2}], "holdout_fraction": 0.15,
              "min_target_documents": 2},
    "proxy": {"tokens": 1024, "seq_length": 32, "micro_batch_size": 4, "vocab": 48, "buckets": 4},
    "ablations": {"count": 2, "corners": False},
    "stages": [{"name": "s1", "tokens": 5000}],
}  # fmt: skip


def _cli(*args):
    code = "from corpusforge.cli import main; import sys; sys.argv = ['corpusforge', *sys.argv[1:]]; main()"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=300)


def _recipe(tmp_path, shards, name="mixture", **changes):
    data = yaml.safe_load(yaml.safe_dump(RECIPE))
    data["output"], data["space"]["shards"] = str(tmp_path / "out"), str(shards)
    for dotted, value in changes.items():
        node = data
        *parents, last = dotted.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[last] = value
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_bad_inputs_fail_with_one_line(shards, tmp_path):
    cases = {
        "no shard manifest here": _recipe(tmp_path, tmp_path / "nowhere", "a"),
        "targets.books": _recipe(tmp_path, shards, "b", **{"space.targets": [{"name": "books", "where": {"source": "books"}}]}),
        "ablations.count": _recipe(tmp_path, shards, "c", **{"ablations.count": -1}),
    }  # fmt: skip
    for needle, path in cases.items():
        res = _cli("mixture", "plan", str(path))
        assert res.returncode == 2, (needle, res.stderr)
        lines = [x for x in res.stderr.splitlines() if x.strip()]
        assert len(lines) == 1 and needle in lines[0] and "Traceback" not in res.stderr, res.stderr


def test_infeasible_stage_names_its_constraints(shards, tmp_path):
    from mixtures.constraints import InfeasibleError
    from mixtures.job import MixtureJobConfig
    from mixtures.optimize import optimize
    from mixtures.space import build_space
    from tests.mixtures.test_optimum import _report

    path = _recipe(tmp_path, shards, **{"constraints.max_share": {"source=math": 0.1, "source=web": 0.1,
                                                                  "source=code": 0.1}})  # fmt: skip
    job = MixtureJobConfig.load(path)
    space = build_space(job.space)
    report, x = _report(space)
    try:
        optimize(space, report, job.stages[0], job.constraints, explored=x)
    except InfeasibleError as exc:
        assert "stages.s1.constraints" in str(exc) and "max_share[source=math]=0.1" in str(exc)
    else:
        raise AssertionError("infeasible constraints were accepted")
