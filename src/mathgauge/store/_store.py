"""The SQLite results store: every run, problem, sample, attempt and grade; a sample is committed whole as soon as
it is graded."""

from __future__ import annotations

import dataclasses
import json
import os
import sqlite3
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from ..errors import RunBusy, StoreError, StoreUnreadable
from . import _lease
from ._lease import Lease, LeaseHolder
from ._records import RunRecord, SampleResult
from ._schema import MIGRATIONS, READABLE_FROM, SCHEMA_VERSION
from ._texts import Texts, as_text, register, text_sql

DEFAULT_STORE = "mathgauge.db"


def write_failure(path: Path, exc: BaseException) -> str:
    """Why a write to the store at ``path`` failed, in words: the file or its folder read-only, the disk full,
    damage, or SQLite's own message."""
    text = str(exc)
    if "readonly" in text or "read-only" in text or "unable to open" in text:
        if path.exists() and not os.access(path, os.W_OK):
            return "the file is read-only"
        if not os.access(path.parent, os.W_OK):
            return f"its folder {path.parent} is not writable (SQLite keeps its journal beside the file)"
    if "disk is full" in text or "disk I/O error" in text:
        return f"{text}: the disk is full or failing"
    if "malformed" in text or "not a database" in text:
        return f"{text}: the file is damaged; `mathgauge store check --store {path}` says more"
    return text


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


#: Fields of a response the cache row does not keep: its texts (in `texts`) and its call's timing.
_NOT_CACHED = frozenset({"text", "reasoning", "latency_s", "total_s", "retries", "cached"})

#: A sample's prompt: its problem's (schema 5 on; ``problems p`` joined to ``texts pt``) or its own (older rows).
_PROMPT_SQL = "CASE WHEN s.prompt_json = '' THEN mg_inflate(pt.body) ELSE s.prompt_json END"


