"""Each layer of the sandbox on its own, applied for real in a forked child of the test process."""

from __future__ import annotations

import ctypes
import errno
import json
import os
import resource
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import require_sandbox

from mathgauge.sandbox._inside import _audit, _cleanup, _landlock, _wire
from mathgauge.sandbox._inside._seccomp import SeccompFilter, load_libseccomp

ROOT = os.geteuid() == 0


def _need(ok: bool, why: str) -> None:
    require_sandbox(ok, why)


def in_forked_child(fn, timeout: float = 60.0) -> dict:
    """Runs fn() in a forked child (to apply a layer for real) and returns the dict it returned."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(r)
            out = fn()
        except BaseException as e:  # noqa: BLE001
            out = {"exception": repr(e)}
        os.write(w, json.dumps(out).encode())
        os._exit(0)
    os.close(w)
    data = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        b = os.read(r, 65536)
        if not b:
            break
        data += b
    os.close(r)
    os.waitpid(pid, 0)
    return json.loads(data)


def _errno_of(fn) -> object:
    try:
        fn()
        return "allowed"
    except OSError as e:
        return e.errno


# --------------------------------------------------------------------------------------------- Landlock

def test_landlock_alone(tmp_path):
    """Landlock by itself confines writes to the scratch dir, even where file permissions allow more."""
    _need(_landlock.landlock_abi() >= 1, "Landlock not available on this kernel")
    scratch, other = tmp_path / "scratch", tmp_path / "other"
    scratch.mkdir()
    other.mkdir()

    def child():
        abi = _landlock.apply_landlock(_landlock.landlock_abi(), str(scratch), hidden=())
        (scratch / "ok.txt").write_text("1")
        return {"abi": abi, "other": _errno_of(lambda: (other / "no.txt").write_text("1"))}

    res = in_forked_child(child)
    assert res.get("abi", 0) >= 1 and res["other"] == errno.EACCES, res
    assert (scratch / "ok.txt").exists() and not (other / "no.txt").exists()


def test_landlock_opens_only_the_data_devices(tmp_path):
    """In /dev only null, zero, full, random and urandom open: no pseudo-terminal (a channel between jobs)."""
    _need(_landlock.landlock_abi() >= 1, "Landlock not available on this kernel")
    _need(os.path.exists("/dev/ptmx"), "no /dev/ptmx here")

    def child():
        _landlock.apply_landlock(_landlock.landlock_abi(), str(tmp_path), hidden=())
        res = {p: _errno_of(lambda: os.close(os.open(p, os.O_RDWR | os.O_NOCTTY)))
               for p in ("/dev/null", "/dev/zero", "/dev/urandom", "/dev/ptmx")}
        res["ptmx_read"] = _errno_of(lambda: os.close(os.open("/dev/ptmx", os.O_RDONLY | os.O_NOCTTY)))
        res["list_dev"] = _errno_of(lambda: os.listdir("/dev"))
        return res

    res = in_forked_child(child)
    assert res == {"/dev/null": "allowed", "/dev/zero": "allowed", "/dev/urandom": "allowed",
                   "/dev/ptmx": errno.EACCES, "ptmx_read": errno.EACCES, "list_dev": "allowed"}, res


# ---------------------------------------------------------------------------------------------- seccomp

def _seccomp_probe() -> dict:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long

    def sys_errno(nr, *args):
        ctypes.set_errno(0)
        rc = libc.syscall(nr, *args)
        return "allowed" if rc >= 0 else ctypes.get_errno()

    r, w = os.pipe()
    os.dup2(w, 3)  # the event channel's number: it must stay open whatever the code does
    SeccompFilter.compile().apply()
    other = os.getppid()
    res = {
        "fork": _errno_of(os.fork), "inet": _errno_of(lambda: socket.socket(socket.AF_INET)),
        "inet6": _errno_of(lambda: socket.socket(socket.AF_INET6)),
        "exec": _errno_of(lambda: os.execv("/bin/true", ["true"])),
        "kill_all": _errno_of(lambda: os.kill(-1, 0)), "kill_parent": _errno_of(lambda: os.kill(other, 0)),
        "pidfd_open": sys_errno(434, other, 0), "getpgid_other": _errno_of(lambda: os.getpgid(other)),
        "affinity_other": _errno_of(lambda: os.sched_getaffinity(other)),
        "clock_other": _errno_of(lambda: time.clock_gettime(((~other) << 3) | 2)),
        "memfd": sys_errno(319, b"x", 0), "shmget": sys_errno(29, 0, 4096, 0o1600),
        "msgget": sys_errno(68, 0, 0o1600), "semget": sys_errno(64, 0, 1, 0o1600),
        "unshare": sys_errno(272, 0x10000000), "listmount": sys_errno(458, 0, 0, 0, 0),
        "statmount": sys_errno(457, 0, 0, 0, 0), "unknown_new_syscall": sys_errno(499, 0, 0, 0),
        "close_events": _errno_of(lambda: os.close(3)), "dup2_onto_events": _errno_of(lambda: os.dup2(r, 3)),
        "dup_events": _errno_of(lambda: os.dup(3)), "nonblock_events": _errno_of(lambda: os.set_blocking(3, False)),
        # the kernel reads fd arguments as 32-bit ints: 3 + 2**32 is fd 3 too
        "close_events_high": sys_errno(3, ctypes.c_long(0x100000003)),
        "dup2_onto_events_high": sys_errno(33, ctypes.c_long(r), ctypes.c_long(0x100000003)),
        "priority_user": _errno_of(lambda: os.getpriority(os.PRIO_USER, 0)),
        "priority_self": _errno_of(lambda: os.getpriority(os.PRIO_PROCESS, 0)),
        "getpgid_self": _errno_of(lambda: os.getpgid(os.getpid())), "affinity_self": _errno_of(lambda: os.sched_getaffinity(0)),
    }
    # what a computation needs keeps working
    socket.socket(socket.AF_UNIX).close()
    t = threading.Thread(target=lambda: None)
    t.start()
    t.join()
    os.kill(os.getpid(), 0)
    import numpy as np
    import sympy

    x = sympy.symbols("x")
    res["compute"] = [str(sympy.solve(x**2 - 4, x)), round(float(np.linalg.det(np.eye(3) * 2)), 6)]
    res["own_clock"] = time.process_time() >= 0 and time.thread_time() >= 0
    return res


def test_seccomp_allow_list_alone():
    """Only listed calls pass: new syscalls get ENOSYS, dangerous ones (and other processes as targets) EPERM
    (no supervisor here: in the sandbox the server records them first), computing still works."""
    _need(load_libseccomp() is not None, "libseccomp2 not installed")
    res = in_forked_child(_seccomp_probe)
    assert res == {
        "fork": errno.EPERM, "inet": errno.EPERM, "inet6": errno.EPERM, "exec": errno.EPERM,
        "kill_all": errno.EPERM, "kill_parent": errno.EPERM, "pidfd_open": errno.EPERM,
        "getpgid_other": errno.EPERM, "affinity_other": errno.EPERM, "clock_other": errno.ENOSYS,
        "memfd": errno.EPERM, "shmget": errno.EPERM, "msgget": errno.EPERM, "semget": errno.EPERM,
        "unshare": errno.EPERM, "listmount": errno.ENOSYS, "statmount": errno.ENOSYS,
        "unknown_new_syscall": errno.ENOSYS, "close_events": errno.EPERM, "dup2_onto_events": errno.EPERM,
        "dup_events": errno.EPERM, "nonblock_events": errno.EPERM, "close_events_high": errno.EPERM,
        "dup2_onto_events_high": errno.EPERM, "priority_user": errno.EPERM, "priority_self": "allowed",
        "getpgid_self": "allowed", "affinity_self": "allowed",
        "compute": ["[-2, 2]", 8.0], "own_clock": True,
    }, res


def test_refused_calls_are_recorded_by_the_supervisor():
    """With a listener, each refused call waits for the supervisor, which records it and answers EPERM: the
    record holds calls that no audit event reports (memfd_create, setsid, fork through clone)."""
    _need(load_libseccomp() is not None, "libseccomp2 not installed")
    from mathgauge.sandbox._inside._refusals import RefusalListener

    filt = SeccompFilter.compile()
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    pid = os.fork()
    if pid == 0:
        try:
            r, w = os.pipe()
            os.dup2(w, 3)
            listener = filt.apply(listener=True)
            socket.send_fds(theirs, [b"L"], [listener])
            os.close(listener)
            res = {"memfd": _errno_of(lambda: os.memfd_create("x")), "setsid": _errno_of(os.setsid),
                   "fork": _errno_of(os.fork), "close_events": _errno_of(lambda: os.close(3)),
                   "thread": _errno_of(lambda: threading.Thread(target=lambda: None).start())}
            theirs.send(json.dumps(res).encode())
        finally:
            os._exit(0)
    theirs.close()
    _, fds, _, _ = socket.recv_fds(ours, 16, 1)
    listener = RefusalListener(fds[0], filt.names)
    tags: list[str] = []
    res = None
    deadline = time.monotonic() + 30
    while res is None and time.monotonic() < deadline:
        got, _finished = listener.answer()
        tags += got
        import select

        if select.select([ours], [], [], 0.01)[0]:
            res = json.loads(ours.recv(65536))
    os.waitpid(pid, 0)
    listener.close()
    assert res == {"memfd": errno.EPERM, "setsid": errno.EPERM, "fork": errno.EPERM, "close_events": errno.EPERM,
                   "thread": "allowed"}, res
    assert tags == ["kernel:syscall:memfd_create", "process:syscall:setsid", "process:syscall:clone",
                    "tamper:syscall:close"], tags


def test_seccomp_filter_is_an_allow_list():
    """The filter's default action is ENOSYS: the compiled BPF ends by returning ERRNO(ENOSYS)."""
    _need(load_libseccomp() is not None, "libseccomp2 not installed")
    import struct

    prog = SeccompFilter.compile().program
    returns = {struct.unpack_from("=HBBI", prog, i)[3] for i in range(0, len(prog), 8)
               if struct.unpack_from("=HBBI", prog, i)[0] == 0x06}  # BPF_RET | BPF_K
    assert 0x00050000 | errno.ENOSYS in returns and 0x7FFF0000 in returns


