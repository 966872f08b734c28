"""Checking a results store for damage, and salvaging every readable run of a damaged one into a new file.

A store can be damaged by a disk that fails, a copy cut short, or another program writing into it. SQLite's own
integrity check says whether and where; each run is then read whole (every row of every table that belongs to it,
and every stored text those rows point at, decompressed) to tell the runs that can still be read from the ones that
cannot. Salvaging copies each readable run, with its texts, into a fresh store, in one transaction per run, so a run
is copied whole or not at all; then the cached responses whose texts can be read.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import StoreError, StoreUnreadable
from ._store import Store
from ._texts import decode

#: Tables of run state that are never copied (a salvaged run is at rest: no process works on it), and the texts,
#: copied with the rows that point at them.
_NOT_COPIED = {"meta", "sqlite_sequence", "run_leases", "texts"}
_TEXT_COLUMNS = ("text_id", "digest", "body")


@dataclass
class RunHealth:
    """Whether one run can be read whole."""

    run_id: str
    name: str
    error: str | None = None

    @property
    def readable(self) -> bool:
        return self.error is None


@dataclass
class StoreCheck:
    """The result of checking a store.

    Args:
        path: the store.
        problems: what SQLite's integrity check found (empty: intact).
        runs: each run and whether it can be read whole.
        runs_error: why the list of runs itself cannot be read (``None`` when it can).
    """

    path: Path
    problems: list[str] = field(default_factory=list)
    runs: list[RunHealth] = field(default_factory=list)
    runs_error: str | None = None

    @property
    def intact(self) -> bool:
        return not self.problems and self.runs_error is None and all(r.readable for r in self.runs)

    def lines(self) -> list[str]:
        """The report, one line each."""
        if self.intact:
            return [f"{self.path}: intact (SQLite integrity check ok; all {len(self.runs)} run(s) readable)"]
        out = [f"{self.path}: damaged: SQLite's integrity check found:" if self.problems else f"{self.path}: damaged"]
        out.extend(f"  {p}" for p in self.problems)
        if self.runs_error is not None:
            out.append(f"the list of runs cannot be read ({self.runs_error}): no run can be salvaged")
            return out
        readable = [r for r in self.runs if r.readable]
        out.append(f"runs: {len(readable)} of {len(self.runs)} readable")
        out.extend(f"  damaged: {r.name} ({r.run_id}): {r.error}" for r in self.runs if not r.readable)
        return out


@dataclass
class Salvage:
    """What salvaging copied."""

    out: Path
    runs: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    cached: int = 0
    cache_error: str | None = None

    def lines(self) -> list[str]:
        out = [f"salvaged {len(self.runs)} run(s) into {self.out}"
               + (f"; not copied (damaged): {', '.join(self.skipped)}" if self.skipped else "")]
        cache = f"{self.cached} cached response(s) copied"
        if self.cache_error:
            cache += (f"; the rest of the response cache is damaged ({self.cache_error}): it only saves repeated "
                      f"requests, no result is lost with it")
        out.append(cache)
        return out


def check_store(path: str | Path, *, limit: int = 20) -> StoreCheck:
    """Check a store: SQLite's integrity check, then each run read whole.

    Args:
        path: the store (opened read-only: nothing is written).
        limit: most integrity problems listed.

    Raises:
        StoreError: the file cannot be opened at all (nothing in it can be read, so nothing can be salvaged).
    """
    report = StoreCheck(Path(path))
    try:
        opened = Store(path, read_only=True)
    except StoreUnreadable as exc:
        raise StoreUnreadable(f"{path}: not readable as a results store at all ({exc.cause}): nothing can be "
                              f"salvaged from it", exc.cause) from None
    with opened as store:
        db = store._db
        try:
            report.problems = store.integrity_problems(limit)
        except sqlite3.DatabaseError as exc:
            report.problems = [f"{exc} (the check stops at the damage)"]
        try:
            runs = [(r[0], r[1]) for r in db.execute("SELECT run_id, name FROM runs ORDER BY created_at")]
        except sqlite3.DatabaseError as exc:
            report.runs_error = str(exc)
            return report
        tables = _run_tables(db)
        for run_id, name in runs:
            health = RunHealth(run_id, name)
            try:
                _texts_of(db, _read_run(db, run_id, tables))
            except (sqlite3.DatabaseError, ValueError) as exc:
                health.error = str(exc)
            report.runs.append(health)
    return report


def salvage_store(path: str | Path, out: str | Path) -> Salvage:
    """Copy every readable run of the store at ``path`` (and whatever of its response cache can be read) into a new
    store at ``out``.

    Raises:
        StoreError: ``out`` exists already, or ``path`` cannot be opened.
    """
    target = Path(out)
    if target.exists():
        raise StoreError(f"{target}: exists already; --salvage writes a new file")
    result = Salvage(target)
    with Store(path, read_only=True) as source, Store(target) as dest:
        src, dst = source._db, dest._db
        dst.execute("PRAGMA foreign_keys=OFF")  # rows are copied table by table, references kept as they were
        tables = [t for t in _run_tables(src) if t in _run_tables(dst)]
        for run_id, name in src.execute("SELECT run_id, name FROM runs ORDER BY created_at").fetchall():
            try:
                rows = _read_run(src, run_id, tables)
                texts = _texts_of(src, rows)
            except (sqlite3.DatabaseError, ValueError):
                result.skipped.append(name)
                continue
            with dest._transaction():
                _insert(dst, "texts", list(_TEXT_COLUMNS), texts, ignore=True)
                for table in tables:
                    _insert(dst, table, *rows[table])
            result.runs.append(name)
        for table in _shared_tables(src):
            if table in _shared_tables(dst):
                copied, error = _copy_table(src, dst, table)
                if table == "response_cache":
                    result.cached, result.cache_error = copied, error
    return result


def _run_tables(db: sqlite3.Connection) -> list[str]:
    """The tables whose rows belong to a run (a ``run_id`` column), ``runs`` first."""
    names = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY rootpage")]
    found = [n for n in names if n not in _NOT_COPIED
             and any(c[1] == "run_id" for c in db.execute(f"PRAGMA table_info({_quote(n)})"))]
    return sorted(found, key=lambda n: n != "runs")


def _shared_tables(db: sqlite3.Connection) -> list[str]:
    """The tables that belong to no run (the response cache)."""
    names = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    return [n for n in names if n not in _NOT_COPIED and n not in _run_tables(db)]


def _read_run(db: sqlite3.Connection, run_id: str, tables: list[str]) -> dict[str, tuple[list[str], list[Any]]]:
    """Every row of every table of one run (raises `sqlite3.DatabaseError` where the file is damaged)."""
    out = {}
    for table in tables:
        cur = db.execute(f"SELECT * FROM {_quote(table)} WHERE run_id = ?", (run_id,))
        names = [d[0] for d in cur.description]
        out[table] = (names, cur.fetchall())
    return out


def _texts_of(db: sqlite3.Connection, rows: dict[str, tuple[list[str], list[Any]]]) -> list[tuple[Any, ...]]:
    """The stored texts (text_id, digest, body) the rows point at (``*_ref`` columns, and the message texts of
    stored request bodies), each checked to decompress.

    Raises:
        sqlite3.DatabaseError: a text's page is damaged. ValueError: a text is missing or does not decompress.
    """
    if not _has_texts(db):
        return []
    wanted: set[int] = set()
    requests: set[int] = set()
    for names, table_rows in rows.values():
        for i, column in enumerate(names):
            if column.endswith("_ref"):
                found = {row[i] for row in table_rows if row[i] is not None}
                wanted |= found
                if column == "request_ref":
                    requests |= found
    out = {}
    for text_id in sorted(wanted):
        out[text_id] = _text(db, text_id)
    for text_id in sorted(requests):  # a request body keeps its messages' texts as ids of their own
        skeleton = json.loads(decode(out[text_id][2]))
        for index in skeleton.get("refs") or []:
            ref = skeleton["body"]["messages"][index]["content"]
            if ref not in out:
                out[ref] = _text(db, ref)
    return list(out.values())


def _text(db: sqlite3.Connection, text_id: int) -> tuple[Any, ...]:
    row = db.execute("SELECT text_id, digest, body FROM texts WHERE text_id = ?", (text_id,)).fetchone()
    if row is None:
        raise ValueError(f"text {text_id} is missing")
    try:
        decode(row[2])
    except Exception as exc:  # noqa: BLE001 -- zlib, zstd and UTF-8 errors all mean the same: unreadable
        raise ValueError(f"text {text_id} does not decompress ({type(exc).__name__}: {exc})") from None
    return tuple(row)


def _has_texts(db: sqlite3.Connection) -> bool:
    return db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'texts'").fetchone() is not None


def _insert(db: sqlite3.Connection, table: str, names: list[str], rows: list[Any], *, ignore: bool = False) -> None:
    if not rows:
        return
    columns = {c[1] for c in db.execute(f"PRAGMA table_info({_quote(table)})")}
    keep = [i for i, n in enumerate(names) if n in columns]
    sql = (f"INSERT {'OR IGNORE ' if ignore else ''}INTO {_quote(table)} "
           f"({', '.join(_quote(names[i]) for i in keep)}) VALUES ({', '.join('?' for _ in keep)})")
    db.executemany(sql, [[row[i] for i in keep] for row in rows])


def _copy_table(src: sqlite3.Connection, dst: sqlite3.Connection, table: str, chunk: int = 500
                ) -> tuple[int, str | None]:
    """Copy a table by rowid, in chunks, as far as it can be read; returns (rows copied, the damage met)."""
    copied, last = 0, None
    while True:
        where = "" if last is None else "WHERE rowid > ? "
        try:
            cur = src.execute(f"SELECT rowid, * FROM {_quote(table)} {where}ORDER BY rowid LIMIT {chunk}",
                              () if last is None else (last,))
            names = [d[0] for d in cur.description][1:]
            rows = cur.fetchall()
        except sqlite3.DatabaseError as exc:
            return copied, str(exc)
        if not rows:
            return copied, None
        kept, texts = [], []
        for row in rows:  # a row whose texts cannot be read is left out, the others kept
            try:
                texts.extend(_texts_of(src, {table: (names, [row[1:]])}))
            except (sqlite3.DatabaseError, ValueError):
                continue
            kept.append(row[1:])
        dst.execute("BEGIN IMMEDIATE")
        _insert(dst, "texts", list(_TEXT_COLUMNS), texts, ignore=True)
        _insert(dst, table, names, kept)
        dst.execute("COMMIT")
        copied += len(kept)
        last = rows[-1][0]


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
