"""The command line at its edges: a reader that closes the pipe early, commands that must not create a store, and
reports of runs that are not finished."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from conftest import cli_command, cli_env, sql_rows
from mathgauge.testing import scripted_server


def test_a_closed_pipe_ends_the_run_quietly_after_the_files_are_written(tmp_path, small_data, math500_path):
    summary = tmp_path / "s.json"
    with scripted_server("--data", str(math500_path)) as srv:
        # `mathgauge run ... | head -1`: the reader takes one line and goes away.
        proc = subprocess.Popen(cli_command("run", "--model", "scripted", "--base-url", srv.base_url, "--data-file",
                                            str(small_data), "--store", str(tmp_path / "p.db"), "--quiet",
                                            "--summary-json", str(summary)),
                                env=cli_env(COLUMNS="80"), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert proc.stdout is not None and proc.stderr is not None
        first = proc.stdout.readline()
        proc.stdout.close()
        err = proc.stderr.read().decode()
        proc.wait(timeout=60)
    assert first.strip() and proc.returncode == 0, err
    assert err == ""  # no traceback, no "Exception ignored ... BrokenPipeError"
    assert json.loads(summary.read_text())["n"] == 40


def test_commands_that_read_a_store_never_create_one(run_cli, tmp_path) -> None:
    missing = tmp_path / "nothing.db"
    for args in (["resume", "x"], ["runs"], ["show", "x"], ["compare", "x", "y"], ["store", "check"]):
        result = run_cli(*args, "--store", str(missing))
        assert result.code == 2 and result.err == (f"error: {missing}: no results store here (pass --store PATH; "
                                                   f"`mathgauge run` creates one)\n"), (args, result.err)
    assert not missing.exists() and list(tmp_path.iterdir()) == []


def test_reports_of_an_unfinished_run_say_so(run_cli, tmp_path, small_data, math500_path) -> None:
    db = tmp_path / "u.db"
    with scripted_server("--data", str(math500_path), "--fault", "die", "--fault-after", "10") as srv:
        stopped = run_cli("run", "--model", "scripted", "--base-url", srv.base_url, "--data-file", str(small_data),
                          "--store", str(db), "--quiet", "--run-name", "half", "--concurrency", "2")
    assert stopped.code == 3
    pending = sql_rows(db, "SELECT COUNT(*) FROM samples WHERE status = 'pending'")[0][0]
    assert pending > 0
    shown = run_cli("show", "half", "--store", str(db))
    assert shown.code == 0 and "status interrupted" in shown.out
    assert (f"Unfinished (status interrupted: {pending} sample(s) pending, 0 failed): the figures cover only the "
            f"samples finished so far; `mathgauge resume half` continues it") in " ".join(shown.out.split())
    html = tmp_path / "r.html"
    report = run_cli("report", "half", "--store", str(db), "-o", str(html), "--no-regrade")
    assert report.code == 0
    assert ("note: run half is unfinished (status interrupted): the report covers the samples finished so far; "
            "`mathgauge resume half` continues it") in report.err
    page = html.read_text()
    assert "Run half is unfinished (status interrupted:" in page and "mathgauge resume half" in page


def test_a_run_killed_before_closing_is_listed_as_interrupted(run_cli, tmp_path: Path, small_data, math500_path):
    db = tmp_path / "k.db"
    with scripted_server("--data", str(math500_path), "--latency", "0.1") as srv:
        proc = subprocess.Popen(cli_command("run", "--model", "scripted", "--base-url", srv.base_url, "--data-file",
                                            str(small_data), "--store", str(db), "--quiet", "--run-name", "gone",
                                            "--concurrency", "2"), env=cli_env(), stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        while srv.stats()["completed"] < 4:
            pass
        proc.kill()
        proc.wait()
    assert sql_rows(db, "SELECT status FROM runs") == [("running",)]  # as the killed process left it
    listed = run_cli("runs", "--store", str(db))
    assert listed.code == 0 and "interrupted" in listed.out and "running" not in listed.out
