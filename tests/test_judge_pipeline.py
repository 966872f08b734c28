"""`--grader judge|cascade` end to end: the model and its judge are two scripted servers (real processes)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from mathgauge.testing import scripted_server

TOY = [
    ("times", "Compute six times seven.", "42", "The product is $\\boxed{42}$."),
    ("power", "Compute two to the tenth power.", "1024",
     "Doubling ten times gives one thousand and twenty-four, which is the result."),  # rules: no answer
    ("wrong", "Compute three plus three.", "6", "So $\\boxed{5}$."),
    ("prose", "Name the number of sides of a hexagon.", "6", "It has some sides."),
]
JUDGE_SCRIPT = [
    {"match": "six times seven", "turns": ["Correct and clear.\nSCORE: 5"]},
    {"match": "two to the tenth", "turns": ["The value matches.\nSCORE: 4"]},
    {"match": "three plus three", "turns": ["Wrong sum.\nSCORE: 2"]},
    {"match": "hexagon", "turns": ["I would rather not say.", "Still no."]},  # unparseable after the retry
]


def _files(tmp_path: Path) -> tuple[Path, Path, Path]:
    data, model_script, judge_script = tmp_path / "toy.jsonl", tmp_path / "model.jsonl", tmp_path / "judge.jsonl"
    data.write_text("".join(json.dumps({"problem": p, "answer": a, "unique_id": i, "subject": "Prealgebra",
                                        "level": 1}) + "\n" for i, p, a, _ in TOY))
    model_script.write_text("".join(json.dumps({"match": p, "calls": [r]}) + "\n" for _, p, _, r in TOY))
    judge_script.write_text("".join(json.dumps(e) + "\n" for e in JUDGE_SCRIPT))
    return data, model_script, judge_script


def _run(run_cli, tmp_path: Path, grader: str, regrade_changes_nothing) -> tuple[int, dict, Path, int]:
    data, model_script, judge_script = _files(tmp_path)
    db, summary = tmp_path / f"{grader}.db", tmp_path / f"{grader}.json"
    with scripted_server("--script", str(model_script)) as model, \
            scripted_server("--script", str(judge_script)) as judge:
        result = run_cli("run", "--model", "m", "--base-url", model.base_url, "--data-file", str(data),
                         "--store", str(db), "--quiet", "--grader", grader, "--judge-model", "judge",
                         "--judge-base-url", judge.base_url, "--run-name", grader, "--summary-json", str(summary))
        judge_calls = judge.stats()["chat_requests"]
        assert model.stats()["chat_requests"] == 4
    assert result.code == 0, result.err
    # Re-grading (the judge's endpoint gone) reuses the judgements of the same texts: nothing changes.
    regrade_changes_nothing(db, grader)
    return result.code, json.loads(summary.read_text()), db, judge_calls


def test_cascade_judges_only_what_the_rules_reject(run_cli, tmp_path: Path, regrade_changes_nothing) -> None:
    _, doc, db, judge_calls = _run(run_cli, tmp_path, "cascade", regrade_changes_nothing)
    assert judge_calls == 4  # power, wrong, and prose twice (one retry); times is right by the rules
    assert doc["grader"] == "cascade" and doc["correct"] == 2 and doc["n"] == 4  # times (rules) + power (judge 4)
    judge = doc["judge"]
    assert judge["judged"] == 3
    assert judge["scores"] == {"1": 0, "2": 1, "3": 0, "4": 1, "5": 0, "unparseable": 1, "failed": 0}
    matrix = judge["agreement"]["matrix"]
    assert matrix["no_answer"]["4"] == 1 and matrix["incorrect"]["2"] == 1 and matrix["no_answer"]["unparseable"] == 1
    assert [d["label"] for d in judge["agreement"]["disagreements"]] == ["power#0"]
    with sqlite3.connect(db) as conn:
        grades = dict(conn.execute("SELECT problem_id || ':' || grader, status || ':' || COALESCE(score, '-') "
                                   "FROM grades").fetchall())
    assert grades["times:rules"] == "correct:-" and "times:judge" not in grades
    assert grades["power:rules"] == "no_answer:-" and grades["power:judge"] == "correct:4"
    assert grades["power:final"] == "correct:4" and grades["prose:judge"] == "unparseable:-"
    assert grades["prose:final"].startswith("no_answer")


def test_judge_mode_judges_everything_and_needs_a_judge(run_cli, tmp_path: Path, regrade_changes_nothing) -> None:
    _, doc, _, judge_calls = _run(run_cli, tmp_path, "judge", regrade_changes_nothing)
    assert judge_calls == 5
    assert doc["correct"] == 2 and doc["judge"]["judged"] == 4 and doc["judge"]["scores"]["5"] == 1
    assert doc["judge"]["agreement"]["kappa"] is not None

    data, _, _ = _files(tmp_path)
    result = run_cli("run", "--model", "m", "--base-url", "http://127.0.0.1:9/v1", "--data-file", str(data),
                     "--store", str(tmp_path / "x.db"), "--quiet", "--grader", "judge")
    assert result.code == 2 and "--judge-model" in result.err and "never its own judge" in result.err
