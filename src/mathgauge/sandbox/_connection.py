"""One running fork-server process, its reader thread and the requests waiting for an answer.

The host trusts the server's code but not the bytes on the pipe: every message is size-checked and its
header must be a JSON object; anything else is a protocol error that ends this server (its pending jobs
fail with ``EOFError`` and the ``Sandbox`` starts a new one).  Nothing raised here reaches a caller of
``Sandbox.run`` except through that path.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading

from . import _bwrap, _hostcgroup
from ._inside import _policy
from ._result import SandboxUnavailable

HEADER_MAX = 1 << 20
_LEN = struct.Struct(">I")
_PAYLOAD_MAX = _policy.OUT_KEEP


def _unavailable(why: str) -> SandboxUnavailable:
    return SandboxUnavailable("sandbox unavailable: %s; pass --unsafe-no-sandbox to run model code without "
                              "isolation" % why)


def _read_exact(f, n: int) -> bytes:
    chunks = []
    while n:
        b = f.read(n)
        if not b:
            raise EOFError
        chunks.append(b)
        n -= len(b)
    return b"".join(chunks)


def read_message(f) -> tuple[dict, bytes, bytes]:
    """Reads one server message: (header, stdout bytes, stderr bytes).

    Args:
        f: the server's stdout (binary, buffered).

    Raises:
        EOFError: the server is gone.
        ValueError: the message is malformed (oversized, not a JSON object, bad lengths).
    """
    (n,) = _LEN.unpack(_read_exact(f, 4))
    if n > HEADER_MAX:
        raise ValueError("server header of %d bytes" % n)
    hdr = json.loads(_read_exact(f, n))
    if not isinstance(hdr, dict):
        raise ValueError("server header is not an object")
    lengths = []
    for key in ("out_len", "err_len"):
        v = hdr.get(key, 0)
        if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v <= _PAYLOAD_MAX:
            raise ValueError("server header has a bad %s" % key)
        lengths.append(v)
    out = _read_exact(f, lengths[0]) if lengths[0] else b""
    err = _read_exact(f, lengths[1]) if lengths[1] else b""
    return hdr, out, err


class ServerProcess:
    """Starts the server (confined in bubblewrap, or not), sends requests, delivers answers to futures.

    Args:
        confined: start it in bubblewrap with every layer (False: ``--unsafe-no-sandbox``).
        workers: jobs that may run at once (the CPU weight of the sandbox's cgroup).

    Raises:
        SandboxUnavailable: it could not be started or did not report ready.
    """

    def __init__(self, confined: bool, workers: int = 1) -> None:
        self.confined = confined
        self.lock = threading.Lock()
        self.pending: dict[int, concurrent.futures.Future] = {}
        self.next_id = 1
        self.dead = False
        self.tmpdir: str | None = None
        self.cgroups: dict[str, str] = {}
        self.stderr_tail = b""
        self.protocol_error = ""
        python = os.path.abspath(sys.executable)  # not realpath: a venv is recognised by its own path
        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
        cwd = None
        if confined:
            bwrap = _bwrap.find_bwrap()
            if not bwrap:
                raise _unavailable("bubblewrap (bwrap) is not installed (apt-get install bubblewrap)")
            self.cgroups = _hostcgroup.delegate(workers)
            argv = _bwrap.bwrap_argv(bwrap, python, _bwrap.python_roots(), self.cgroups)
        else:
            self.tmpdir = tempfile.mkdtemp(prefix="mathgauge-unsafe-")
            argv, cwd = _bwrap.unconfined_argv(python, self.tmpdir, _bwrap.python_roots())
            env["HOME"] = self.tmpdir
        try:
            self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                         env=env, cwd=cwd, close_fds=True, start_new_session=True)
        except OSError as e:
            self._free_host_resources()
            raise _unavailable("cannot start %s (%s)" % (argv[0], e.strerror or e)) from None
        assert self.proc.stdin is not None and self.proc.stdout is not None and self.proc.stderr is not None
        self.stdin, self.stdout, self.stderr = self.proc.stdin, self.proc.stdout, self.proc.stderr
        self._err_thread = threading.Thread(target=self._drain_stderr, daemon=True, name="sandbox-stderr")
        self._err_thread.start()
        try:
            self.info, _, _ = read_message(self.stdout)
        except (EOFError, ValueError, OSError, struct.error):
            self._reap()
            raise _unavailable("the sandbox server did not start (%s)"
                               % (self._err_line() or "exit code %s" % self.proc.returncode)) from None
        self._reader = threading.Thread(target=self._read_loop, daemon=True, name="sandbox-reader")
        self._reader.start()

    def _err_line(self) -> str:
        self._err_thread.join(timeout=1.0)
        lines = [ln for ln in self.stderr_tail.decode("utf-8", "replace").splitlines() if ln.strip()]
        return lines[-1].strip()[:300] if lines else ""

    def _drain_stderr(self) -> None:
        f = self.stderr
        while True:
            try:
                b = f.read1(65536)  # type: ignore[attr-defined]
            except (OSError, ValueError):
                return
            if not b:
                return
            self.stderr_tail = (self.stderr_tail + b)[-8192:]

    def _read_loop(self) -> None:
        try:
            while True:
                hdr, out, err = read_message(self.stdout)
                jid = hdr.get("id")
                with self.lock:
                    fut = self.pending.pop(jid, None) if isinstance(jid, int) else None
                if fut is not None and not fut.done():
                    fut.set_result((hdr, out, err))
        except EOFError:
            pass
        except (OSError, ValueError, struct.error, RecursionError, MemoryError) as e:
            # a misbehaving server: every waiting job is told below, and the server replaced
            self.protocol_error = "%s: %s" % (type(e).__name__, str(e)[:200])
        with self.lock:
            self.dead = True
            pending, self.pending = self.pending, {}
        for fut in pending.values():
            if not fut.done():
                fut.set_exception(EOFError("sandbox server exited"))
        if self.proc.poll() is None:
            self._kill_group()

    def exit_reason(self) -> str:
        """Why the server ended, as far as the host can tell (its exit status and last stderr line)."""
        try:
            code = self.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            code = None
        line = self._err_line() if self.proc.poll() is not None else ""
        parts = ["exit status %s" % code] if code is not None else []
        if self.protocol_error:
            parts.append("unreadable answer: " + self.protocol_error)
        return "; ".join(parts + ([line] if line else []))[:400]

    def _send(self, hdr: dict, payload: bytes = b"") -> concurrent.futures.Future:
        fut: concurrent.futures.Future = concurrent.futures.Future()
        with self.lock:
            if self.dead:
                raise EOFError("sandbox server exited")
            jid = self.next_id
            self.next_id += 1
            self.pending[jid] = fut
            h = json.dumps(dict(hdr, id=jid, code_len=len(payload))).encode()
            try:
                self.stdin.write(_LEN.pack(len(h)) + h + payload)
                self.stdin.flush()
            except (BrokenPipeError, OSError, ValueError):
                self.pending.pop(jid, None)
                self.dead = True
                raise EOFError("sandbox server exited") from None
        return fut

    def submit(self, code: bytes, timeout: float, memory_mb: int) -> concurrent.futures.Future:
        """Sends one job; the future gets (header, stdout, stderr) or EOFError if the server dies first.

        Args:
            code: UTF-8 bytes of the snippet.
            timeout: CPU budget in seconds.
            memory_mb: memory cap.
        """
        return self._send({"timeout": timeout, "memory_mb": memory_mb}, code)

    def ping(self) -> concurrent.futures.Future:
        """A round trip through the server's loop."""
        return self._send({"op": "ping"})

    def close(self) -> None:
        with self.lock:
            self.dead = True
        self._reap()

    def _kill_group(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except OSError:
            pass
        self.proc.kill()

    def _reap(self) -> None:
        """Close the server's input (it exits on EOF), kill its process group if it lingers, free its files."""
        try:
            self.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._kill_group()
            self.proc.wait()
        drain = getattr(self, "_err_thread", None)
        if drain is not None:
            drain.join(timeout=1)  # keep the server's last stderr lines for the error message
        for f in (self.stdout, self.stderr):
            try:
                f.close()
            except OSError:
                pass
        self._free_host_resources()

    def _free_host_resources(self) -> None:
        if self.cgroups:
            _hostcgroup.release(self.cgroups)
            self.cgroups = {}
        if self.tmpdir:
            from ._inside._cleanup import remove_tree

            try:
                remove_tree(self.tmpdir)
            except OSError:
                shutil.rmtree(self.tmpdir, ignore_errors=True)
            self.tmpdir = None
