"""Schema 4: every graded call keeps the exact text that was graded and its answer format.

Three columns are added to ``attempts``:

* ``graded_text``: the text the grades pointing at this call read (``NULL`` when none does, or it is unknown);
* ``answer_format``: the extraction format it is graded with;
* ``graded_origin``: ``NULL`` when no grade reads this call; ``solver`` when it was stored with the solved sample;
  ``migrated`` when the upgrade recomputed it exactly from older rows; ``unknown`` when an older mathgauge graded
  the call without keeping the text and it cannot be recomputed exactly (`mathgauge regrade` says so, and leaves
  those grades alone, instead of guessing).

What the upgrade recomputes, by the run's mode (older versions graded the text named here):

* ``cot`` and imported (``rescore``) runs: the call's response;
* ``pot``: the output of the program the call's response held (empty when it held none);
* ``tir``: the responses of the graded call's try joined by newlines;
* ``verify``, the answer before verification: the response of the last try's answer call (the grade is moved to
  that call); the final answer: the answer call's response when nothing was revised, else the last revision with
  an extractable answer, kept only when it extracts to the answer the stored grade recorded.
"""

from __future__ import annotations

import itertools
import json
import sqlite3
from collections.abc import Callable
from typing import Any, NamedTuple

#: Values of ``attempts.graded_origin``.
GRADED_ORIGINS = ("solver", "migrated", "unknown")
#: The format runs were graded with when their config named none (older pipelines fell back to it).
LEGACY_ANSWER_FORMAT = "boxed"


class _Call(NamedTuple):
    attempt_id: int
    attempt_index: int
    response: str | None
    try_index: int
    phase: str | None


def add_graded_text(db: sqlite3.Connection) -> None:
    """The schema-4 migration: add the columns and fill them for every graded call already stored."""
    for column in ("graded_text TEXT", "answer_format TEXT", "graded_origin TEXT"):
        db.execute(f"ALTER TABLE attempts ADD COLUMN {column}")
    for run_id, config_json in db.execute("SELECT run_id, config_json FROM runs").fetchall():
        _migrate_run(db, run_id, json.loads(config_json))


def _migrate_run(db: sqlite3.Connection, run_id: str, config: dict[str, Any]) -> None:
    mode = config.get("mode") or "cot"
    answer_format = config.get("answer_format") or LEGACY_ANSWER_FORMAT
    grades: dict[tuple[str, int], dict[str, tuple[int, str | None]]] = {}
    for pid, k, grader, attempt_id, extracted in db.execute(
        "SELECT problem_id, sample_index, grader, attempt_id, extracted FROM grades WHERE run_id = ?", (run_id,)
    ):
        grades.setdefault((pid, k), {})[grader] = (attempt_id, extracted)
    if not grades:
        return
    outputs: dict[int, str] = {}
    if mode == "pot":
        for attempt_id, stdout in db.execute(
            "SELECT attempt_id, stdout FROM executions WHERE run_id = ? ORDER BY execution_id", (run_id,)
        ):
            outputs[attempt_id] = stdout  # a program-of-thought call runs one program; the last one counts
    extract = _extractor(answer_format) if mode == "verify" else None
    texts: list[tuple[str | None, str, str, int]] = []
    moves: list[tuple[int, str, str, int, str]] = []
    rows = db.execute(
        "SELECT problem_id, sample_index, attempt_id, attempt_index, response,"
        " COALESCE(json_extract(extra_json, '$.try'), 0), json_extract(extra_json, '$.phase')"
        " FROM attempts WHERE run_id = ? ORDER BY problem_id, sample_index, attempt_index",
        (run_id,),
    )
    for key, group in itertools.groupby(rows, key=lambda r: (r[0], r[1])):
        sample_grades = grades.get(key)
        if sample_grades is None:
            continue
        calls = [_Call(*r[2:]) for r in group]
        by_id = {c.attempt_id: c for c in calls}
        scored = sample_grades.get("rules") or sample_grades.get("final")
        for grader, (attempt_id, _) in sample_grades.items():
            if grader == "initial":
                continue
            call = by_id.get(attempt_id)
            text = None if call is None else _answer_text(mode, call, calls, outputs, extract,
                                                          scored[1] if scored else None)
            texts.append((text, answer_format, "unknown" if text is None else "migrated", attempt_id))
        if "initial" in sample_grades:
            attempt_id = sample_grades["initial"][0]
            answer = _last_answer_call(calls)
            if answer is None:
                texts.append((None, answer_format, "unknown", attempt_id))
            else:
                texts.append((answer.response or "", answer_format, "migrated", answer.attempt_id))
                if answer.attempt_id != attempt_id:
                    moves.append((answer.attempt_id, run_id, key[0], key[1], "initial"))
    db.executemany("UPDATE attempts SET graded_text = ?, answer_format = ?, graded_origin = ? WHERE attempt_id = ?",
                   texts)
    db.executemany("UPDATE grades SET attempt_id = ? WHERE run_id = ? AND problem_id = ? AND sample_index = ?"
                   " AND grader = ?", moves)


def _answer_text(mode: str, call: _Call, calls: list[_Call], outputs: dict[int, str],
                 extract: Callable[[str], str | None] | None, extracted: str | None) -> str | None:
    """The text older versions graded for the grade on ``call``; ``None`` when it cannot be known exactly."""
    if mode in ("cot", "rescore"):
        return call.response or ""
    if mode == "pot":
        return outputs.get(call.attempt_id, "")
    if mode == "tir":
        turns = [c.response or "" for c in calls if c.try_index == call.try_index
                 and c.attempt_index <= call.attempt_index]
        return "\n".join(turns)
    if mode == "verify" and extract is not None:
        candidates = [c for c in calls if c.try_index == call.try_index and c.phase in ("answer", "revise")
                      and c.attempt_index <= call.attempt_index]
        if not candidates or candidates[0].phase != "answer":
            return None
        if len(candidates) == 1:
            return candidates[0].response or ""
        # A revision replaced the answer only when it had an extractable one: which did is decided by the
        # extractor, so the choice is kept only when it reproduces the answer the stored grade extracted.
        current = candidates[0].response or ""
        for revision in candidates[1:]:
            if extract(revision.response or "") is not None:
                current = revision.response or ""
        return current if extract(current) == extracted else None
    return None


def _last_answer_call(calls: list[_Call]) -> _Call | None:
    """The answer call of the sample's last try (self-verification graded its response as the initial answer)."""
    answers = [c for c in calls if c.phase == "answer"]
    return max(answers, key=lambda c: (c.try_index, c.attempt_index)) if answers else None


def _extractor(answer_format: str) -> Callable[[str], str | None]:
    # Imported here: only upgrades of self-verification runs need the grader's extraction.
    from ..grading import extract_final_answer
    from ..grading._limits import MAX_RESPONSE_CHARS

    return lambda text: extract_final_answer(text[-MAX_RESPONSE_CHARS:], answer_format)
