"""seccomp as an allow-list, built with libseccomp (Debian package libseccomp2) through ctypes.

Every system call not listed is refused with ENOSYS, so a syscall the kernel adds later (listmount,
statmount, ...) is refused by default and libraries fall back as they would on an older kernel.  What is
allowed is what CPython, numpy, scipy and sympy use to compute, read files and write them (Landlock decides
where), with arguments pinned where a call could reach beyond the job:

- threads but no processes (``clone`` only with CLONE_THREAD; ``clone3`` ENOSYS, so glibc uses ``clone``),
- signals and pid-taking queries only on the job itself (pid 0 or its own pid), CPU clocks only its own,
- sockets only AF_UNIX (the job has no network anyway),
- the event channel (fd 3) cannot be closed, duplicated onto, duplicated or have its flags changed (fd
  arguments are matched on all 64 bits, so 3 + 2**32, which the kernel reads as 3, is refused too), so the
  audit hook's records always reach the server.

Well-known dangerous calls (exec, fork, ptrace, mount API, namespaces, bpf, io_uring, SysV IPC, memfd,
pidfd, keyrings, ...) and the pinned calls used beyond their pins are *refused*: they become seccomp user
notifications that the server answers with EPERM after recording them (``_refusals``), so every attempt is
in the job's unsafe record whatever route the snippet took (no audit event, no ctypes needed), and nothing
in the job can silence it.  Without a listener (a filter applied outside the server) they fail with EPERM
directly.  The filter is compiled once in the server with a placeholder for the pid and patched per child
(one system call instead of a libseccomp build per job).
"""

from __future__ import annotations

import ctypes
import errno
import os
import struct

EVENT_FD = 3

ALLOWED = """
read write readv writev pread64 pwrite64 preadv pwritev preadv2 pwritev2 lseek
open openat creat stat fstat lstat newfstatat statx statfs fstatfs access faccessat faccessat2 readlink readlinkat
getdents getdents64 getcwd chdir fchdir mkdir mkdirat rmdir unlink unlinkat rename renameat renameat2 link linkat
symlink symlinkat chmod fchmod fchmodat fchmodat2 chown fchown lchown fchownat truncate ftruncate fallocate fsync
fdatasync utime utimes utimensat futimesat umask flock fadvise64 sendfile copy_file_range
pipe pipe2 poll ppoll select pselect6 epoll_create epoll_create1 epoll_ctl epoll_wait epoll_pwait epoll_pwait2
eventfd eventfd2
brk mmap munmap mremap mprotect madvise mincore msync mbind get_mempolicy set_mempolicy membarrier
exit exit_group set_tid_address set_robust_list rseq futex futex_waitv gettid getpid getppid getuid geteuid
getgid getegid getgroups getresuid getresgid getpgrp sched_yield sched_get_priority_max sched_get_priority_min
getcpu uname sysinfo getrlimit setrlimit getrusage times arch_prctl
clock_getres gettimeofday time nanosleep alarm setitimer getitimer timer_settime timer_gettime timer_getoverrun
timer_delete timerfd_create timerfd_settime timerfd_gettime
rt_sigaction rt_sigprocmask rt_sigreturn rt_sigpending rt_sigsuspend rt_sigtimedwait sigaltstack signalfd
signalfd4 pause restart_syscall getrandom wait4 waitid
bind connect listen accept accept4 sendto recvfrom sendmsg recvmsg sendmmsg recvmmsg shutdown getsockname
getpeername getsockopt setsockopt
""".split()

REFUSED = """
execve execveat fork vfork ptrace process_vm_readv process_vm_writev kcmp mount umount2 pivot_root chroot
unshare setns kexec_load kexec_file_load init_module finit_module delete_module bpf perf_event_open userfaultfd
keyctl add_key request_key io_uring_setup io_uring_enter io_uring_register swapon swapoff reboot acct
open_by_handle_at name_to_handle_at fanotify_init syslog fsopen fsconfig fsmount fspick move_mount open_tree
mount_setattr pidfd_open pidfd_getfd pidfd_send_signal tkill quotactl lookup_dcookie settimeofday clock_settime
clock_adjtime adjtimex vhangup memfd_create memfd_secret shmget shmat shmdt shmctl msgget msgsnd msgrcv msgctl
semget semop semtimedop semctl mq_open mq_unlink mq_timedsend mq_timedreceive mq_notify mq_getsetattr setuid
setgid setreuid setregid setresuid setresgid setgroups setfsuid setfsgid capset capget personality seccomp
landlock_create_ruleset landlock_add_rule landlock_restrict_self process_madvise process_mrelease mlock mlock2
mlockall ioprio_set ioprio_get setsid setpgid sched_setscheduler migrate_pages move_pages listmount statmount
""".split()

