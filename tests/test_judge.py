"""The 5-point LLM judge through the scripted server (a real process), and its agreement with the rule grader."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from mathgauge.errors import ConfigError
from mathgauge.grading.judge import (
    Judge,
    agreement,
    final_correct,
    judge_needed,
    load_rubric,
    parse_judge_reply,
)
from mathgauge.models import CachedBackend, OpenAICompatibleBackend
from mathgauge.testing import RunningServer, scripted_server

# Each judge request's first user message holds the problem, so a marker in the problem picks its script.
JUDGE_SCRIPT = [
    {"match": "P-FIVE", "calls": ["The answer 42 matches and the steps are right.\nSCORE: 5"]},
    {"match": "P-BOLD", "calls": ["Same value written as a fraction.\n**Score:** 4"]},
    {"match": "P-WRONG", "calls": ["Wrong value, though the set-up is valid.\nSCORE: 2"]},
    {"match": "P-RETRY", "calls": ["I think this is mostly right.", "Equivalent answer.\nSCORE: 4"]},
    {"match": "P-GARBAGE", "calls": ["%%%% ###", "SCORE: 7"]},
    {"match": "P-REFUSE", "calls": ["I'm sorry, but I can't help with grading this."]},
    {"match": "P-CACHE", "calls": ["No idea.", "Fine.\nSCORE: 5", "Changed my mind.\nSCORE: 1"]},
    {"match": "P-TWO", "calls": ["SCORE: 3\nOn reflection:\nSCORE: 4", "Partly right.\nSCORE: 3"]},
]


def run(coro):
    return asyncio.run(coro)


def recorded_requests(server: RunningServer) -> list[dict]:
    """The chat request bodies the server received (it runs with ``--record-requests``)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/requests", timeout=10) as resp:
        return json.loads(resp.read())


@pytest.fixture(scope="module")
def judge_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    script = tmp_path_factory.mktemp("judge") / "judge.jsonl"
    script.write_text("\n".join(json.dumps(e) for e in JUDGE_SCRIPT) + "\n")
    with scripted_server("--script", str(script), "--record-requests") as srv:
        yield srv


async def score_all(base_url: str, cases: list[tuple[str, str]], **judge_options) -> list:
    backend = OpenAICompatibleBackend("judge-model", base_url=base_url, max_retries=0)
    judge = Judge(backend, **judge_options)
    try:
        return [await judge.score(problem, "42", "Six sevens are 42.", response) for problem, response in cases]
    finally:
        await backend.aclose()


def test_scores_retries_and_unparseable_replies(judge_server: RunningServer) -> None:
    cases = [("P-FIVE: six times seven?", "6*7 = 42, so \\boxed{42}"),
             ("P-BOLD: six times seven?", "\\boxed{84/2}"),
             ("P-WRONG: six times seven?", "6*7 = 41"),
             ("P-RETRY: six times seven?", "it is 42"),
             ("P-GARBAGE: six times seven?", "?"),
             ("P-REFUSE: six times seven?", "?"),
             ("P-TWO: six times seven?", "40 or 42")]
    five, bold, wrong, retry, garbage, refuse, two = run(score_all(judge_server.base_url, cases))
    assert (five.score, five.status, five.tries, five.correct) == (5, "ok", 1, True)
    assert five.rationale == "The answer 42 matches and the steps are right."
    assert five.raw.endswith("SCORE: 5") and five.rubric_version == "v1"
    assert (bold.score, bold.correct) == (4, True)
    assert (wrong.score, wrong.correct) == (2, False)
    # An unreadable first reply gets one retry, which carries the reply and the format reminder.
    assert (retry.score, retry.status, retry.tries) == (4, "ok", 2)
    assert retry.replies == ["I think this is mostly right.", "Equivalent answer.\nSCORE: 4"]
    # Garbage, then a score outside the scale: recorded as unparseable, never a default score.
    assert (garbage.score, garbage.status, garbage.tries, garbage.correct) == (None, "unparseable", 2, False)
    assert garbage.replies == ["%%%% ###", "SCORE: 7"] and garbage.raw == "SCORE: 7"
    assert (refuse.score, refuse.status) == (None, "unparseable") and "can't help" in refuse.raw
    assert (two.score, two.tries) == (3, 2)  # two different score lines are ambiguous: retried
    assert two.to_dict()["correct"] is False

    requests = recorded_requests(judge_server)
    retry_bodies = [b for b in requests if "P-RETRY" in b["messages"][1]["content"]]
    assert len(retry_bodies) == 2
    first, second = retry_bodies
    assert first["temperature"] == 0.0 and first["messages"][0]["role"] == "system"
    prompt = first["messages"][1]["content"]
    assert "REFERENCE ANSWER:\n42" in prompt and "Six sevens are 42." in prompt and "it is 42" in prompt
    assert "5 = The final answer is equivalent" in prompt
    assert second["messages"][2] == {"role": "assistant", "content": "I think this is mostly right."}
    assert "SCORE: N" in second["messages"][3]["content"]


def test_judge_sees_only_the_bounded_end_of_the_response(judge_server: RunningServer) -> None:
    response = "<think>scratch work</think>" + "filler line\n" * 2000 + "So the answer is \\boxed{42}."
    (score,) = run(score_all(judge_server.base_url, [("P-FIVE bounded", response)], max_response_chars=500))
    assert score.score == 5
    body = [b for b in recorded_requests(judge_server) if "P-FIVE bounded" in b["messages"][1]["content"]][-1]
    prompt = body["messages"][1]["content"]
    assert "\\boxed{42}" in prompt and "earlier characters omitted" in prompt and "scratch work" not in prompt
    assert prompt.count("filler line") < 60


