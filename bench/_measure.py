"""Running one tool as a separate process against a fresh scripted server, and measuring it.

`measure_process` starts a command in its own process group, waits for it with ``os.wait4`` (so the peak RSS and
CPU time are those of that process and the descendants it waited for, not of every child this suite ever had),
and kills the whole group when it runs past its time limit. `against_server` starts a fresh scripted server for
each run, because the server's ``first_request_at`` is the first request it ever saw.
"""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from mathgauge.testing import scripted_server

REPO = Path(__file__).resolve().parents[1]


@dataclass
class ProcResult:
    """What one process run cost: wall, CPU, peak RSS, exit status, the tail of its stderr."""

    wall_s: float
    cpu_s: float
    peak_rss_mb: float
    returncode: int | None  # None: killed at the time limit
    timed_out: bool
    stderr_tail: str = ""
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def measure_process(cmd: list[str], *, env: dict | None = None, cwd: str | Path | None = None,
                    timeout_s: float = 600.0, log_dir: Path | None = None) -> tuple[ProcResult, float]:
    """Run ``cmd`` to the end (or the time limit); return its costs and the wall-clock time it was started at."""
    log_dir = Path(log_dir or tempfile.mkdtemp(prefix="bench-log-"))
    log_dir.mkdir(parents=True, exist_ok=True)
    out_path, err_path = log_dir / "stdout.txt", log_dir / "stderr.txt"
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        started_at = time.time()
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env,
                                cwd=str(cwd) if cwd else None, start_new_session=True)
        waited: list[tuple[int, int, object]] = []
        waiter = threading.Thread(target=lambda: waited.append(os.wait4(proc.pid, 0)), daemon=True)
        waiter.start()
        waiter.join(timeout_s)
        timed_out = waiter.is_alive()
        if timed_out:
            for sig in (signal.SIGTERM, signal.SIGKILL):
                try:
                    os.killpg(proc.pid, sig)
                except ProcessLookupError:
                    break
                waiter.join(5)
                if not waiter.is_alive():
                    break
            waiter.join()
        wall = time.perf_counter() - t0
    proc.returncode = 0  # reaped by wait4 above; keep Popen from waiting again
    _, status, usage = waited[0]
    code = None if timed_out else os.waitstatus_to_exitcode(status)
    tail = err_path.read_text(errors="replace")[-3000:]
    result = ProcResult(wall_s=wall, cpu_s=usage.ru_utime + usage.ru_stime,  # type: ignore[attr-defined]
                        peak_rss_mb=usage.ru_maxrss / 1024, returncode=code,  # type: ignore[attr-defined]
                        timed_out=timed_out, stderr_tail=tail)
    return result, started_at


def precompile(src: Path) -> None:
    """Write the bytecode of every module under ``src`` (what ``pip install`` does), so that the processes measured
    start as an installed mathgauge does, even where ``PYTHONDONTWRITEBYTECODE`` is set (then an editable checkout
    compiles every module it imports at every start: ~25 ms more before a run's first request)."""
    import sys

    subprocess.run([sys.executable, "-m", "compileall", "-q", str(src)], check=True, stdout=subprocess.DEVNULL)


def server_args(data: Path, latency: float, *, reject_every: int = 0, reject_all: bool = False,
                retry_after: float = 1.0) -> list[str]:
    args = ["--data", str(data), "--latency", str(latency), "--retry-after", str(retry_after)]
    if reject_every:
        args += ["--reject-every", str(reject_every)]
    if reject_all:
        args += ["--reject-all"]
    return args


def against_server(build_cmd, srv_args: list[str], *, env: dict | None = None, cwd: Path | None = None,
                   timeout_s: float = 600.0) -> ProcResult:
    """Start a fresh scripted server, run ``build_cmd(base_url, workdir)`` against it, and add the server's view.

    ``extra`` gets: first_request_s (server's first chat request minus process start; None if it never asked),
    chat_requests, completed (answers the server gave), rejected, max_in_flight, content_bytes (UTF-8 bytes of the
    answers sent), and what ``build_cmd.after(workdir, result)`` returns (read before the work directory goes).
    """
    with tempfile.TemporaryDirectory(prefix="bench-run-") as tmp, scripted_server(*srv_args) as server:
        workdir = Path(tmp)
        cmd = build_cmd(server.base_url, workdir)
        res, started_at = measure_process(cmd, env=env, cwd=cwd or REPO, timeout_s=timeout_s,
                                          log_dir=workdir / "logs")
        stats = server.stats()
        first = stats.get("first_request_at")
        res.extra.update({
            "first_request_s": (first - started_at) if first else None,
            "chat_requests": stats.get("chat_requests"), "completed": stats.get("completed"),
            "rejected": stats.get("rejected"), "max_in_flight": stats.get("max_in_flight"),
            "content_bytes": stats.get("content_bytes"),
        })
        hook = getattr(build_cmd, "after", None)
        if hook is not None:  # read the tool's own output files before the work directory goes
            res.extra.update(hook(workdir, res))
        return res