# ------------------------------------------------------------------------------------------ namespaces

@pytest.fixture
def traversable_dir():
    """A directory every uid can traverse (pytest's tmp_path lies under a 0700 directory)."""
    import shutil
    import tempfile

    d = Path(tempfile.mkdtemp(prefix="mg-ns-test-"))
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def test_job_namespaces_alone(traversable_dir):
    """Own tmpfs (size and inode caps), control dir hidden, private IPC; nothing survives the job."""
    _need(ROOT, "needs root (to drop to a job uid as the server does)")
    from mathgauge.sandbox._inside import _namespaces

    scratch, hidden = traversable_dir / "scratch", traversable_dir / "ctl"
    scratch.mkdir()
    hidden.mkdir()
    (hidden / "secret").write_text("x")
    key = 0x4D470000 + os.getpid() % 0xFFFF

    def child():
        os.setgroups([])
        os.setresgid(20999, 20999, 20999)
        os.setresuid(20999, 20999, 20999)
        _namespaces.enter_job_namespaces(str(scratch), 1 << 20, 200, "/proc", (str(hidden),))
        os.chdir(str(scratch))
        made = 0
        try:
            for i in range(1000):
                open("f%d" % i, "w").close()
                made += 1
        except OSError as e:
            err = e.errno
        libc = ctypes.CDLL(None, use_errno=True)
        shm = libc.shmget(key, 4096, 0o1600)
        st = os.statvfs(".")
        abstract = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        abstract.bind(b"\0mg-ns-test-%d" % os.getppid())  # free in the job's own network namespace
        return {"made": made, "err": err, "inodes": st.f_files, "hidden": os.listdir(str(hidden)),
                "shm": shm >= 0, "uid": os.getuid(), "owner": os.stat(".").st_uid,
                "pts": os.listdir("/dev/pts") if os.path.isdir("/dev/pts") else [],
                "cap_eff": Path("/proc/self/status").read_text().split("CapEff:")[1].split()[0]}

    taken = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    taken.bind(b"\0mg-ns-test-%d" % os.getpid())  # the same name, outside
    res = in_forked_child(child)
    taken.close()
    assert "exception" not in res, res
    assert res["err"] == errno.ENOSPC and 150 <= res["made"] < 200 and res["inodes"] == 200, res
    # uid 20999 outside, a fixed uid inside (owning its scratch); /dev/pts (shared pseudo-terminals) covered
    assert res["hidden"] == [] and res["shm"] is True and res["uid"] == res["owner"] == _namespaces.INSIDE_ID, res
    assert res["pts"] == [], res
    assert int(res["cap_eff"], 16) == 0, res
    # the job's tmpfs, files and IPC objects died with it
    assert list(scratch.iterdir()) == [] and (hidden / "secret").exists()
    assert ("%d" % key) not in Path("/proc/sysvipc/shm").read_text().split()


