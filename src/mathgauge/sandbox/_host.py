"""Host side of the sandbox: starts the warm fork-server inside bubblewrap and talks to it."""

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
import time
from pathlib import Path

from ._result import ExecutionResult, SandboxUnavailable
from ._static import classify_static

_SERVER_SRC = Path(__file__).with_name("_server.py")
_SERVER_IN_SANDBOX = "/opt/mathgauge-sandbox/server.py"
_TMPFS_BYTES = 256 << 20
_HOST_GRACE_S = 30.0
MAX_CODE_BYTES = 8 << 20
_BLOCKING_PREFIXES = ("process:", "network:", "signal:", "fs:", "ctypes:", "env:")

_SERVER_CAPS = ("CAP_SETUID", "CAP_SETGID", "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_KILL")


def _python_roots() -> list[str]:
    """Directories the sandboxed interpreter needs read-only (its prefix and where the math libraries live)."""
    import importlib.util
    import sysconfig

    cands = [sys.base_prefix, sys.prefix, sys.exec_prefix, os.path.dirname(os.path.realpath(sys.executable))]
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        try:
            cands.append(sysconfig.get_paths()[key])
        except KeyError:
            pass
    for mod in ("sympy", "mpmath", "numpy", "scipy", "gmpy2"):
        try:
            spec = importlib.util.find_spec(mod)
        except (ImportError, ValueError):
            spec = None
        if spec and spec.submodule_search_locations:
            cands.append(os.path.dirname(list(spec.submodule_search_locations)[0]))
            libs = os.path.join(os.path.dirname(list(spec.submodule_search_locations)[0]), mod + ".libs")
            cands.append(libs)
    roots: list[str] = []
    for c in cands:
        if not c:
            continue
        c = os.path.realpath(c)
        if not os.path.isdir(c) or c == "/" or c.startswith("/usr/") or c == "/usr":
            continue
        roots.append(c)
    roots = sorted(set(roots), key=len)
    out: list[str] = []
    for r in roots:
        if not any(r == o or r.startswith(o + "/") for o in out):
            out.append(r)
    return out


def find_bwrap() -> str | None:
    return shutil.which("bwrap") or (os.path.exists("/usr/bin/bwrap") and "/usr/bin/bwrap") or None


def _bwrap_argv(bwrap: str, python: str, roots: list[str]) -> list[str]:
    argv = [bwrap, "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
            "--hostname", "sandbox", "--as-pid-1", "--new-session", "--die-with-parent", "--clearenv",
            "--setenv", "PATH", "/usr/bin:/bin", "--setenv", "LANG", "C.UTF-8",
            "--setenv", "OPENBLAS_NUM_THREADS", "1", "--setenv", "OMP_NUM_THREADS", "1",
            "--setenv", "MKL_NUM_THREADS", "1", "--setenv", "PYTHONHASHSEED", "0",
            "--setenv", "MPLBACKEND", "Agg", "--setenv", "HOME", "/tmp"]
    if os.geteuid() == 0:
        argv += ["--cap-drop", "ALL"]
        for cap in _SERVER_CAPS:
            argv += ["--cap-add", cap]
    else:
        argv += ["--unshare-user"]
    argv += ["--ro-bind", "/usr", "/usr"]
    for name in ("bin", "sbin", "lib", "lib64", "lib32", "libx32"):
        p = "/" + name
        if os.path.islink(p):
            argv += ["--symlink", os.readlink(p), p]
        elif os.path.isdir(p):
            argv += ["--ro-bind", p, p]
    for f in ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/localtime"):
        argv += ["--ro-bind-try", f, f]
    # /dev and the scratch tmpfs first, so that an interpreter living under /tmp (a venv) is bound on top
    argv += ["--dev", "/dev", "--size", str(_TMPFS_BYTES), "--perms", "0711", "--tmpfs", "/tmp"]
    made: set[str] = {"/tmp", "/dev"}
    for r in roots:
        # intermediate directories created by bwrap would copy the host's modes (e.g. /root 0700: untraversable)
        parts = Path(r).parts[1:-1]
        for i in range(1, len(parts) + 1):
            d = "/" + "/".join(parts[:i])
            if d not in made and not d.startswith("/usr"):
                made.add(d)
                argv += ["--perms", "0711", "--dir", d]  # traversable, not listable
        argv += ["--ro-bind", r, r]
    argv += ["--ro-bind", str(_SERVER_SRC), _SERVER_IN_SANDBOX,
             "--remount-ro", "/",
             "--chdir", "/tmp",
             python, "-I", "-B", _SERVER_IN_SANDBOX, "--lib-roots=" + ":".join(roots)]
    return argv


