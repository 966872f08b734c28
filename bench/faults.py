"""Fault benchmark: how fast and how cleanly `mathgauge run` stops when things go wrong.

Every figure is a real `mathgauge run` / `mathgauge resume` process against the scripted server (or a static web
server), on MATH-500 at the default concurrency (32) unless said otherwise:

* Ctrl-C: seconds from SIGINT to the process's exit, the requests the server saw after the signal (must be 0) and
  the samples stored as failed (must be 0: the ones in flight stay pending). Against a server answering in 500 ms
  (median of --repeat runs) and against one that stops answering; the signal is sent while the run waits for the
  answers of the requests in flight (none on its way), so any request the server sees later was sent after it.
* dead endpoint: seconds from the server's death (it exits after 200 requests) to mathgauge's exit; and the wall of a
  whole run pointed at a static web server (`python -m http.server`).
* concurrent resume: a run killed with SIGKILL part-way, then two `mathgauge resume` and one `mathgauge run
  --resume` of it started together: duplicate requests (the same prompt asked twice; must be 0) and how many of
  the three were refused.
* 429 storm: seconds until a run whose every request gets 429 (Retry-After 1 s) gives up.

    python bench/faults.py [--problems 500] [--repeat 3] [--quick] [--json PATH] [--src OTHER/src]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import median, shared_file  # noqa: E402

from mathgauge.testing import scripted_server  # noqa: E402

CONCURRENCY = 32  # mathgauge's default
#: Where the measured `mathgauge` processes import mathgauge from (``--src``; default: as this script does).
_SRC: list[str] = []


def _env() -> dict:
    env = dict(os.environ, OPENAI_API_KEY="bench")
    if _SRC:
        env["PYTHONPATH"] = _SRC[0]
    return env


def _run_cmd(base_url: str, data: Path, problems: int, db: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "mathgauge.cli", "run", "--model", "bench", "--base-url", base_url,
            "--data-file", str(data), "--benchmark", "math500", "--limit", str(problems), "--store", str(db),
            "--quiet", *extra]


def _statuses(db: Path) -> dict[str, int]:
    with sqlite3.connect(db) as conn:
        return dict(conn.execute("SELECT status, COUNT(*) FROM samples GROUP BY status").fetchall())


def _wait_for(server: object, requests: int, timeout_s: float = 120.0, what: str = "chat_requests") -> None:
    """Until the server has seen ``requests`` chat requests (``what="completed"``: sent that many answers)."""
    deadline = time.monotonic() + timeout_s
    while server.stats()[what] < requests:  # type: ignore[attr-defined]
        if time.monotonic() > deadline:
            raise SystemExit(f"the server never reached {requests} {what}")
        time.sleep(0.02)


def _wait_quiet(server: object, requests: int, quiet_s: float, timeout_s: float = 120.0) -> int:
    """Until the server has seen ``requests`` chat requests and then no new one for ``quiet_s`` (the run waits for
    answers): a request that arrives after a signal sent now was sent after it. Returns the count."""
    deadline = time.monotonic() + timeout_s
    count, since = -1, time.monotonic()
    while True:
        now = server.stats()["chat_requests"]  # type: ignore[attr-defined]
        if now != count:
            count, since = now, time.monotonic()
        elif count >= requests and time.monotonic() - since >= quiet_s:
            return count
        if time.monotonic() > deadline:
            raise SystemExit(f"the server never went quiet after {requests} requests")
        time.sleep(0.01)


def ctrl_c(data: Path, problems: int, server_args: list[str], after: int, quiet: bool = True) -> dict:
    """SIGINT once the server saw ``after`` requests; seconds to exit, requests after the signal, failures.

    Args:
        quiet: send it while the run waits for its requests in flight (none on its way: the count after it is
            exact); else at once, amid requests being answered and sent (up to the concurrency may still be on
            their way to the server when it is sent).
    """
    with tempfile.TemporaryDirectory() as tmp, scripted_server("--data", str(data), *server_args) as server:
        db = Path(tmp) / "c.db"
        proc = subprocess.Popen(_run_cmd(server.base_url, data, problems, db), env=_env(),
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if quiet:
            seen = _wait_quiet(server, after, quiet_s=0.15)
        else:
            _wait_for(server, after)
            seen = server.stats()["chat_requests"]
        start = time.perf_counter()
        proc.send_signal(signal.SIGINT)
        try:
            _, err = proc.communicate(timeout=60)
            to_exit: float | None = time.perf_counter() - start
        except subprocess.TimeoutExpired:  # never stopped: killed, and reported as such
            proc.kill()
            _, err = proc.communicate()
            to_exit = None
        time.sleep(0.3)  # anything sent just before the exit reaches the server by now
        later = server.stats()["chat_requests"] - seen
        statuses = _statuses(db)
    return {"seconds_to_exit": to_exit, "exit": proc.returncode, "requests_after_signal": later,
            "failed": statuses.get("failed", 0), "pending": statuses.get("pending", 0),
            "message": err.strip().splitlines()[-1] if err.strip() else ""}


def dead_endpoint(data: Path, problems: int, latency: float, after: int) -> dict:
    """The server exits after ``after`` answers: seconds from its death to mathgauge's exit."""
    with tempfile.TemporaryDirectory() as tmp, \
            scripted_server("--data", str(data), "--latency", str(latency), "--fault", "die",
                            "--fault-after", str(after)) as server:
        db = Path(tmp) / "d.db"
        died: list[float] = []
        watcher = threading.Thread(target=lambda: (server.process.wait(), died.append(time.perf_counter())),
                                   daemon=True)
        watcher.start()
        proc = subprocess.run(_run_cmd(server.base_url, data, problems, db), env=_env(), capture_output=True,
                              text=True, timeout=600)
        ended = time.perf_counter()
        watcher.join(5)
        statuses = _statuses(db)
    return {"seconds_to_give_up": ended - died[0] if died else None, "exit": proc.returncode,
            "done": statuses.get("done", 0), "failed": statuses.get("failed", 0),
            "message": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else ""}