# --------------------------------------------------------------------------------------------- cgroups

def test_job_cgroup_counts_memfd_alone():
    """The job's memory group counts memfd pages: the kernel kills it, the counter says so."""
    from mathgauge.sandbox import _hostcgroup
    from mathgauge.sandbox._inside._cgroups import JobCgroups

    parents = _hostcgroup.delegate()
    _need("memory" in parents, "no usable cgroup v1 memory hierarchy here (needs root)")
    try:
        cg = JobCgroups(parents)
        groups = cg.create("jobtest", 64 << 20, 1.0)
        pid = os.fork()
        if pid == 0:
            JobCgroups.join(groups)
            libc = ctypes.CDLL(None, use_errno=True)
            fd = libc.memfd_create(b"hold", 0)
            os.posix_fallocate(fd, 0, 256 << 20)
            os._exit(0)
        _, status = os.waitpid(pid, 0)
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == 9
        assert JobCgroups.oom_kills(groups) == 1
        cg.remove(groups)
        assert not any(Path(p).exists() for p in groups.values())
    finally:
        _hostcgroup.release(parents)
    assert not any(Path(p).exists() for p in parents.values())


# ------------------------------------------------------------------------------------------ audit hook

def test_audit_hook_reads_no_global_name():
    """Everything the hook uses is bound in its defaults: patching builtins or modules cannot reach it."""
    import dis

    for fn in (_audit._hook, _audit._resolve):
        names = [i.argval for i in dis.get_instructions(fn) if i.opname in ("LOAD_GLOBAL", "LOAD_NAME", "LOAD_DEREF")]
        assert names == [], (fn.__name__, names)
    hook = _audit.make_hook("/scratch", ["/usr"])
    assert hook.__globals__ == {"__builtins__": {}} and hook.__closure__ is None