def _read_exact(f, n: int) -> bytes:
    chunks = []
    while n:
        b = f.read(n)
        if not b:
            raise EOFError
        chunks.append(b)
        n -= len(b)
    return b"".join(chunks)


class _Server:
    """One running fork-server process and its reader thread."""

    def __init__(self, confined: bool) -> None:
        self.confined = confined
        self.lock = threading.Lock()
        self.pending: dict[int, concurrent.futures.Future] = {}
        self.next_id = 1
        self.dead = False
        self.tmpdir: str | None = None
        python = os.path.abspath(sys.executable)  # not realpath: a venv is recognised by its own path
        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
        if confined:
            bwrap = find_bwrap()
            if not bwrap:
                raise SandboxUnavailable(
                    "sandbox unavailable: bubblewrap (bwrap) is not installed (apt-get install bubblewrap); "
                    "pass --unsafe-no-sandbox to run model code without isolation")
            argv = _bwrap_argv(bwrap, python, _python_roots())
        else:
            self.tmpdir = tempfile.mkdtemp(prefix="mathgauge-unsafe-")
            argv = [python, "-I", "-B", str(_SERVER_SRC), "--unconfined", "--scratch-root=" + self.tmpdir,
                    "--lib-roots=" + ":".join(_python_roots())]
            env["HOME"] = self.tmpdir
        try:
            self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                         env=env, close_fds=True, start_new_session=True)
        except OSError as e:
            if self.tmpdir:
                shutil.rmtree(self.tmpdir, ignore_errors=True)
            raise SandboxUnavailable(
                "sandbox unavailable: cannot start %s (%s); pass --unsafe-no-sandbox to run model code without "
                "isolation" % (argv[0], e.strerror or e)) from None
        self.stderr_tail = b""
        self._err_thread = threading.Thread(target=self._drain_stderr, daemon=True, name="sandbox-stderr")
        self._err_thread.start()
        try:
            hdr, _, _, _ = self._read_frame()
        except (EOFError, ValueError, struct.error):
            self._reap()
            raise SandboxUnavailable(
                "sandbox unavailable: the sandbox server did not start (%s); pass --unsafe-no-sandbox to run "
                "model code without isolation" % (self._err_line() or "exit code %s" % self.proc.returncode)) from None
        self.info = hdr
        self._reader = threading.Thread(target=self._read_loop, daemon=True, name="sandbox-reader")
        self._reader.start()

    def _err_line(self) -> str:
        self._err_thread.join(timeout=1.0)
        lines = [ln for ln in self.stderr_tail.decode("utf-8", "replace").splitlines() if ln.strip()]
        return lines[-1].strip() if lines else ""

    def _drain_stderr(self) -> None:
        f = self.proc.stderr
        while True:
            b = f.read1(65536) if hasattr(f, "read1") else f.read(65536)
            if not b:
                return
            self.stderr_tail = (self.stderr_tail + b)[-8192:]

    def _read_frame(self):
        f = self.proc.stdout
        (n,) = struct.unpack(">I", _read_exact(f, 4))
        hdr = json.loads(_read_exact(f, n))
        out = _read_exact(f, hdr.get("out_len", 0)) if hdr.get("out_len") else b""
        err = _read_exact(f, hdr.get("err_len", 0)) if hdr.get("err_len") else b""
        ev = _read_exact(f, hdr.get("ev_len", 0)) if hdr.get("ev_len") else b""
        return hdr, out, err, ev

    def _read_loop(self) -> None:
        try:
            while True:
                frame = self._read_frame()
                with self.lock:
                    fut = self.pending.pop(frame[0].get("id"), None)
                if fut is not None and not fut.done():
                    fut.set_result(frame)
        except (EOFError, OSError, ValueError):
            pass
        with self.lock:
            self.dead = True
            pending, self.pending = self.pending, {}
        for fut in pending.values():
            if not fut.done():
                fut.set_exception(EOFError("sandbox server exited"))

    def submit(self, code: bytes, timeout: float, memory_mb: int) -> concurrent.futures.Future:
        fut: concurrent.futures.Future = concurrent.futures.Future()
        with self.lock:
            if self.dead:
                raise EOFError("sandbox server exited")
            jid = self.next_id
            self.next_id += 1
            self.pending[jid] = fut
            hdr = json.dumps({"id": jid, "timeout": timeout, "memory_mb": memory_mb, "code_len": len(code)}).encode()
            try:
                self.proc.stdin.write(struct.pack(">I", len(hdr)) + hdr + code)
                self.proc.stdin.flush()
            except (BrokenPipeError, OSError, ValueError):
                self.pending.pop(jid, None)
                self.dead = True
                raise EOFError("sandbox server exited") from None
        return fut

    def close(self) -> None:
        with self.lock:
            self.dead = True
        self._reap()

    def _reap(self) -> None:
        """Close the server's input (it exits on EOF), kill its process group if it lingers, free its files."""
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except OSError:
                pass
            self.proc.kill()
            self.proc.wait()
        drain = getattr(self, "_err_thread", None)
        if drain is not None:
            drain.join(timeout=1)  # keep the server's last stderr lines for the error message
        for f in (self.proc.stdout, self.proc.stderr):
            try:
                if f is not None:
                    f.close()
            except OSError:
                pass
        if self.tmpdir:
            shutil.rmtree(self.tmpdir, ignore_errors=True)


