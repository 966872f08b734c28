"""The results store when it is not an ordinary writable file: read-only files and folders (the read commands work;
a run says why it cannot), a disk that fills mid-run (one line, exit 3, nothing stored lost, resume continues), and
a damaged file (read commands show what they can read and name the damage; `mathgauge store check` and
``--salvage``)."""

from __future__ import annotations

import json
import os
import random
import resource
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import cli_command, cli_env, sql_rows
from mathgauge.testing import scripted_server


def run_args(base_url: str, data: Path, db: Path, *extra: str) -> list[str]:
    return ["run", "--model", "scripted", "--base-url", base_url, "--data-file", str(data), "--store", str(db),
            "--quiet", *extra]


def without_root_override(cmd: list[str]) -> list[str]:
    """``cmd`` run so that file permissions bind it: as root, without the capabilities that override them."""
    if os.geteuid() != 0:
        return cmd
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.fail("running as root: these tests need setpriv (util-linux) to drop CAP_DAC_OVERRIDE")
    caps = "-dac_override,-dac_read_search"
    return [setpriv, f"--bounding-set={caps}", f"--inh-caps={caps}", "--", *cmd]


def cli(*args: str, restricted: bool = False, **kwargs: object) -> subprocess.CompletedProcess:
    cmd = cli_command(*args)
    return subprocess.run(without_root_override(cmd) if restricted else cmd, env=cli_env(), capture_output=True,
                          text=True, timeout=120, **kwargs)  # type: ignore[call-overload]


@pytest.fixture(scope="module")
def three_runs(tmp_path_factory: pytest.TempPathFactory, math500_path: Path) -> Path:
    """A store with three finished runs (alpha, beta, gamma) of the same 60 problems, closed and checkpointed."""
    folder = tmp_path_factory.mktemp("store")
    data = folder / "d.jsonl"
    data.write_text("\n".join(math500_path.read_text().splitlines()[:60]) + "\n")
    db = folder / "three.db"
    with scripted_server("--data", str(math500_path)) as srv:
        for name in ("alpha", "beta", "gamma"):
            proc = cli(*run_args(srv.base_url, data, db, "--run-name", name, "--no-cache"))
            assert proc.returncode == 0, proc.stderr
    assert not Path(str(db) + "-wal").exists()
    return db


@pytest.fixture
def store_copy(three_runs: Path, tmp_path: Path) -> Path:
    db = tmp_path / "copy.db"
    shutil.copy(three_runs, db)
    return db


@pytest.fixture
def locked(tmp_path: Path) -> Iterator[list[Path]]:
    """Paths made read-only during a test, made writable again after it (so they can be cleaned up)."""
    paths: list[Path] = []
    yield paths
    for path in paths:
        path.chmod(0o755 if path.is_dir() else 0o644)


READ_COMMANDS = [
    ["runs"], ["show", "alpha"], ["export", "alpha", "--format", "csv", "--output", "{out}/a.csv"],
    ["report", "alpha", "gamma", "-o", "{out}/r.html", "--no-regrade"], ["compare", "alpha", "gamma"],
]


@pytest.mark.parametrize("read_only", ["file", "folder"])
def test_read_commands_work_on_a_read_only_store(store_copy, tmp_path, locked, read_only) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    db = folder / "s.db"
    shutil.move(store_copy, db)
    out = tmp_path / "out"
    out.mkdir()
    if read_only == "file":  # SQLite can still put its WAL index beside it
        db.chmod(0o444)
        locked.append(db)
    else:  # it cannot: the store is read as it is on disk (immutable)
        folder.chmod(0o555)
        locked.append(folder)
    for args in READ_COMMANDS:
        proc = cli(*[a.format(out=out) for a in args], "--store", str(db), restricted=True)
        assert proc.returncode == 0, (args, proc.stderr)
        assert "Traceback" not in proc.stderr and "note:" not in proc.stderr
    assert "alpha" in cli("runs", "--store", str(db), restricted=True).stdout
    assert (out / "a.csv").stat().st_size > 0 and (out / "r.html").stat().st_size > 0
    if read_only == "folder":
        assert sorted(p.name for p in folder.iterdir()) == ["s.db"]  # nothing written beside it
    # Commands that write say why they cannot, in one line, and change nothing.
    before = db.read_bytes()
    for args in (["resume", "alpha"], ["regrade", "alpha"]):
        proc = cli(*args, "--store", str(db), restricted=True)
        assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
        expected = "the file is read-only" if read_only == "file" else f"its folder {folder} is not writable"
        assert proc.stderr.startswith(f"error: {db}: cannot open the results store for writing (")
        assert expected in proc.stderr
    assert db.read_bytes() == before