def _hook_child(tamper) -> tuple[list[str], list[str]]:
    """Installs the hook in a forked child, lets ``tamper`` try to silence it, then raises two events (without
    running anything: ``sys.audit`` only calls the hooks).  Returns (tags recorded, events refused).

    The child reports through raw ``os.write`` only: the tampering may have broken ``json``, ``len``...
    """
    r, w = os.pipe()
    res_r, res_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        os.dup2(w, 3)
        os.write(3, _wire.encode_start({"static": [], "layers": {}}))
        hook = _audit.make_hook("/scratch", ["/usr"], 3)
        sys.addaudithook(hook)
        refused = b""
        try:
            tamper(hook)
        except BaseException:
            pass
        for name, event, args in ((b"os.system,", "os.system", (b"id",)),
                                  (b"open,", "open", ("/etc/shadow", "r", 0)),
                                  (b"mine,", "open", ("/scratch/mine.txt", "w", 0))):
            try:
                sys.audit(event, *args)
            except BaseException:  # the hook failed closed: the operation would not have run
                refused += name
        os.write(res_w, refused)
        os._exit(0)
    os.close(w)
    os.close(res_w)
    data = b""
    while True:
        b = os.read(r, 65536)
        if not b:
            break
        data += b
    refused = os.read(res_r, 4096).decode()
    os.close(r)
    os.close(res_r)
    os.waitpid(pid, 0)
    ch = _wire.EventChannel()
    ch.feed(data)
    ch.close()
    return ch.tags, [x for x in refused.split(",") if x]


