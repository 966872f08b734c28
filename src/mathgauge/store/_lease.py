"""One process per run: a lease row per run that is being worked on (owner, pid and host, heartbeat).

A process that runs or resumes a run takes the run's lease first and renews it while it works; another process is
refused while the lease is alive. A lease is stale, and taken over, when its heartbeat is older than
`LEASE_STALE_AFTER_S` (the owner was killed with ``kill -9``, lost power, or froze), or at once when its owner ran on
this host and that process no longer exists.

The table is added by its own migration (`add_run_leases`), so the schema change stays one self-contained step.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import time
import uuid
from dataclasses import dataclass

#: How often a running process renews its lease.
LEASE_HEARTBEAT_S = 10.0
#: A lease not renewed for this long is stale (six missed heartbeats: a loaded machine never gets there).
LEASE_STALE_AFTER_S = 60.0


def add_run_leases(db: sqlite3.Connection) -> None:
    """Migration: the ``run_leases`` table (one row per run being worked on; none for a run at rest)."""
    db.execute(
        """
        CREATE TABLE run_leases (
            run_id       TEXT PRIMARY KEY REFERENCES runs(run_id) ON DELETE CASCADE,
            owner        TEXT NOT NULL,         -- random token of the owning session
            pid          INTEGER NOT NULL,
            host         TEXT NOT NULL,
            acquired_at  REAL NOT NULL,
            heartbeat_at REAL NOT NULL
        )
        """
    )


@dataclass(frozen=True)
class Lease:
    """Who works on a run: a session token, the process id and the host.

    Args:
        owner: random token of this session (two sessions in one process differ).
        pid: process id.
        host: host name.
    """

    owner: str
    pid: int
    host: str

    @classmethod
    def for_this_process(cls) -> Lease:
        """A new lease identity for the calling process."""
        return cls(owner=uuid.uuid4().hex, pid=os.getpid(), host=socket.gethostname())


@dataclass(frozen=True)
class LeaseHolder:
    """A lease as stored: its identity and when it was last renewed."""

    owner: str
    pid: int
    host: str
    acquired_at: float
    heartbeat_at: float

    def describe(self, now: float | None = None) -> str:
        """``pid 123 on host-a, last heartbeat 3 s ago``."""
        ago = max(0.0, (now or time.time()) - self.heartbeat_at)
        return f"pid {self.pid} on {self.host}, last heartbeat {ago:.0f} s ago"


def has_lease_table(db: sqlite3.Connection) -> bool:
    """Whether the store has the lease table (older stores opened read-only do not)."""
    return db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'run_leases'").fetchone() is not None


def lease_holder(db: sqlite3.Connection, run_id: str) -> LeaseHolder | None:
    """The stored lease of a run, alive or stale; ``None`` when no process holds it."""
    row = db.execute("SELECT owner, pid, host, acquired_at, heartbeat_at FROM run_leases WHERE run_id = ?",
                     (run_id,)).fetchone()
    return LeaseHolder(*row) if row else None


def is_alive(holder: LeaseHolder, *, stale_after_s: float = LEASE_STALE_AFTER_S, now: float | None = None) -> bool:
    """Whether a lease still binds: renewed within ``stale_after_s``, and, when its owner ran on this host, that
    process still exists."""
    if (now or time.time()) - holder.heartbeat_at > stale_after_s:
        return False
    if holder.host == socket.gethostname():
        return _process_exists(holder.pid)
    return True


def acquire(db: sqlite3.Connection, run_id: str, lease: Lease, *,
            stale_after_s: float = LEASE_STALE_AFTER_S) -> LeaseHolder | None:
    """Take the lease of ``run_id`` inside the caller's write transaction.

    Returns:
        ``None`` when taken (free, stale, or already ours), else the live holder that refuses us.
    """
    now = time.time()
    current = lease_holder(db, run_id)
    if current is not None and current.owner != lease.owner:
        if is_alive(current, stale_after_s=stale_after_s, now=now):
            return current
        # The session that held it died without closing the run: its time up to its last heartbeat is kept in the
        # run's wall time, which would otherwise count only the sessions that ended cleanly.
        db.execute("UPDATE runs SET wall_s = wall_s + ? WHERE run_id = ?",
                   (max(0.0, current.heartbeat_at - current.acquired_at), run_id))
    db.execute(
        "INSERT INTO run_leases(run_id, owner, pid, host, acquired_at, heartbeat_at) VALUES (?, ?, ?, ?, ?, ?)"
        " ON CONFLICT(run_id) DO UPDATE SET owner = excluded.owner, pid = excluded.pid, host = excluded.host,"
        " acquired_at = excluded.acquired_at, heartbeat_at = excluded.heartbeat_at",
        (run_id, lease.owner, lease.pid, lease.host, now, now),
    )
    return None


def renew(db: sqlite3.Connection, run_id: str, lease: Lease) -> bool:
    """Renew our lease; ``False`` when it is no longer ours (another process took it over as stale)."""
    cur = db.execute("UPDATE run_leases SET heartbeat_at = ? WHERE run_id = ? AND owner = ?",
                     (time.time(), run_id, lease.owner))
    return cur.rowcount == 1


def release(db: sqlite3.Connection, run_id: str, lease: Lease) -> bool:
    """Give the lease back (only if it is still ours); ``False`` when it was not (taken over as stale)."""
    return db.execute("DELETE FROM run_leases WHERE run_id = ? AND owner = ?", (run_id, lease.owner)).rowcount == 1


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: it exists
        return True
    except OSError:
        return True
    return True
