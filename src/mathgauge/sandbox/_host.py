"""Host side of the sandbox: the ``Sandbox`` API over one warm fork-server process."""

from __future__ import annotations

import concurrent.futures
import os
import threading
import time

from . import _bwrap, _status
from ._connection import ServerProcess
from ._inside import _policy
from ._result import ExecutionResult, SandboxUnavailable
from ._static import classify_static

MAX_CODE_BYTES = 8 << 20
_HOST_GRACE_S = 30.0

# kept for callers and tests that patch it
find_bwrap = _bwrap.find_bwrap


class Sandbox:
    """Runs untrusted Python snippets in a warm, isolated fork-server.  Thread-safe; ``arun`` for asyncio.

    Args:
        timeout_s: CPU-time budget of a snippet (the wall clock is capped at ``3 * timeout_s + 1``).
        memory_mb: memory cap of a snippet.
        allow_unsafe_no_sandbox: run without isolation where the layers are missing (``--unsafe-no-sandbox``).
        workers: snippets run at the same time (default: the CPU count, at least 2).
    """

    def __init__(self, *, timeout_s: float = 10.0, memory_mb: int = 1024, allow_unsafe_no_sandbox: bool = False,
                 workers: int | None = None) -> None:
        self.timeout_s = float(timeout_s)
        self.memory_mb = int(memory_mb)
        self.allow_unsafe_no_sandbox = bool(allow_unsafe_no_sandbox)
        self.workers = int(workers or max(2, os.cpu_count() or 2))
        self._slots = threading.BoundedSemaphore(self.workers)
        self._lock = threading.Lock()
        self._server: ServerProcess | None = None
        self._closed = False
        self.unsafe_mode = False
        self.info: dict = {}
        self.missing: str | None = None

    # -- lifecycle
    def _start(self) -> ServerProcess:
        with self._lock:
            if self._closed:
                raise RuntimeError("sandbox is closed")
            if self._server is not None and not self._server.dead:
                return self._server
            if self._server is not None:
                self._server.close()
                self._server = None
            if not self.unsafe_mode:
                try:
                    srv = ServerProcess(confined=True, workers=self.workers)
                    missing = _status.verify(srv.info)
                    if missing:
                        srv.close()
                        raise SandboxUnavailable(
                            "sandbox unavailable: %s; pass --unsafe-no-sandbox to run model code without isolation"
                            % missing)
                    self._server, self.info = srv, srv.info
                    return srv
                except SandboxUnavailable as e:
                    self.missing = str(e)
                    if not self.allow_unsafe_no_sandbox:
                        raise
                    self.unsafe_mode = True
            srv = ServerProcess(confined=False)
            self._server, self.info = srv, srv.info
            return srv

    def start(self) -> "Sandbox":
        self._start()
        return self

    def close(self) -> None:
        with self._lock:
            self._closed = True
            srv, self._server = self._server, None
        if srv is not None:
            srv.close()

    def __enter__(self) -> "Sandbox":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            if self._server is not None:
                self._server.close()
        except Exception:
            pass

    # -- execution
    def _lost(self, code: str, t0: float, why: str) -> ExecutionResult:
        static = classify_static(code)
        return ExecutionResult("killed", "", "[sandbox] %s\n" % why, None, round((time.monotonic() - t0) * 1000.0, 3),
                               bool(static), static, [])

    def run(self, code: str, *, timeout: float | None = None, memory_mb: int | None = None) -> ExecutionResult:
        """Runs ``code`` once; always returns a result (whatever the snippet does or writes).

        Args:
            code: the snippet.
            timeout: CPU-time budget in seconds (default: the sandbox's).
            memory_mb: memory cap (default: the sandbox's).

        Raises:
            TypeError: ``code`` is not a str.
            SandboxUnavailable: the isolation layers are missing and unsafe mode was not allowed.
            RuntimeError: the sandbox was closed.
        """
        t0 = time.monotonic()
        if not isinstance(code, str):
            raise TypeError("code must be a str, not %s" % type(code).__name__)
        t = max(_policy.MIN_TIMEOUT_S, float(self.timeout_s if timeout is None else timeout))
        m = int(self.memory_mb if memory_mb is None else memory_mb)
        data = code.encode("utf-8", "surrogatepass")
        if len(data) > MAX_CODE_BYTES:
            static = classify_static(code[:_policy.OUT_KEEP])
            return ExecutionResult("error", "", "[sandbox] code larger than %d bytes; not run\n" % MAX_CODE_BYTES,
                                   None, 0.0, bool(static), static, [])
        with self._slots:
            srv = self._start()
            try:
                fut = srv.submit(data, t, m)
            except EOFError:  # the server died since the last job: once more with a new one
                srv = self._start()
                try:
                    fut = srv.submit(data, t, m)
                except EOFError:
                    return self._lost(code, t0, "sandbox server exited; the code was not run")
            try:
                hdr, out, err = fut.result(timeout=_policy.wall_cap_s(t) + _HOST_GRACE_S)
            except concurrent.futures.TimeoutError:
                self._restart(srv)
                return self._lost(code, t0, "sandbox server stopped answering; restarted")
            except EOFError:
                why = srv.exit_reason()
                return self._lost(code, t0, "sandbox server exited during the run%s; restarted"
                                  % (" (%s)" % why if why else ""))
        try:
            return _status.to_result(hdr, out, err, lambda: classify_static(code), (time.monotonic() - t0) * 1000.0)
        except Exception as e:  # noqa: BLE001 - a malformed answer ends this job, never the caller
            return self._lost(code, t0, "unreadable answer from the sandbox server (%s)" % type(e).__name__)

    async def arun(self, code: str, *, timeout: float | None = None, memory_mb: int | None = None) -> ExecutionResult:
        """``run`` for asyncio (in the default executor)."""
        import asyncio

        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, lambda: self.run(code, timeout=timeout, memory_mb=memory_mb))

    def _restart(self, srv: ServerProcess) -> None:
        with self._lock:
            if self._server is srv:
                self._server = None
        srv.close()

    def ping(self, timeout: float = 10.0) -> bool:
        """True when the warm server answers (used after hostile batches)."""
        try:
            return bool(self._start().ping().result(timeout=timeout)[0].get("pong"))
        except Exception:
            return False

    def isolation(self) -> dict:
        """Which isolation layers this sandbox's server has (see ``check_isolation``)."""
        self._start()
        return _status.layers_report(self.info, self.unsafe_mode, self.missing)


_check_cache: dict | None = None
_check_lock = threading.Lock()


def check_isolation() -> dict[str, bool | str]:
    """Starts a sandbox once and reports which isolation layers are active on this machine."""
    global _check_cache
    with _check_lock:
        if _check_cache is None:
            sb = Sandbox()
            try:
                _check_cache = sb.isolation()
            except SandboxUnavailable as e:
                _check_cache = {"sandbox": "unavailable", "bwrap": bool(find_bwrap()), "usable": False,
                                "missing": str(e)}
            finally:
                sb.close()
        return dict(_check_cache)
