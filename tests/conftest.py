"""Shared fixtures: the shared data files, the scripted server as a real process, a CLI runner."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from mathgauge.cli import main as cli_main
from mathgauge.testing import RunningServer, scripted_server

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
MATH500 = SHARED / "data" / "math500.jsonl"
MATH_TEST = SHARED / "data" / "math_test.jsonl"


@pytest.fixture(scope="session")
def math500_path() -> Path:
    if not MATH500.exists():
        pytest.fail(f"missing {MATH500}: tests read ../shared/data beside the repository")
    return MATH500


@pytest.fixture(scope="session")
def math_test_path() -> Path:
    if not MATH_TEST.exists():
        pytest.fail(f"missing {MATH_TEST}")
    return MATH_TEST


@pytest.fixture(scope="session")
def server(math500_path: Path) -> Iterator[RunningServer]:
    """A scripted server with a small latency, shared by the tests that only need normal answers."""
    with scripted_server("--data", str(math500_path), "--latency", "0.01") as running:
        yield running


@pytest.fixture
def small_data(tmp_path: Path, math500_path: Path) -> Path:
    """The first 40 MATH-500 rows as a local file (fast end-to-end runs)."""
    lines = math500_path.read_text(encoding="utf-8").splitlines()[:40]
    path = tmp_path / "math500_small.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


class MemoryCache:
    """A response cache in a dict, keeping values as the SQLite store does: plain JSON."""

    def __init__(self) -> None:
        self.store: dict[str, dict] = {}

    def get_response(self, key: str) -> dict | None:
        return self.store.get(key)

    def put_response(self, key: str, value: dict) -> None:
        self.store[key] = json.loads(json.dumps(value))


@pytest.fixture
def memory_cache() -> MemoryCache:
    """An empty in-memory response cache (implements `mathgauge.models.ResponseCache`)."""
    return MemoryCache()


class CLIResult:
    def __init__(self, code: int, out: str, err: str) -> None:
        self.code, self.out, self.err = code, out, err


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str]):
    """Call the CLI in-process; returns exit code, stdout and stderr."""

    def call(*args: str) -> CLIResult:
        capsys.readouterr()
        try:
            code = cli_main(list(args))
        except SystemExit as exc:  # argparse usage errors
            code = int(exc.code or 0)
        captured = capsys.readouterr()
        return CLIResult(code, captured.out, captured.err)

    return call


def require_modules(*names: str, extra: str) -> None:
    """Skip the calling test when an optional module is missing, unless ``MATHGAUGE_REQUIRE_EXTRAS=1`` (as in CI,
    which installs every extra): then a missing module fails the test instead of hiding it behind a skip."""
    import importlib.util
    import os

    missing = [n for n in names if importlib.util.find_spec(n) is None]
    if not missing:
        return
    message = f"needs {', '.join(missing)} (pip install 'mathgauge[{extra}]')"
    if os.environ.get("MATHGAUGE_REQUIRE_EXTRAS") == "1":
        pytest.fail(message + "; MATHGAUGE_REQUIRE_EXTRAS=1 says it is installed")
    pytest.skip(message)


def require_sandbox(ok: object, why: str) -> None:
    """Skip the calling test when a sandbox layer (or the red-team corpus) it needs is missing, unless
    ``MATHGAUGE_REQUIRE_SANDBOX=1`` (as in CI, which installs the sandbox): then the test fails instead."""
    import os

    if ok:
        return
    if os.environ.get("MATHGAUGE_REQUIRE_SANDBOX") == "1":
        pytest.fail(why + "; MATHGAUGE_REQUIRE_SANDBOX=1 says the sandbox is installed")
    pytest.skip(why)


def stored_calls(db: Path) -> list[dict]:
    """Every stored call of every run in the order they were stored, with their texts (request body as JSON text,
    response, reasoning, graded text) read through the store: newer rows keep them compressed in ``texts``."""
    from mathgauge.store import Store

    with Store(db, must_exist=True) as store:
        return sorted((c for r in store.list_runs() for c in store.calls(r.run_id)), key=lambda c: c["attempt_id"])


def stored_grades(db: Path) -> list[tuple]:
    """Every stored grade of every run: run, sample, grader, the call it points at, and the verdict."""
    import sqlite3

    with sqlite3.connect(db) as conn:
        return conn.execute(
            "SELECT r.name, g.problem_id, g.sample_index, g.grader, g.attempt_id, g.status, g.correct, g.extracted,"
            " g.normalized, g.method, g.reason, g.score, g.detail_json FROM grades g JOIN runs r USING (run_id)"
            " ORDER BY 1, 2, 3, 4").fetchall()


@pytest.fixture
def regrade_changes_nothing(run_cli):
    """Re-grade a stored run with the unchanged grader and check that every stored verdict stays as it was."""

    def check(db: Path, run: str) -> None:
        before = stored_grades(db)
        assert before, "nothing graded to re-grade"
        result = run_cli("regrade", run, "--store", str(db))
        assert result.code == 0, result.err
        assert "0 verdict(s) changed" in result.out and "not re-graded" not in result.out, result.out
        assert stored_grades(db) == before

    return check


def sql_rows(db: Path, sql: str, *params: object) -> list[tuple]:
    """Every row of one query on a store file (its own connection, closed after)."""
    import sqlite3

    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def cli_command(*args: str) -> list[str]:
    """The command line of a ``mathgauge`` process running this checkout."""
    import sys

    return [sys.executable, "-m", "mathgauge.cli", *args]


def cli_env(**extra: str) -> dict[str, str]:
    """The environment of a ``mathgauge`` process: this checkout's sources first, a dummy key."""
    import os

    src = str(Path(__file__).resolve().parents[1] / "src")
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": src + (os.pathsep + path if path else ""), "OPENAI_API_KEY": "sk-test",
            **extra}