#: Calls whose first argument is a pid: allowed on 0 (the caller) and the job's own pid only.
SELF_PID_ARG0 = ("getpgid", "getsid", "sched_getaffinity", "sched_setaffinity", "sched_getparam",
                 "sched_setparam", "sched_getscheduler", "sched_rr_get_interval", "sched_getattr",
                 "sched_setattr", "prlimit64", "get_robust_list")
#: Signals: only to the job's own pid (thread-directed signals to its own thread group).
SELF_SIGNAL = ("kill", "tgkill", "rt_sigqueueinfo", "rt_tgsigqueueinfo")
#: Calls taking a clock id: the fixed clocks only (0..15), not another process's CPU clock.
CLOCK_ARG0 = ("clock_gettime", "clock_nanosleep", "timer_create")
#: prctl options a computation may use (thread names, reading its own state).
PRCTL_OPTIONS = (1, 2, 3, 15, 16, 21, 23, 30, 38, 39, 42, 0x53564D41)

_PID_PLACEHOLDER = 0x7E5A1D0B  # stands for the child's pid in the precompiled filter
_ACT_NOTIFY = 0x7FC00000  # SECCOMP_RET_USER_NOTIF
_BPF_RET_K = 0x06
_SYS_seccomp = 317
_SECCOMP_SET_MODE_FILTER, _FILTER_FLAG_NEW_LISTENER = 1, 1 << 3
_CMP_NE, _CMP_EQ, _CMP_GT, _CMP_MASKED_EQ = 1, 4, 6, 7
_ACT_ALLOW = 0x7FFF0000
_AF_UNIX = 1
_PRIO_PROCESS = 0
_ALL = (1 << 64) - 1
#: (mask, value) pairs matching exactly the fds 0..2 and 4..65535 (a job has at most 64 open): 0-1, 2, then
#: each power-of-two block 2**k .. 2**(k+1)-1 for k = 2..15; the upper 32 bits must be zero
_FD_RANGES = ((_ALL ^ 1, 0), (_ALL, 2)) + tuple((_ALL ^ ((1 << k) - 1), 1 << k) for k in range(2, 16))
_CLONE_THREAD = 0x00010000
_PR_SET_NO_NEW_PRIVS, _PR_SET_SECCOMP, _SECCOMP_MODE_FILTER = 38, 22, 2

_libc = ctypes.CDLL(None, use_errno=True)


def _act_errno(e: int) -> int:
    return 0x00050000 | (e & 0xFFFF)


class _ArgCmp(ctypes.Structure):
    _fields_ = [("arg", ctypes.c_uint), ("op", ctypes.c_int), ("a", ctypes.c_uint64), ("b", ctypes.c_uint64)]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


_lib: ctypes.CDLL | bool | None = None


def load_libseccomp():
    """The libseccomp shared library bound through ctypes, or None when it is not installed."""
    global _lib
    if _lib is None:
        lib = None
        for name in ("libseccomp.so.2", "libseccomp.so"):
            try:
                lib = ctypes.CDLL(name, use_errno=True)
                break
            except OSError:
                continue
        if lib is None:
            _lib = False
            return None
        lib.seccomp_init.restype = ctypes.c_void_p
        lib.seccomp_init.argtypes = [ctypes.c_uint32]
        lib.seccomp_rule_add_array.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint,
                                               ctypes.POINTER(_ArgCmp)]
        lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
        lib.seccomp_export_bpf.argtypes = [ctypes.c_void_p, ctypes.c_int]
        lib.seccomp_release.argtypes = [ctypes.c_void_p]
        _lib = lib
    return _lib or None


