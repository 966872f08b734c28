"""Worker processes for sympy comparisons with a hard, thread-safe time cap.

A comparison that overruns its time limit gets its worker killed (no signals in
the calling thread; works from threads and asyncio executors), and the worker is
restarted on the next use. Workers are started with the ``spawn`` method (safe
from threaded and asyncio programs) on the first comparison that needs sympy;
that one-off start (at most STARTUP_S seconds) is not counted in a grade's cap.
"""

from __future__ import annotations

import multiprocessing as mp
import threading
import time
from typing import Any

from ._values import Outcome

STARTUP_S = 30.0  # one-off worker start (spawn + import sympy), not counted in a grade's cap


class _Worker:
    def __init__(self, ctx):
        self.ctx = ctx
        self.proc: Any = None  # the worker process and our end of its pipe, once started
        self.conn: Any = None

    def ensure(self) -> bool:
        if self.proc is not None and self.proc.is_alive():
            return True
        from ._sym import worker_main

        parent, child = self.ctx.Pipe()
        proc = self.ctx.Process(target=worker_main, args=(child,), daemon=True, name="mathgauge-sympy")
        proc.start()
        child.close()
        if not parent.poll(STARTUP_S):
            proc.kill()
            proc.join(1)
            return False
        parent.recv()
        self.proc, self.conn = proc, parent
        return True

    def kill(self) -> None:
        proc, conn = self.proc, self.conn
        self.proc = self.conn = None
        if proc is not None:
            proc.kill()
            proc.join(2)
        if conn is not None:
            conn.close()

    def stop(self) -> None:
        if self.conn is not None:
            try:
                self.conn.send(None)
            except OSError:
                pass
        if self.proc is not None:
            self.proc.join(0.5)
        self.kill()


class SymbolicPool:
    def __init__(self, size: int = 1):
        ctx = mp.get_context("spawn")
        self._free = [_Worker(ctx) for _ in range(max(1, size))]
        self._cv = threading.Condition()
        self._all = list(self._free)
        self._closed = False

    def compare(self, a: str, b: str, timeout_s: float) -> Outcome:
        deadline = time.monotonic() + timeout_s
        with self._cv:
            while not self._free and not self._closed:
                if not self._cv.wait(max(0.0, deadline - time.monotonic())):
                    return Outcome(False, "symbolic", "timeout")
            if self._closed:
                return Outcome(False, "symbolic", "timeout")
            w = self._free.pop()
        try:
            if not w.ensure():
                return Outcome(False, "symbolic", "timeout")
            try:
                w.conn.send((a, b))
                if not w.conn.poll(max(0.0, deadline - time.monotonic())):
                    w.kill()
                    return Outcome(False, "symbolic", "timeout")
                ok, reason = w.conn.recv()
            except (EOFError, OSError, BrokenPipeError):
                w.kill()
                return Outcome(False, "symbolic", "parse_error")
            return Outcome(bool(ok), "symbolic", None if ok else (reason or "mismatch"))
        finally:
            with self._cv:
                self._free.append(w)
                self._cv.notify()

    def close(self) -> None:
        with self._cv:
            self._closed = True
            workers = list(self._all)
            self._cv.notify_all()
        for w in workers:
            w.stop()