def _verify(info: dict) -> str | None:
    """Returns what is missing, or None when the confined self-test passed."""
    if info.get("setup_failed"):
        return "confinement of the child failed (%s)" % info["setup_failed"]
    probe = info.get("probe") or {}
    layers = info.get("layers") or {}
    if not layers.get("seccomp"):
        return "seccomp filter could not be applied (libseccomp2 missing?)"
    if probe.get("fork", True):
        return "process creation is not blocked (seccomp)"
    if probe.get("inet", True):
        return "inet sockets are not blocked (seccomp)"
    if probe.get("write_root", True):
        return "the sandbox root is writable"
    if set(info.get("interfaces") or []) - {"lo"}:
        return "network namespace not isolated"
    if info.get("server_pid", 99) > 10:
        return "pid namespace not isolated"
    return None


def _status_of(hdr: dict, err: str, ev: dict, events: list[str]) -> tuple[str, str]:
    sig = hdr.get("signal") or 0
    note = ""
    if ev.get("setup_failed"):
        return "error", "[sandbox] setup of the confined process failed; the code was not run\n"
    if hdr.get("timed_out"):
        return "timeout", ""
    if hdr.get("flooded"):
        return "killed", "[sandbox] killed: output exceeded %d bytes\n" % hdr.get("out_total", 0)
    if sig == signal.SIGXCPU:
        return "timeout", "[sandbox] CPU time limit exceeded\n"
    if ev.get("memory_error"):
        return "memory", ""
    if sig == signal.SIGABRT and ("Cannot allocate memory" in err or "MemoryError" in err or "bad_alloc" in err):
        return "memory", "[sandbox] aborted: out of memory\n"
    if sig == signal.SIGKILL:
        return "killed", "[sandbox] killed by SIGKILL\n"
    if sig:
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = str(sig)
        return "error", "[sandbox] crashed: %s\n" % name
    if hdr.get("exit_code") == 0:
        return "ok", note
    if any(e.startswith(_BLOCKING_PREFIXES) for e in events):
        return "blocked", note
    return "error", note


