"""Program-of-thought, tool-integrated reasoning and attempts, through the scripted server and the real sandbox."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from conftest import stored_calls

from mathgauge.solve import code_blocks, last_code_block
from mathgauge.testing import scripted_server

PROBLEMS = {
    "times": ("Compute six times seven.", "42"),
    "power": ("Compute two to the tenth power.", "1024"),
    "loop": ("Find the last digit of the busy beaver number.", "7"),
    "socket": ("Count the primes below ten.", "4"),
    "prose": ("Name the number of sides of a hexagon.", "6"),
    "wrong": ("Compute three plus three.", "6"),
}

POT_SCRIPT = [
    {"match": "six times seven", "calls": ["```python\nprint(6 * 7)\n```"]},
    {"match": "two to the tenth", "calls": ["```python\nprint(2 **\n```", "Here:\n```python\nprint(2 ** 10)\n```"]},
    {"match": "busy beaver", "calls": ["```python\nwhile True:\n    pass\n```"]},
    {"match": "primes below ten", "calls": [
        "```python\nimport socket\ns = socket.socket()\ns.connect(('127.0.0.1', 47001))\nprint(4)\n```"]},
    {"match": "sides of a hexagon", "calls": ["A hexagon has six sides."]},
    {"match": "three plus three", "calls": ["```python\nprint(3 + 2)\n```"]},
]


def write_problems(path: Path) -> Path:
    with path.open("w") as handle:
        for i, (text, answer) in enumerate(PROBLEMS.values()):
            handle.write(json.dumps({"problem": text, "answer": answer, "subject": "Prealgebra",
                                     "level": 1 + i % 5, "unique_id": f"toy/{i}"}) + "\n")
    return path


def write_script(path: Path, entries: list[dict]) -> Path:
    path.write_text("\n".join(json.dumps(e) for e in entries) + "\n")
    return path


def rows(db: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


def test_code_block_extraction() -> None:
    text = "a\n```python\nx = 1\n```\nb\n```py\nprint(x)\n```\n```output\n1\n```\n```python\nprint(2)"
    assert code_blocks(text) == ["x = 1", "print(x)", "print(2)"]
    assert last_code_block("no code") is None


def test_program_of_thought_with_attempts(run_cli, tmp_path: Path, regrade_changes_nothing) -> None:
    data = write_problems(tmp_path / "toy.jsonl")
    script = write_script(tmp_path / "pot.jsonl", POT_SCRIPT)
    db, summary = tmp_path / "pot.db", tmp_path / "s.json"
    with scripted_server("--script", str(script)) as srv:
        result = run_cli("run", "--model", "m", "--base-url", srv.base_url, "--data-file", str(data),
                         "--store", str(db), "--quiet", "--mode", "pot", "--attempts", "2", "--exec-timeout", "1",
                         "--run-name", "pot", "--summary-json", str(summary))
    assert result.code == 0, result.err
    doc = json.loads(summary.read_text())
    assert doc["n"] == 6 and doc["correct"] == 2  # six times seven; two to the tenth on the second try
    by_problem = dict(rows(db, "SELECT p.problem_id, g.status || '/' || COALESCE(g.extracted, '') FROM grades g "
                               "JOIN problems p USING (run_id, problem_id)"))
    assert by_problem["toy/0"] == "correct/42" and by_problem["toy/1"] == "correct/1024"
    assert by_problem["toy/5"] == "incorrect/5"
    tries = dict(rows(db, "SELECT problem_id, MAX(json_extract(extra_json, '$.try')) + 1 FROM attempts "
                          "GROUP BY problem_id"))
    # A wrong answer never earns another try (that would leak the reference); no answer or failed code does.
    assert tries == {"toy/0": 1, "toy/1": 2, "toy/2": 2, "toy/3": 2, "toy/4": 2, "toy/5": 1}
    assert doc["attempts_distribution"] == {"1": 2, "2": 4}
    assert doc["unsolved_after_attempts"] == 3  # the loop, the socket and the prose answer
    statuses = rows(db, "SELECT problem_id, status FROM executions ORDER BY execution_id")
    assert [s for p, s in statuses if p == "toy/2"] == ["timeout", "timeout"]
    assert [s for p, s in statuses if p == "toy/1"] == ["error", "ok"]
    assert not [s for p, s in statuses if p == "toy/4"]
    ex = doc["executions"]
    assert ex["count"] == 8 and ex["by_status"]["timeout"] == 2
    assert ex["unsafe"] >= 2  # both socket attempts are flagged
    socket_runs = rows(db, "SELECT status, unsafe, unsafe_static_json FROM executions WHERE problem_id = 'toy/3'")
    assert all(unsafe and status != "ok" and "socket" in static for status, unsafe, static in socket_runs)
    assert "Code executions 8" in result.out and "unsafe" in result.out

    # What was graded is the program's output, kept with the call that wrote the program.
    graded = {c["problem_id"]: f"{c['graded_text']}|{c['answer_format']}|{c['graded_origin']}"
              for c in stored_calls(db) if c["graded_origin"] is not None}
    assert graded["toy/0"] == "42\n|program_output|solver" and graded["toy/5"] == "5\n|program_output|solver"
    assert graded["toy/4"] == "|program_output|solver"  # no program in either try: nothing to grade
    regrade_changes_nothing(db, "pot")
    # Stale grades (as an older grader might have left them) are set right by re-grading the program's output.
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE grades SET status = 'incorrect', correct = 0, extracted = NULL")
    regraded = run_cli("regrade", "pot", "--store", str(db))
    assert regraded.code == 0 and "6 verdict(s) changed" in regraded.out
    shown = run_cli("show", "pot", "--store", str(db), "--summary-json", str(summary))
    assert shown.code == 0 and json.loads(summary.read_text())["correct"] == 2


TIR_SCRIPT = [
    {"match": "six times seven", "turns": [
        "Let me compute.\n```python\nprint(6 * 7)\n```\n```output\n41\n```",  # the server cuts at ```output
        "The output is 42, so the answer is $\\boxed{42}$."]},
    {"match": "two to the tenth", "turns": [
        "```python\nprint(1 / 0)\n```", "Oops.\n```python\nprint(2 ** 10)\n```", "So $\\boxed{1024}$."]},
    {"match": "", "turns": ["```python\nprint('still thinking')\n```"]},
]


def test_tool_integrated_reasoning_feeds_outputs_back(run_cli, tmp_path: Path, regrade_changes_nothing) -> None:
    data = write_problems(tmp_path / "toy.jsonl")
    script = write_script(tmp_path / "tir.jsonl", TIR_SCRIPT)
    db, summary = tmp_path / "tir.db", tmp_path / "s.json"
    with scripted_server("--script", str(script)) as srv:
        result = run_cli("run", "--model", "m", "--base-url", srv.base_url, "--data-file", str(data),
                         "--store", str(db), "--quiet", "--mode", "tir", "--max-rounds", "2", "--limit", "3",
                         "--run-name", "tir", "--summary-json", str(summary))
    assert result.code == 0, result.err
    doc = json.loads(summary.read_text())
    assert doc["correct"] == 2 and doc["no_answer"] == 1
    calls = [(c["problem_id"], c["response"], c["request_json"]) for c in stored_calls(db)]
    first = [(r, json.loads(q)) for p, r, q in calls if p == "toy/0"]
    assert len(first) == 2
    assert first[0][0].endswith("```\n") and "41" not in first[0][0]  # generation stopped at the output fence
    assert first[0][1]["stop"] == ["```output"]
    assert first[1][1]["messages"][-1] == {"role": "user", "content": "```output\n42\n```"}
    second = [json.loads(q) for p, r, q in calls if p == "toy/1"]
    assert "ZeroDivisionError" in second[1]["messages"][-1]["content"]
    assert len(second) == 3
    # The third problem writes code every round: 2 executions, then the round limit ends the try unanswered.
    assert rows(db, "SELECT COUNT(*) FROM executions WHERE problem_id = 'toy/2'") == [(2,)]
    assert rows(db, "SELECT COUNT(*) FROM attempts WHERE problem_id = 'toy/2'") == [(3,)]
    # What was graded is the try's turns joined, kept with its last call.
    (graded,) = [(c["graded_text"], c["attempt_index"]) for c in stored_calls(db)
                 if c["problem_id"] == "toy/0" and c["graded_origin"] == "solver"]
    assert graded == ("\n".join(r for p, r, _ in calls if p == "toy/0"), 1)
    regrade_changes_nothing(db, "tir")


def test_code_modes_refuse_without_a_working_sandbox(run_cli, tmp_path: Path, monkeypatch) -> None:
    from mathgauge.sandbox import SandboxUnavailable

    async def unavailable(self, code, **kw):
        raise SandboxUnavailable("bubblewrap (bwrap) is not installed; pass --unsafe-no-sandbox to run anyway")

    monkeypatch.setattr("mathgauge.sandbox.Sandbox.arun", unavailable)
    data = write_problems(tmp_path / "toy.jsonl")
    db = tmp_path / "x.db"
    with scripted_server() as srv:
        result = run_cli("run", "--model", "m", "--base-url", srv.base_url, "--data-file", str(data),
                         "--store", str(db), "--quiet", "--mode", "pot")
        assert srv.stats()["chat_requests"] == 0
    assert result.code == 2 and "bubblewrap" in result.err and "--unsafe-no-sandbox" in result.err
    assert rows(db, "SELECT COUNT(*) FROM runs") == [(0,)]  # nothing stored for a run that cannot start


@pytest.mark.parametrize("mode", ["pot", "tir"])
def test_killed_code_mode_run_resumes_without_duplicates(run_cli, tmp_path: Path, mode: str) -> None:
    data = write_problems(tmp_path / "toy.jsonl")
    script = write_script(tmp_path / "s.jsonl", POT_SCRIPT if mode == "pot" else TIR_SCRIPT)
    db = tmp_path / "r.db"
    with scripted_server("--script", str(script)) as srv:
        args = ["run", "--model", "m", "--base-url", srv.base_url, "--data-file", str(data), "--store", str(db),
                "--quiet", "--mode", mode, "--exec-timeout", "1", "--run-name", "r", "--max-rounds", "2",
                "--attempts", "2"]
        assert run_cli(*args).code == 0
        complete = rows(db, "SELECT COUNT(*) FROM attempts")[0][0]
        executions = rows(db, "SELECT COUNT(*) FROM executions")[0][0]
        # Make one sample look cut short mid-way: its grade is gone and it is pending again.
        with sqlite3.connect(db) as conn:
            conn.execute("DELETE FROM grades WHERE problem_id = 'toy/1'")
            conn.execute("UPDATE samples SET status = 'pending' WHERE problem_id = 'toy/1'")
        before = srv.stats()["chat_requests"]
        assert run_cli("resume", "r", "--store", str(db), "--quiet").code == 0
        assert srv.stats()["chat_requests"] == before  # repeated calls came from the cache
    assert rows(db, "SELECT COUNT(*) FROM attempts")[0][0] == complete
    assert rows(db, "SELECT COUNT(*) FROM executions")[0][0] == executions
    assert rows(db, "SELECT status FROM grades WHERE problem_id = 'toy/1'") == [("correct",)]


VERIFY_SCRIPT = [
    # Wrong first, the check fails, the revision is right and passes: better.
    {"match": "three plus three", "turns": [
        "So $\\boxed{5}$.", "```python\nprint('VERIFIED' if 5 == 3 + 3 else 'FAILED')\n```", "Oops: $\\boxed{6}$.",
        "```python\nprint('VERIFIED' if 6 == 3 + 3 else 'FAILED')\n```"]},
    # Right first and verified: unchanged, two calls.
    {"match": "six times seven", "turns": ["$\\boxed{42}$", "```python\nprint('VERIFIED')\n```"]},
    # Right first, a bad check, a wrong revision: worse.
    {"match": "two to the tenth", "turns": [
        "$\\boxed{1024}$", "```python\nprint('FAILED')\n```", "Then $\\boxed{1000}$.",
        "```python\nprint('VERIFIED')\n```"]},
]


def test_self_verification_rounds_and_effect(run_cli, tmp_path: Path, regrade_changes_nothing) -> None:
    data = tmp_path / "toy.jsonl"
    with data.open("w") as handle:
        for key in ("wrong", "times", "power"):
            text, answer = PROBLEMS[key]
            handle.write(json.dumps({"problem": text, "answer": answer, "unique_id": key}) + "\n")
    script = write_script(tmp_path / "verify.jsonl", VERIFY_SCRIPT)
    db, summary = tmp_path / "v.db", tmp_path / "s.json"
    with scripted_server("--script", str(script)) as srv:
        result = run_cli("run", "--model", "m", "--base-url", srv.base_url, "--data-file", str(data),
                         "--store", str(db), "--quiet", "--mode", "verify", "--run-name", "verify",
                         "--summary-json", str(summary))
    assert result.code == 0, result.err
    doc = json.loads(summary.read_text())
    assert doc["correct"] == 2
    assert doc["verification"] == {"samples": 3, "changed": 2, "better": 1, "worse": 1, "unchanged": 1}
    phases = rows(db, "SELECT problem_id, GROUP_CONCAT(json_extract(extra_json, '$.phase'), ',') FROM "
                      "(SELECT * FROM attempts ORDER BY attempt_index) GROUP BY problem_id")
    assert dict(phases) == {"wrong": "answer,verify,revise,verify", "times": "answer,verify",
                            "power": "answer,verify,revise,verify"}
    calls = stored_calls(db)
    revise_prompt = json.loads(next(c["request_json"] for c in calls if c["problem_id"] == "wrong"
                                    and c["attempt_index"] == 2))["messages"][-1]["content"]
    assert revise_prompt.startswith("```output\nFAILED\n```") and "corrected final answer" in revise_prompt
    # The reference answer never reaches the model.
    for request in (c["request_json"] for c in calls):
        assert "Compute three plus three." in request or "Compute" in request
    assert "Self-verification: 3 samples" in result.out
    # Both graded answers are kept: the first one on the answer call, the final one on the sample's last call.
    by_id = {c["attempt_id"]: c for c in calls}
    graded = [(pid, grader, by_id[aid]["attempt_index"], by_id[aid]["graded_text"]) for pid, grader, aid in
              rows(db, "SELECT problem_id, grader, attempt_id FROM grades WHERE grader IN ('rules', 'initial') "
                       "ORDER BY 1, 2")]
    assert [g for g in graded if g[0] == "wrong"] == [("wrong", "initial", 0, "So $\\boxed{5}$."),
                                                      ("wrong", "rules", 3, "Oops: $\\boxed{6}$.")]
    regrade_changes_nothing(db, "verify")


def test_self_consistency_metrics_and_sft_export(run_cli, tmp_path: Path) -> None:
    data = tmp_path / "toy.jsonl"
    with data.open("w") as handle:
        for key, subject, level in (("times", "Algebra", 1), ("power", "Algebra", 2), ("wrong", "Geometry", 3)):
            text, answer = PROBLEMS[key]
            handle.write(json.dumps({"problem": text, "answer": answer, "unique_id": key, "subject": subject,
                                     "level": level}) + "\n")
    script = write_script(tmp_path / "sc.jsonl", [
        # 4 samples each, asked in order (concurrency 1).
        {"match": "six times seven", "calls": ["$\\boxed{42}$", "$\\boxed{42.0}$", "$\\boxed{41}$", "$\\boxed{42}$"]},
        {"match": "two to the tenth", "calls": ["$\\boxed{1000}$", "$\\boxed{1024}$", "$\\boxed{1000}$", "none"]},
        {"match": "three plus three", "calls": ["$\\boxed{5}$"]},
    ])
    db, summary = tmp_path / "sc.db", tmp_path / "s.json"
    with scripted_server("--script", str(script)) as srv:
        result = run_cli("run", "--model", "m", "--base-url", srv.base_url, "--data-file", str(data),
                         "--store", str(db), "--quiet", "--samples", "4", "--temperature", "0.7",
                         "--concurrency", "1", "--run-name", "sc", "--summary-json", str(summary))
    assert result.code == 0, result.err
    sampling = json.loads(summary.read_text())["sampling"]
    assert sampling["k"] == 4 and sampling["problems"] == 3
    # avg@4 = (3/4 + 1/4 + 0) / 3; pass@4 = (1 + 1 + 0) / 3; maj@4: 42 and 42.0 are one vote -> (1 + 0 + 0) / 3.
    assert sampling["avg@k"]["value"] == pytest.approx(1 / 3)
    assert sampling["pass@k"]["value"] == pytest.approx(2 / 3)
    assert sampling["maj@k"]["value"] == pytest.approx(1 / 3)
    lo, hi = sampling["maj@k"]["ci95"]
    assert lo <= 1 / 3 <= hi
    curve = {p["k"]: p for p in sampling["curve"]}
    # pass@1 with c correct of 4 is c/4: (3/4 + 1/4 + 0) / 3.
    assert curve[1]["pass"] == pytest.approx(1 / 3) and curve[4]["pass"] == pytest.approx(2 / 3)
    assert curve[2]["maj"] == pytest.approx(1 / 3)  # ties go to the first answer: 42 for k=2, 1000 for power
    assert "maj@4" in result.out

    out = tmp_path / "sft.jsonl"
    exported = run_cli("export", "sc", "--format", "sft", "--output", str(out), "--store", str(db),
                       "--max-per-problem", "2")
    assert exported.code == 0, exported.err
    records = [json.loads(line) for line in out.read_text().splitlines()]
    # times: 42, 42.0, 42 -> two distinct texts kept (the repeat dropped); power: one correct solution.
    assert len(records) == 3
    assert all([m["role"] for m in r["messages"]] == ["user", "assistant"] for r in records)
    assert sorted(r["messages"][1]["content"] for r in records) == ["$\\boxed{1024}$", "$\\boxed{42.0}$",
                                                                     "$\\boxed{42}$"]
    assert "coverage 2/3 problems" in exported.err and "Geometry 0/1" in exported.err


def test_run_with_regeneration_cuts_loops_and_reports_them(run_cli, tmp_path: Path) -> None:
    unit = "The sum is 12 so we check again. "
    kept = "We add the numbers.\nThe sum is 12 so we check again."
    data = tmp_path / "toy.jsonl"
    data.write_text(json.dumps({"problem": "Add five and seven.", "answer": "12", "unique_id": "loop"}) + "\n")
    script = write_script(tmp_path / "loop.jsonl", [
        {"match": "five and seven", "calls": [{"text": "We add the numbers.\n", "repeat": unit, "times": 3000},
                                             kept + " Hence $\\boxed{12}$."]}])
    summary = tmp_path / "s.json"
    with scripted_server("--script", str(script), "--stream-chunk-chars", "7") as srv:
        result = run_cli("run", "--model", "m", "--base-url", srv.base_url, "--data-file", str(data),
                         "--store", str(tmp_path / "g.db"), "--quiet", "--regenerate", "--summary-json", str(summary))
        assert srv.stats()["streams_cut"] >= 1
    assert result.code == 0, result.err
    doc = json.loads(summary.read_text())
    assert doc["correct"] == 1
    regen = doc["regeneration"]
    assert regen["regenerations"] == 1 and regen["calls_regenerated"] == 1
    assert sum(regen["cuts_by_reason"].values()) == 1 and regen["discarded_chars"] > 0
    assert "Regeneration: 1 regenerations" in result.out


def test_preset_sets_defaults_and_explicit_options_win(run_cli, tmp_path: Path, math_test_path: Path) -> None:
    summary = tmp_path / "s.json"
    with scripted_server("--data", str(math_test_path)) as srv:
        missing_judge = run_cli("run", "--preset", "arxiv-2501.17084", "--model", "m", "--base-url", srv.base_url,
                                "--data-file", str(math_test_path), "--store", str(tmp_path / "p.db"), "--quiet")
        assert missing_judge.code == 2 and "--judge-model" in missing_judge.err
        result = run_cli("run", "--preset", "arxiv-2501.17084", "--model", "m", "--base-url", srv.base_url,
                         "--data-file", str(math_test_path), "--store", str(tmp_path / "p.db"), "--quiet",
                         "--grader", "rules", "--mode", "cot", "--limit", "6", "--run-name", "study",
                         "--summary-json", str(summary))
    assert result.code == 0, result.err
    assert "preset arxiv-2501.17084" in result.err
    with sqlite3.connect(tmp_path / "p.db") as conn:
        config = json.loads(conn.execute("SELECT config_json FROM runs WHERE name = 'study'").fetchone()[0])
    assert config["grader"] == "rules" and config["mode"] == "cot"  # given on the command line
    assert config["solver"]["attempts"] == 10 and config["regeneration"] is not None  # from the preset
    assert config["selection"]["manifest"].endswith("arxiv-2501.17084.manifest.json")
    assert json.loads(summary.read_text())["n"] == 6


def test_ablate_regeneration_reports_deltas(run_cli, tmp_path: Path) -> None:
    kept = "Compute it.\n```python\nx = 5 + 7\n"
    data = tmp_path / "toy.jsonl"
    data.write_text(json.dumps({"problem": "Add five and seven.", "answer": "12", "unique_id": "add"}) + "\n")
    script = write_script(tmp_path / "code.jsonl", [
        # Broken code (the run without regeneration gets the first, the run with it the second); resumed from the
        # last valid line, the program is fixed.
        {"match": "five and seven", "calls": [kept + "print(x))\n```\n", kept + "print(x))\n```\n",
                                             kept + "print(x)\n```\n"]}])
    out = tmp_path / "ablate.json"
    with scripted_server("--script", str(script), "--stream-chunk-chars", "5") as srv:
        result = run_cli("ablate", "regeneration", "--json", str(out), "--", "--model", "m", "--base-url",
                         srv.base_url, "--data-file", str(data), "--store", str(tmp_path / "a.db"), "--quiet",
                         "--mode", "pot")
    assert result.code == 0, result.err
    doc = json.loads(out.read_text())
    assert doc["problems"] == 1 and doc["accuracy_off"] == 0.0 and doc["accuracy_on"] == 1.0
    assert doc["accuracy_delta"] == 1.0 and doc["exec_s_off"] > 0 and doc["exec_s_on"] > 0
    assert "accuracy   off 0.0%   on 100.0%" in result.out and "code execution time" in result.out