def _patch_builtins(hook):
    import builtins
    import os.path

    builtins.len = lambda *a: 0
    builtins.str = lambda *a: ""
    builtins.isinstance = lambda *a: False
    builtins.type = lambda *a: int
    os.path.normpath = lambda p: "/scratch/x"
    os.fsdecode = lambda p: "/scratch/x"
    os.getcwd = lambda: "/scratch"


def _flip_via_gc(hook):
    import gc
    import types

    for o in gc.get_objects():
        if isinstance(o, types.FunctionType) and o.__name__ in ("_sandbox_audit_hook", "_resolve"):
            for attempt in (lambda: setattr(o, "__code__", (lambda *a, **k: None).__code__),
                            lambda: setattr(o, "__defaults__", tuple(None for _ in o.__defaults__))):
                try:
                    attempt()
                except BaseException:
                    pass


def _garbage_byte(hook):
    os.write(3, b"\x00")


def _patch_hook(hook):
    """As if the snippet got hold of the hook (e.g. from a frame of another thread): change it in place."""
    noop = (lambda *a, **k: None).__code__
    resolve = hook.__defaults__[1][5]
    for target in (hook, resolve):
        for attempt in (lambda: setattr(target, "__code__", noop), lambda: setattr(target, "__defaults__", None),
                        lambda: delattr(target, "__defaults__"), lambda: setattr(target, "__kwdefaults__", {})):
            try:
                attempt()
            except PermissionError:
                pass


@pytest.mark.parametrize("tamper", [lambda hook: None, _patch_builtins, _flip_via_gc, _garbage_byte, _patch_hook],
                         ids=["plain", "patched-builtins", "gc-flip", "garbage-byte", "patch-hook"])
def test_audit_hook_cannot_be_silenced(tamper):
    """Whatever the tampering, each later event is recorded, or refused (the operation does not run)."""
    tags, refused = _hook_child(tamper)
    assert "process:os.system" in tags or "os.system" in refused, (tags, refused)
    assert "fs:read-sensitive:/etc/shadow" in tags or "open" in refused, (tags, refused)
    assert not any("mine.txt" in t for t in tags)
    if tamper in (_patch_builtins, _garbage_byte):
        assert refused == []
    if tamper is _flip_via_gc:  # the route to the hook is recorded, and refused
        assert "introspection:gc.get_objects" in tags and refused == [], tags
    if tamper is _patch_hook:  # changing the hook is recorded, and refused: it still works afterwards
        assert "tamper:audit-hook-accessed" in tags and refused == [], tags
    if tamper is _garbage_byte:
        assert "tamper:malformed-event-frame" in tags