def test_failed_judge_call_is_recorded_not_raised(tmp_path: Path) -> None:
    with scripted_server("--reject-all", "--error-status", "400") as srv:
        (score,) = run(score_all(srv.base_url, [("P-FIVE", "42")]))
    assert (score.score, score.status, score.correct) == (None, "failed", False)
    assert "HTTP 400" in (score.error or "")


def test_judge_calls_are_cached_like_model_calls(judge_server: RunningServer, memory_cache) -> None:
    cache = memory_cache

    async def twice() -> tuple:
        backend = CachedBackend(OpenAICompatibleBackend("judge-model", base_url=judge_server.base_url), cache)
        judge = Judge(backend)
        try:
            first = await judge.score("P-CACHE", "42", "", "42")
            before = judge_server.stats()["chat_requests"]
            second = await judge.score("P-CACHE", "42", "", "42")
            return first, second, before, backend.hits
        finally:
            await backend.aclose()

    first, second, before, hits = run(twice())
    assert judge_server.stats()["chat_requests"] == before and hits == 2
    assert (first.score, first.tries) == (second.score, second.tries) == (5, 2)  # not the third reply


def test_parse_judge_reply_is_strict() -> None:
    assert parse_judge_reply("Fine.\nSCORE: 4") == (4, "Fine.")
    assert parse_judge_reply("Score = 3/5")[0] == 3
    assert parse_judge_reply("The score: 4 would be generous")[0] is None  # not a score line
    assert parse_judge_reply("SCORE: 0")[0] is None
    assert parse_judge_reply("SCORE: 5\nSCORE: 5")[0] == 5  # repeated, but one value
    assert parse_judge_reply("<think>SCORE: 1</think>Good.\nSCORE: 5") == (5, "Good.")


def test_rubric_file_is_versioned_and_validated(tmp_path: Path) -> None:
    rubric = load_rubric()
    assert rubric.version == "v1" and sorted(rubric.scores) == [1, 2, 3, 4, 5] and rubric.correct_at == 4
    with pytest.raises(ConfigError, match="unknown judge rubric"):
        load_rubric("v9")
    bad = tmp_path / "bad.toml"
    bad.write_text('version = "x"\nsystem = "s"\nuser = "{problem} {oops}"\nretry = "r"\n'
                   '[scores]\n1 = "a"\n2 = "b"\n3 = "c"\n4 = "d"\n5 = "e"\n')
    with pytest.raises(ConfigError, match="may use only"):
        load_rubric(bad)


def test_agreement_matrix_kappa_and_disagreements() -> None:
    pairs = [("correct", 5), ("correct", 4), ("correct", 2), ("incorrect", 1), ("incorrect", 4),
             ("no_answer", 1), ("no_answer", None), ("incorrect", 3)]
    result = agreement(pairs, labels=[f"p{i}" for i in range(len(pairs))])
    assert result.matrix["correct"] == {"1": 0, "2": 1, "3": 0, "4": 1, "5": 1, "unparseable": 0}
    assert result.matrix["incorrect"] == {"1": 1, "2": 0, "3": 1, "4": 1, "5": 0, "unparseable": 0}
    assert result.matrix["no_answer"] == {"1": 1, "2": 0, "3": 0, "4": 0, "5": 0, "unparseable": 1}
    # Hand computation over the 7 scored pairs: rules say correct 3/7, the judge 3/7; 5/7 agree.
    # expected = (3/7)^2 + (4/7)^2 = 25/49; kappa = (35/49 - 25/49) / (24/49) = 10/24.
    assert (result.n, result.n_scored) == (8, 7)
    assert result.observed == pytest.approx(5 / 7) and result.expected == pytest.approx(25 / 49)
    assert result.kappa == pytest.approx(10 / 24)
    assert [(d.index, d.label, d.kind) for d in result.disagreements] == [(2, "p2", "rule_only"),
                                                                          (4, "p4", "judge_only")]
    assert "0.417" in result.table() and "2 disagreements" in result.table()


def test_agreement_edge_cases() -> None:
    perfect = agreement([("correct", 5), ("incorrect", 1), ("no_answer", 2), ("correct", 4)])
    assert perfect.kappa == pytest.approx(1.0) and not perfect.disagreements
    opposite = agreement([("correct", 1), ("incorrect", 5)])
    assert opposite.kappa == pytest.approx(-1.0)
    assert agreement([("correct", 5), ("correct", 4)]).kappa is None  # one decision for everything: 0/0
    empty = agreement([("incorrect", None)])
    assert (empty.n_scored, empty.kappa, empty.observed) == (0, None, None)
    with pytest.raises(ValueError):
        agreement([("maybe", 3)])
    with pytest.raises(ValueError):
        agreement([("correct", 6)])


def test_grader_modes() -> None:
    assert not judge_needed("rules", "incorrect")
    assert judge_needed("judge", "correct")
    assert judge_needed("cascade", "no_answer") and not judge_needed("cascade", "correct")
    assert final_correct("cascade", "correct", None) and final_correct("cascade", "incorrect", 4)
    assert not final_correct("cascade", "incorrect", None)
    assert not final_correct("judge", "correct", 3) and final_correct("rules", "correct", 1)
