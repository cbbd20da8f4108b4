import json
import threading
import time

import pytest

from annotators.teach import teach_corpus
from annotators.teacher import LABELS, Teacher, TeacherConfig, parse_answer
from corpusforge.errors import ConfigError
from synth.llm import LLMConfig
from tests.chat_server import ChatServer

TEXTS = [
    "Preheat the oven to 180 degrees. Mix flour, sugar and eggs and bake the cake for forty minutes.",
    "The striker scored twice in the second half and the team won the cup final.",
    "Photosynthesis turns light, water and carbon dioxide into glucose and oxygen in the chloroplast.",
]


def _config(server: ChatServer, tmp_path, **kw) -> TeacherConfig:
    llm = LLMConfig(backend="openai", model="teacher", base_url=server.base_url, max_retries=0, timeout_s=5)
    return TeacherConfig(llm=kw.pop("llm", llm), cache=str(tmp_path / "cache.sqlite"), **kw)


def _label_of(prompt: str) -> str:
    """The server plays a consistent teacher: food for the cake, sports for the match, science otherwise."""
    return "food_dining" if "cake" in prompt else "sports_fitness" if "striker" in prompt else "science_tech"


@pytest.mark.parametrize(
    ("label", "reply", "expected"),
    [
        ("domain", "food_dining", "food_dining"),
        ("domain", "  Food_Dining. ", "food_dining"),
        ("domain", "**food dining**", "food_dining"),
        ("domain", "The topic is food_dining", None),
        ("domain", "cooking", None),
        ("edu", "3", "3"),
        ("edu", "3.", "3"),
        ("edu", "3/5", None),
        ("edu", "6", None),
        ("edu", "Score: 3", None),
        ("toxicity", " Yes! ", "yes"),
        ("toxicity", "no, it is fine", None),
    ],
)
def test_answers_are_parsed_strictly(label, reply, expected):
    assert parse_answer(LABELS[label], reply) == expected


def test_endpoint_teacher_labels_and_maps_values(tmp_path):
    def answer(prompt: str) -> str:
        if "educational value" in prompt:
            return "4"
        if "hateful" in prompt:
            return "No"
        return _label_of(prompt)

    with ChatServer(answer=answer) as server:
        teacher = Teacher(_config(server, tmp_path), ["domain", "edu", "toxicity"])
        results = teacher.label(TEXTS)
        teacher.close()
        assert len(server.requests) == len(TEXTS) * 3
    assert [r.labels["domain"] for r in results] == ["food_dining", "sports_fitness", "science_tech"]
    assert all(r.labels["edu"] == 4 and r.labels["toxicity"] == "ok" for r in results)
    assert not teacher.failures
    assert server.requests[0]["max_tokens"] == 8  # label answers are short by construction


def test_nonsense_is_retried_with_a_stricter_reminder(tmp_path):
    def answer(prompt: str) -> str:
        # first ask: chatter; after the reminder: a clean label
        return "sports_fitness" if "is not a valid answer" in prompt else "I think this text is about sport!"

    with ChatServer(answer=answer) as server:
        teacher = Teacher(_config(server, tmp_path), ["domain"])
        results = teacher.label(TEXTS[1:2])
        teacher.close()
        assert len(server.requests) == 2
        retry = server.requests[1]["messages"]
        assert retry[-2] == {"role": "assistant", "content": "I think this text is about sport!"}
        assert "Reply with exactly one of" in retry[-1]["content"]
    assert results[0].labels == {"domain": "sports_fitness"}
    assert not teacher.failures


def test_answers_that_stay_nonsense_are_a_counted_failure(tmp_path):
    with ChatServer(answer=lambda prompt: "banana") as server:
        teacher = Teacher(_config(server, tmp_path, max_attempts=3), ["domain", "edu"])
        results = teacher.label(TEXTS[:2])
        teacher.close()
        assert len(server.requests) == 2 * 2 * 3  # documents x labels x attempts
    assert teacher.failures == {"teacher_unparseable": 4}
    assert results[0].labels == {} and results[0].failures == {
        "domain": "teacher_unparseable",
        "edu": "teacher_unparseable",
    }


def test_timeout_is_counted_and_not_cached(tmp_path):
    def slow(prompt: str) -> str:
        time.sleep(1.0)
        return "yes"

    with ChatServer(answer=slow) as server:
        llm = LLMConfig(backend="openai", model="t", base_url=server.base_url, max_retries=0, timeout_s=0.2)
        teacher = Teacher(_config(server, tmp_path, llm=llm), ["adult"])
        results = teacher.label(TEXTS[:1])
        teacher.close()
        assert teacher.failures == {"teacher_timeout": 1}
        assert results[0].failures == {"adult": "teacher_timeout"}
        again = Teacher(_config(server, tmp_path, llm=llm), ["adult"])
        again.label(TEXTS[:1])
        again.close()
        assert again.cache_hits == 0 and again.failures == {"teacher_timeout": 1}  # retried, not served from cache