def _export(lib, pid: int) -> bytes:
    """Builds the filter for ``pid`` with libseccomp and returns it as raw BPF.

    Refused calls get the user-notification action (see the module doc).
    """
    ctx = lib.seccomp_init(_act_errno(errno.ENOSYS))
    if not ctx:
        raise OSError(errno.ENOMEM, "seccomp_init failed")
    refuse = _ACT_NOTIFY  # the server records the attempt, then answers EPERM

    def rule(name: str, action: int, *cmps) -> None:
        nr = lib.seccomp_syscall_resolve_name(name.encode())
        if nr < 0:
            return  # not a syscall of this architecture (or unknown to this libseccomp): refused by default
        arr = (_ArgCmp * max(1, len(cmps)))(*[_ArgCmp(*c) for c in cmps])
        rc = lib.seccomp_rule_add_array(ctx, action, nr, len(cmps), arr)
        if rc < 0:
            raise OSError(-rc, "seccomp_rule_add failed for " + name)

    r, w = os.pipe()
    try:
        for name in ALLOWED:
            rule(name, _ACT_ALLOW)
        for name in REFUSED:
            rule(name, refuse)
        rule("clone", _ACT_ALLOW, (0, _CMP_MASKED_EQ, _CLONE_THREAD, _CLONE_THREAD))
        rule("clone", refuse, (0, _CMP_MASKED_EQ, _CLONE_THREAD, 0))
        for name in ("socket", "socketpair"):
            rule(name, _ACT_ALLOW, (0, _CMP_EQ, _AF_UNIX, 0))
            rule(name, refuse, (0, _CMP_NE, _AF_UNIX, 0))
        for name in SELF_SIGNAL:
            rule(name, _ACT_ALLOW, (0, _CMP_EQ, pid, 0))
            rule(name, refuse, (0, _CMP_NE, pid, 0))
        # another process as the target is refused (recorded); libseccomp tests the equalities first
        for name in SELF_PID_ARG0:
            rule(name, _ACT_ALLOW, (0, _CMP_EQ, 0, 0))
            rule(name, _ACT_ALLOW, (0, _CMP_EQ, pid, 0))
            rule(name, refuse, (0, _CMP_GT, 0, 0))
        for name in ("getpriority", "setpriority"):  # PRIO_PROCESS of itself only (not a user's, a group's)
            rule(name, _ACT_ALLOW, (0, _CMP_EQ, _PRIO_PROCESS, 0), (1, _CMP_EQ, 0, 0))
            rule(name, _ACT_ALLOW, (0, _CMP_EQ, _PRIO_PROCESS, 0), (1, _CMP_EQ, pid, 0))
            rule(name, refuse, (0, _CMP_EQ, _PRIO_PROCESS, 0), (1, _CMP_GT, 0, 0))
            rule(name, refuse, (0, _CMP_GT, _PRIO_PROCESS, 0))
        for name in CLOCK_ARG0:
            rule(name, _ACT_ALLOW, (0, _CMP_MASKED_EQ, 0xFFFFFFF0, 0))
        for option in PRCTL_OPTIONS:
            rule("prctl", _ACT_ALLOW, (0, _CMP_EQ, option, 0))
        # nothing may take the event channel away.  The kernel reads these fd arguments as 32-bit ints while
        # the filter sees 64 bits, so "fd != 3" would let 3 + 2**32 through: allowed fds are matched exactly,
        # upper half zero, and any value whose lower half is 3 is refused
        for name in ("close", "dup", "fcntl", "ioctl"):
            for mask, datum in _FD_RANGES:
                rule(name, _ACT_ALLOW, (0, _CMP_MASKED_EQ, mask, datum))
            rule(name, refuse, (0, _CMP_MASKED_EQ, 0xFFFFFFFF, EVENT_FD))
        for name in ("dup2", "dup3"):
            for mask, datum in _FD_RANGES:
                rule(name, _ACT_ALLOW, (0, _CMP_NE, EVENT_FD, 0), (1, _CMP_MASKED_EQ, mask, datum))
            rule(name, refuse, (0, _CMP_EQ, EVENT_FD, 0))
            rule(name, refuse, (1, _CMP_MASKED_EQ, 0xFFFFFFFF, EVENT_FD))
        rc = lib.seccomp_export_bpf(ctx, w)
        if rc < 0:
            raise OSError(-rc, "seccomp_export_bpf failed")
        os.close(w)
        w = -1
        chunks = []
        while True:
            b = os.read(r, 65536)
            if not b:
                break
            chunks.append(b)
        return b"".join(chunks)
    finally:
        lib.seccomp_release(ctx)
        os.close(r)
        if w >= 0:
            os.close(w)


