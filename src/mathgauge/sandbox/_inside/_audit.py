"""The audit hook (PEP 578) that reports what a snippet attempts, built so that the snippet cannot silence it.

What it guarantees, and why:

- Every record is written at once, as one frame (one ``write`` below PIPE_BUF) on the event channel
  (fd 3), before the audited operation proceeds.  The server keeps what it has read; nothing the snippet
  does later can take a record back.  seccomp keeps fd 3 from being closed, replaced, duplicated or made
  non-blocking, so the write reaches the server; if it still fails the hook raises, which aborts the
  operation (fail closed).
- The hook has no mutable state and reads no global or builtin name: everything it uses is bound in its
  default arguments (an immutable tuple of C functions, strings and tuples), checked by a test on its
  bytecode.  Patching ``builtins`` (``len``, ``str``, ...), a module (``os.path.normpath``) or the module
  that defined it changes nothing.  Paths are resolved with string methods of the exact built-in types.
- The routes to the hook's internals are audited themselves: they are recorded, and those that could
  change the hook are refused (the hook raises PermissionError, which aborts them): replacing or deleting
  the hook's ``__code__``/``__defaults__`` (``object.__setattr__/__delattr__``), ``gc.get_objects/
  get_referrers/get_referents`` (the only way to the objects behind its read-only views),
  ``sys.settrace/setprofile`` (a tracer can rewrite a running frame's locals).  Recorded only:
  ``sys._current_frames``, reading the hook's attributes, ctypes (raw memory), a new sub-interpreter (no
  hooks there).

Best effort, not a boundary: a path given as an object whose ``__fspath__`` lies can be misreported, and a
snippet killed between the event and the write leaves no record (nor did the operation run).  Landlock,
seccomp and the namespaces are what actually stop the operations.
"""

from __future__ import annotations

import os
import select
import struct
import sys
import types

SENSITIVE_DIRS = ("/proc", "/sys", "/root", "/home", "/etc", "/dev", "/var", "/run", "/boot")
_DEV_OK = ("/dev/null", "/dev/urandom", "/dev/random", "/dev/zero")
_HOOK_ERROR = "tamper:audit-hook-error"
_ACCESSED = "tamper:audit-hook-accessed"

# event -> (kind, argument): T fixed tag, O open, M file mutation, L listing, S socket, K kill, D dlsym,
# A attribute access on the hook itself
_FIXED = {
    "os.system": "process:os.system", "subprocess.Popen": "process:subprocess", "os.exec": "process:exec",
    "os.posix_spawn": "process:posix_spawn", "os.spawn": "process:spawn", "os.fork": "process:fork",
    "os.forkpty": "process:forkpty", "os.startfile": "process:startfile", "os.chroot": "process:chroot",
    "pty.spawn": "process:pty",
    "socket.connect": "network:connect", "socket.bind": "network:bind", "socket.sendto": "network:sendto",
    "socket.sendmsg": "network:sendmsg", "socket.getaddrinfo": "network:getaddrinfo",
    "socket.gethostbyname": "network:gethostbyname", "socket.gethostbyaddr": "network:gethostbyaddr",
    "urllib.Request": "network:urllib", "http.client.connect": "network:http", "ftplib.connect": "network:ftp",
    "smtplib.connect": "network:smtp", "webbrowser.open": "network:webbrowser",
    "os.killpg": "signal:killpg", "signal.pthread_kill": "signal:pthread_kill",
    "ctypes.dlopen": "ctypes:dlopen", "ctypes.cdata": "ctypes:cdata", "ctypes.call_function": "ctypes:call_function",
    "ctypes.string_at": "ctypes:string_at", "ctypes.wstring_at": "ctypes:wstring_at",
    "os.putenv": "env:putenv", "os.unsetenv": "env:unsetenv", "os.mknod": "fs:mknod",
    "gc.get_objects": "introspection:gc.get_objects", "gc.get_referrers": "introspection:gc.get_referrers",
    "gc.get_referents": "introspection:gc.get_referents", "sys._current_frames": "introspection:sys._current_frames",
    "sys.settrace": "introspection:sys.settrace", "sys.setprofile": "introspection:sys.setprofile",
    "sys.addaudithook": "introspection:sys.addaudithook",
    "cpython.PyInterpreterState_New": "introspection:subinterpreter",
}
#: Events refused after they are recorded: each is a way to change the hook (see the module doc).
_REFUSED = ("gc.get_objects", "gc.get_referrers", "gc.get_referents", "sys.settrace", "sys.setprofile")
_FS_MUTATE = ("os.remove", "os.rmdir", "os.rename", "os.link", "os.chmod", "os.chown", "os.truncate",
              "os.mkdir", "os.utime", "shutil.rmtree", "shutil.move", "shutil.copyfile")
