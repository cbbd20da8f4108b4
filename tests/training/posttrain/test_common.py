import json

from tests.training.posttrain.factory import recipe_dict
from tests.training.posttrain.test_sft import write_data
from training.posttrain.sft import SFTRecipe, sft


def test_cpu_budget_stops_at_the_step_that_reaches_it_and_survives_a_resume(tmp_path, tiny_llama):
    """Equal compute for two methods: a run stops once its train steps' CPU seconds reach ``cpu_budget_s``, not at
    ``steps``; the CPU already spent is kept in the checkpoint, so a resumed run does not start the count again."""
    write_data(tmp_path / "data.jsonl")
    first = sft(SFTRecipe.parse(recipe_dict(tmp_path, "b", tiny_llama, "one", "data.jsonl", 96, 2, (1e-3, 1e-3),
                                            steps=2, save_every=1)))  # fmt: skip
    per_step = first["train_cpu_s"] / 2
    budget = 3.5 * per_step  # about 4 steps' worth, far below the 200 steps asked for
    r = SFTRecipe.parse(recipe_dict(tmp_path, "b", tiny_llama, "budget", "data.jsonl", 96, 2, (1e-3, 1e-3),
                                    steps=200, save_every=1, keep_checkpoints=200, cpu_budget_s=budget))  # fmt: skip
    part = sft(r, stop_at=2)
    assert part["steps"] == 2 and not part["done"]
    out = sft(r)  # resumes at step 2 with the CPU of steps 1-2 already counted
    rows = [json.loads(x) for x in (tmp_path / "budget" / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in rows] == list(range(1, out["steps"] + 1))
    assert out["done"] and 2 < out["steps"] < 200 and (tmp_path / "budget" / "DONE").is_file()
    assert rows[-1]["cpu_total_s"] >= budget > rows[-2]["cpu_total_s"]  # the crossing step is the last
    assert rows[2]["cpu_total_s"] == rows[1]["cpu_total_s"] + rows[2]["step_cpu_s"]  # counted across the resume
    assert out["train_cpu_s"] == rows[-1]["cpu_total_s"]
    assert sft(r)["steps"] == out["steps"]  # a finished budget run stays finished
