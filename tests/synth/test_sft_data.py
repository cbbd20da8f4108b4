import json

from synth.decontam import Registry
from synth.sft_data import build


def test_filters_name_every_drop(tmp_path):
    gsm = "Janet's ducks lay 16 eggs per day. She eats three for breakfast every morning and bakes muffins"
    rows = [
        {"query": "What is 2 + 3?", "response": "<think>\n2 plus 3 is 5\n</think>\n\nThe answer is 5.", "answer": "5"},
        {"query": "What is 2 + 2?", "response": "The answer is 5.", "answer": "4"},
        {"query": "What is 1 + 1?", "response": "It is 2.", "answer": None},
        {"query": "What is 3 + 3?", "response": "<think>\nthree and three", "answer": "6"},
        {"query": "What is 4 + 4?", "response": "eight eight eight eight " * 10 + "8", "answer": "8"},
        {"query": gsm, "response": "The answer is 9.", "answer": "9"},
    ]
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows) + "{broken\n")
    reg = Registry().add_texts("gsm8k", [gsm + " for her friends every day with four"])
    ledger = build(src, tmp_path / "sft" / "data.jsonl", registry=reg)
    assert ledger["kept"] == 1 and ledger["inputs"] == 7
    assert ledger["dropped"] == {
        "unverified": 1,
        "unverifiable": 1,
        "inconsistent": 1,
        "repetitive": 1,
        "contaminated:gsm8k": 1,
        "bad_record": 1,
    }
    kept = json.loads((tmp_path / "sft" / "data.jsonl").read_text())
    assert kept["messages"][1]["content"].startswith("<think>")