_FS_TWO_PATHS = ("os.rename", "os.link", "shutil.move", "shutil.copyfile")
_FS_LIST = ("os.listdir", "os.scandir", "glob.glob", "os.chdir")


def _watch_table() -> types.MappingProxyType:
    table: dict[str, tuple] = {event: ("T", tag, event in _REFUSED) for event, tag in _FIXED.items()}
    table["open"] = ("O", "")
    for event in _FS_MUTATE:
        table[event] = ("M", event, (0, 1) if event in _FS_TWO_PATHS else (0,))
    for event in _FS_LIST:
        table[event] = ("L", event.split(".")[-1])
    table["os.symlink"] = ("Y", "")
    table["socket.__new__"] = ("S", "")
    table["os.kill"] = ("K", "")
    table["ctypes.dlsym"] = ("D", "")
    for event in ("object.__getattr__", "object.__setattr__", "object.__delattr__"):
        table[event] = ("A", "", event != "object.__getattr__")
    return types.MappingProxyType(table)


def _resolve(path, _ctx=None, base=None):
    """Absolute, normalised str for a path argument; None for an fd or None; '?' when unresolvable.

    A relative path is taken from ``base`` (an absolute str), by default the working directory.
    """
    (getcwd, fspath, str_t, bytes_t, int_t, bool_t, type_, base_exc) = _ctx
    t = type_(path)
    if path is None or t is int_t or t is bool_t:
        return None
    if t is not str_t and t is not bytes_t:
        try:
            path = fspath(path)  # may run the snippet's __fspath__: it can lie, not silence
        except base_exc:
            return "?"
    try:
        s = "".join((path,))  # exact str even for a str subclass, without calling its methods
    except base_exc:
        try:
            s = b"".join((path,)).decode("utf-8", "surrogateescape")
        except base_exc:
            return "?"
    if not s.startswith("/"):
        s = (getcwd() if base is None else base) + "/" + s
    parts: list[str] = []
    for seg in s.split("/"):
        if seg == "" or seg == ".":
            continue
        if seg == "..":
            if parts:
                parts.pop()
            continue
        parts.append(seg)
    return "/" + "/".join(parts)