def test_audit_hook_resolves_symlink_targets_from_the_link():
    """A relative symlink target is resolved from the link's directory, as the kernel does: a link at the top of
    the scratch pointing at ``../etc``, made from a deep working directory, is not mistaken for a scratch path."""
    r, w = os.pipe()
    hook = _audit.make_hook("/scratch", ["/usr"], w)
    for args in (("../etc", "/scratch/l", -1), ("a/b", "/scratch/ok", -1), ("x", "l", 5), ("/usr/lib", "/scratch/u", -1),
                 (b"../../..", b"/scratch/a/b/up", -1)):
        hook("os.symlink", args)
    os.close(w)
    ch = _wire.EventChannel()
    ch.feed(_wire.encode_start({}) + os.read(r, 65536))
    os.close(r)
    assert ch.tags == ["fs:os.symlink-outside:/etc", "fs:os.symlink-outside:?", "fs:os.symlink-outside:/usr/lib",
                       "fs:os.symlink-outside:/"], ch.tags


# ------------------------------------------------------------------------------------------ event channel

@pytest.mark.parametrize("blob", [b"[" * 5000, b'{"events": 5}', b'{"memory_error": true}', b"\x1eE\xff\xffxx",
                                  b"\x1eE\x00\x10short", bytes(range(256)) * 64, b"\x1eS\x00\x02{}",
                                  b"\x1eE\x00\x03\xff\xfe\xfd", b"\x1eE\x00\x05evil!"],
                         ids=["brackets", "wrong-types", "forged-memory", "oversized", "short", "all-bytes",
                              "second-start", "bad-utf8", "unknown-category"])
def test_event_channel_takes_any_bytes(blob):
    ch = _wire.EventChannel()
    ch.feed(_wire.encode_start({"static": ["x"], "layers": {}}))
    for i in range(0, len(blob), 7):  # in odd-sized pieces, as a pipe may deliver them
        ch.feed(blob[i:i + 7])
    ch.feed(_wire.encode_frame(_wire.EVENT_KIND, b"process:os.system"))
    ch.close()
    assert ch.start == {"static": ["x"], "layers": {}}
    assert any(t.startswith("tamper:") for t in ch.tags) and len(ch.tags) <= 64
    assert all(isinstance(t, str) and _wire.valid_tag(t) for t in ch.tags)


def test_event_channel_bounded():
    ch = _wire.EventChannel()
    ch.feed(_wire.encode_start({}))
    for i in range(10000):
        ch.feed(_wire.encode_frame(_wire.EVENT_KIND, b"fs:read-outside:/x%d" % i))
    assert len(ch.tags) == 64 and ch.tags[-1] == _wire.TAMPER_OVERFLOW


@pytest.mark.parametrize("chunk", [b"\x1e" * 65536, b"\x1eE\x00\x01x" * 13000, b"\x1eE\x00\x04fs:a" * 8000,
                                   b"\x1eE\xff\xff" * 16000, bytes(range(256)) * 256],
                         ids=["frame-marks", "tiny-frames", "valid-frames", "oversized-headers", "all-bytes"])
def test_event_channel_work_is_bounded(chunk):
    """8 MB of whatever a snippet writes costs the server a bounded number of parsing steps (it was 3.8 s of
    server CPU for 8 MB of frame marks), and the record says that the rest was not read."""
    ch = _wire.EventChannel()
    ch.feed(_wire.encode_start({}))
    for _ in range(128):
        ch.feed(chunk)
    ch.close()
    assert ch.work <= _wire.FRAMES_MAX
    assert len(ch.tags) <= 64 and any(t.startswith("tamper:") for t in ch.tags)
    if ch.work == _wire.FRAMES_MAX:
        assert ch.saturated and _wire.TAMPER_SATURATED in ch.tags