def test_a_write_ahead_log_that_cannot_be_read_is_named(store_copy, tmp_path, locked, math500_path) -> None:
    folder = tmp_path / "wal"
    folder.mkdir()
    db = folder / "s.db"
    shutil.move(store_copy, db)
    data = tmp_path / "d.jsonl"
    data.write_text("\n".join(math500_path.read_text().splitlines()[:60]) + "\n")
    with scripted_server("--data", str(math500_path), "--latency", "0.05") as srv:
        proc = subprocess.Popen(cli_command(*run_args(srv.base_url, data, db, "--run-name", "killed",
                                                      "--no-cache")), env=cli_env(), stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        while srv.stats()["completed"] < 10:
            time.sleep(0.02)
        proc.kill()  # its last commits are in the write-ahead log, not yet in the main file
        proc.wait()
    wal, shm = Path(str(db) + "-wal"), Path(str(db) + "-shm")
    assert wal.stat().st_size > 0
    folder.chmod(0o555)
    locked.append(folder)
    with_index = cli("runs", "--store", str(db), restricted=True)
    assert with_index.returncode == 0 and "killed" in with_index.stdout and "interrupted" in with_index.stdout
    folder.chmod(0o755)
    shm.unlink()  # without the WAL index a read-only folder cannot be opened but as it is on disk
    folder.chmod(0o555)
    without = cli("runs", "--store", str(db), restricted=True)
    assert without.returncode == 0 and "alpha" in without.stdout, without.stderr
    assert f"note: {wal}: results written since the store's last checkpoint cannot be read here" in without.stderr


def test_a_disk_that_fills_mid_run_is_one_line_and_loses_nothing(tmp_path, math500_path) -> None:
    data = tmp_path / "d.jsonl"
    data.write_text("\n".join(math500_path.read_text().splitlines()[:120]) + "\n")
    db = tmp_path / "full.db"

    def small_disk() -> None:  # files may not grow past 500 KB: writes fail as on a full disk
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (500_000, 500_000))

    with scripted_server("--data", str(math500_path)) as srv:
        full = cli(*run_args(srv.base_url, data, db, "--run-name", "full", "--concurrency", "4"),
                   preexec_fn=small_disk)
        assert full.returncode == 3, full.stderr
        lines = full.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"error: {db}: cannot write the results store (")
        assert "disk" in lines[0] and "`mathgauge resume full` continues" in lines[0]
        assert sql_rows(db, "PRAGMA integrity_check") == [("ok",)]
        done = dict(sql_rows(db, "SELECT status, COUNT(*) FROM samples GROUP BY status"))
        assert done.get("done", 0) > 0 and done.get("failed", 0) == 0
        listed = cli("runs", "--store", str(db))
        assert listed.returncode == 0 and "interrupted" in listed.stdout

        resumed = cli("resume", "full", "--store", str(db), "--quiet", "--summary-json", str(tmp_path / "s.json"))
    assert resumed.returncode == 0, resumed.stderr
    doc = json.loads((tmp_path / "s.json").read_text())
    assert doc["n"] == 120 and doc["failed"] == 0


def test_a_read_only_store_refuses_a_run_in_one_line(store_copy, tmp_path, locked, math500_path) -> None:
    store_copy.chmod(0o444)
    locked.append(store_copy)
    data = tmp_path / "d.jsonl"
    data.write_text("\n".join(math500_path.read_text().splitlines()[:5]) + "\n")
    proc = cli(*run_args("http://127.0.0.1:9/v1", data, store_copy), restricted=True)
    assert proc.returncode == 2
    assert proc.stderr == (f"error: {store_copy}: cannot open the results store for writing (the file is "
                           f"read-only)\n")


def damage(db: Path, pages: list[int]) -> None:
    size = sql_rows(db, "PRAGMA page_size")[0][0]
    with open(db, "r+b") as handle:
        for page in pages:
            handle.seek((page - 1) * size)
            handle.write(random.Random(page).randbytes(size))