class Sandbox:
    """Runs untrusted Python snippets in a warm, isolated fork-server.  Thread-safe; ``arun`` for asyncio."""

    def __init__(self, *, timeout_s: float = 10.0, memory_mb: int = 1024, allow_unsafe_no_sandbox: bool = False,
                 workers: int | None = None) -> None:
        self.timeout_s = float(timeout_s)
        self.memory_mb = int(memory_mb)
        self.allow_unsafe_no_sandbox = bool(allow_unsafe_no_sandbox)
        self.workers = int(workers or max(2, os.cpu_count() or 2))
        self._slots = threading.BoundedSemaphore(self.workers)
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._closed = False
        self.unsafe_mode = False
        self.info: dict = {}
        self.missing: str | None = None

    # -- lifecycle
    def _start(self) -> _Server:
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
                    srv = _Server(confined=True)
                    missing = _verify(srv.info)
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
            srv = _Server(confined=False)
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
    def _submit(self, code: str, timeout: float | None, memory_mb: int | None):
        t = float(self.timeout_s if timeout is None else timeout)
        m = int(self.memory_mb if memory_mb is None else memory_mb)
        data = code.encode("utf-8", "surrogatepass")
        for attempt in range(2):
            srv = self._start()
            try:
                return srv, srv.submit(data, t, m), t
            except EOFError:
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def _finish(self, code: str, frame, t0: float) -> ExecutionResult:
        hdr, out, err, evb = frame
        try:
            ev = json.loads(evb.decode("utf-8", "replace")) if evb else {}
            if not isinstance(ev, dict):
                ev = {}
        except ValueError:
            ev = {}
        events = [str(e) for e in ev.get("events", []) if isinstance(e, str)][:64]
        stderr = err.decode("utf-8", "replace")
        status, note = _status_of(hdr, stderr, ev, events)
        if hdr.get("timed_out"):
            note = "[sandbox] timed out\n"
        if status == "memory" and not note:
            note = "[sandbox] memory limit reached\n"
        if hdr.get("out_total", 0) > hdr.get("out_len", 0) + hdr.get("err_len", 0) and status != "killed":
            note += "[sandbox] output truncated\n"
        static = classify_static(code)
        return ExecutionResult(
            status=status,
            stdout=out.decode("utf-8", "replace"),
            stderr=stderr + note,
            exit_code=hdr.get("exit_code"),
            duration_ms=round(float(hdr.get("duration_ms", (time.monotonic() - t0) * 1000.0)), 3),
            unsafe=bool(static or events),
            unsafe_static=static,
            unsafe_runtime=events,
        )

    def _lost(self, code: str, t0: float, why: str) -> ExecutionResult:
        static = classify_static(code)
        return ExecutionResult("killed", "", "[sandbox] %s\n" % why, None, (time.monotonic() - t0) * 1000.0,
                               bool(static), static, [])

    def run(self, code: str, *, timeout: float | None = None, memory_mb: int | None = None) -> ExecutionResult:
        t0 = time.monotonic()
        if not isinstance(code, str):
            raise TypeError("code must be a str, not %s" % type(code).__name__)
        if len(code) > MAX_CODE_BYTES:
            static = classify_static(code[:100000])
            return ExecutionResult("error", "", "[sandbox] code larger than %d bytes; not run\n" % MAX_CODE_BYTES,
                                   None, 0.0, bool(static), static, [])
        with self._slots:
            srv, fut, t = self._submit(code, timeout, memory_mb)
            try:
                frame = fut.result(timeout=t + _HOST_GRACE_S)
            except concurrent.futures.TimeoutError:
                self._restart(srv)
                return self._lost(code, t0, "sandbox server stopped answering; restarted")
            except EOFError:
                return self._lost(code, t0, "sandbox server exited during the run; restarted")
        return self._finish(code, frame, t0)

    async def arun(self, code: str, *, timeout: float | None = None, memory_mb: int | None = None) -> ExecutionResult:
        import asyncio

        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, lambda: self.run(code, timeout=timeout, memory_mb=memory_mb))

    def _restart(self, srv: _Server) -> None:
        with self._lock:
            if self._server is srv:
                self._server = None
        srv.close()

    def ping(self, timeout: float = 10.0) -> bool:
        """True when the warm server answers (used after hostile batches)."""
        try:
            srv = self._start()
            fut: concurrent.futures.Future = concurrent.futures.Future()
            with srv.lock:
                jid = srv.next_id
                srv.next_id += 1
                srv.pending[jid] = fut
                hdr = json.dumps({"id": jid, "op": "ping", "code_len": 0}).encode()
                srv.proc.stdin.write(struct.pack(">I", len(hdr)) + hdr)
                srv.proc.stdin.flush()
            return bool(fut.result(timeout=timeout)[0].get("pong"))
        except Exception:
            return False

    def isolation(self) -> dict:
        self._start()
        return _layers_from_info(self.info, self.unsafe_mode, self.missing)


def _layers_from_info(info: dict, unsafe_mode: bool, missing: str | None) -> dict:
    layers = info.get("layers") or {}
    probe = info.get("probe") or {}
    confined = bool(info.get("confined")) and not unsafe_mode
    ll = int(info.get("landlock_abi") or 0) if confined else 0
    return {
        "sandbox": "bubblewrap" if confined else "none (--unsafe-no-sandbox)",
        "bwrap": confined,
        "pid_namespace": confined and int(info.get("server_pid", 99)) <= 10,
        "net_namespace": confined and set(info.get("interfaces") or []) <= {"lo"},
        "mount_namespace_readonly": confined and probe.get("write_root") is False,
        "proc_hidden": confined and probe.get("proc") is False,
        "seccomp": bool(layers.get("seccomp")),
        "no_fork": probe.get("fork") is False,
        "no_inet_sockets": probe.get("inet") is False,
        "landlock": ("abi %d" % ll) if ll and int(layers.get("landlock") or 0) else False,
        "setuid_unprivileged": bool(layers.get("uid")) and confined and bool(info.get("root_mode")),
        "no_new_privs": bool(layers.get("nnp")),
        "rlimits": True,
        "audit_hook": True,
        "python": str(info.get("python", "")),
        "usable": confined,
        "missing": missing or "",
    }


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
