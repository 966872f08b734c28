"""The store's schema, as an ordered list of migrations; ``meta.schema_version`` says how many have run."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from ._graded_text import add_graded_text
from ._lease import add_run_leases
from ._texts import add_text_store

#: A migration: an SQL script, or a function given the connection inside the migration's transaction.
Migration = str | Callable[[sqlite3.Connection], None]

#: Each entry upgrades the schema by one version. Append new migrations; never edit a released one.
MIGRATIONS: list[Migration] = [
    # 1: runs, their problems and samples, one attempt row per model call, grades, and the response cache.
    """
    CREATE TABLE runs (
        run_id       TEXT PRIMARY KEY,
        name         TEXT NOT NULL UNIQUE,
        benchmark    TEXT NOT NULL,
        model        TEXT NOT NULL,
        status       TEXT NOT NULL,             -- running | finished | failed | interrupted
        error        TEXT,
        config_json  TEXT NOT NULL,
        versions_json TEXT NOT NULL,
        created_at   REAL NOT NULL,
        started_at   REAL,
        finished_at  REAL,
        wall_s       REAL NOT NULL DEFAULT 0    -- summed over every session of the run (resumes add to it)
    );
    CREATE TABLE problems (
        run_id     TEXT NOT NULL REFERENCES runs(run_id),
        problem_id TEXT NOT NULL,
        position   INTEGER NOT NULL,
        problem    TEXT NOT NULL,
        answer     TEXT NOT NULL,
        solution   TEXT NOT NULL,
        subject    TEXT NOT NULL,
        level      INTEGER,
        PRIMARY KEY (run_id, problem_id)
    );
    CREATE TABLE samples (
        run_id       TEXT NOT NULL,
        problem_id   TEXT NOT NULL,
        sample_index INTEGER NOT NULL,
        status       TEXT NOT NULL,             -- pending | done | failed
        prompt_json  TEXT NOT NULL,
        error        TEXT,
        PRIMARY KEY (run_id, problem_id, sample_index),
        FOREIGN KEY (run_id, problem_id) REFERENCES problems(run_id, problem_id)
    );
    CREATE TABLE attempts (
        attempt_id        INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id            TEXT NOT NULL,
        problem_id        TEXT NOT NULL,
        sample_index      INTEGER NOT NULL,
        attempt_index     INTEGER NOT NULL,
        kind              TEXT NOT NULL,
        request_json      TEXT NOT NULL,
        response          TEXT,
        reasoning         TEXT,
        finish_reason     TEXT,
        prompt_tokens     INTEGER,
        completion_tokens INTEGER,
        latency_s         REAL,
        total_s           REAL,
        retries           INTEGER NOT NULL DEFAULT 0,
        cached            INTEGER NOT NULL DEFAULT 0,
        error             TEXT,
        started_at        REAL NOT NULL,
        extra_json        TEXT NOT NULL DEFAULT '{}',
        UNIQUE (run_id, problem_id, sample_index, attempt_index)
    );
    CREATE TABLE grades (
        run_id          TEXT NOT NULL,
        problem_id      TEXT NOT NULL,
        sample_index    INTEGER NOT NULL,
        grader          TEXT NOT NULL,          -- which grader produced it (rules, judge, ...)
        attempt_id      INTEGER NOT NULL REFERENCES attempts(attempt_id),
        status          TEXT NOT NULL,          -- correct | incorrect | no_answer
        correct         INTEGER NOT NULL,
        extracted       TEXT,
        normalized      TEXT,
        method          TEXT,
        reason          TEXT,
        graded_at       REAL NOT NULL,
        PRIMARY KEY (run_id, problem_id, sample_index, grader)
    );
    CREATE TABLE response_cache (
        key        TEXT PRIMARY KEY,
        response_json TEXT NOT NULL,
        created_at REAL NOT NULL
    );
    CREATE INDEX attempts_by_sample ON attempts(run_id, problem_id, sample_index);
    """,
    # 2: code executions (program-of-thought, tool-integrated reasoning), each tied to the model call that wrote it.
    """
    CREATE TABLE executions (
        execution_id   INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id         TEXT NOT NULL,
        attempt_id     INTEGER NOT NULL REFERENCES attempts(attempt_id) ON DELETE CASCADE,
        problem_id     TEXT NOT NULL,
        sample_index   INTEGER NOT NULL,
        code           TEXT NOT NULL,
        status         TEXT NOT NULL,           -- ok | error | timeout | memory | killed | blocked
        stdout         TEXT NOT NULL,
        stderr         TEXT NOT NULL,
        exit_code      INTEGER,
        duration_ms    REAL NOT NULL,
        unsafe         INTEGER NOT NULL,
        unsafe_static_json  TEXT NOT NULL,
        unsafe_runtime_json TEXT NOT NULL
    );
    CREATE INDEX executions_by_run ON executions(run_id);
    """,
    # 3: judge grades carry a 1-5 score and the judge's reply.
    """
    ALTER TABLE grades ADD COLUMN score INTEGER;
    ALTER TABLE grades ADD COLUMN detail_json TEXT;
    """,
    # 4: every graded call keeps the exact text that was graded and its answer format; older rows get them
    # recomputed from what is stored where that is exact, and are marked unknown where it is not.
    add_graded_text,
    # 5: long texts (requests, prompts, responses, reasoning, graded texts) stored once, compressed, in `texts`;
    # calls, problems and cached responses point at them. Older rows stay as they are.
    add_text_store,
    # 6: one process per run: the lease of each run being worked on (owner, pid, host, heartbeat).
    add_run_leases,
]

SCHEMA_VERSION = len(MIGRATIONS)
#: The oldest schema the read commands read as it is: a store opened read-only is never migrated, and the reads
#: need nothing added after version 5 (the texts table; the lease table is looked for, not required).
READABLE_FROM = 5