class Store:
    """An embedded SQLite file in WAL mode.

    Writes go through one connection; each write method commits before it returns (or, inside `batch`, with the
    batch), so a killed process loses at most the samples in flight (their calls come back from the response
    cache). Safe to use from one thread at a time (the pipeline's store stage owns one writer thread, a
    `mathgauge.store.StoreWriter`).

    Args:
        path: the database file (created with its folder when missing).
        must_exist: refuse a missing file instead of creating one (for commands that only read).
        read_only: open for reading only (``mode=ro``; ``immutable`` where the folder is not writable): nothing is
            written, not even a migration, so it works on a read-only file or folder. ``notes`` says what a
            read-only open could not show.

    Raises:
        StoreError: the file cannot be opened, is not a results store, is written by a newer mathgauge, or (not
            ``read_only``) cannot be written: one line naming the file and the cause.
    """

    def __init__(self, path: str | Path = DEFAULT_STORE, *, must_exist: bool = False, read_only: bool = False) -> None:
        self.path = Path(path)
        self.read_only = read_only
        self.notes: list[str] = []
        self._leases: bool | None = None
        exists = self.path.is_file()
        if (must_exist or read_only) and not exists:
            raise StoreError(f"{self.path}: no results store here (pass --store PATH; `mathgauge run` creates one)")
        if read_only:
            self._open_read_only()
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None, check_same_thread=False)
            # New files only (an existing file keeps its page size): with 1 KB pages a compressed text of a few KB
            # fills whole overflow pages instead of a 4 KB page of its own with up to half of it empty (schema 5's
            # texts take 18% less room; `python bench/scale.py --only store`).
            self._db.execute("PRAGMA page_size=1024")
            # A new file is laid out without waiting for the disk (an OS crash meanwhile loses an empty store):
            # the half dozen syncs of creating it are most of a new run's time before its first request.
            self._db.execute("PRAGMA synchronous=" + ("NORMAL" if exists else "OFF"))
            self._enter_wal_mode()
            self._db.execute("PRAGMA foreign_keys=ON")
            register(self._db)
            self._texts = Texts(self._db)
            self._migrate()
            # NORMAL is durable against a killed process (only an OS crash can lose the last commits in WAL mode).
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._check_writable()
        except sqlite3.DatabaseError as exc:
            self._close_quietly()
            cause = write_failure(self.path, exc)
            raise StoreError(f"{self.path}: cannot open the results store for writing ({cause})") from None
        except OSError as exc:
            raise StoreError(f"{self.path}: cannot create the results store ({exc.strerror})") from None

    def _enter_wal_mode(self) -> None:
        # Switching a new file to WAL while another process lays it out too fails at once with "database is locked"
        # (SQLite does not wait on its busy timeout there); the mode sticks to the file, so a retry soon finds it set.
        deadline = time.monotonic() + 30.0
        while True:
            try:
                self._db.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.01)

    def _check_writable(self) -> None:
        # SQLite opens a file it may not write read-only without a word, and BEGIN succeeds: only a write tells
        # (rolled back: nothing is written).
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self._db.execute("UPDATE meta SET value = value WHERE key = 'schema_version'")
        finally:
            self._db.execute("ROLLBACK")

    def _open_read_only(self) -> None:
        uri = "file:" + quote(str(self.path.absolute()))
        try:
            self._db = self._connect_read_only(uri + "?mode=ro")
        except sqlite3.OperationalError:
            # Without write access to the folder SQLite cannot create the WAL index beside the file, so it cannot
            # open it even for reading; immutable reads the main file as it is (nothing in the WAL is seen).
            wal = Path(str(self.path) + "-wal")
            if wal.is_file() and wal.stat().st_size > 0:
                self.notes.append(
                    f"{wal}: results written since the store's last checkpoint cannot be read here (its folder "
                    f"is read-only); they are not shown. Open the store once where its folder is writable")
            try:
                self._db = self._connect_read_only(uri + "?mode=ro&immutable=1")
            except sqlite3.DatabaseError as exc:
                raise self._unreadable(exc) from None
        except sqlite3.DatabaseError as exc:
            raise self._unreadable(exc) from None
        try:
            version = self._stored_version()
        except sqlite3.DatabaseError as exc:
            self._close_quietly()
            raise self._unreadable(exc) from None
        if version > SCHEMA_VERSION:
            self._close_quietly()
            raise StoreError(
                f"{self.path}: written by a newer mathgauge (schema {version}, this one knows {SCHEMA_VERSION})")
        if version < READABLE_FROM:
            self._close_quietly()
            if not (os.access(self.path, os.W_OK) and os.access(self.path.parent, os.W_OK)):
                raise StoreError(f"{self.path}: written by an older mathgauge (schema {version}); it must be "
                                 f"upgraded once, which needs write access to the file and its folder")
            Store(self.path).close()  # upgrade it, then read as asked
            self._open_read_only()
            return
        register(self._db)  # the texts are read through SQL functions of the connection
        self._texts = Texts(self._db)

    def _unreadable(self, exc: BaseException) -> StoreUnreadable:
        return StoreUnreadable(f"{self.path}: cannot open the results store for reading ({exc}); "
                               f"`mathgauge store check --store {self.path}` says more", str(exc))

    def _connect_read_only(self, uri: str) -> sqlite3.Connection:
        db = sqlite3.connect(uri, uri=True, timeout=30.0, isolation_level=None, check_same_thread=False)
        try:
            db.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
        except BaseException:
            db.close()
            raise
        return db

    def _stored_version(self) -> int:
        tables = {r[0] for r in self._db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "meta" not in tables or "runs" not in tables:
            raise StoreError(f"{self.path}: not a mathgauge results store (no runs table)")
        row = self._db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        return int(row[0]) if row else 0

    def _close_quietly(self) -> None:
        db = getattr(self, "_db", None)
        if db is not None:
            try:
                db.close()
            except sqlite3.Error:
                pass

    # -- schema ------------------------------------------------------------------------------------------------
    def _migrate(self) -> None:
        self._db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        if self._version_in_meta() == SCHEMA_VERSION:
            return
        bump = ("INSERT INTO meta(key, value) VALUES ('schema_version', '{}')"
                " ON CONFLICT(key) DO UPDATE SET value = excluded.value")
        # The version is read again under the write lock: two processes opening one new (or old) file at once
        # migrate it once, the second finding it done. Every step and its version bump in one transaction, so an
        # upgrade that fails half-way leaves the file as it was.
        with self._transaction():
            current = self._version_in_meta()
            if current > SCHEMA_VERSION:
                raise StoreError(
                    f"{self.path}: written by a newer mathgauge (schema {current}, this one knows {SCHEMA_VERSION})"
                )
            for version in range(current, SCHEMA_VERSION):
                migration = MIGRATIONS[version]
                if isinstance(migration, str):
                    for statement in _statements(migration):
                        self._db.execute(statement)
                else:
                    migration(self._db)
                self._db.execute(bump.format(version + 1))

    def _version_in_meta(self) -> int:
        row = self._db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        return int(row[0]) if row else 0

    def _transaction(self) -> Any:
        return _Transaction(self._db)

    def batch(self) -> Any:
        """One transaction around several writes (the store writer's group commit): each write method's own
        transaction becomes a savepoint inside it, and nothing is committed before the block ends."""
        return _Transaction(self._db)

    def savepoint(self) -> Any:
        """Inside `batch`: a part that is rolled back alone if it fails."""
        return _Transaction(self._db)

    @property
    def schema_version(self) -> int:
        return int(self._db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0])

    def close(self) -> None:
        self._db.close()

    def integrity_problems(self, limit: int = 20) -> list[str]:
        """SQLite's own integrity check of the whole file: the problems found (none when intact)."""
        rows = [r[0] for r in self._db.execute(f"PRAGMA integrity_check({int(limit)})").fetchall()]
        return [] if rows == ["ok"] else rows

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- runs --------------------------------------------------------------------------------------------------
    def create_run(
        self, *, name: str, benchmark: str, model: str, config: dict[str, Any], versions: dict[str, Any],
        lease: Lease | None = None,
    ) -> RunRecord:
        """Create a run (holding its ``lease`` from the start, when given); a name already taken raises
        `StoreError`."""
        run_id = uuid.uuid4().hex[:12]
        now = time.time()
        try:
            with self._transaction():
                self._db.execute(
                    "INSERT INTO runs(run_id, name, benchmark, model, status, config_json, versions_json, created_at)"
                    " VALUES (?, ?, ?, ?, 'running', ?, ?, ?)",
                    (run_id, name, benchmark, model, _dumps(config), _dumps(versions), now),
                )
                if lease is not None:
                    _lease.acquire(self._db, run_id, lease)
        except sqlite3.IntegrityError:
            raise StoreError(
                f"a run named {name!r} already exists in {self.path}; pass --resume to continue it "
                f"or choose another --run-name"
            ) from None
        return self.get_run(run_id)

    def delete_run(self, run_id: str) -> None:
        """Delete a run and everything stored for it, in one transaction (a run that never got going)."""
        with self._transaction():
            for table in ("executions", "grades", "attempts", "samples", "problems"):
                self._db.execute(f"DELETE FROM {table} WHERE run_id = ?", (run_id,))
            if self._has_leases():
                self._db.execute("DELETE FROM run_leases WHERE run_id = ?", (run_id,))
            self._db.execute("DELETE FROM runs WHERE run_id = ?", (run_id,))

    # -- leases: one process per run (see `mathgauge.store._lease`) -------------------------------------------
    def acquire_lease(self, run: RunRecord, lease: Lease) -> None:
        """Take the lease of ``run`` for this process.

        Raises:
            RunBusy: another live process holds it: "run NAME is in progress (pid N on HOST, ...)".
        """
        with self._transaction():
            holder = _lease.acquire(self._db, run.run_id, lease)
        if holder is not None:
            raise _busy(run, holder)

    def check_not_busy(self, run: RunRecord) -> None:
        """Refuse a run another live process is working on, without taking its lease.

        Raises:
            RunBusy: as `acquire_lease`.
        """
        holder = self.lease_holder(run.run_id)
        if holder is not None:
            raise _busy(run, holder)

    def renew_lease(self, run_id: str, lease: Lease) -> bool:
        """Renew our lease; ``False`` when another process has taken it over."""
        return _lease.renew(self._db, run_id, lease)

    def release_lease(self, run_id: str, lease: Lease) -> bool:
        """Give our lease back; ``False`` when it was no longer ours (another process took it over)."""
        return _lease.release(self._db, run_id, lease)

    def lease_holder(self, run_id: str) -> LeaseHolder | None:
        """The live lease of a run (the process working on it); ``None`` when none is."""
        if not self._has_leases():
            return None
        holder = _lease.lease_holder(self._db, run_id)
        return holder if holder is not None and _lease.is_alive(holder) else None

    def _has_leases(self) -> bool:
        if self._leases is None:
            self._leases = _lease.has_lease_table(self._db)
        return self._leases

    def find_run(self, ref: str) -> RunRecord | None:
        """A run by id, by name, or by a unique id prefix; ``None`` when there is none."""
        row = self._db.execute("SELECT * FROM runs WHERE run_id = ? OR name = ?", (ref, ref)).fetchone()
        if row is None and len(ref) >= 4:
            rows = self._db.execute("SELECT * FROM runs WHERE run_id LIKE ?", (ref + "%",)).fetchall()
            row = rows[0] if len(rows) == 1 else None
        return self._record(row) if row else None

    def get_run(self, ref: str) -> RunRecord:
        """Like `find_run`, but a missing run raises `StoreError` naming the store."""
        run = self.find_run(ref)
        if run is None:
            raise StoreError(f"no run {ref!r} in {self.path}; `mathgauge runs` lists the stored runs")
        return run

    def list_runs(self) -> list[RunRecord]:
        return [self._record(r) for r in self._db.execute("SELECT * FROM runs ORDER BY created_at").fetchall()]

    def _record(self, row: tuple) -> RunRecord:
        run = _run_record(row)
        if run.status == "running" and self._has_leases() and self.lease_holder(run.run_id) is None:
            # Stored as running, but no process works on it: it was killed (or lost power) mid-run.
            run = dataclasses.replace(run, status="interrupted",
                                      error=run.error or "the process running it ended without closing the run")
        return run

    def mark_run_started(self, run_id: str) -> None:
        self._db.execute(
            "UPDATE runs SET status = 'running', error = NULL, started_at = ?, finished_at = NULL WHERE run_id = ?",
            (time.time(), run_id),
        )

    def mark_run_ended(self, run_id: str, status: str, *, wall_s: float, error: str | None = None) -> None:
        self._db.execute(
            "UPDATE runs SET status = ?, error = ?, finished_at = ?, wall_s = wall_s + ? WHERE run_id = ?",
            (status, error, time.time(), wall_s, run_id),
        )

    # -- problems and samples ----------------------------------------------------------------------------------
    def add_problems(
        self, run_id: str, problems: Sequence[Any], prompts: Sequence[list[dict[str, str]]], samples: int
    ) -> None:
        """Record the run's problems and create its pending samples, all in one transaction (a problem's prompt is
        stored once, for all its samples)."""
        with self._transaction():
            self._db.executemany(
                "INSERT INTO problems(run_id, problem_id, position, problem, answer, solution, subject, level,"
                " prompt_ref) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (run_id, p.id, i, p.problem, p.answer, p.solution, p.subject, p.level,
                     self._texts.put(_dumps(messages)))
                    for i, (p, messages) in enumerate(zip(problems, prompts, strict=True))
                ],
            )
            self._db.executemany(
                "INSERT INTO samples(run_id, problem_id, sample_index, status, prompt_json)"
                " VALUES (?, ?, ?, 'pending', '')",
                [(run_id, p.id, k) for p in problems for k in range(samples)],
            )

    def gold_answers(self, run_id: str) -> dict[str, str]:
        """Reference answer of every problem of a run, by problem id."""
        rows = self._db.execute("SELECT problem_id, answer FROM problems WHERE run_id = ?", (run_id,))
        return dict(rows.fetchall())

    def problem_texts(self, run_id: str) -> dict[str, tuple[str, str, str]]:
        """(problem, answer, solution) of every problem of a run, by problem id."""
        rows = self._db.execute("SELECT problem_id, problem, answer, solution FROM problems WHERE run_id = ?",
                                (run_id,))
        return {pid: (problem, answer, solution) for pid, problem, answer, solution in rows.fetchall()}

    def problem_ids(self, run_id: str) -> list[str]:
        rows = self._db.execute(
            "SELECT problem_id FROM problems WHERE run_id = ? ORDER BY position", (run_id,)
        ).fetchall()
        return [r[0] for r in rows]

    def unfinished_samples(self, run_id: str) -> list[tuple[str, int, list[dict[str, str]]]]:
        """(problem id, sample index, prompt messages) of every sample that is not done, in problem order."""
        rows = self._db.execute(
            "SELECT s.problem_id, s.sample_index, " + _PROMPT_SQL + " FROM samples s"
            " JOIN problems p USING (run_id, problem_id) LEFT JOIN texts pt ON pt.text_id = p.prompt_ref"
            " WHERE s.run_id = ? AND s.status != 'done' ORDER BY p.position, s.sample_index",
            (run_id,),
        ).fetchall()
        # Samples of one problem share its prompt: parse it once, hand each sample its own copy.
        parsed: dict[str, list[dict[str, str]]] = {}
        out = []
        for pid, k, prompt in rows:
            if pid not in parsed:
                parsed[pid] = json.loads(as_text(prompt) or "[]")
            out.append((pid, k, [dict(m) for m in parsed[pid]]))
        return out

    def sample_statuses(self, run_id: str) -> dict[str, int]:
        """How many samples of a run are in each status (``pending``, ``done``, ``failed``)."""
        rows = self._db.execute("SELECT status, COUNT(*) FROM samples WHERE run_id = ? GROUP BY status", (run_id,))
        return dict(rows.fetchall())

    def sample_counts(self, run_id: str, grader: str = "rules") -> tuple[int, int, int]:
        """(samples, samples done, done samples ``grader`` marks correct) of a run."""
        total, done = self._db.execute(
            "SELECT COUNT(*), COALESCE(SUM(status = 'done'), 0) FROM samples WHERE run_id = ?", (run_id,)
        ).fetchone()
        (correct,) = self._db.execute(
            "SELECT COUNT(*) FROM grades g JOIN samples s USING (run_id, problem_id, sample_index)"
            " WHERE g.run_id = ? AND g.grader = ? AND g.correct = 1 AND s.status = 'done'", (run_id, grader)
        ).fetchone()
        return int(total), int(done), int(correct)

    def mark_sample(self, run_id: str, problem_id: str, sample_index: int, status: str, error: str | None = None) -> None:
        self._db.execute(
            "UPDATE samples SET status = ?, error = ? WHERE run_id = ? AND problem_id = ? AND sample_index = ?",
            (status, error, run_id, problem_id, sample_index),
        )

    # -- attempts and grades -----------------------------------------------------------------------------------
    def add_attempt(self, run_id: str, attempt: Any) -> int:
        """Store one model call (a `mathgauge.solve.Attempt`); returns its attempt id. Low-level, like
        `add_grade`."""
        with self._transaction():
            return self._insert_attempt(run_id, attempt)

    def _insert_attempt(self, run_id: str, attempt: Any, graded: Any = None) -> int:
        a = attempt
        texts = self._texts
        cur = self._db.execute(
            "INSERT INTO attempts(run_id, problem_id, sample_index, attempt_index, kind, request_json,"
            " request_ref, response_ref, reasoning_ref, finish_reason, prompt_tokens, completion_tokens, latency_s,"
            " total_s, retries, cached, error, started_at, extra_json, graded_ref, answer_format, graded_origin)"
            " VALUES (?, ?, ?, ?, ?, '', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                run_id, a.problem_id, a.sample_index, a.attempt_index, a.kind, texts.put_request(a.request),
                texts.put(a.response), texts.put(a.reasoning), a.finish_reason, a.prompt_tokens,
                a.completion_tokens, a.latency_s, a.total_s, a.retries, int(a.cached), a.error, a.started_at,
                _dumps(a.extra), None if graded is None else texts.put(graded.text),
                None if graded is None else graded.answer_format, None if graded is None else "solver",
            ),
        )
        attempt_id = cur.lastrowid
        assert attempt_id is not None  # set by the INSERT
        if a.executions:
            self._db.executemany(
                "INSERT INTO executions(run_id, attempt_id, problem_id, sample_index, code, status, stdout, stderr,"
                " exit_code, duration_ms, unsafe, unsafe_static_json, unsafe_runtime_json)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (run_id, attempt_id, a.problem_id, a.sample_index, e["code"], e["status"], e["stdout"],
                     e["stderr"], e.get("exit_code"), e["duration_ms"], int(bool(e.get("unsafe"))),
                     _dumps(e.get("unsafe_static", [])), _dumps(e.get("unsafe_runtime", [])))
                    for e in a.executions
                ],
            )
        return attempt_id

    def forget_calls(self, run_id: str, problem_id: str, sample_index: int) -> None:
        """Delete the calls (and executions) of an unfinished sample before it is solved again from scratch."""
        with self._transaction():
            self._db.execute(
                "DELETE FROM executions WHERE run_id = ? AND problem_id = ? AND sample_index = ?",
                (run_id, problem_id, sample_index),
            )
            self._db.execute(
                "DELETE FROM attempts WHERE run_id = ? AND problem_id = ? AND sample_index = ?",
                (run_id, problem_id, sample_index),
            )

    def executions(self, run_id: str) -> list[dict[str, Any]]:
        """Every code execution of a run."""
        cur = self._db.execute(
            "SELECT problem_id, sample_index, attempt_id, code, status, stdout, stderr, exit_code, duration_ms,"
            " unsafe, unsafe_static_json, unsafe_runtime_json FROM executions WHERE run_id = ?"
            " ORDER BY execution_id",
            (run_id,),
        )
        names = [d[0] for d in cur.description]
        out = []
        for row in cur.fetchall():
            item = dict(zip(names, row))
            item["unsafe"] = bool(item["unsafe"])
            item["unsafe_static"] = json.loads(item.pop("unsafe_static_json"))
            item["unsafe_runtime"] = json.loads(item.pop("unsafe_runtime_json"))
            out.append(item)
        return out

    def attempts_for(self, run_id: str, problem_id: str, sample_index: int) -> list[dict[str, Any]]:
        """The stored calls of one sample, oldest first (see `calls`)."""
        return list(self._calls("a.run_id = ? AND a.problem_id = ? AND a.sample_index = ?",
                                (run_id, problem_id, sample_index)))

    def calls(self, run_id: str) -> Iterator[dict[str, Any]]:
        """Every stored call of a run, in problem, sample and call order, streamed.

        Returns:
            One dict per call with the columns of ``attempts``, its texts resolved: ``request_json`` (the request
            body as JSON text), ``response``, ``reasoning`` and ``graded_text`` (``None`` when absent), whether
            they are kept in ``texts`` (schema 5 on) or inline (older rows).
        """
        return self._calls("a.run_id = ?", (run_id,), order="p.position, a.sample_index, a.attempt_index",
                           join=" JOIN problems p ON p.run_id = a.run_id AND p.problem_id = a.problem_id")

    def _calls(self, where: str, args: tuple, *, order: str = "a.attempt_index", join: str = "") -> Iterator[dict]:
        cur = self._db.execute(
            "SELECT a.*, " + text_sql("a.response_ref", "rt", "a.response") + ", "
            + text_sql("a.reasoning_ref", "qt", "a.reasoning") + ", "
            + text_sql("a.graded_ref", "gt", "a.graded_text") + " FROM attempts a" + join
            + " LEFT JOIN texts rt ON rt.text_id = a.response_ref LEFT JOIN texts qt ON qt.text_id = a.reasoning_ref"
            " LEFT JOIN texts gt ON gt.text_id = a.graded_ref WHERE " + where + " ORDER BY " + order,
            args,
        )
        names = [d[0] for d in cur.description][:-3]
        for row in cur:
            call = dict(zip(names, row))
            call["response"], call["reasoning"], call["graded_text"] = map(as_text, row[-3:])
            ref = call.pop("request_ref")
            if ref is not None:
                call["request_json"] = _dumps(self._texts.get_request(ref))
            for name in ("response_ref", "reasoning_ref", "graded_ref"):
                del call[name]
            yield call

    def unfinished_with_calls(self, run_id: str) -> set[tuple[str, int]]:
        """The samples not done yet that have stored calls (failed ones, or ones an older version left half-way)."""
        return set(self._db.execute(
            "SELECT DISTINCT a.problem_id, a.sample_index FROM attempts a"
            " JOIN samples s USING (run_id, problem_id, sample_index) WHERE a.run_id = ? AND s.status != 'done'",
            (run_id,),
        ).fetchall())

    def add_grade(
        self, run_id: str, problem_id: str, sample_index: int, attempt_id: int, verdict: Any, grader: str = "rules",
        *, marks_done: bool | None = None, status: str | None = None, score: int | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        """Store one grade (a `mathgauge.grading.Verdict`, or anything with its fields) in one transaction.

        Low-level: the pipeline stores whole samples with `save_sample`, which also keeps the text each grade
        read; a grade added here has none, so `mathgauge regrade` reports its sample as unknown.

        Args:
            grader: which grader gave it: ``rules``, ``judge``, ``final`` (the verdict a judge or cascade run is
                scored by), ``initial`` (the answer before self-verification).
            marks_done: whether this grade completes the sample (default: for ``rules`` grades).
            status: overrides ``verdict.status`` (a judge's ``unparseable`` or ``failed``).
            score: a judge's 1-5 score.
            detail: extra facts kept as JSON (the judge's reply, rubric version).
        """
        with self._transaction():
            self._upsert_grades([
                (run_id, problem_id, sample_index, grader, attempt_id, status or verdict.status, int(verdict.correct),
                 verdict.extracted, verdict.normalized, verdict.method, verdict.reason, time.time(), score,
                 None if detail is None else _dumps(detail)),
            ])
            if grader == "rules" if marks_done is None else marks_done:
                self._db.execute(
                    "UPDATE samples SET status = 'done', error = NULL"
                    " WHERE run_id = ? AND problem_id = ? AND sample_index = ?",
                    (run_id, problem_id, sample_index),
                )

    def judge_scores(self, run_id: str) -> dict[tuple[str, int], tuple[int | None, str]]:
        """(score, status) of every judged sample of a run."""
        rows = self._db.execute(
            "SELECT problem_id, sample_index, score, status FROM grades WHERE run_id = ? AND grader = 'judge'",
            (run_id,),
        )
        return {(pid, k): (score, status) for pid, k, score, status in rows.fetchall()}

    def save_sample(
        self, run_id: str, problem_id: str, sample_index: int, calls: Sequence[Any], *,
        graded: Sequence[Any] = (), grades: Sequence[Any] = (), error: str | None = None,
    ) -> None:
        """Store one finished sample in one transaction: its calls (with their code executions), the texts graded,
        the grades, and its status (``done``, or ``failed`` with ``error``). A killed run keeps whole samples only.

        Args:
            calls: the sample's calls (`mathgauge.solve.Attempt`), in order.
            graded: the texts graded (`mathgauge.solve.Gradable`): each is kept on the call it concludes.
            grades: the grades (anything with the fields of `mathgauge.pipeline.GradeRecord`), each pointing at the
                call whose graded text it read (``call_index``).
            error: why the sample failed; ``None`` for a done sample.
        """
        by_call = {g.call_index: g for g in graded}
        with self._transaction():
            ids = {a.attempt_index: self._insert_attempt(run_id, a, by_call.get(a.attempt_index)) for a in calls}
            self._write_grades(run_id, problem_id, sample_index, grades, ids)
            self._db.execute(
                "UPDATE samples SET status = ?, error = ? WHERE run_id = ? AND problem_id = ? AND sample_index = ?",
                ("failed" if error is not None else "done", error, run_id, problem_id, sample_index),
            )

    def save_grades(self, run_id: str, problem_id: str, sample_index: int, grades: Sequence[Any], *,
                    drop: Sequence[str] = ()) -> None:
        """Replace grades of a stored sample (re-grading), in one transaction.

        Args:
            grades: as in `save_sample`; ``call_index`` names the stored call (its ``attempt_index``).
            drop: graders whose grade no longer applies (a judge grade a cascade does not need any more).
        """
        with self._transaction():
            ids = dict(self._db.execute(
                "SELECT attempt_index, attempt_id FROM attempts"
                " WHERE run_id = ? AND problem_id = ? AND sample_index = ?",
                (run_id, problem_id, sample_index),
            ).fetchall())
            self._write_grades(run_id, problem_id, sample_index, grades, ids)
            for grader in drop:
                self._db.execute(
                    "DELETE FROM grades WHERE run_id = ? AND problem_id = ? AND sample_index = ? AND grader = ?",
                    (run_id, problem_id, sample_index, grader),
                )

    def _write_grades(self, run_id: str, problem_id: str, sample_index: int, grades: Sequence[Any],
                      ids: dict[int, int]) -> None:
        now = time.time()
        self._upsert_grades([
            (run_id, problem_id, sample_index, g.grader, ids[g.call_index], g.status, int(g.correct), g.extracted,
             g.normalized, g.method, g.reason, now, g.score, None if g.detail is None else _dumps(g.detail))
            for g in grades
        ])

    def _upsert_grades(self, rows: Sequence[tuple]) -> None:
        """Insert grades, replacing a sample's earlier grade by the same grader (inside a transaction)."""
        self._db.executemany(
            "INSERT INTO grades(run_id, problem_id, sample_index, grader, attempt_id, status, correct, extracted,"
            " normalized, method, reason, graded_at, score, detail_json)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT(run_id, problem_id, sample_index, grader) DO UPDATE SET"
            " attempt_id = excluded.attempt_id, status = excluded.status, correct = excluded.correct,"
            " extracted = excluded.extracted, normalized = excluded.normalized, method = excluded.method,"
            " reason = excluded.reason, graded_at = excluded.graded_at, score = excluded.score,"
            " detail_json = excluded.detail_json",
            rows,
        )

    def graded_samples(self, run_id: str) -> list[dict[str, Any]]:
        """Every graded sample of a run with the texts its grades read and the grades, in problem order.

        Returns:
            One dict per sample: ``problem_id``, ``sample_index``, ``grades`` (grader -> dict of ``call_index``,
            ``status``, ``correct``, ``extracted``, ``normalized``, ``method``, ``reason``, ``score``, ``detail``)
            and ``texts`` (call index -> dict of ``text``, ``answer_format``, ``origin``; ``text`` is ``None``
            when its origin is ``unknown``).
        """
        found: dict[tuple[str, int], dict[str, Any]] = {}
        for (pid, k, grader, status, correct, extracted, normalized, method, reason, score, detail, index, text, fmt,
             origin) in self._db.execute(
            "SELECT g.problem_id, g.sample_index, g.grader, g.status, g.correct, g.extracted, g.normalized, g.method,"
            " g.reason, g.score, g.detail_json, a.attempt_index, " + text_sql("a.graded_ref", "gt", "a.graded_text")
            + ", a.answer_format, a.graded_origin"
            " FROM grades g JOIN attempts a ON a.attempt_id = g.attempt_id JOIN problems p"
            " ON p.run_id = g.run_id AND p.problem_id = g.problem_id LEFT JOIN texts gt ON gt.text_id = a.graded_ref"
            " WHERE g.run_id = ? ORDER BY p.position, g.sample_index",
            (run_id,),
        ):
            sample = found.setdefault((pid, k), {"problem_id": pid, "sample_index": k, "grades": {}, "texts": {}})
            sample["grades"][grader] = {
                "call_index": index, "status": status, "correct": bool(correct), "extracted": extracted,
                "normalized": normalized, "method": method, "reason": reason, "score": score,
                "detail": None if detail is None else json.loads(detail),
            }
            sample["texts"][index] = {"text": as_text(text) if origin in ("solver", "migrated") else None,
                                      "answer_format": fmt, "origin": origin or "unknown"}
        return list(found.values())

    # -- results -----------------------------------------------------------------------------------------------
    def sample_results(self, run_id: str, grader: str = "rules", *, responses: bool = True) -> list[SampleResult]:
        """Every sample of a run with its problem, summed calls, final call and grade, in problem order.

        Args:
            responses: keep each sample's final response text (``False``: ``response`` is ``None``, so reports
                that only count never hold every response in memory).
        """
        calls: dict[tuple[str, int], dict[str, Any]] = {}
        response = text_sql("a.response_ref", "rt", "a.response") if responses else "NULL"
        for row in self._db.execute(
            "SELECT a.problem_id, a.sample_index, " + response + ", a.response_ref IS NOT NULL OR a.response IS NOT NULL,"
            " a.finish_reason, a.latency_s, a.prompt_tokens,"
            " a.completion_tokens, a.retries, a.cached, json_extract(a.extra_json, '$.try') FROM attempts a"
            + (" LEFT JOIN texts rt ON rt.text_id = a.response_ref" if responses else "")
            + " WHERE a.run_id = ? ORDER BY a.attempt_index",
            (run_id,),
        ):
            pid, k, response, answered, finish, latency, ptok, ctok, retries, cached, try_index = row
            agg = calls.setdefault((pid, k), {"attempts": 0, "prompt_tokens": 0, "completion_tokens": 0, "retries": 0,
                                              "tries": 0, "generation_s": 0.0, "calls_without_usage": 0})
            agg["attempts"] += 1
            agg["generation_s"] += latency or 0.0
            agg["tries"] = max(agg["tries"], (try_index or 0) + 1)
            if answered and (ptok is None or ctok is None):
                # The server reported no usage for an answered call: the sample's tokens are unknown, not 0.
                agg["calls_without_usage"] += 1
            agg["prompt_tokens"] += ptok or 0
            agg["completion_tokens"] += ctok or 0
            agg["retries"] += retries or 0
            agg.update(response=response, finish_reason=finish, latency_s=latency, cached=bool(cached))
        results = []
        for row in self._db.execute(
            "SELECT s.problem_id, s.sample_index, p.position, p.subject, p.level, p.answer, s.status, s.error,"
            " g.status, g.extracted, g.method, g.reason FROM samples s JOIN problems p USING (run_id, problem_id)"
            " LEFT JOIN grades g ON g.run_id = s.run_id AND g.problem_id = s.problem_id"
            " AND g.sample_index = s.sample_index AND g.grader = ?"
            " WHERE s.run_id = ? ORDER BY p.position, s.sample_index",
            (grader, run_id),
        ):
            pid, k, position, subject, level, gold, status, error, gstatus, extracted, method, reason = row
            agg = calls.get((pid, k), {})
            results.append(
                SampleResult(
                    problem_id=pid, sample_index=k, position=position, subject=subject, level=level, gold=gold,
                    status=status, error=error, grade_status=gstatus, extracted=extracted, grade_method=method,
                    grade_reason=reason, response=as_text(agg.get("response")), finish_reason=agg.get("finish_reason"),
                    attempts=agg.get("attempts", 0),
                    prompt_tokens=None if agg.get("calls_without_usage") else agg.get("prompt_tokens", 0),
                    completion_tokens=None if agg.get("calls_without_usage") else agg.get("completion_tokens", 0),
                    calls_without_usage=agg.get("calls_without_usage", 0), latency_s=agg.get("latency_s"),
                    retries=agg.get("retries", 0), cached=agg.get("cached", False), tries=agg.get("tries", 0),
                    generation_s=agg.get("generation_s", 0.0),
                )
            )
        return results

    def export_rows(self, run_id: str, grader: str = "rules", *, responses: bool = True) -> Iterable[dict[str, Any]]:
        """One flat dict per sample for exports: the problem, the prompt, the grade and what it read.

        Args:
            grader: whose grades the rows carry (a run is scored by ``rules``, or ``final`` in judge and cascade
                runs).
            responses: keep the raw ``response`` beside a known graded text (``False``: ``response`` only where the
                graded text is unknown, for readers that want one text per sample: half the text read).

        Returns:
            Rows with the problem facts, ``prompt``, the grade (``grade``, ``correct``, ``extracted``, ``method``,
            ``reason``), ``graded_text`` (the exact text the grade read; ``None`` when unknown), ``answer_format``
            and ``graded_origin``, and the call the grade points at (``response``, its raw text, and its tokens
            and timing); a sample without that grade has the facts of its last call.
        """
        cur = self._db.execute(
            "SELECT p.problem_id, s.sample_index, p.subject, p.level, p.problem, p.answer AS gold_answer, "
            + _PROMPT_SQL + " AS prompt_json, s.status AS sample_status, s.error, CASE WHEN ? OR g.status IS NULL"
            " OR COALESCE(a.graded_origin, 'unknown') NOT IN ('solver', 'migrated') THEN "
            + text_sql("a.response_ref", "rt", "a.response") + " END AS response,"
            " a.finish_reason, a.prompt_tokens,"
            " a.completion_tokens, a.latency_s, a.cached, g.status AS grade, g.correct, g.extracted, g.method,"
            " g.reason, CASE WHEN g.status IS NOT NULL AND a.graded_origin IN ('solver', 'migrated')"
            " THEN " + text_sql("a.graded_ref", "gt", "a.graded_text") + " END AS graded_text,"
            " CASE WHEN g.status IS NOT NULL THEN a.answer_format END"
            " AS answer_format, CASE WHEN g.status IS NOT NULL THEN COALESCE(a.graded_origin, 'unknown') END"
            " AS graded_origin FROM samples s JOIN problems p USING (run_id, problem_id)"
            " LEFT JOIN texts pt ON pt.text_id = p.prompt_ref"
            " LEFT JOIN grades g ON g.run_id = s.run_id AND g.problem_id = s.problem_id"
            " AND g.sample_index = s.sample_index AND g.grader = ?"
            " LEFT JOIN attempts a ON a.attempt_id = COALESCE(g.attempt_id, (SELECT MAX(attempt_id) FROM attempts x"
            " WHERE x.run_id = s.run_id AND x.problem_id = s.problem_id AND x.sample_index = s.sample_index))"
            " LEFT JOIN texts rt ON rt.text_id = a.response_ref LEFT JOIN texts gt ON gt.text_id = a.graded_ref"
            " WHERE s.run_id = ? ORDER BY p.position, s.sample_index",
            (responses, grader, run_id),
        )
        names = [d[0] for d in cur.description]
        for row in cur:
            item = dict(zip(names, row))
            item["prompt"] = json.loads(as_text(item.pop("prompt_json")) or "[]")
            item["response"] = as_text(item["response"])
            item["graded_text"] = as_text(item["graded_text"])
            item["correct"] = None if item["correct"] is None else bool(item["correct"])
            item["cached"] = None if item["cached"] is None else bool(item["cached"])
            yield item

    def graded_solutions(self, run_id: str, grader: str = "rules") -> list[dict[str, Any]]:
        """Each graded sample with its problem facts, the graded call's request and response, the text its grade
        read (``graded_text``, ``None`` when unknown; ``answer_format``), and that call's code executions (for
        building fine-tuning data)."""
        cur = self._db.execute(
            "SELECT g.problem_id, g.sample_index, p.subject, p.level, g.status, a.attempt_id, a.request_json,"
            " a.request_ref, " + text_sql("a.response_ref", "rt", "a.response") + ", a.kind,"
            " CASE WHEN a.graded_origin IN ('solver', 'migrated') THEN "
            + text_sql("a.graded_ref", "gt", "a.graded_text") + " END, a.answer_format"
            " FROM grades g JOIN problems p USING (run_id, problem_id)"
            " JOIN attempts a ON a.attempt_id = g.attempt_id LEFT JOIN texts rt ON rt.text_id = a.response_ref"
            " LEFT JOIN texts gt ON gt.text_id = a.graded_ref"
            " WHERE g.run_id = ? AND g.grader = ? ORDER BY p.position, g.sample_index",
            (run_id, grader),
        )
        names = ["problem_id", "sample_index", "subject", "level", "status", "attempt_id", "request", "request_ref",
                 "response", "kind", "graded_text", "answer_format"]
        out = [dict(zip(names, row)) for row in cur.fetchall()]
        runs: dict[int, list[dict[str, Any]]] = {}
        for attempt_id, code, stdout, status in self._db.execute(
            "SELECT attempt_id, code, stdout, status FROM executions WHERE run_id = ? ORDER BY execution_id",
            (run_id,),
        ):
            runs.setdefault(attempt_id, []).append({"code": code, "stdout": stdout, "status": status})
        for item in out:
            item["response"] = as_text(item["response"])
            item["graded_text"] = as_text(item["graded_text"])
            ref = item.pop("request_ref")
            item["request"] = json.loads(item["request"]) if ref is None else self._texts.get_request(ref)
            item["executions"] = runs.get(item["attempt_id"], [])
        return out

    def regeneration_records(self, run_id: str) -> list[dict[str, Any]]:
        """The regeneration record (cuts, regenerations, discarded text) of every call that has one."""
        rows = self._db.execute(
            "SELECT json_extract(extra_json, '$.regeneration') FROM attempts WHERE run_id = ?"
            " AND json_extract(extra_json, '$.regeneration') IS NOT NULL",
            (run_id,),
        )
        return [json.loads(r[0]) for r in rows.fetchall()]

    def count_rows(self, table: str, run_id: str) -> int:
        if table not in ("problems", "samples", "attempts", "grades"):
            raise ValueError(table)
        return int(self._db.execute(f"SELECT COUNT(*) FROM {table} WHERE run_id = ?", (run_id,)).fetchone()[0])

    # -- response cache (implements mathgauge.models.ResponseCache) ---------------------------------------------
    # A cached response's text and reasoning are the same text rows as the call stored from it: kept once.
    def get_response(self, key: str) -> dict[str, Any] | None:
        row = self._db.execute(
            "SELECT c.response_json, " + text_sql("c.text_ref", "t", "NULL") + ", c.text_ref, "
            + text_sql("c.reasoning_ref", "r", "NULL") + " FROM response_cache c"
            " LEFT JOIN texts t ON t.text_id = c.text_ref LEFT JOIN texts r ON r.text_id = c.reasoning_ref"
            " WHERE c.key = ?", (key,)).fetchone()
        if row is None:
            return None
        value = json.loads(row[0])
        if row[2] is not None:  # older rows keep the texts in response_json
            value["text"], value["reasoning"] = as_text(row[1]), as_text(row[3])
        return value

    def put_response(self, key: str, value: dict[str, Any]) -> None:
        # The texts go to `texts`; the call's own timing is the stored attempt's (a hit is a new call taking none).
        fields = {k: v for k, v in value.items() if k not in _NOT_CACHED}
        with self._transaction():
            self._db.execute(
                "INSERT OR REPLACE INTO response_cache(key, response_json, created_at, text_ref, reasoning_ref)"
                " VALUES (?, ?, ?, ?, ?)",
                (key, _dumps(fields), time.time(), self._texts.put(value.get("text") or ""),
                 self._texts.put(value.get("reasoning"))),
            )


class _Transaction:
    """A transaction, or a savepoint inside the one already open (a batch of the store writer): either way, what
    happens inside is kept whole or not at all."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db
        self._nested = False

    def __enter__(self) -> None:
        self._nested = self._db.in_transaction
        self._db.execute("SAVEPOINT mg" if self._nested else "BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if not self._nested:
            self._db.execute("COMMIT" if exc_type is None else "ROLLBACK")
            return
        if exc_type is not None:
            self._db.execute("ROLLBACK TO mg")
        self._db.execute("RELEASE mg")


def _statements(script: str) -> list[str]:
    """The SQL statements of ``script``, one by one (``executescript`` would commit the caller's transaction)."""
    statements, pending = [], ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            statements.append(pending.strip())
            pending = ""
    if pending.strip():
        statements.append(pending.strip())
    return statements


def _busy(run: RunRecord, holder: LeaseHolder) -> RunBusy:
    return RunBusy(f"run {run.name} is in progress ({holder.describe()}); wait for it to end, or stop that process "
                   f"first")


def _run_record(row: tuple) -> RunRecord:
    (run_id, name, benchmark, model, status, error, config, versions, created, started, finished, wall) = row
    return RunRecord(
        run_id=run_id, name=name, benchmark=benchmark, model=model, status=status, error=error,
        config=json.loads(config), versions=json.loads(versions), created_at=created, started_at=started,
        finished_at=finished, wall_s=wall,
    )