def _hook(event, args, _watch=None, _ctx=None):
    kind = _watch.get(event)
    if kind is None:
        return
    (write, fd, pack, mark, select_, resolve, rctx, mypid, scratch, scratch_prefix, libs, sensitive, dev_ok,
     ours, str_t, int_t, type_, len_, base_exc, blocking, refusal) = _ctx
    tag = None
    refuse = False
    try:
        k = kind[0]
        if k == "T":
            tag = kind[1]
            refuse = kind[2]
        elif k == "O":
            ap = resolve(args[0], rctx)
            if ap is not None and ap != scratch and not ap.startswith(scratch_prefix):
                mode, flags = args[1], args[2]
                writing = type_(mode) is str_t and ("w" in mode or "a" in mode or "x" in mode or "+" in mode)
                if not writing and type_(flags) is int_t:
                    writing = (flags & 0o1103) != 0  # O_WRONLY | O_RDWR | O_CREAT | O_TRUNC
                in_libs = False
                for root, prefix in libs:
                    if ap == root or ap.startswith(prefix):
                        in_libs = True
                if writing:
                    tag = "fs:write-outside:" + ap
                elif not in_libs:
                    if ap.startswith(sensitive) and ap not in dev_ok:
                        tag = "fs:read-sensitive:" + ap
                    elif not ap.startswith("/dev/"):
                        tag = "fs:read-outside:" + ap
        elif k == "M":
            for i in kind[2]:
                ap = resolve(args[i], rctx) if i < len_(args) else None
                if ap is not None and ap != scratch and not ap.startswith(scratch_prefix):
                    tag = "fs:" + kind[1] + "-outside:" + ap
        elif k == "Y":  # os.symlink(src, dst, dir_fd): a relative target is resolved from the link's directory
            dst = resolve(args[1], rctx) if len_(args) > 1 else None
            dir_fd = args[2] if len_(args) > 2 else -1
            if dst is not None and dir_fd is not None and not (type_(dir_fd) is int_t and dir_fd == -1):
                tag = "fs:os.symlink-outside:?"  # relative to a directory fd: where it points is unknown here
            elif dst is not None:
                cut = dst.rfind("/")
                ap = resolve(args[0], rctx, dst[:cut] if cut > 0 else "/")
                if ap is not None and ap != scratch and not ap.startswith(scratch_prefix):
                    tag = "fs:os.symlink-outside:" + ap
                elif dst != scratch and not dst.startswith(scratch_prefix):
                    tag = "fs:os.symlink-outside:" + dst
        elif k == "L":
            if len_(args) and args[0] is not None:
                ap = resolve(args[0], rctx)
                if ap is not None:
                    in_libs = False
                    for root, prefix in libs:
                        if ap == root or ap.startswith(prefix):
                            in_libs = True
                    outside = ap != scratch and not ap.startswith(scratch_prefix)
                    if kind[1] == "chdir" and outside:
                        tag = "fs:chdir:" + ap
                    elif not in_libs and (ap == "/" or ap.startswith(sensitive)):
                        tag = "fs:" + kind[1] + ":" + ap
        elif k == "S":
            if len_(args) > 1 and not (type_(args[1]) is int_t and args[1] == 1):  # anything but AF_UNIX
                tag = "network:socket"
        elif k == "K":
            if not (len_(args) and type_(args[0]) is int_t and args[0] == mypid):
                tag = "signal:kill"
        elif k == "D":
            name = args[1] if len_(args) > 1 else None
            # the hook reads no builtin (a snippet may patch them), so mypy cannot see `type_(name) is str_t` narrow
            tag = "ctypes:dlsym:" + (name if type_(name) is str_t else "?")  # type: ignore[operator]
        elif k == "A":
            target = args[0] if len_(args) else None
            for o in ours:
                if o is target:
                    tag = "tamper:audit-hook-accessed"
                    refuse = kind[2]
    except base_exc:
        tag = "tamper:audit-hook-error"
    if tag is None:
        return
    tag = tag[:300]
    if not tag.isprintable():
        tag = tag.encode("unicode_escape").decode("ascii")[:300]
    data = tag.encode("utf-8", "backslashreplace")
    frame = mark + pack(len_(data)) + data
    while True:
        try:
            write(fd, frame)  # any other failure propagates: the audited operation is aborted
            break
        except blocking:
            select_((), (fd,), (), 1.0)
    if refuse:
        raise refusal("refused by the sandbox: " + event)


def make_hook(scratch: str, lib_roots, fd: int = 3, pid: int | None = None):
    """A fresh audit hook bound to this job's scratch and library roots (not installed).

    Args:
        scratch: the job's scratch directory (paths below it are not reported).
        lib_roots: directories read for imports (reads below them are not reported).
        fd: the event channel.
        pid: the job's pid (signals to itself are not reported); default ``os.getpid()``.
    """
    scratch = scratch.rstrip("/") or "/"
    libs = tuple((r.rstrip("/") or "/", r.rstrip("/") + "/") for r in lib_roots if r)
    rctx = (os.getcwd, os.fspath, str, bytes, int, bool, type, BaseException)
    # empty globals and builtins: a global name used by mistake fails (and is reported) instead of reading
    # something the snippet could patch
    resolve = types.FunctionType(_resolve.__code__, {"__builtins__": {}}, "_resolve", (rctx, None))
    hook = types.FunctionType(_hook.__code__, {"__builtins__": {}}, "_sandbox_audit_hook", (None, None))
    ctx = (os.write, fd, struct.Struct(">H").pack, b"\x1eE", select.select, resolve, rctx,
           os.getpid() if pid is None else pid, scratch, scratch + "/", libs, SENSITIVE_DIRS, _DEV_OK,
           (hook, resolve), str, int, type, len, BaseException, BlockingIOError, PermissionError)
    hook.__defaults__ = (_watch_table(), ctx)
    return hook


def install(scratch: str, lib_roots, fd: int = 3) -> None:
    """Installs the hook for the rest of this process's life (audit hooks cannot be removed).

    Args:
        scratch: the job's scratch directory.
        lib_roots: directories read for imports.
        fd: the event channel.
    """
    sys.addaudithook(make_hook(scratch, lib_roots, fd))
