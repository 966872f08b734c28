"""Every consumer of a stored sample reads what the grading stage graded, not the last raw response: the exports
(JSONL, CSV, Parquet, per call, lm-eval samples, fine-tuning records), the gap analysis and the peer grading
policies, and the HTML sample browser. Runs of each code mode and a cascade judge run, made by ``mathgauge run``
against scripted servers with the real sandbox."""

from __future__ import annotations

import csv
import json
import sqlite3
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from conftest import stored_calls
from test_judge_pipeline import _files as judge_files
from test_solve_modes import POT_SCRIPT, PROBLEMS, TIR_SCRIPT, VERIFY_SCRIPT, write_problems, write_script

from mathgauge.cli import main as cli_main
from mathgauge.report import analyse_gap, export_run
from mathgauge.report.export import lm_eval_records
from mathgauge.store import Store
from mathgauge.testing import scripted_server

#: A model with published MATH-500 figures whose grader is mathgauge's rules' closest match (math-verify).
MODEL = "Qwen/Qwen2.5-7B-Instruct"


def _cli(*args: str) -> None:
    assert cli_main(list(args)) == 0, args


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, dict[str, Any]]]:
    """One store with a program-of-thought, a tool-use, a self-verification and a cascade-judge run, and the
    summary each run reported."""
    work = tmp_path_factory.mktemp("graded-text")
    db = work / "runs.db"
    toy = write_problems(work / "toy.jsonl")
    summaries: dict[str, dict[str, Any]] = {}

    def run(name: str, url: str, data: Path, *options: str, model: str = MODEL) -> None:
        summary = work / f"{name}.json"
        _cli("run", "--model", model, "--base-url", url, "--data-file", str(data), "--store", str(db), "--quiet",
             "--run-name", name, "--summary-json", str(summary), *options)
        summaries[name] = json.loads(summary.read_text())

    with scripted_server("--script", str(write_script(work / "pot.jsonl", POT_SCRIPT))) as srv:
        run("pot", srv.base_url, toy, "--mode", "pot", "--attempts", "2", "--exec-timeout", "1")
    with scripted_server("--script", str(write_script(work / "tir.jsonl", TIR_SCRIPT))) as srv:
        run("tir", srv.base_url, toy, "--mode", "tir", "--max-rounds", "2", "--limit", "3")
    verify_data = work / "verify.jsonl"
    verify_data.write_text("".join(json.dumps({"problem": PROBLEMS[k][0], "answer": PROBLEMS[k][1], "unique_id": k})
                                   + "\n" for k in ("wrong", "times", "power")))
    with scripted_server("--script", str(write_script(work / "verify-script.jsonl", VERIFY_SCRIPT))) as srv:
        run("verify", srv.base_url, verify_data, "--mode", "verify")
    judge_dir = work / "judge"
    judge_dir.mkdir()
    data, model_script, judge_script = judge_files(judge_dir)
    with scripted_server("--script", str(model_script)) as model, \
            scripted_server("--script", str(judge_script)) as judge:
        run("cascade", model.base_url, data, "--grader", "cascade", "--judge-model", "judge", "--judge-base-url",
            judge.base_url, model="m")
    return db, summaries


def _calls(db: Path, run: str) -> dict[int, dict]:
    """The run's stored calls by attempt id, texts read through the store (newer rows keep them compressed)."""
    with sqlite3.connect(db) as conn:
        (run_id,) = conn.execute("SELECT run_id FROM runs WHERE name = ?", (run,)).fetchone()
    return {c["attempt_id"]: c for c in stored_calls(db) if c["run_id"] == run_id}


def _graded(db: Path, run: str, grader: str) -> dict[tuple[str, int], tuple[str, str, str | None]]:
    """(problem, sample) -> (graded text, answer format, raw response) of the call each ``grader`` grade read."""
    calls = _calls(db, run)
    with sqlite3.connect(db) as conn:
        found = conn.execute(
            "SELECT g.problem_id, g.sample_index, g.attempt_id FROM grades g JOIN runs r ON r.run_id = g.run_id"
            " WHERE r.name = ? AND g.grader = ?", (run, grader)).fetchall()
    return {(pid, k): (calls[a]["graded_text"], calls[a]["answer_format"], calls[a]["response"])
            for pid, k, a in found}


