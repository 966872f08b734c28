"""The bubblewrap command line that starts the fork-server, and the directories it binds read-only."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

INSIDE_DIR = Path(__file__).with_name("_inside")
SERVER_HOME = "/opt/mathgauge-sandbox"
SCRATCH = "/scratch"
CONTROL = "/.mgctl"
PROC = CONTROL + "/proc"
_SERVER_TMP_BYTES = 16 << 20

#: Capabilities the server keeps (root mode): giving each job its own uid, making its scratch, joining it
#: to its cgroups.  Children drop them all when they change uid.
SERVER_CAPS = ("CAP_SETUID", "CAP_SETGID", "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_KILL")


def python_roots() -> list[str]:
    """Directories the sandboxed interpreter needs read-only (its prefix and where the math libraries live)."""
    import importlib.util
    import sysconfig

    cands = [sys.base_prefix, sys.prefix, sys.exec_prefix, os.path.dirname(os.path.realpath(sys.executable))]
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        cands.append(sysconfig.get_paths().get(key, ""))
    for mod in ("sympy", "mpmath", "numpy", "scipy", "gmpy2"):
        try:
            spec = importlib.util.find_spec(mod)
        except (ImportError, ValueError):
            spec = None
        if spec and spec.submodule_search_locations:
            site = os.path.dirname(list(spec.submodule_search_locations)[0])
            cands += [site, os.path.join(site, mod + ".libs")]
    roots = set()
    for c in cands:
        if not c:
            continue
        c = os.path.realpath(c)
        if os.path.isdir(c) and c != "/" and c != "/usr" and not c.startswith("/usr/"):
            roots.add(c)
    out: list[str] = []
    for r in sorted(roots, key=len):
        if not any(r == o or r.startswith(o + "/") for o in out):
            out.append(r)
    return out


def find_bwrap() -> str | None:
    """Path of the bwrap executable, or None."""
    return shutil.which("bwrap") or ("/usr/bin/bwrap" if os.path.exists("/usr/bin/bwrap") else None)


def bwrap_argv(bwrap: str, python: str, roots: list[str], cgroups: dict[str, str]) -> list[str]:
    """The command that starts the server confined.

    No ``--die-with-parent``: its parent-death signal fires when the *thread* that started bwrap exits (a
    worker thread of a pool, say), which would kill a healthy server.  When the host dies the server sees
    its input close, kills its jobs and exits (it is pid 1 of its namespace: nothing survives it).

    Args:
        bwrap: the bwrap executable.
        python: the interpreter (a venv's own path, not resolved).
        roots: directories to bind read-only (``python_roots()``).
        cgroups: controller -> host directory of the delegated parent group, bound writable for the server.
    """
    argv = [bwrap, "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
            "--hostname", "sandbox", "--as-pid-1", "--new-session", "--clearenv",
            "--setenv", "PATH", "/usr/bin:/bin", "--setenv", "LANG", "C.UTF-8",
            "--setenv", "OPENBLAS_NUM_THREADS", "1", "--setenv", "OMP_NUM_THREADS", "1",
            "--setenv", "MKL_NUM_THREADS", "1", "--setenv", "PYTHONHASHSEED", "0",
            "--setenv", "MPLBACKEND", "Agg", "--setenv", "HOME", "/tmp"]
    if os.geteuid() == 0:
        argv += ["--cap-drop", "ALL"]
        for cap in SERVER_CAPS:
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
    # /dev, the server's small /tmp, the scratch mount point and the control directory first, so that an
    # interpreter living under /tmp (a venv) is bound on top
    argv += ["--dev", "/dev", "--size", str(_SERVER_TMP_BYTES), "--perms", "0711", "--tmpfs", "/tmp",
             "--perms", "0755", "--dir", SCRATCH, "--perms", "0711", "--dir", CONTROL, "--proc", PROC]
    for controller, path in sorted(cgroups.items()):
        argv += ["--bind", path, "%s/%s" % (CONTROL, controller)]
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
    argv += ["--ro-bind", str(INSIDE_DIR), SERVER_HOME + "/_inside", "--remount-ro", "/", "--chdir", SERVER_HOME,
             python, "-E", "-s", "-B", "-m", "_inside", "--scratch=" + SCRATCH, "--proc=" + PROC,
             "--hide=" + CONTROL, "--lib-roots=" + ":".join(roots)]
    for controller in sorted(cgroups):
        argv.append("--cgroup-%s=%s/%s" % (controller, CONTROL, controller))
    return argv


def unconfined_argv(python: str, scratch_root: str, roots: list[str]) -> tuple[list[str], str]:
    """The command (and its working directory) that starts the server WITHOUT isolation.

    Args:
        python: the interpreter.
        scratch_root: a private host directory for the jobs' scratch directories.
        roots: library roots (reads there are not reported as unsafe).
    """
    argv = [python, "-E", "-s", "-B", "-m", "_inside", "--unconfined", "--scratch=" + scratch_root,
            "--lib-roots=" + ":".join(roots)]
    return argv, str(INSIDE_DIR.parent)