def test_cache_hit_makes_no_second_request(tmp_path):
    with ChatServer(answer=_label_of) as server:
        first = Teacher(_config(server, tmp_path), ["domain"])
        labels = [r.labels for r in first.label(TEXTS)]
        first.close()
        n = len(server.requests)
        assert n == len(TEXTS)
        second = Teacher(_config(server, tmp_path), ["domain"])
        assert [r.labels for r in second.label(TEXTS)] == labels
        second.close()
        assert len(server.requests) == n  # zero new calls
        assert second.llm_calls == 0 and second.cache_hits == len(TEXTS)


def test_endpoint_requests_run_concurrently(tmp_path):
    in_flight, peak, lock = 0, 0, threading.Lock()

    def answer(prompt: str) -> str:
        nonlocal in_flight, peak
        with lock:
            in_flight += 1
            peak = max(peak, in_flight)
        time.sleep(0.2)
        with lock:
            in_flight -= 1
        return "no"

    with ChatServer(answer=answer) as server:
        llm = LLMConfig(backend="openai", model="t", base_url=server.base_url, max_concurrency=4, max_retries=0)
        teacher = Teacher(_config(server, tmp_path, llm=llm), ["adult"])
        start = time.perf_counter()
        teacher.label([f"document number {i}" for i in range(8)])
        elapsed = time.perf_counter() - start
        teacher.close()
    assert 2 <= peak <= 4
    assert elapsed < 8 * 0.2  # sequential would take 1.6 s


def test_teach_command_writes_labels_and_counted_failures(tmp_path):
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(json.dumps({"id": f"d{i}", "text": t}) + "\n" for i, t in enumerate(TEXTS)))

    def answer(prompt: str) -> str:
        # the football text never gets a clean answer, not even after the reminders
        return "maybe" if "striker" in prompt or "not a valid answer" in prompt else _label_of(prompt)

    with ChatServer(answer=answer) as server:
        llm_yaml = tmp_path / "llm.yaml"
        llm_yaml.write_text(f"backend: openai\nmodel: t\nbase_url: {server.base_url}\nmax_retries: 0\n")
        out = tmp_path / "labels.jsonl"
        stats = teach_corpus([corpus], ["domain"], out, sample=3, llm_config=llm_yaml)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert {r["id"] for r in rows} == {"d0", "d1", "d2"}
    by_id = {r["id"]: r for r in rows}
    assert by_id["d0"]["domain"] == "food_dining"
    assert by_id["d1"]["failures"] == {"domain": "teacher_unparseable"} and "domain" not in by_id["d1"]
    assert stats["failures"] == {"teacher_unparseable": 1}
    assert json.loads((tmp_path / "labels.jsonl.stats.json").read_text())["documents"] == 3


def test_unknown_label_fails_before_any_request(tmp_path):
    with ChatServer() as server, pytest.raises(ConfigError, match="labels"):
        Teacher(_config(server, tmp_path), ["domain", "sentiment"])
    assert server.requests == []


def test_invalid_teacher_config_names_the_field():
    with pytest.raises(ConfigError, match="max_attempts"):
        TeacherConfig.parse({"max_attempts": 0})
    with pytest.raises(ConfigError, match="mode"):
        TeacherConfig.parse({"mode": "vote"})


def test_score_mode_needs_the_local_backend(tmp_path):
    with ChatServer() as server, pytest.raises(ConfigError, match="mode"):
        Teacher(_config(server, tmp_path, mode="score"), ["adult"])


@pytest.mark.slow
def test_local_smollm2_teacher_scores_valid_labels_and_caches(tmp_path):
    pytest.importorskip("transformers")
    config = TeacherConfig(cache=str(tmp_path / "cache.sqlite"), torch_threads=1, max_chars=200)
    teacher = Teacher(config, ["toxicity", "edu"])
    assert teacher.mode == "score"
    texts = ["The water cycle: water evaporates, forms clouds and falls as rain.", "Buy cheap shoes now!!!"]
    results = teacher.label(texts)
    assert all(r.labels["toxicity"] in ("toxic", "ok") and r.labels["edu"] in range(6) for r in results)
    assert not teacher.failures and teacher.llm_calls == 2
    again = Teacher(config, ["toxicity", "edu"], llm=teacher.llm)
    assert [r.labels for r in again.label(texts)] == [r.labels for r in results]
    assert again.llm_calls == 0 and again.cache_hits == 4
    teacher.close()
