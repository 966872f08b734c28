"""What a forked child does before its snippet runs, in this order (each step needs the one before):

1. forget other jobs' buffers and the code's bytes; own process group; fds 0-3 (stdin /dev/null, stdout,
   stderr, event channel) and 4 (the socket that hands the server the seccomp listener), every other fd
   closed;
2. move into the job's cgroups (while it may still write there);
3. drop to the job's own uid and gid (root mode);
4. own user + mount + IPC namespaces with the job's own tmpfs as scratch; control files hidden; every
   capability dropped;
5. rlimits; no_new_privs; Landlock (writes only to the scratch); seccomp allow-list, whose listener (the
   server answers refused calls, see ``_refusals``) goes to the server through fd 4, which is then closed;
6. static classification of the snippet (under the limits above); then ``_runner.run``.

Any failure before step 6 writes one line to stderr and exits 125 without running the snippet; the
server sees that no start frame came and reports the job as not run.  The snippet cannot fake that: the
start frame is written before its first instruction.
"""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass, field
from typing import Any

from . import _cgroups, _landlock, _limits, _namespaces, _runner, _static

SETUP_FAILED_EXIT = 125
LISTENER_SOCKET_FD = 4


@dataclass
class ChildConfig:
    """What every child of one server shares.

    Args:
        confine: apply the isolation layers (False only with ``--unsafe-no-sandbox``).
        root_mode: the server runs as root and can give each job its own uid.
        scratch: the per-job scratch mount point (confined) or the parent of per-job directories.
        proc: where procfs is mounted (to write the job's id maps).
        hide: directories covered in the job's mount namespace.
        lib_roots: directories the interpreter reads modules from.
        landlock_abi: the Landlock ABI to apply (0: none).
        seccomp: the compiled filter, or None.
        scratch_bytes, scratch_inodes: caps of the job's tmpfs.
        threads: RLIMIT_NPROC per job (root mode), or None.
    """

    confine: bool
    root_mode: bool
    scratch: str
    proc: str
    hide: tuple = ()
    lib_roots: tuple = ()
    landlock_abi: int = 0
    seccomp: Any = None
    scratch_bytes: int = 0
    scratch_inodes: int = 0
    threads: int | None = None


@dataclass
class ChildJob:
    """One job as the child sees it.

    Args:
        uid: the job's uid and gid (root mode).
        timeout: CPU budget in seconds.
        memory_mb: memory cap.
        scratch: this job's scratch directory.
        cgroups: controller -> group directory to join.
        fds: (stdout, stderr, events) write ends, then optionally the socket for the seccomp listener.
    """

    uid: int
    timeout: float
    memory_mb: int
    scratch: str
    cgroups: dict = field(default_factory=dict)
    fds: tuple = ()


def _zero(buf) -> None:
    if buf is not None and len(buf):
        memoryview(buf).cast("B")[:] = bytes(len(buf))


def _setup_fds(fds: tuple) -> None:
    """fds[0..] become 1, 2, 3 (and 4); stdin is /dev/null; everything else is closed."""
    os.setpgid(0, 0)
    devnull = os.open("/dev/null", os.O_RDONLY)
    # the targets may be taken by other inherited fds: move those out of the way first
    moved = [os.dup(fd) if fd <= len(fds) else fd for fd in fds]
    os.dup2(devnull, 0)
    for target, fd in enumerate(moved, 1):
        os.dup2(fd, target)
    os.closerange(len(fds) + 1, 65536)
    for sig in (signal.SIGPIPE, signal.SIGINT, signal.SIGTERM, signal.SIGCHLD, signal.SIGXCPU):
        signal.signal(sig, signal.SIG_DFL)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # oversized writes fail with EFBIG instead of killing
    signal.pthread_sigmask(signal.SIG_SETMASK, set())


def _apply_seccomp(cfg: ChildConfig, has_listener_socket: bool) -> None:
    """Loads the filter; hands its listener to the server over fd 4 and closes both (before any snippet code)."""
    if not has_listener_socket:
        cfg.seccomp.apply(os.getpid())
        return
    import socket
    import struct

    sock = socket.socket(fileno=LISTENER_SOCKET_FD)  # made before the filter: it only sends and closes after
    try:
        try:
            listener = cfg.seccomp.apply(os.getpid(), listener=True)
        except OSError:  # a kernel without user notifications (< 5.0): refused calls just fail with EPERM
            cfg.seccomp.apply(os.getpid())
            return
        try:
            sock.sendmsg([b"L"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack("i", listener))])
        finally:
            os.close(listener)
    finally:
        sock.close()


def _confine(cfg: ChildConfig, job: ChildJob, layers: dict) -> None:
    if cfg.root_mode:
        os.setgroups([])
        os.setresgid(job.uid, job.uid, job.uid)
        os.setresuid(job.uid, job.uid, job.uid)
    layers["uid"] = os.getuid()
    _namespaces.enter_job_namespaces(job.scratch, cfg.scratch_bytes, cfg.scratch_inodes, cfg.proc, cfg.hide)
    layers["namespaces"] = True


def run_child(cfg: ChildConfig, job: ChildJob, code: bytearray, wipe: list) -> None:
    """The forked child's whole life; never returns.

    Args:
        cfg: the server's shared settings.
        job: this job.
        code: the snippet's UTF-8 bytes (zeroed once decoded).
        wipe: buffers of other jobs (and of the server) to zero before anything else.
    """
    try:
        for buf in wipe:
            _zero(buf)
        source = bytes(code).decode("utf-8", "replace")
        _zero(code)
        _setup_fds(tuple(job.fds))
        layers = {"uid": os.getuid(), "landlock": 0, "seccomp": False, "nnp": False, "namespaces": False,
                  "cgroups": sorted(job.cgroups)}
        if job.cgroups:
            _cgroups.JobCgroups.join(job.cgroups)
        if cfg.confine:
            _confine(cfg, job, layers)
        os.chdir(job.scratch)
        os.environ.clear()
        os.environ.update({
            "PATH": "/usr/bin:/bin", "HOME": job.scratch, "TMPDIR": job.scratch, "LANG": "C.UTF-8",
            "USER": "sandbox", "LOGNAME": "sandbox", "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1",
        })
        _limits.apply_limits(job.timeout, job.memory_mb, address_space="memory" not in job.cgroups,
                             threads=cfg.threads if cfg.root_mode else None,
                             file_bytes=2 * cfg.scratch_bytes or (16 << 20))
        if cfg.confine:
            layers["landlock"] = _landlock.apply_landlock(cfg.landlock_abi, job.scratch, cfg.lib_roots,
                                                          ("/tmp",) + tuple(cfg.hide))
            layers["nnp"] = True
            if cfg.seccomp is None:
                raise OSError("seccomp filter unavailable")
            _apply_seccomp(cfg, len(job.fds) > 3)
            layers["seccomp"] = True
        tree = _static.parse(source)
        static = [] if tree is None else _static.classify_tree(tree)
    except BaseException as e:  # confinement failed: never run the code
        try:
            os.write(2, ("sandbox setup failed: %s\n" % (e,)).encode("utf-8", "backslashreplace")[:2000])
        finally:
            os._exit(SETUP_FAILED_EXIT)
    _runner.run(source, tree, static, layers, job.scratch, cfg.lib_roots)
    os._exit(SETUP_FAILED_EXIT)