def syscall_numbers(names) -> dict[int, str]:
    """Native syscall number -> name for ``names`` (those this architecture has).

    Args:
        names: syscall names.
    """
    lib = load_libseccomp()
    out: dict[int, str] = {}
    if lib is None:
        return out
    for name in names:
        nr = lib.seccomp_syscall_resolve_name(name.encode())
        if nr >= 0:
            out[nr] = name
    return out


#: Every call the filter may refuse (and so every name a refusal record can carry).
REFUSABLE = tuple(REFUSED) + ("clone", "socket", "socketpair", "close", "dup", "dup2", "dup3", "fcntl", "ioctl",
                               "getpriority", "setpriority") + SELF_SIGNAL + SELF_PID_ARG0


class SeccompFilter:
    """The compiled allow-list, ready to load into any child with its pid patched in.

    Args:
        program: the BPF program (8-byte instructions).
    """

    def __init__(self, program: bytes) -> None:
        if not program or len(program) % 8:
            raise ValueError("not a BPF program")
        self.program = program
        self.names = syscall_numbers(REFUSABLE)

    @classmethod
    def compile(cls) -> "SeccompFilter":
        """Builds the filter with libseccomp (once, in the server).

        Raises:
            OSError: libseccomp is missing or refused a rule.
        """
        lib = load_libseccomp()
        if lib is None:
            raise OSError(errno.ENOSYS, "libseccomp not found (apt-get install libseccomp2)")
        return cls(_export(lib, _PID_PLACEHOLDER))

    def for_pid(self, pid: int, notify: bool = True) -> bytes:
        """The program with the placeholder replaced by ``pid``.

        Args:
            pid: the pid of the process that will load it.
            notify: keep the user-notification action of refused calls; False turns it into ERRNO(EPERM)
                (for a process nobody supervises).
        """
        out = bytearray(self.program)
        for i in range(0, len(out), 8):
            code, jt, jf, k = struct.unpack_from("=HBBI", out, i)
            if k == _PID_PLACEHOLDER:
                struct.pack_into("=HBBI", out, i, code, jt, jf, pid)
            elif not notify and code == _BPF_RET_K and k == _ACT_NOTIFY:
                struct.pack_into("=HBBI", out, i, code, jt, jf, _act_errno(errno.EPERM))
        return bytes(out)

    def apply(self, pid: int | None = None, listener: bool = False) -> int | None:
        """Loads the filter into the calling process (irreversible; sets no_new_privs).

        Args:
            pid: the caller's pid (default ``os.getpid()``).
            listener: return a seccomp notification fd through which a supervisor answers refused calls
                (``_refusals``); without it they fail with EPERM at once.

        Returns:
            The listener fd, or None.
        """
        prog = bytearray(self.for_pid(os.getpid() if pid is None else pid, notify=listener))
        buf = (ctypes.c_char * len(prog)).from_buffer(prog)
        fprog = _SockFprog(len(prog) // 8, ctypes.addressof(buf))
        if _libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "no_new_privs failed")
        if not listener:
            if _libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0) != 0:
                raise OSError(ctypes.get_errno(), "seccomp filter load failed")
            return None
        _libc.syscall.restype = ctypes.c_long
        fd = _libc.syscall(ctypes.c_long(_SYS_seccomp), ctypes.c_uint(_SECCOMP_SET_MODE_FILTER),
                           ctypes.c_uint(_FILTER_FLAG_NEW_LISTENER), ctypes.byref(fprog))
        if fd < 0:
            raise OSError(ctypes.get_errno(), "seccomp filter load (with listener) failed")
        return int(fd)
