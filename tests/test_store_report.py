"""The SQLite store (schema, errors, lookups), summaries with confidence intervals, and re-grading."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from mathgauge.datasets import Problem
from mathgauge.errors import StoreError
from mathgauge.report import summarize, wilson_interval
from mathgauge.solve import Attempt
from mathgauge.store import SCHEMA_VERSION, Store


def test_wilson_interval_known_values() -> None:
    lo, hi = wilson_interval(5, 10)
    assert lo == pytest.approx(0.2366, abs=1e-4) and hi == pytest.approx(0.7634, abs=1e-4)
    lo, hi = wilson_interval(0, 10)
    assert lo == 0.0 and hi == pytest.approx(0.2775, abs=1e-4)
    assert wilson_interval(0, 0) == (0.0, 1.0)
    with pytest.raises(ValueError):
        wilson_interval(11, 10)


def test_schema_is_versioned_and_reopening_migrates_nothing(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    with Store(path) as store:
        assert store.schema_version == SCHEMA_VERSION
    with Store(path) as store:
        assert store.schema_version == SCHEMA_VERSION
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        conn.execute("UPDATE meta SET value = '999' WHERE key = 'schema_version'")
    with pytest.raises(StoreError, match="newer mathgauge"):
        Store(path)


def test_a_file_that_is_not_a_store_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_text("these are my notes, not a database" * 100)
    with pytest.raises(StoreError, match="notes.db: cannot open the results store"):
        Store(path)
    assert path.read_text().startswith("these are my notes")  # untouched


def _problem(i: int, subject: str = "Algebra", level: int = 1) -> Problem:
    return Problem(id=f"p{i}", problem=f"What is {i}+0?", answer=str(i), solution="", subject=subject, level=level)


def _store_with_run(tmp_path: Path) -> tuple[Store, str]:
    store = Store(tmp_path / "r.db")
    run = store.create_run(name="unit", benchmark="math500", model="m", config={"sampling": {"samples": 1}},
                           versions={})
    problems = [_problem(1), _problem(2, "Geometry", 3), _problem(3, "Geometry", 3)]
    store.add_problems(run.run_id, problems, [[{"role": "user", "content": p.problem}] for p in problems], 1)
    return store, run.run_id


def _attempt(pid: str, response: str | None, error: str | None = None, finish: str = "stop") -> Attempt:
    return Attempt(problem_id=pid, sample_index=0, attempt_index=0, kind="chat", request={"model": "m"},
                   response=response, error=error, finish_reason=finish, prompt_tokens=10, completion_tokens=20)


def test_runs_are_found_by_id_name_or_prefix_and_names_are_unique(tmp_path: Path) -> None:
    store, run_id = _store_with_run(tmp_path)
    assert store.get_run("unit").run_id == run_id
    assert store.get_run(run_id[:6]).name == "unit"
    with pytest.raises(StoreError, match="no run 'other'"):
        store.get_run("other")
    with pytest.raises(StoreError, match="already exists"):
        store.create_run(name="unit", benchmark="math500", model="m", config={}, versions={})


def test_summary_counts_failed_apart_and_regrade_reports_changes(tmp_path: Path) -> None:
    from mathgauge.grading import grade
    from mathgauge.pipeline import GradeRecord, regrade_run
    from mathgauge.solve import Gradable

    def graded(pid: str, text: str, verdict, finish: str = "stop") -> None:
        answer = Gradable(text, "auto", 0)
        store.save_sample(run_id, pid, 0, [_attempt(pid, text, finish=finish)], graded=[answer],
                          grades=[GradeRecord.from_verdict("rules", 0, verdict)])

    store, run_id = _store_with_run(tmp_path)
    graded("p1", "so \\boxed{1}", grade("so \\boxed{1}", "1"))
    # A stale wrong grade, as an older grader might have stored it.
    graded("p2", "it is \\boxed{2.0}", grade("it is \\boxed{7}", "2"), finish="length")
    store.save_sample(run_id, "p3", 0, [_attempt("p3", None, error="HTTP 400: context length exceeded")],
                      error="HTTP 400: context length exceeded")

    s = summarize(store.get_run(run_id), store.sample_results(run_id))
    assert (s.n, s.correct, s.failed, s.truncated) == (2, 1, 1, 1)
    assert s.by_subject["Geometry"].n == 1 and s.by_level["3"].n == 1
    assert s.failures == [("p3", 0, "HTTP 400: context length exceeded")]
    assert (s.prompt_tokens, s.completion_tokens, s.requests) == (30, 60, 3)

    result = regrade_run(store, "unit")
    assert result.count == 2 and result.unknown == []
    assert [(c.problem_id, c.old_status, c.new_status) for c in result.changes] == [("p2", "incorrect", "correct")]
    s = summarize(store.get_run(run_id), store.sample_results(run_id))
    assert (s.n, s.correct) == (2, 2)
    assert store.count_rows("grades", run_id) == 2  # replaced, not duplicated


def test_spearman_difficulty_trend() -> None:
    from mathgauge.report.stats import spearman

    assert spearman([1, 2, 3, 4, 5], [0.9, 0.8, 0.7, 0.5, 0.3]) == pytest.approx(-1.0)
    # ties share ranks: ranks of y = [3.5, 3.5, 5, 1.5, 1.5] -> rho = -0.6325
    assert spearman([1, 2, 3, 4, 5], [0.5, 0.5, 0.6, 0.4, 0.4]) == pytest.approx(-0.632455, abs=1e-5)
    assert spearman([1, 2], [0.1, 0.2]) is None and spearman([1, 2, 3], [0.5, 0.5, 0.5]) is None


def test_read_commands_do_not_create_a_store(run_cli, tmp_path: Path) -> None:
    missing = tmp_path / "typo.db"
    for args in (["runs"], ["show", "x"], ["export", "x", "--output", str(tmp_path / "o.jsonl")], ["regrade", "x"]):
        result = run_cli(*args, "--store", str(missing))
        assert result.code == 2 and "no results store here" in result.err, args
    assert not missing.exists()


def test_tokens_a_server_never_reported_are_unknown_not_zero(run_cli, tmp_path: Path, small_data: Path) -> None:
    import json

    from mathgauge.testing import scripted_server

    db, summary, page = tmp_path / "u.db", tmp_path / "s.json", tmp_path / "r.html"
    with scripted_server("--data", str(small_data), "--no-usage") as srv:
        # --regenerate streams every call: the server is asked for usage and still sends none.
        result = run_cli("run", "--model", "m", "--base-url", srv.base_url, "--data-file", str(small_data),
                         "--limit", "4", "--regenerate", "--store", str(db), "--summary-json", str(summary))
    assert result.code == 0, result.err
    with sqlite3.connect(db) as conn:
        stored = conn.execute("SELECT prompt_tokens, completion_tokens FROM attempts").fetchall()
    assert stored == [(None, None)] * 4  # NULL, never 0
    doc = json.loads(summary.read_text())
    assert doc["prompt_tokens"] is None and doc["completion_tokens"] is None and doc["calls_without_usage"] == 4
    assert "Tokens: unknown (the server reported no usage for 4 of 4 calls)" in result.out
    shown = run_cli("show", doc["run_id"], "--store", str(db))
    assert "Tokens: unknown" in shown.out
    assert run_cli("report", doc["run_id"], "--store", str(db), "--output", str(page)).code == 0
