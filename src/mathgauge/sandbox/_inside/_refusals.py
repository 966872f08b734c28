"""Refused system calls as the server sees them: seccomp user notifications, recorded, then answered EPERM.

The job's seccomp filter turns every refused call (exec, fork, ptrace, SysV IPC, memfd, pidfd, mount API,
signals to other processes, inet sockets, taking the event channel away, ...) into a notification on a
listener fd that the job hands to the server right after loading the filter, before the snippet starts.
The server records ``<category>:syscall:<name>`` in the job's unsafe record and answers EPERM, so:

- an attempt is recorded whatever route the snippet took to the kernel (a library function with no audit
  event such as ``_posixsubprocess.fork_exec``, ``os.memfd_create``, a raw ``syscall()``), and
- the record is the server's own observation: nothing the job does (patching, garbage on the event channel,
  killing the audit hook) can remove it.

Bounded work: at most ``REFUSALS_MAX`` notifications per job are answered; after that the server closes
the listener and the kernel fails every further refused call with ENOSYS at no cost to the server.  The
server never blocks here: a notification is received only when ``poll`` says one is pending.
"""

from __future__ import annotations

import errno
import fcntl
import os
import select
import struct

REFUSALS_MAX = 4096
_NOTIF_RECV = 0xC0502100  # SECCOMP_IOCTL_NOTIF_RECV: _IOWR('!', 0, struct seccomp_notif)
_NOTIF_SEND = 0xC0182101  # SECCOMP_IOCTL_NOTIF_SEND: _IOWR('!', 1, struct seccomp_notif_resp)
_NOTIF = struct.Struct("=QIIiIQ6Q")  # id, pid, flags, data.nr, data.arch, data.instruction_pointer, data.args
_RESP = struct.Struct("=QqiI")  # id, val, error, flags

_CATEGORIES = {
    "process": """execve execveat fork vfork clone ptrace process_vm_readv process_vm_writev kcmp setsid setpgid
        setuid setgid setreuid setregid setresuid setresgid setgroups setfsuid setfsgid capset capget personality
        seccomp landlock_create_ruleset landlock_add_rule landlock_restrict_self unshare setns chroot pivot_root
        sched_setscheduler ioprio_set ioprio_get process_madvise process_mrelease migrate_pages move_pages mlock
        mlock2 mlockall getpgid getsid sched_getaffinity sched_setaffinity sched_getparam sched_setparam
        sched_getscheduler sched_rr_get_interval sched_getattr sched_setattr prlimit64 get_robust_list getpriority
        setpriority""",  # the last line: refused when aimed at another process (``_seccomp.SELF_PID_ARG0``)
    "signal": "kill tgkill tkill rt_sigqueueinfo rt_tgsigqueueinfo pidfd_open pidfd_getfd pidfd_send_signal",

    "network": "socket socketpair",
    "fs": """mount umount2 fsopen fsconfig fsmount fspick move_mount open_tree mount_setattr open_by_handle_at
        name_to_handle_at fanotify_init quotactl lookup_dcookie swapon swapoff acct""",
    "tamper": "close dup dup2 dup3 fcntl ioctl",  # refused only when aimed at the event channel
}
_CATEGORY_OF = {name: cat for cat, names in _CATEGORIES.items() for name in names.split()}


def tag_for(name: str) -> str:
    """The unsafe tag of a refused call (IPC, memfd, bpf, keyrings, ... are ``kernel:``).

    Args:
        name: the syscall's name.
    """
    return "%s:syscall:%s" % (_CATEGORY_OF.get(name, "kernel"), name)


class RefusalListener:
    """The server's end of one job's seccomp notifications.

    Args:
        fd: the listener fd the job sent (owned from now on).
        names: syscall number -> name.
    """

    def __init__(self, fd: int, names: dict[int, str]) -> None:
        self.fd = fd
        self.names = names
        self.answered = 0
        self._poll = select.poll()
        self._poll.register(fd, select.POLLIN)

    def answer(self, limit: int = 64) -> tuple[list[str], bool]:
        """Records and refuses the pending notifications (at most ``limit``).

        Returns:
            (tags of the refused calls, whether the listener is finished: no task left, or the budget
            spent; the caller then closes it).

        Args:
            limit: notifications handled in this call (the rest wait for the next round of the loop).
        """
        tags: list[str] = []
        for _ in range(limit):
            events = 0
            for _fd, ev in self._poll.poll(0):
                events |= ev
            if not events & select.POLLIN:  # RECV would block: never call it without a pending notification
                return tags, bool(events & (select.POLLHUP | select.POLLERR | select.POLLNVAL))
            buf = bytearray(_NOTIF.size)  # the kernel wants it zeroed
            try:
                fcntl.ioctl(self.fd, _NOTIF_RECV, buf, True)
            except OSError as e:
                if e.errno in (errno.ENOENT, errno.EINTR):  # the caller went away meanwhile
                    continue
                return tags, True
            nid, _pid, _flags, nr = _NOTIF.unpack(buf)[:4]
            name = self.names.get(nr, "nr%d" % nr)
            tag = tag_for(name)
            if tag not in tags:
                tags.append(tag)
            try:
                fcntl.ioctl(self.fd, _NOTIF_SEND, bytearray(_RESP.pack(nid, 0, -errno.EPERM, 0)), True)
            except OSError:
                pass  # ENOENT: the caller was killed or interrupted; nothing to answer
            self.answered += 1
            if self.answered >= REFUSALS_MAX:
                return tags, True
        return tags, False

    def close(self) -> None:
        """Closes the listener: refused calls still waiting, and later ones, fail with ENOSYS."""
        if self.fd >= 0:
            try:
                self._poll.unregister(self.fd)
            except (KeyError, ValueError):
                pass
            os.close(self.fd)
            self.fd = -1
