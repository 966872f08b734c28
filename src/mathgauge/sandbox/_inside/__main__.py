"""Entry point of the fork-server: ``python -E -s -B -m _inside [options]`` (cwd = the directory above).

Options: ``--unconfined`` (no isolation: ``--unsafe-no-sandbox``), ``--scratch=DIR`` (per-job mount point,
or the parent of per-job directories when unconfined), ``--proc=DIR``, ``--hide=DIR[:DIR]``,
``--lib-roots=DIR[:DIR]``, ``--cgroup-memory=DIR``, ``--cgroup-cpu=DIR``.

Start-up: keep the host channel off fds 0/1, import the math libraries once (the warm state every job
forks from), compile the seccomp filter, then run one confined self-test job and send the host a ready
message with what it found; then serve.
"""

from __future__ import annotations

import json
import os
import signal
import sys

from . import _landlock, _policy
from ._cgroups import JobCgroups
from ._child import ChildConfig
from ._cleanup import Cleaner
from ._seccomp import SeccompFilter
from ._server import Server

SELF_TEST = r"""
import ctypes, errno, json, os, socket
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
r = {}
try:
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    r["fork"] = True
except OSError:
    r["fork"] = False
try:
    socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    r["inet"] = True
except OSError:
    r["inet"] = False
try:
    open("/rt_selftest", "w")
    r["write_root"] = True
except OSError:
    r["write_root"] = False
r["proc"] = os.path.exists("/proc/self")
r["memfd"] = libc.memfd_create(b"selftest", 0) >= 0
r["sysv_ipc"] = libc.shmget(0, 4096, 0o1600) >= 0
r["listmount"] = libc.syscall(458, 0, 0, 0, 0) >= 0 or ctypes.get_errno() not in (errno.ENOSYS, errno.EPERM)
r["pidfd_open"] = libc.syscall(434, 1, 0) >= 0
r["ctl_hidden"] = not any(os.path.exists(p + "/" + name) for p in HIDE for name in ("proc", "memory", "cpu"))
st = os.statvfs(".")
r["scratch_inodes"] = st.f_files
r["scratch_bytes"] = st.f_blocks * st.f_frsize
print(json.dumps(r))
"""


def warm_up() -> None:
    """Imports (and exercises) what snippets use, so every job forks from a warm interpreter."""
    if hasattr(sys, "set_int_max_str_digits"):  # Python >= 3.11 limits int <-> str digits
        sys.set_int_max_str_digits(0)
    import bisect, cmath, collections, decimal, fractions, functools, heapq, itertools, math  # noqa: F401,E401
    import random, re, statistics, string, io, traceback, mmap, shutil, builtins, ast  # noqa: F401,E401
    try:
        import numpy  # noqa: F401
        import numpy.linalg  # noqa: F401
        import numpy.random  # noqa: F401 - lazily imported by numpy 2; seeding it per child must not import it
    except Exception:
        pass
    try:
        import sympy

        x = sympy.symbols("x")
        sympy.solve(x**2 - 2, x)
        sympy.integrate(sympy.sin(x) ** 2, (x, 0, sympy.pi))
        sympy.factorint(2**32 + 1)
        sympy.Matrix([[2, 1], [1, 2]]).eigenvals()
        sympy.N(sympy.pi, 30)
        sympy.Rational(1, 3) + sympy.nsimplify(0.125)
    except Exception:
        pass
    try:  # only the package: its sub-packages double the page tables every fork copies
        import scipy  # noqa: F401
    except Exception:
        pass
    import gc

    gc.collect()
    gc.freeze()


def _options(argv: list[str]) -> dict:
    opts = {"unconfined": False, "scratch": "/scratch", "proc": "/proc", "hide": (), "lib_roots": (),
            "cgroup_memory": None, "cgroup_cpu": None}
    for arg in argv:
        key, _, value = arg.partition("=")
        key = key.lstrip("-").replace("-", "_")
        if key == "unconfined":
            opts["unconfined"] = True
        elif key in ("hide", "lib_roots"):
            opts[key] = tuple(p for p in value.split(":") if p)
        elif key in opts:
            opts[key] = value
    return opts


