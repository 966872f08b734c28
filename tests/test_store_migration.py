"""A store written by the last mathgauge with schema 3 opens, migrates to the current schema and re-grades unchanged.

The schema-3 store is test data (`tests/data/store_v3/v3.db`), made once by that version itself running real
``mathgauge run`` processes (chain-of-thought, program-of-thought, tool use, self-verification, cascade judge)
against scripted servers, with the summary each run reported (`summaries.json`); `tests/data/store_v3/make_store.py`
made them (it needs the repository's full history, the tests do not). Each test migrates a copy.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from conftest import stored_grades

from mathgauge.pipeline import RunSpec
from mathgauge.store import SCHEMA_VERSION, Store

V3_DATA = Path(__file__).resolve().parent / "data" / "store_v3"


@pytest.fixture(scope="module")
def v3_store() -> tuple[Path, dict[str, dict]]:
    """The schema-3 store with one run of each mode, and each run's summary as that version reported it."""
    db = V3_DATA / "v3.db"
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        assert conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == ("3",)
    return db, json.loads((V3_DATA / "summaries.json").read_text())


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


def test_a_v3_sample_left_half_done_is_solved_again_on_resume(v3_store, tmp_path: Path, run_cli) -> None:
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