def _responses(db: Path, run: str, problem: str) -> list[str]:
    return [c["response"] for c in sorted(_calls(db, run).values(), key=lambda c: c["attempt_index"])
            if c["problem_id"] == problem]


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
def test_sample_exports_carry_the_graded_text_beside_the_raw_response(runs, tmp_path: Path, fmt: str) -> None:
    db, _ = runs
    for run in ("pot", "tir", "verify"):
        out = tmp_path / f"{run}.{fmt}"
        with Store(db) as store:
            export_run(store, run, fmt, out)
        if fmt == "jsonl":
            rows = [json.loads(line) for line in out.read_text().splitlines()]
        elif fmt == "csv":
            rows = list(csv.DictReader(out.open(encoding="utf-8")))
        else:
            rows = pq.read_table(out).to_pylist()
        graded = _graded(db, run, "rules")
        assert len(rows) == len(graded)
        for row in rows:
            text, answer_format, response = graded[(row["problem_id"], int(row["sample_index"]))]
            assert (row["graded_text"], row["answer_format"], row["graded_origin"], row["grader"]) == (
                text, answer_format, "solver", "rules")
            assert row["response"] == response
    # What each mode graded, beside the raw response of the call the grade points at.
    with Store(db) as store:
        pot = {r["problem_id"]: r for r in store.export_rows(store.get_run("pot").run_id)}
        tir = {r["problem_id"]: r for r in store.export_rows(store.get_run("tir").run_id)}
        verify = {r["problem_id"]: r for r in store.export_rows(store.get_run("verify").run_id)}
    assert pot["toy/0"]["graded_text"] == "42\n" and "print(6 * 7)" in pot["toy/0"]["response"]
    assert tir["toy/0"]["graded_text"] == "\n".join(_responses(db, "tir", "toy/0"))
    assert tir["toy/0"]["response"] == _responses(db, "tir", "toy/0")[-1]
    assert verify["wrong"]["graded_text"] == "Oops: $\\boxed{6}$." and "VERIFIED" in verify["wrong"]["response"]


def test_per_call_exports_mark_the_calls_a_grade_read(runs, tmp_path: Path) -> None:
    db, _ = runs
    out = tmp_path / "calls.jsonl"
    with Store(db) as store:
        export_run(store, "verify", "jsonl", out, attempts=True)
    calls = [json.loads(line) for line in out.read_text().splitlines()]
    marked = {(c["problem_id"], c["attempt_index"]): c["graded_text"] for c in calls if c["graded_origin"]}
    # The answer before verification on the answer call, the final answer on the sample's last call.
    assert marked[("wrong", 0)] == "So $\\boxed{5}$." and marked[("wrong", 3)] == "Oops: $\\boxed{6}$."
    assert all(c["graded_text"] is None for c in calls if not c["graded_origin"])
    assert len(calls) == 10 and len(marked) == 6


def test_lm_eval_records_hold_the_graded_texts_and_rescore_to_the_same_score(runs, tmp_path: Path,
                                                                            run_cli) -> None:
    db, summaries = runs
    out = tmp_path / "samples_mathgauge_math500.jsonl"
    with Store(db) as store:
        export_run(store, "pot", "lm-eval-samples", out)
        graded = _graded(db, "pot", "rules")
    records = [json.loads(line) for line in out.read_text().splitlines()]
    for rec in records:
        text, answer_format, response = graded[(rec["doc"]["unique_id"], 0)]
        assert rec["resps"] == [[text]] and rec["mathgauge"]["responses"] == [response]
        assert rec["mathgauge"]["answer_formats"] == [answer_format] == ["program_output"]
    assert sum(rec["exact_match"] for rec in records) == summaries["pot"]["correct"]
    # Graded again from the export by `rescore`, in the format the run graded it in: the same score.
    summary = tmp_path / "rescored.json"
    result = run_cli("rescore", str(out), "--from", "lm-eval", "--benchmark", "none", "--answer-format",
                     "program_output", "--store", str(tmp_path / "r.db"), "--summary-json", str(summary))
    assert result.code == 0, result.err
    doc = json.loads(summary.read_text())
    assert (doc["correct"], doc["n"]) == (summaries["pot"]["correct"], summaries["pot"]["n"])


@pytest.mark.parametrize("run", ["pot", "tir", "verify"])
def test_the_gap_analysis_regrades_what_was_graded(runs, run: str) -> None:
    db, summaries = runs
    with Store(db) as store:
        record = store.get_run(run)
        gap = analyse_gap(record, store.sample_results(record.run_id), store.export_rows(record.run_id))
    policies = {name: (p["correct"], p["n"]) for name, p in gap.policies.items()}
    own = (summaries[run]["correct"], summaries[run]["n"])
    assert policies["rules"] == own and gap.unknown_texts == 0
    # Where a source's grader is closest to mathgauge's own, the re-graded gap is the run's own gap.
    closest = [g for g in gap.gaps if g.closest_policy == "rules"]
    assert closest and all(g.closest_policy_diff == pytest.approx(g.diff) for g in closest)
    if run == "pot":
        # Programs print bare integers: every policy reads the printed value and agrees with the rules; read off
        # the program text instead, none would have found an answer.
        assert all(v == own for v in policies.values()) and not gap.disagreeing
    else:
        # The boxed answer of the graded text (the transcript; the answer after verification), never the code of
        # the last call.
        assert policies["hendrycks"] == own


