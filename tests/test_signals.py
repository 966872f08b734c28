"""Signals and concurrent processes, with real `mathgauge` processes: Ctrl-C and SIGTERM stop a run at once (no
new request, the samples in flight left pending), a second one ends it even when the store blocks, and one
process works on a run at a time (a second is refused; a killed one's lease is taken over)."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import sqlite3
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from conftest import cli_command, cli_env, sql_rows
from mathgauge.errors import RunBusy
from mathgauge.models import AdaptiveLimiter
from mathgauge.store import Lease, Store
from mathgauge.testing import scripted_server


def start_run(base_url: str, data: Path, db: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(cli_command("run", "--model", "scripted", "--base-url", base_url, "--data-file",
                                        str(data), "--store", str(db), "--quiet", *extra),
                            env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(server: Any, count: int, what: str = "chat_requests", timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while server.stats()[what] < count:
        assert time.monotonic() < deadline, f"the server never reached {count} {what}"
        time.sleep(0.02)


def wait_quiet(server: Any, count: int, quiet_s: float = 0.15, timeout_s: float = 60.0) -> int:
    """Until the server has seen ``count`` chat requests and then none for ``quiet_s``: the run waits for the
    answers of the requests in flight, none is on its way, so a request the server sees after a signal sent now
    was sent after the signal."""
    deadline = time.monotonic() + timeout_s
    seen, since = -1, time.monotonic()
    while True:
        now = server.stats()["chat_requests"]
        if now != seen:
            seen, since = now, time.monotonic()
        elif seen >= count and time.monotonic() - since >= quiet_s:
            return seen
        assert time.monotonic() < deadline, f"the server never went quiet after {count} requests"
        time.sleep(0.01)


def statuses(db: Path) -> dict[str, int]:
    return dict(sql_rows(db, "SELECT status, COUNT(*) FROM samples GROUP BY status"))


@pytest.fixture
def data(tmp_path: Path, math500_path: Path) -> Path:
    """120 MATH-500 problems: more samples than the run has in flight."""
    path = tmp_path / "d.jsonl"
    path.write_text("\n".join(math500_path.read_text().splitlines()[:120]) + "\n")
    return path


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_stops_the_run_at_once_and_resume_finishes_it(tmp_path, data, math500_path, sig) -> None:
    db = tmp_path / "s.db"
    with scripted_server("--data", str(math500_path), "--latency", "0.6") as srv:
        proc = start_run(srv.base_url, data, db, "--run-name", "stopped", "--concurrency", "8")
        seen = wait_quiet(srv, 16)
        sent = time.monotonic()
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=30)
        to_exit = time.monotonic() - sent
        time.sleep(0.3)
        after = srv.stats()["chat_requests"]
    assert proc.returncode == 130, err
    assert to_exit < 5  # about 0.1 s here; before, a run went on for ~30 s after Ctrl-C
    assert after == seen  # no request after the signal
    assert err.strip().splitlines() == [f"interrupted ({sig.name}): {statuses(db)['done']} of 120 samples are "
                                        f"stored, the ones in flight were dropped; `mathgauge resume stopped` "
                                        f"continues"]
    counts = statuses(db)
    assert counts.get("failed", 0) == 0 and counts["pending"] > 0  # in-flight samples dropped, not failed
    assert sql_rows(db, "SELECT status, error FROM runs") == [("interrupted", None)]
    assert sql_rows(db, "SELECT COUNT(*) FROM run_leases") == [(0,)]

    with scripted_server("--data", str(math500_path)) as srv:
        with sqlite3.connect(db) as conn:
            conn.execute("UPDATE runs SET config_json = json_set(config_json, '$.base_url', ?, '$.spec.base_url',"
                         " json_array(?))", (srv.base_url, srv.base_url))
        resumed = subprocess.run(cli_command("resume", "stopped", "--store", str(db), "--quiet"), env=cli_env(),
                                 capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    assert statuses(db) == {"done": 120}


def test_a_signal_stops_a_run_against_a_server_that_never_answers(tmp_path, data, math500_path) -> None:
    db = tmp_path / "h.db"
    with scripted_server("--data", str(math500_path), "--fault", "hang", "--fault-after", "10") as srv:
        proc = start_run(srv.base_url, data, db, "--run-name", "hung", "--concurrency", "4")
        seen = wait_quiet(srv, 14)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
        assert srv.stats()["chat_requests"] == seen
    assert proc.returncode == 130 and "`mathgauge resume hung` continues" in err
    assert statuses(db) == {"done": 10, "pending": 110}


def test_a_second_signal_ends_the_process_even_when_the_store_blocks(tmp_path, data, math500_path) -> None:
    db = tmp_path / "b.db"
    with scripted_server("--data", str(math500_path), "--latency", "0.1") as srv:
        proc = start_run(srv.base_url, data, db, "--run-name", "blocked", "--concurrency", "4")
        wait_for(srv, 10, "completed")
        lock = sqlite3.connect(db, isolation_level=None)
        lock.execute("BEGIN IMMEDIATE")  # another program holds the store: the run's writes wait
        try:
            time.sleep(0.5)
            proc.send_signal(signal.SIGINT)
            with pytest.raises(subprocess.TimeoutExpired):
                proc.wait(timeout=1.0)  # closing waits for the store
            sent = time.monotonic()
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=10)
            assert time.monotonic() - sent < 3
        finally:
            lock.execute("ROLLBACK")
            lock.close()
    assert proc.returncode == 130
    assert "interrupted again (SIGINT): stopped at once" in err and "`mathgauge resume blocked`" in err
    assert sql_rows(db, "PRAGMA integrity_check") == [("ok",)]
    with Store(db, read_only=True) as store:
        assert store.get_run("blocked").status == "interrupted"  # its process is gone


def test_a_second_process_on_the_same_run_is_refused(tmp_path, data, math500_path) -> None:
    db = tmp_path / "c.db"
    with scripted_server("--data", str(math500_path), "--latency", "0.1", "--record-requests") as srv:
        first = start_run(srv.base_url, data, db, "--run-name", "busy", "--concurrency", "4")
        wait_for(srv, 8, "completed")
        resume = subprocess.run(cli_command("resume", "busy", "--store", str(db), "--quiet"), env=cli_env(),
                                capture_output=True, text=True, timeout=60)
        again = subprocess.run(cli_command("run", "--model", "scripted", "--base-url", srv.base_url, "--data-file",
                                           str(data), "--store", str(db), "--quiet", "--run-name", "busy",
                                           "--resume"), env=cli_env(), capture_output=True, text=True, timeout=60)
        regrade = subprocess.run(cli_command("regrade", "busy", "--store", str(db)), env=cli_env(),
                                 capture_output=True, text=True, timeout=60)
        _, err = first.communicate(timeout=120)
        with urllib.request.urlopen(f"http://127.0.0.1:{srv.port}/requests", timeout=10) as resp:
            bodies = json.loads(resp.read())
    assert first.returncode == 0, err
    host = socket.gethostname()
    for refused in (resume, again, regrade):
        assert refused.returncode == 2
        assert refused.stderr.startswith(f"error: run busy is in progress (pid {first.pid} on {host}, ")
    prompts = [json.dumps(b["messages"]) for b in bodies]
    assert len(prompts) == 120 == len(set(prompts))  # no request made twice
    assert statuses(db) == {"done": 120}


def test_the_lease_of_a_killed_run_is_taken_over(tmp_path, data, math500_path) -> None:
    db = tmp_path / "k.db"
    with scripted_server("--data", str(math500_path), "--latency", "0.1") as srv:
        proc = start_run(srv.base_url, data, db, "--run-name", "killed", "--concurrency", "4")
        wait_for(srv, 8, "completed")
        proc.kill()
        proc.communicate()
        assert sql_rows(db, "SELECT pid FROM run_leases") == [(proc.pid,)]  # left behind by kill -9
        with Store(db, read_only=True) as store:
            assert store.get_run("killed").status == "interrupted"
        resumed = subprocess.run(cli_command("resume", "killed", "--store", str(db), "--quiet"), env=cli_env(),
                                 capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr  # its owner is gone on this host: taken over at once
    assert statuses(db) == {"done": 120}


def test_leases_across_hosts_go_stale_after_the_timeout(tmp_path) -> None:
    db = tmp_path / "l.db"
    with Store(db) as store:
        run = store.create_run(name="r", benchmark="math500", model="m", config={}, versions={})
        other = Lease(owner="x" * 32, pid=1, host="another-host")
        store.acquire_lease(run, other)
        with pytest.raises(RunBusy, match=r"run r is in progress \(pid 1 on another-host, last heartbeat 0 s ago\)"):
            store.acquire_lease(run, Lease.for_this_process())
        assert store.get_run("r").status == "running"
        # It worked 30 s, then sent no heartbeat for 61 s.
        store._db.execute("UPDATE run_leases SET heartbeat_at = heartbeat_at - 61, acquired_at = acquired_at - 91")
        assert store.get_run("r").status == "interrupted"
        mine = Lease.for_this_process()
        store.acquire_lease(run, mine)  # stale: taken over
        assert store.get_run("r").wall_s == pytest.approx(30, abs=0.01)  # the dead session's time is kept
        assert store.renew_lease(run.run_id, mine) and not store.renew_lease(run.run_id, other)
        assert not store.release_lease(run.run_id, other)  # not its lease any more: nothing happens
        assert store.lease_holder(run.run_id) is not None
        assert store.release_lease(run.run_id, mine)
        assert store.lease_holder(run.run_id) is None


def test_a_lost_lease_stops_the_run(tmp_path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from mathgauge.pipeline._session import keep_lease

    db = tmp_path / "lost.db"
    with Store(db) as store:
        run = store.create_run(name="r", benchmark="math500", model="m", config={}, versions={})
        mine = Lease.for_this_process()
        store.acquire_lease(run, mine)
        reasons: list[BaseException] = []

        async def go() -> None:
            with ThreadPoolExecutor(1) as writer:
                task = asyncio.ensure_future(keep_lease(store, writer, run, mine, reasons.append, interval_s=0.05))
                await asyncio.sleep(0.12)
                assert not reasons  # renewed twice
                store._db.execute("UPDATE run_leases SET owner = 'someone else'")
                await asyncio.wait_for(task, 5)

        asyncio.run(go())
    assert len(reasons) == 1 and "was taken over by another process" in str(reasons[0])


def test_a_cancelled_waiter_leaves_the_limiter_consistent() -> None:
    async def go() -> None:
        limiter = AdaptiveLimiter(1)
        await limiter.__aenter__()

        async def use() -> None:
            async with limiter:
                await asyncio.sleep(10)

        waiting = asyncio.ensure_future(use())
        await asyncio.sleep(0)
        # Cancelled, then its queued future popped by a release in the same step: the case that raised
        # "ValueError: <Future cancelled> is not in deque" and turned every cancellation into a failed sample.
        waiting.cancel()
        await limiter.__aexit__()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        assert limiter.in_use == 0
        async with limiter:  # still usable: the free slot was not lost
            assert limiter.in_use == 1

    asyncio.run(go())