def test_event_channel_keeps_its_markers_when_cut():
    """Cut to fewer tags (the server lists its own observations first), the record still says what was dropped."""
    ch = _wire.EventChannel()
    ch.feed(_wire.encode_start({}))
    for i in range(100):
        ch.feed(_wire.encode_frame(_wire.EVENT_KIND, b"fs:read-outside:/x%d" % i))
    ch.feed(b"\x1e" * (_wire.FRAMES_MAX + 10))
    cut = ch.tags_within(10)
    assert len(cut) == 10 and cut[-2:] == [_wire.TAMPER_OVERFLOW, _wire.TAMPER_SATURATED], cut


def test_start_frame_always_whole():
    """However many static tags a snippet earns, the start frame is one valid frame (it was cut short, and the
    job reported as never started although it ran)."""
    from mathgauge.sandbox._inside import _static

    code = "".join("open('/etc/p%04d%s')\n" % (i, "x" * 100) for i in range(1500))
    tags = _static.classify(code)
    assert len(tags) == _static.MAX_TAGS and tags[-1] == _static.TOO_MANY_TAGS
    for static in (tags, ["fs:" + "y" * 290 + str(i) for i in range(5000)]):
        ch = _wire.EventChannel()
        ch.feed(_wire.encode_start({"static": static, "layers": {"uid": 1}}))
        assert ch.start is not None and ch.tags == [] and ch.start["layers"] == {"uid": 1}
        assert ch.start["static"][-1] == _static.TOO_MANY_TAGS or ch.start["static"] == static
    assert _static.classify("open('/etc/\x1b[2J')") == ["fs:read-outside:/etc/\\x1b[2J"]


# ---------------------------------------------------------------------------------------------- cleanup

def test_remove_tree_any_depth_and_width(tmp_path):
    """Deletion without recursion: 3,000 levels, 5,000 entries wide, unreadable directories."""
    top = tmp_path / "tree"
    top.mkdir()
    fd = os.open(top, os.O_RDONLY)
    for _ in range(3000):
        os.mkdir("d", dir_fd=fd)
        nfd = os.open("d", os.O_RDONLY, dir_fd=fd)
        os.close(fd)
        fd = nfd
    os.close(fd)
    wide = top / "wide"
    wide.mkdir()
    for i in range(5000):
        (wide / str(i)).touch()
    (top / "locked").mkdir()
    (top / "locked" / "f").touch()
    os.chmod(top / "locked", 0)
    os.symlink("/etc", top / "link")
    _cleanup.remove_tree(str(top))
    assert not top.exists() and Path("/etc").exists()


def test_cleaner_survives_errors(tmp_path):
    errors = []
    cleaner = _cleanup.Cleaner(on_error=lambda p, e: errors.append(p))
    (tmp_path / "a").mkdir()
    cleaner(str(tmp_path / "a"))
    cleaner("/dev/null/not-a-directory")
    (tmp_path / "b").mkdir()
    cleaner(str(tmp_path / "b"))
    cleaner.drain()
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists() and len(errors) == 1


# ------------------------------------------------------------------------------------------- static bounds

def test_static_classifier_bounded_in_the_host():
    """1 MB of calls (an AST of ~650 MB) is refused by size, in milliseconds, without memory growth."""
    code = r"""
import resource, time
from mathgauge.sandbox import classify_static
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t = time.perf_counter()
tags = classify_static("f()\n" * 250000)
deep = classify_static("(" * 100000)
print(tags, deep, round(time.perf_counter() - t, 3), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)
"""
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2] / "src"))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    seconds, grown_kb = out.stdout.split()[-2:]
    assert "dynamic:too-large-to-classify" in out.stdout, out.stderr
    assert float(seconds) < 2.0 and int(grown_kb) < 64 * 1024, out.stdout


def test_static_classifier_still_classifies_normal_code():
    from mathgauge.sandbox import classify_static

    assert classify_static("import os\nos.system('x')") == ["process:call:os.system"]
    assert classify_static("x = (" * 300 + "1" + ")" * 300) == []
    assert resource.getrlimit(resource.RLIMIT_STACK)  # (the process is still alive)