def static_server(data: Path, problems: int) -> dict:
    """A static web server as --base-url: the whole run's wall and its one line."""
    with tempfile.TemporaryDirectory() as tmp:
        web = subprocess.Popen([sys.executable, "-m", "http.server", "0", "--bind", "127.0.0.1",
                                "--directory", tmp], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            line = web.stdout.readline() if web.stdout else ""
            port = int(line.split(" port ")[1].split()[0])
            start = time.perf_counter()
            proc = subprocess.run(_run_cmd(f"http://127.0.0.1:{port}/v1", data, problems, Path(tmp) / "s.db"),
                                  env=_env(), capture_output=True, text=True, timeout=600)
            wall = time.perf_counter() - start
        finally:
            web.terminate()
            web.wait()
    return {"wall_s": wall, "exit": proc.returncode,
            "message": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else ""}


def concurrent_resume(data: Path, problems: int) -> dict:
    """Kill a run part-way, then three processes continue it at once: duplicate requests and refusals."""
    with tempfile.TemporaryDirectory() as tmp, \
            scripted_server("--data", str(data), "--latency", "0.2", "--record-requests") as server:
        db = Path(tmp) / "r.db"
        first = subprocess.Popen(_run_cmd(server.base_url, data, problems, db, "--run-name", "shared"),
                                 env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_for(server, problems // 4, what="completed")
        first.send_signal(signal.SIGKILL)
        first.wait()
        before = server.stats()["chat_requests"]
        cli = [sys.executable, "-m", "mathgauge.cli"]
        cmds = [cli + ["resume", "shared", "--store", str(db), "--quiet"],
                cli + ["resume", "shared", "--store", str(db), "--quiet"],
                _run_cmd(server.base_url, data, problems, db, "--run-name", "shared", "--resume")]
        procs = [subprocess.Popen(c, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                 for c in cmds]
        results = [(p.wait(timeout=600), p.stderr.read() if p.stderr else "") for p in procs]
        later = _recorded_requests(server.port)[before:]
        prompts = [json.dumps(b["messages"], sort_keys=True) + str(b.get("seed")) for b in later]
        statuses = _statuses(db)
    refused = [err.strip().splitlines()[-1] for code, err in results if code == 2 and "in progress" in err]
    return {"requests": len(later), "duplicates": len(prompts) - len(set(prompts)), "processes": len(cmds),
            "refused": len(refused), "refusal": refused[0] if refused else "",
            "exits": [code for code, _ in results], "done": statuses.get("done", 0),
            "pending": statuses.get("pending", 0)}


def _recorded_requests(port: int) -> list[dict]:
    """The chat request bodies the scripted server recorded (``--record-requests``), in arrival order."""
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/requests", timeout=30) as resp:
        return json.loads(resp.read())


def storm(data: Path, problems: int, retry_after: float) -> dict:
    """Every request 429: seconds until the run gives up, its exit status and what it stored."""
    with tempfile.TemporaryDirectory() as tmp, \
            scripted_server("--data", str(data), "--latency", "0.2", "--reject-all", "--retry-after",
                            str(retry_after)) as server:
        db = Path(tmp) / "s.db"
        start = time.perf_counter()
        proc = subprocess.run(_run_cmd(server.base_url, data, problems, db), env=_env(), capture_output=True,
                              text=True, timeout=900)
        wall = time.perf_counter() - start
        requests = server.stats()["chat_requests"]
        statuses = _statuses(db)
    return {"seconds_to_give_up": wall, "exit": proc.returncode, "requests": requests,
            "failed": statuses.get("failed", 0), "pending": statuses.get("pending", 0),
            "message": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else ""}


def _seconds(value: float | None) -> str:
    return "did not exit within 60 s (killed)" if value is None or value >= 60 else f"{value:.2f} s"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                allow_abbrev=False)
    p.add_argument("--problems", type=int, default=500)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--quick", action="store_true", help="small sizes, one run each: a smoke test, not figures")
    p.add_argument("--json", help="also write the figures here")
    p.add_argument("--src", help="run the measured mathgauge processes from this source folder (e.g. another "
                   "checkout's src, for before/after figures); the scripted server stays this one")
    args = p.parse_args(argv)
    if args.src:
        _SRC.append(str(Path(args.src).resolve()))
    data = shared_file("data", "math500.jsonl")
    n = 100 if args.quick else args.problems
    reps = 1 if args.quick else args.repeat
    retry_after = 0.05 if args.quick else 1.0
    out: dict = {"problems": n, "concurrency": CONCURRENCY, "repeat": reps}

    runs = [ctrl_c(data, n, ["--latency", "0.5"], after=min(100, n // 2)) for _ in range(reps)]
    exits = [r["seconds_to_exit"] for r in runs]
    out["ctrl_c"] = {"runs": runs, "median_s": median([60.0 if e is None else e for e in exits])}
    print(f"ctrl-c -> exit: {_seconds(out['ctrl_c']['median_s'])} (median of {reps}; {n} MATH-500, 500 ms latency, "
          f"c={CONCURRENCY}, SIGINT after {min(100, n // 2)}+ requests with {CONCURRENCY} in flight); requests "
          f"after the signal: "
          f"{max(r['requests_after_signal'] for r in runs)}; samples stored as failed: "
          f"{max(r['failed'] for r in runs)}; exit {runs[-1]['exit']}", flush=True)
    busy = [ctrl_c(data, n, ["--latency", "0.5"], after=min(100, n // 2), quiet=False) for _ in range(reps)]
    out["ctrl_c_busy"] = {"runs": busy, "median_s": median([60.0 if r["seconds_to_exit"] is None
                                                            else r["seconds_to_exit"] for r in busy])}
    out["ctrl_c_busy"]["worst_s"] = max(60.0 if r["seconds_to_exit"] is None else r["seconds_to_exit"] for r in busy)
    print(f"ctrl-c -> exit, amid answers: {_seconds(out['ctrl_c_busy']['median_s'])}, worst "
          f"{_seconds(out['ctrl_c_busy']['worst_s'])} (median of {reps}; the same, "
          f"SIGINT as the {min(100, n // 2)}th request arrives); requests the server saw after the signal: "
          f"{max(r['requests_after_signal'] for r in busy)} (up to {CONCURRENCY} may have been on their way); "
          f"samples stored as failed: {max(r['failed'] for r in busy)}", flush=True)
    hung = ctrl_c(data, n, ["--fault", "hang", "--fault-after", "50"], after=50)
    out["ctrl_c_hung"] = hung
    print(f"ctrl-c -> exit, server that stopped answering: {_seconds(hung['seconds_to_exit'])} (1 run; {n} MATH-500, "
          f"the server answers 50 requests then none, c={CONCURRENCY}); requests after the signal: "
          f"{hung['requests_after_signal']}; failed: {hung['failed']}; exit {hung['exit']}", flush=True)

    dead = dead_endpoint(data, n, 0.2, after=min(200, n // 2))
    out["dead_endpoint"] = dead
    shown = "-" if dead["seconds_to_give_up"] is None else f"{dead['seconds_to_give_up']:.2f} s"
    print(f"dead endpoint -> give up: {shown} from the server's death to exit (1 run; {n} MATH-500, 200 ms "
          f"latency, the server exits at request {min(200, n // 2) + 1}, c={CONCURRENCY}); exit {dead['exit']}; "
          f"{dead['done']} done, {dead['failed']} failed", flush=True)
    static = static_server(data, n)
    out["static_server"] = static
    print(f"static web server as --base-url: {static['wall_s']:.2f} s to exit (whole run, 1 run); exit "
          f"{static['exit']}", flush=True)

    dup = concurrent_resume(data, min(n, 200))
    out["concurrent_resume"] = dup
    print(f"concurrent resume: {dup['duplicates']} duplicate requests of {dup['requests']} (a run of "
          f"{min(n, 200)} killed with SIGKILL after {min(n, 200) // 4} answers, then 2x resume + run --resume at "
          f"once); {dup['refused']} of {dup['processes']} refused; exits {dup['exits']}", flush=True)

    rl = storm(data, n, retry_after)
    out["storm"] = rl
    print(f"429 storm -> give up: {rl['seconds_to_give_up']:.1f} s (1 run; {n} MATH-500, every request 429 with "
          f"Retry-After {retry_after:g} s, c={CONCURRENCY}); exit {rl['exit']}; {rl['requests']} requests; "
          f"{rl['failed']} failed, {rl['pending']} pending", flush=True)
    ok = (max(r["requests_after_signal"] for r in runs) == 0 and hung["requests_after_signal"] == 0
          and max(r["requests_after_signal"] for r in busy) <= CONCURRENCY and not any(r["failed"] for r in busy)
          and dup["duplicates"] == 0 and all(r["exit"] == 130 for r in [*runs, *busy, hung])
          and dead["exit"] == 3 and rl["exit"] == 3)
    print(f"targets: no request after Ctrl-C, exit 130; no duplicate request; dead endpoint and storm exit 3: "
          f"{'met' if ok else 'NOT met'}")
    out["targets_met"] = ok
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