def test_fine_tuning_records_are_the_models_own_solutions(runs, tmp_path: Path) -> None:
    db, _ = runs

    def solutions(run: str) -> list[str]:
        out = tmp_path / f"{run}.sft.jsonl"
        with Store(db) as store:
            export_run(store, run, "sft", out)
        records = [json.loads(line)["messages"] for line in out.read_text().splitlines()]
        assert all([m["role"] for m in r] == ["user", "assistant"] for r in records)
        return sorted(r[-1]["content"] for r in records)

    # Program-of-thought: the program and its output, never the output alone.
    pot = solutions("pot")
    assert pot == ["Here:\n```python\nprint(2 ** 10)\n```\n```output\n1024\n```",
                   "```python\nprint(6 * 7)\n```\n```output\n42\n```"]
    # Self-verification: the answer the grade read, as the model wrote it, without the verification dialogue.
    assert solutions("verify") == ["$\\boxed{42}$", "Oops: $\\boxed{6}$."]
    # Tool use: the turns with the outputs the model was shown.
    tir = solutions("tir")
    assert tir[0].startswith("Let me compute.") and "```output\n42\n```" in tir[0] and tir[0].endswith(
        "$\\boxed{42}$.")


def test_a_judge_run_exports_the_grade_it_is_scored_by(runs, tmp_path: Path) -> None:
    db, summaries = runs
    out = tmp_path / "cascade.jsonl"
    with Store(db) as store:
        export_run(store, "cascade", "jsonl", out)
        records = list(lm_eval_records(store, store.get_run("cascade").run_id))
    rows = {r["problem_id"]: r for r in (json.loads(line) for line in out.read_text().splitlines())}
    assert {r["grader"] for r in rows.values()} == {"final"}
    # The rules found no answer; the judge scored the response 4: the run counts it correct, and so do the exports.
    assert rows["power"]["grade"] == "correct" and rows["power"]["graded_text"] == _graded(db, "cascade", "final")[
        ("power", 0)][0]
    assert sum(r["correct"] for r in rows.values()) == summaries["cascade"]["correct"]
    assert sum(rec["exact_match"] for rec in records) == summaries["cascade"]["correct"]
    assert all(rec["mathgauge"]["grader"] == "final" for rec in records)
    sft = tmp_path / "cascade.sft.jsonl"
    with Store(db) as store:
        coverage = export_run(store, "cascade", "sft", sft).coverage
    assert coverage is not None and coverage.records == summaries["cascade"]["correct"]


def test_unknown_graded_texts_are_left_out_not_guessed(tmp_path: Path) -> None:
    from mathgauge.datasets import Problem
    from mathgauge.grading import grade
    from mathgauge.solve import Attempt
    from test_report_compare import base_config

    db = tmp_path / "u.db"
    with Store(db) as store:
        run = store.create_run(name="u", benchmark="math500", model=MODEL, config=base_config("math500", 2),
                               versions={})
        problems = [Problem(id=f"p{i}", problem="?", answer="5", solution="", subject="Algebra", level=1)
                    for i in range(2)]
        store.add_problems(run.run_id, problems, [[{"role": "user", "content": "?"}]] * 2, 1)
        for i, text in enumerate(["so \\boxed{5}", "so \\boxed{5}"]):
            attempt = Attempt(f"p{i}", 0, 0, "cot", {}, response=text)
            if i == 0:  # as the pipeline stores a sample: the text graded is kept
                from mathgauge.pipeline import GradeRecord
                from mathgauge.solve import Gradable

                store.save_sample(run.run_id, "p0", 0, [attempt], graded=[Gradable(text, "boxed", 0)],
                                  grades=[GradeRecord.from_verdict("rules", 0, grade(text, "5"))])
            else:  # as an older mathgauge left it: a grade without the text it read
                store.add_grade(run.run_id, "p1", 0, store.add_attempt(run.run_id, attempt), grade(text, "5"))
        rows = {r["problem_id"]: r for r in store.export_rows(run.run_id)}
        # One text per sample for the report: the graded text, or the response where that is unknown.
        single = {r["problem_id"]: (r["graded_text"], r["response"])
                  for r in store.export_rows(run.run_id, responses=False)}
        gap = analyse_gap(run, store.sample_results(run.run_id), store.export_rows(run.run_id, responses=False))
        (record,) = [r for r in lm_eval_records(store, run.run_id)][:1]
    assert (rows["p0"]["graded_text"], rows["p0"]["graded_origin"]) == ("so \\boxed{5}", "solver")
    assert (rows["p1"]["graded_text"], rows["p1"]["graded_origin"]) == (None, "unknown")
    assert single == {"p0": ("so \\boxed{5}", None), "p1": (None, "so \\boxed{5}")}
    assert gap.unknown_texts == 1 and {p["n"] for p in gap.policies.values()} == {1}
    assert record["resps"] == [["so \\boxed{5}"]]