def _self_test(srv: Server, hide: tuple) -> dict:
    """Runs one confined job with the probe above; returns what it printed plus its start frame."""
    got: dict = {}
    srv.send_hook = lambda hdr, out, err: got.update(hdr=hdr, out=out, err=err)
    code = bytearray(("HIDE = %r\n" % (list(hide),) + SELF_TEST).encode())
    srv.start_job(0, 20.0, 512, code)
    srv.loop(until=lambda: bool(got))
    srv.send_hook = None
    try:
        probe = json.loads(got["out"].decode() or "{}")
    except (ValueError, KeyError):
        probe = {}
    hdr = got.get("hdr", {})
    return {"probe": probe, "layers": hdr.get("layers") or {}, "ready_job": bool(hdr.get("ready")),
            "setup_failed": None if hdr.get("ready") else (got.get("err", b"").decode("utf-8", "replace")[-500:]
                                                           or hdr.get("setup_error") or "no start frame"),
            "cgroups": hdr.get("cgroups") or [], "selftest_exit": hdr.get("exit_code"),
            # its fork attempt was refused by seccomp and recorded by this server (user notifications work)
            "refusals_recorded": "process:syscall:clone" in (hdr.get("events") or []),
            "selftest_stderr": got.get("err", b"").decode("utf-8", "replace")[-2000:]}


def main(argv: list[str] | None = None) -> None:
    opts = _options(sys.argv[1:] if argv is None else argv)
    confine = not opts["unconfined"]
    # keep the protocol away from fds 0/1/2
    ctl_in, ctl_out = os.dup(0), os.dup(1)
    devnull = os.open("/dev/null", os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    os.close(devnull)
    os.set_inheritable(ctl_in, False)
    os.set_inheritable(ctl_out, False)
    # the server's own home is on sys.path (the import system looks there first): reading it is not unsafe
    home = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    lib_roots = tuple(opts["lib_roots"]) + (sys.prefix, sys.base_prefix, "/usr", "/lib", "/lib64", home)
    root_mode = confine and os.geteuid() == 0
    warm_up()
    seccomp, seccomp_error = None, None
    if confine:
        try:
            seccomp = SeccompFilter.compile()
        except OSError as e:
            seccomp_error = str(e)
    parents = {k: v for k, v in (("memory", opts["cgroup_memory"]), ("cpu", opts["cgroup_cpu"])) if v}
    cgroups = JobCgroups(parents) if (confine and parents) else None
    cfg = ChildConfig(confine=confine, root_mode=root_mode, scratch=opts["scratch"], proc=opts["proc"],
                      hide=tuple(opts["hide"]) if confine else (), lib_roots=lib_roots,
                      landlock_abi=_landlock.landlock_abi() if confine else 0, seccomp=seccomp,
                      scratch_bytes=_policy.SCRATCH_BYTES, scratch_inodes=_policy.SCRATCH_INODES,
                      threads=_policy.THREADS_MAX)
    cpu_rate = 1.0 if (cgroups is not None and cgroups.cpu) else float(os.cpu_count() or 1)
    cleaner = None if confine else Cleaner(on_error=lambda path, e: print("sandbox: cannot delete %s: %s" % (path, e), file=sys.stderr))
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    srv = Server(ctl_in, ctl_out, cfg, cgroups, cpu_rate=cpu_rate, cleaner=cleaner)
    # the self-test probes the isolation; without it (unconfined) there is nothing to probe
    test = _self_test(srv, cfg.hide) if confine else {}
    try:
        import socket

        ifaces = sorted(name for _, name in socket.if_nameindex())
    except OSError:
        ifaces = []
    srv.send({"id": 0, "ready": True, "confined": confine, "server_pid": os.getpid(), "interfaces": ifaces,
              "root_mode": root_mode, "landlock_abi": cfg.landlock_abi, "seccomp_error": seccomp_error,
              "cgroup_controllers": sorted(cgroups.parents) if cgroups is not None else [],
              "scratch_inodes_policy": _policy.SCRATCH_INODES, "python": sys.version.split()[0], **test})
    try:
        srv.loop()
    except BaseException:  # the host shows the last line of this with the jobs it loses
        import traceback

        traceback.print_exc()
        sys.stderr.flush()
        raise


if __name__ == "__main__":
    main()