def middle_leaf_of_attempts(db: Path) -> int:
    """A page in the middle of the calls table: the calls of the second run (they were stored in run order)."""
    leaves = sql_rows(db, "SELECT pageno FROM dbstat WHERE name = 'attempts' AND pagetype = 'leaf' ORDER BY path")
    return leaves[len(leaves) // 2][0]


def test_a_damaged_store_shows_what_it_can_and_is_salvaged(run_cli, store_copy, tmp_path) -> None:
    before = run_cli("runs", "--store", str(store_copy)).out
    exported = tmp_path / "alpha-before.csv"
    assert run_cli("export", "alpha", "--format", "csv", "--output", str(exported), "--store",
                   str(store_copy)).code == 0
    damage(store_copy, [middle_leaf_of_attempts(store_copy)])

    listed = run_cli("runs", "--store", str(store_copy))
    assert listed.code == 3 and "Traceback" not in listed.err
    by_name = {line.split("│")[2].strip(): line for line in listed.out.splitlines() if line.count("│") > 5}
    assert "damaged" in by_name["beta"] and "finished" in by_name["alpha"] and "finished" in by_name["gamma"]
    assert listed.err.startswith(f"warning: {store_copy} is damaged: 1 of 3 run(s) cannot be read: beta (")
    assert "--salvage" in listed.err

    assert run_cli("show", "alpha", "--store", str(store_copy)).code == 0
    for args in (["show", "beta"], ["export", "beta", "--output", str(tmp_path / "b.csv"), "--format", "csv"]):
        broken = run_cli(*args, "--store", str(store_copy))
        assert broken.code == 2 and broken.err.count("\n") == 1, broken.err
        assert "database disk image is malformed" in broken.err and "mathgauge store check" in broken.err

    check = run_cli("store", "check", "--store", str(store_copy))
    assert check.code == 3 and "damaged" in check.out and "runs: 2 of 3 readable" in check.out
    assert "damaged: beta (" in check.out
    out = tmp_path / "salvaged.db"
    salvage = run_cli("store", "check", "--store", str(store_copy), "--salvage", str(out))
    assert salvage.code == 3 and f"salvaged 2 run(s) into {out}; not copied (damaged): beta" in salvage.out
    assert run_cli("store", "check", "--store", str(out)).code == 0
    assert run_cli("store", "check", "--store", str(store_copy), "--salvage", str(out)).code == 2  # never overwrites

    salvaged = run_cli("runs", "--store", str(out))
    rows_before = [line for line in before.splitlines() if "alpha" in line or "gamma" in line]
    assert [line for line in salvaged.out.splitlines() if "alpha" in line or "gamma" in line] == rows_before
    again = tmp_path / "alpha-after.csv"
    assert run_cli("export", "alpha", "--format", "csv", "--output", str(again), "--store", str(out)).code == 0
    assert again.read_text() == exported.read_text()


def test_garbage_in_the_middle_of_the_file_never_gives_a_traceback(run_cli, store_copy, tmp_path) -> None:
    pages = sql_rows(store_copy, "PRAGMA page_count")[0][0]
    damage(store_copy, [pages // 2, pages // 2 + 1, pages // 2 + 2])
    for args in (["runs"], ["show", "alpha"], ["show", "beta"], ["show", "gamma"], ["compare", "alpha", "gamma"],
                 ["export", "beta", "--output", str(tmp_path / "x.csv"), "--format", "csv"], ["store", "check"]):
        result = run_cli(*args, "--store", str(store_copy))
        assert result.code in (0, 2, 3), (args, result.err)
        assert "Traceback" not in result.err + result.out
        if result.code == 2:
            assert result.err.startswith("error: ") and result.err.count("\n") == 1


def test_an_intact_store_checks_clean(run_cli, three_runs) -> None:
    result = run_cli("store", "check", "--store", str(three_runs))
    assert result.code == 0 and result.out.strip() == (f"{three_runs}: intact (SQLite integrity check ok; all 3 "
                                                       f"run(s) readable)")


def test_a_file_that_is_no_database_is_one_line_everywhere(run_cli, tmp_path) -> None:
    bogus = tmp_path / "notes.db"
    bogus.write_text("these are my notes, not a results store\n" * 200)
    for args in (["runs"], ["show", "x"], ["resume", "x"], ["store", "check"]):
        result = run_cli(*args, "--store", str(bogus))
        assert result.code == 2 and result.err.count("\n") == 1 and "file is not a database" in result.err, args
    assert "nothing can be salvaged" in run_cli("store", "check", "--store", str(bogus)).err
    assert bogus.read_text().startswith("these are my notes")  # never touched


def test_processes_opening_one_new_store_at_once_all_get_it(tmp_path: Path) -> None:
    # Two runs started together on a fresh --store: each process lays out the schema only if nobody has yet.
    import sys

    db, go = tmp_path / "new.db", tmp_path / "go"
    code = ("import os, sys, time\n"
            "from mathgauge.store import Store\n"
            "while not os.path.exists(sys.argv[2]):\n    time.sleep(0.001)\n"
            "with Store(sys.argv[1]) as store:\n    print(store.schema_version)\n")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(db), str(go)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=cli_env()) for _ in range(6)]
    time.sleep(1.0)  # every process imported and waiting
    go.touch()
    results = [p.communicate(timeout=60) for p in procs]
    from mathgauge.store import SCHEMA_VERSION

    assert [(p.returncode, out.strip()) for p, (out, _) in zip(procs, results)] == [(0, str(SCHEMA_VERSION))] * 6, \
        [err[-500:] for _, err in results]
