"""A store written by the last mathgauge with schema 3 opens, migrates to the current schema and re-grades unchanged.

The schema-3 store is made by that version itself, taken from this repository's history (`git archive`), running
real ``mathgauge run`` processes (chain-of-thought, program-of-thought, tool use, self-verification, cascade judge)
against scripted servers.
"""

from __future__ import annotations

import json
from typing import Any
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import mathgauge_source_at, stored_grades
from test_judge_pipeline import _files as judge_files
from test_solve_modes import POT_SCRIPT, TIR_SCRIPT, VERIFY_SCRIPT, PROBLEMS, write_problems, write_script

from mathgauge.pipeline import RunSpec
from mathgauge.store import SCHEMA_VERSION, Store
from mathgauge.testing import scripted_server

#: The last commit whose mathgauge writes schema 3 (the fixture generator runs its code).
V3_COMMIT = "6d86663580f30b4b1eefc59db73b5c7b4424c1a0"


@pytest.fixture(scope="module")
def v3_code(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The source of the schema-3 mathgauge, from git history."""
    return mathgauge_source_at(V3_COMMIT, tmp_path_factory.mktemp("mathgauge-v3"), "the schema-3 store")


def _v3(code: Path, cwd: Path, *args: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(code)}
    done = subprocess.run([sys.executable, "-m", "mathgauge.cli", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]


@pytest.fixture(scope="module")
def v3_store(v3_code: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, dict]]:
    """A schema-3 store with one run of each mode, and each run's summary as that version reported it."""
    work = tmp_path_factory.mktemp("v3-runs")
    db = work / "v3.db"
    toy = write_problems(work / "toy.jsonl")
    summaries: dict[str, dict] = {}

    def run(name: str, server_url: str, data: Path, *options: str) -> None:
        summary = work / f"{name}.json"
        _v3(v3_code, work, "run", "--model", "m", "--base-url", server_url, "--data-file", str(data),
            "--store", str(db), "--quiet", "--run-name", name, "--summary-json", str(summary), *options)
        summaries[name] = json.loads(summary.read_text())

    with scripted_server("--script", str(write_script(work / "cot.jsonl", [
            {"match": "six times seven", "calls": ["So $\\boxed{42}$."]},
            {"match": "", "calls": ["It is $\\boxed{5}$."]}]))) as srv:
        run("cot", srv.base_url, toy)
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
        run("cascade", model.base_url, data, "--grader", "cascade", "--judge-model", "judge",
            "--judge-base-url", judge.base_url)
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == ("3",)
    return db, summaries


@pytest.fixture
def migrated(v3_store: tuple[Path, dict[str, dict]], tmp_path: Path) -> tuple[Path, dict[str, dict]]:
    """A copy of the schema-3 store, opened (so migrated) by this mathgauge."""
    db = tmp_path / "store.db"
    shutil.copy(v3_store[0], db)
    with Store(db) as store:
        assert store.schema_version == SCHEMA_VERSION
    return db, v3_store[1]


def rows(db: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


def graded_texts(db: Path, run: str) -> dict[tuple[str, str], tuple]:
    """(problem, grader) -> (graded text, answer format, origin) of the call each grade points at (read through the
    store: newer rows keep their texts in the compressed ``texts`` table)."""
    with Store(db) as store:
        run_id = store.get_run(run).run_id
        calls = {c["attempt_id"]: c for c in store.calls(run_id)}
    found = rows(db, f"SELECT problem_id, grader, attempt_id FROM grades WHERE run_id = '{run_id}'")
    return {(pid, grader): (calls[aid]["graded_text"], calls[aid]["answer_format"], calls[aid]["graded_origin"])
            for pid, grader, aid in found}


def test_migration_recomputes_what_each_mode_graded(migrated) -> None:
    db, _ = migrated
    pot = graded_texts(db, "pot")
    assert pot[("toy/0", "rules")] == ("42\n", "program_output", "migrated")  # the program's output, not its code
    assert pot[("toy/4", "rules")] == ("", "program_output", "migrated")  # no program: nothing was graded
    tir = graded_texts(db, "tir")
    turns = [r for (r,) in rows(db, "SELECT a.response FROM attempts a JOIN runs r USING (run_id) "
                                    "WHERE r.name = 'tir' AND a.problem_id = 'toy/0' ORDER BY a.attempt_index")]
    assert tir[("toy/0", "rules")] == ("\n".join(turns), "boxed", "migrated")
    verify = graded_texts(db, "verify")
    assert verify[("wrong", "initial")] == ("So $\\boxed{5}$.", "boxed", "migrated")
    assert verify[("wrong", "rules")] == ("Oops: $\\boxed{6}$.", "boxed", "migrated")
    assert verify[("power", "rules")] == ("Then $\\boxed{1000}$.", "boxed", "migrated")
    cascade = graded_texts(db, "cascade")
    assert {cascade[("power", g)] for g in ("rules", "judge", "final")} == {
        ("Doubling ten times gives one thousand and twenty-four, which is the result.", "boxed", "migrated")}
    # Calls no grade reads carry nothing.
    assert rows(db, "SELECT COUNT(*) FROM attempts WHERE graded_origin IS NULL AND graded_text IS NOT NULL") == [(0,)]


@pytest.mark.parametrize("run", ["cot", "pot", "tir", "verify", "cascade"])
def test_migrated_runs_regrade_unchanged_and_report_as_before(migrated, run, run_cli,
                                                              regrade_changes_nothing) -> None:
    db, summaries = migrated
    regrade_changes_nothing(db, run)
    out = db.parent / "show.json"
    shown = run_cli("show", run, "--store", str(db), "--summary-json", str(out))
    assert shown.code == 0, shown.err
    now, then = json.loads(out.read_text()), summaries[run]
    for key in ("n", "correct", "accuracy", "no_answer", "failed", "by_subject", "by_level", "ci95", "verification",
                "judge", "attempts_distribution", "executions"):
        assert _as_before(now.get(key), then.get(key)), key


def _as_before(now: Any, then: Any) -> bool:
    """``now`` says all that ``then`` said, with the same values; fields added to the summary since are ignored."""
    if isinstance(then, dict) and isinstance(now, dict):
        # Percentiles interpolate between values since the statistics module (numpy's rule; v3 took the nearest).
        return all(k in now and _as_before(now[k], v) for k, v in then.items() if k not in ("p50_ms", "p95_ms"))
    if isinstance(then, list) and isinstance(now, list):
        return len(now) == len(then) and all(_as_before(a, b) for a, b in zip(now, then))
    return bool(now == then)


def test_stored_v3_configs_load_into_the_run_spec(migrated) -> None:
    db, _ = migrated
    with Store(db) as store:
        specs = {r.name: RunSpec.from_stored(r.config, model=r.model, benchmark=r.benchmark) for r in store.list_runs()}
    assert (specs["pot"].mode, specs["pot"].attempts, specs["pot"].exec_timeout_s) == ("pot", 2, 1.0)
    assert (specs["tir"].mode, specs["tir"].max_rounds, specs["tir"].limit) == ("tir", 2, 3)
    assert (specs["cascade"].grader, specs["cascade"].judge_model) == ("cascade", "judge")
    assert specs["cot"].answer_format == "boxed" and specs["cot"].concurrency == RunSpec.concurrency


def test_an_unknown_graded_text_is_reported_not_guessed(v3_store, tmp_path: Path, run_cli) -> None:
    db = tmp_path / "edited.db"
    shutil.copy(v3_store[0], db)
    # The revision no longer extracts to the answer its stored grade recorded: what was graded is not known.
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE attempts SET response = 'Oops: $\\boxed{7}$.' WHERE problem_id = 'wrong' "
                     "AND attempt_index = 2")
    with Store(db):
        pass
    assert graded_texts(db, "verify")[("wrong", "rules")] == (None, "boxed", "unknown")
    before = stored_grades(db)
    result = run_cli("regrade", "verify", "--store", str(db))
    assert result.code == 0, result.err
    assert "re-graded 2 responses: 0 verdict(s) changed" in result.out
    assert "not re-graded: 1 sample(s) whose graded text is unknown" in result.out and "wrong#0" in result.out
    assert stored_grades(db) == before


def test_a_v3_sample_left_half_done_is_solved_again_on_resume(v3_store, v3_code, tmp_path: Path, run_cli) -> None:
    db = tmp_path / "half.db"
    shutil.copy(v3_store[0], db)
    # As a schema-3 run killed after storing a call and before grading it left it.
    with sqlite3.connect(db) as conn:
        conn.execute("DELETE FROM grades WHERE problem_id = 'toy/1' AND run_id = "
                     "(SELECT run_id FROM runs WHERE name = 'pot')")
        conn.execute("UPDATE samples SET status = 'pending' WHERE problem_id = 'toy/1' AND run_id = "
                     "(SELECT run_id FROM runs WHERE name = 'pot')")
    calls = rows(db, "SELECT COUNT(*) FROM attempts")[0][0]
    summary = tmp_path / "s.json"
    # The endpoint is gone: the calls come back from the response cache.
    result = run_cli("resume", "pot", "--store", str(db), "--quiet", "--summary-json", str(summary))
    assert result.code == 0, result.err
    assert rows(db, "SELECT COUNT(*) FROM attempts")[0][0] == calls  # replaced, not duplicated
    assert json.loads(summary.read_text())["correct"] == v3_store[1]["pot"]["correct"]
    assert graded_texts(db, "pot")[("toy/1", "rules")] == ("1024\n", "program_output", "solver")
